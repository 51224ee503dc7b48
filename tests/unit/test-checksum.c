/* Checksums of the BBB API against digests computed independently (sha1sum, sha256sum, sha384sum,
 * sha512sum over the same bytes) and against the example in BigBlueButton's API documentation. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "daemon/checksum.h"

#define SECRET "seatmeter-test-secret"

static void test_vectors(void **state)
{
        static const struct {
                ChecksumAlgo algo;
                const char *hex;
        } v[] = {
                /* printf 'getMeetingsseatmeter-test-secret' | shaNsum */
                {CHECKSUM_SHA1, "e318cd2e8e158c1dd7cdbe4e139b0db7d38c6cdb"},
                {CHECKSUM_SHA256, "f1760cbb7334ba68e146e838cda179adb5d65e61cc5a76c6ed4fb8833cec4730"},
                {CHECKSUM_SHA384, "b8de060de9a95ddbd20b35dc500d0e484717508145da671034524c2da308d5cd3596520b8597189d"
                                  "d7908099dda844bb"},
                {CHECKSUM_SHA512, "59a303adbda5c119c30337211d11f9224383a8855202b35815ab837cba694c7b500ae19b357194225"
                                  "6ae2a376d9c835a2677e8a5928f07895bd6ab4f3abd3b9c"},
        };
        char hex[CHECKSUM_HEX_MAX + 1];

        for (size_t i = 0; i < ELEMENTSOF(v); i++) {
                int r = checksum_api_hex(v[i].algo, "getMeetings", "", SECRET, hex);
                assert_int_equal(r, (int)strlen(v[i].hex));
                assert_int_equal(r, (int)(2 * checksum_digest_size(v[i].algo)));
                assert_string_equal(hex, v[i].hex);
        }
        /* NULL query is the empty query. */
        assert_int_equal(checksum_api_hex(CHECKSUM_SHA1, "getMeetings", NULL, SECRET, hex), 40);
        assert_string_equal(hex, v[0].hex);
}

static void test_with_query(void **state)
{
        char hex[CHECKSUM_HEX_MAX + 1];

        /* printf 'getMeetingInfomeetingID=m1&password=mod-pwseatmeter-test-secret' | sha256sum */
        assert_int_equal(checksum_api_hex(CHECKSUM_SHA256, "getMeetingInfo", "meetingID=m1&password=mod-pw", SECRET, hex),
                         64);
        assert_string_equal(hex, "42c55090d3b4eb06ff019d01491238add8fc4bcc4e37e6572e06fb0d51608df7");

        /* The worked example of BigBlueButton's API documentation (create, SHA-1). */
        assert_int_equal(checksum_api_hex(CHECKSUM_SHA1, "create",
                                          "name=Test+Meeting&meetingID=abc123&attendeePW=111222&moderatorPW=333444",
                                          "639259d4-9dd8-4b25-bf01-95f9567eaf4b", hex),
                         40);
        assert_string_equal(hex, "1fcbb0c4fc1f039f73aa6d697d2db9ba7f803f17");
}

static void test_limits(void **state)
{
        char hex[CHECKSUM_HEX_MAX + 1];
        char *big;

        assert_int_equal(checksum_api_hex((ChecksumAlgo)42, "getMeetings", "", SECRET, hex), -EINVAL);
        assert_null(checksum_algo_name((ChecksumAlgo)42));
        assert_int_equal(checksum_digest_size((ChecksumAlgo)42), 0);
        assert_string_equal(checksum_algo_name(CHECKSUM_SHA384), "sha384");

        big = malloc(CHECKSUM_INPUT_MAX + 2);
        assert_non_null(big);
        memset(big, 'a', CHECKSUM_INPUT_MAX + 1);
        big[CHECKSUM_INPUT_MAX + 1] = 0;
        assert_int_equal(checksum_api_hex(CHECKSUM_SHA256, "getMeetings", big, SECRET, hex), -E2BIG);
        big[CHECKSUM_INPUT_MAX - strlen("getMeetings") - strlen(SECRET)] = 0;
        assert_int_equal(checksum_api_hex(CHECKSUM_SHA256, "getMeetings", big, SECRET, hex), 64);
        free(big);
}

/* The names of the config file's checksum key: each algorithm's name reads back as that algorithm, and
 * nothing else (no upper case, no blanks) is a name. */
static void test_names(void **state)
{
        static const char *const bad[] = {"SHA1", "sha", "sha1 ", " sha1", "sha224", "md5", ""};
        ChecksumAlgo a;

        for (ChecksumAlgo i = CHECKSUM_SHA1; i <= CHECKSUM_SHA512; i++) {
                assert_non_null(checksum_algo_name(i));
                assert_int_equal(checksum_algo_from_string(checksum_algo_name(i), &a), 0);
                assert_int_equal(a, i);
        }
        assert_int_equal(checksum_algo_from_string("sha384", &a), 0);
        assert_int_equal(a, CHECKSUM_SHA384);
        assert_string_equal(checksum_algo_name(CHECKSUM_SHA512), "sha512");
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                assert_int_equal(checksum_algo_from_string(bad[i], &a), -EINVAL);
        assert_int_equal(checksum_algo_from_string(NULL, &a), -EINVAL);
        assert_null(checksum_algo_name((ChecksumAlgo)42));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_vectors),
                cmocka_unit_test(test_with_query),
                cmocka_unit_test(test_limits),
                cmocka_unit_test(test_names),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
