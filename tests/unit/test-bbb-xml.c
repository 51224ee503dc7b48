/* The getMeetings parser over answers in BigBlueButton's real shapes (tests/fixtures/bbb/), and the
 * count syntax with thousands separators. */

#include <fcntl.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "daemon/bbb-xml.h"
#include "util.h"

static char *fixture(const char *name, size_t *ret_size)
{
        const char *dir = getenv("SEATMETER_FIXTURES");
        _cleanup_free_ char *path = NULL;
        char *buf = NULL;

        assert_non_null(dir);
        assert_true(asprintf(&path, "%s/bbb/%s", dir, name) > 0);
        assert_int_equal(read_full_file_at(AT_FDCWD, path, 1024 * 1024, &buf, ret_size), 0);
        return buf;
}

static int parse_fixture(const char *name, BbbMeetings **ret, char **ret_error)
{
        _cleanup_free_ char *body = NULL;
        size_t size;

        body = fixture(name, &size);
        return bbb_xml_parse(body, size, ret, ret_error);
}

static void test_two_meetings(void **state)
{
        _cleanup_(bbb_meetings_freep) BbbMeetings *m = NULL;
        BbbCounts c;

        assert_int_equal(parse_fixture("getmeetings-two.xml", &m, NULL), 0);
        assert_int_equal(m->n_meetings, 2);
        assert_string_equal(m->meetings[0].meeting_id, "physics-101");
        assert_int_equal(m->meetings[0].participants, 3);
        assert_int_equal(m->meetings[0].listeners, 1);
        assert_int_equal(m->meetings[0].voice, 2);
        assert_int_equal(m->meetings[0].video, 1);
        assert_int_equal(m->meetings[0].moderators, 1);
        assert_int_equal(m->meetings[0].attendees, 3);
        assert_false(m->meetings[0].is_breakout);
        assert_null(m->meetings[0].parent_meeting_id);
        assert_int_equal(m->meetings[1].participants, 2);

        /* metadata and customdata keys named like counts do not count */
        c = m->totals;
        assert_int_equal(c.meetings, 2);
        assert_int_equal(c.participants, 5);
        assert_int_equal(c.listeners, 1);
        assert_int_equal(c.voice, 4);
        assert_int_equal(c.video, 1);
        assert_int_equal(c.moderators, 2);
        assert_int_equal(c.breakouts, 0);
        assert_int_equal(m->attendees, 5);

        assert_int_equal(m->n_client_types, 2);
        assert_string_equal(m->client_types[0].name, "HTML5");
        assert_int_equal(m->client_types[0].count, 4);
        assert_string_equal(m->client_types[1].name, "dial-in-user");
        assert_int_equal(m->client_types[1].count, 1);
        assert_null(m->message_key);
}

static void test_breakouts(void **state)
{
        _cleanup_(bbb_meetings_freep) BbbMeetings *m = NULL;

        assert_int_equal(parse_fixture("getmeetings-breakout.xml", &m, NULL), 0);
        assert_int_equal(m->n_meetings, 3);
        assert_int_equal(m->totals.breakouts, 2);
        assert_int_equal(m->totals.participants, 8);
        assert_int_equal(m->totals.listeners, 5);
        assert_int_equal(m->totals.video, 3);
        assert_false(m->meetings[0].is_breakout);
        assert_true(m->meetings[1].is_breakout);
        assert_string_equal(m->meetings[1].parent_meeting_id, "a0715c95000a2bcb90604ecc7097dbc94592c690-1715261728123");
        assert_string_equal(m->meetings[2].meeting_id, "a0715c95000a2bcb90604ecc7097dbc94592c690-1715261728123-2");
}

static void test_separators(void **state)
{
        static const char *const names[] = {"getmeetings-separators-comma.xml", "getmeetings-separators-dot.xml",
                                            "getmeetings-separators-nbsp.xml"};

        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                _cleanup_(bbb_meetings_freep) BbbMeetings *m = NULL;

                assert_int_equal(parse_fixture(names[i], &m, NULL), 0);
                assert_int_equal(m->meetings[0].participants, 1202);
                assert_int_equal(m->meetings[0].listeners, 1000);
                assert_int_equal(m->meetings[0].voice, 202);
                assert_int_equal(m->meetings[0].video, 12345678);
                assert_int_equal(m->totals.participants, 1204);
        }
}

static void test_zero_meetings(void **state)
{
        _cleanup_(bbb_meetings_freep) BbbMeetings *m = NULL, *n = NULL;
        BbbCounts c = {.participants = 99};
        _cleanup_free_ char *body = NULL;
        size_t size;

        assert_int_equal(parse_fixture("getmeetings-nomeetings.xml", &m, NULL), 0);
        assert_int_equal(m->n_meetings, 0);
        assert_int_equal(m->totals.meetings, 0);
        assert_int_equal(m->totals.participants, 0);
        assert_string_equal(m->message_key, "noMeetings");

        assert_int_equal(parse_fixture("getmeetings-no-meetings-element.xml", &n, NULL), 0);
        assert_int_equal(n->n_meetings, 0);
        assert_int_equal(n->totals.participants, 0);

        body = fixture("getmeetings-nomeetings.xml", &size);
        assert_int_equal(bbb_parse_meetings(body, size, &c, NULL), 0);
        assert_int_equal(c.participants, 0);
        assert_int_equal(c.meetings, 0);
}

static void test_failed(void **state)
{
        _cleanup_free_ char *error = NULL, *body = NULL;
        BbbMeetings *m = NULL;
        BbbCounts c = {.participants = 7};
        size_t size;

        assert_int_equal(parse_fixture("failed-checksum.xml", &m, &error), -EPROTO);
        assert_null(m);
        assert_string_equal(error, "checksumError: You did not pass the checksum security check");

        /* The contract entry point leaves the counts alone on failure. */
        free(error);
        error = NULL;
        body = fixture("failed-checksum.xml", &size);
        assert_int_equal(bbb_parse_meetings(body, size, &c, &error), -EPROTO);
        assert_non_null(strstr(error, "checksumError"));
        assert_int_equal(c.participants, 7);
}

static void test_bad_bodies(void **state)
{
        static const char *const names[] = {"garbage.bin", "truncated.xml", "nginx-502.html", "doctype-entities.xml",
                                            "bad-separator.xml"};

        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                _cleanup_free_ char *error = NULL;
                BbbMeetings *m = NULL;

                assert_int_equal(parse_fixture(names[i], &m, &error), -EBADMSG);
                assert_null(m);
                assert_non_null(error);
                assert_true(strlen(error) > 0);
        }
}

static void expect_bad(const char *xml, const char *needle)
{
        _cleanup_free_ char *error = NULL;
        int r;

        r = bbb_xml_parse(xml, strlen(xml), NULL, &error);
        if (r != -EBADMSG || !error || !strstr(error, needle))
                fail_msg("'%s': got %d '%s', wanted -EBADMSG with '%s'", xml, r, strna(error), needle);
}

static void test_malformed(void **state)
{
        expect_bad("", "not XML");
        expect_bad("<response>", "not XML");
        expect_bad("<html><body>hi</body></html>", "not <response>");
        expect_bad("<response></response>", "no <returncode>");
        expect_bad("<response><returncode>MAYBE</returncode></response>", "unknown returncode");
        expect_bad("<response><returncode>SUCCESS</returncode><returncode>SUCCESS</returncode></response>",
                   "more than one <returncode>");
        expect_bad("<response><returncode>SUCCESS</returncode><meetings/><meetings/></response>", "more than one");
        expect_bad("<response><returncode>SUCCESS</returncode><meetings><meeting><participantCount>-1"
                   "</participantCount></meeting></meetings></response>",
                   "not a count");
        expect_bad("<response><returncode>SUCCESS</returncode><meetings><meeting><participantCount></participantCount>"
                   "</meeting></meetings></response>",
                   "not a count");
        expect_bad("<response><returncode>SUCCESS</returncode><meetings><meeting><participantCount>1</participantCount>"
                   "<participantCount>2</participantCount></meeting></meetings></response>",
                   "twice");
        expect_bad("<response><returncode>SUCCESS</returncode><meetings><meeting><isBreakout>yes</isBreakout>"
                   "</meeting></meetings></response>",
                   "isBreakout");
}

static void test_limits(void **state)
{
        _cleanup_free_ char *deep = NULL, *many = NULL, *longid = NULL, *error = NULL;
        size_t n = 0;
        char *p;

        /* nesting */
        deep = malloc(64 * (BBB_XML_DEPTH_MAX + 2) + 64);
        assert_non_null(deep);
        p = stpcpy(deep, "<response><returncode>SUCCESS</returncode>");
        for (int i = 0; i < BBB_XML_DEPTH_MAX + 1; i++)
                p = stpcpy(p, "<a>");
        for (int i = 0; i < BBB_XML_DEPTH_MAX + 1; i++)
                p = stpcpy(p, "</a>");
        stpcpy(p, "</response>");
        expect_bad(deep, "nested deeper");

        /* meetings */
        many = malloc(32 * (BBB_MEETINGS_MAX + 2) + 128);
        assert_non_null(many);
        p = stpcpy(many, "<response><returncode>SUCCESS</returncode><meetings>");
        for (int i = 0; i < BBB_MEETINGS_MAX + 1; i++)
                p = stpcpy(p, "<meeting/>");
        stpcpy(p, "</meetings></response>");
        expect_bad(many, "meetings");

        /* ids */
        longid = malloc(BBB_ID_MAX + 256);
        assert_non_null(longid);
        p = stpcpy(longid, "<response><returncode>SUCCESS</returncode><meetings><meeting><meetingID>");
        memset(p, 'x', BBB_ID_MAX + 1);
        p += BBB_ID_MAX + 1;
        stpcpy(p, "</meetingID></meeting></meetings></response>");
        expect_bad(longid, "longer than");

        /* size */
        assert_int_equal(bbb_xml_parse("<response/>", (size_t)BBB_BODY_MAX + 1, NULL, &error), -EBADMSG);
        assert_non_null(strstr(error, "larger than"));
        free(error);
        error = NULL;

        /* totals: each meeting's count is in range, their sum is not; at the limit it is */
        {
#define M(n) "<meeting><meetingID>m" #n "</meetingID><participantCount>60,000,000</participantCount></meeting>"
                static const char over[] = "<response><returncode>SUCCESS</returncode><meetings>" M(1) M(2)
                                           "</meetings></response>";
                static const char at[] = "<response><returncode>SUCCESS</returncode><meetings>" M(1)
                                         "<meeting><meetingID>m2</meetingID><participantCount>40000000"
                                         "</participantCount></meeting></meetings></response>";
#undef M
                _cleanup_(bbb_meetings_freep) BbbMeetings *m = NULL;

                assert_int_equal(bbb_xml_parse(over, strlen(over), &m, &error), -ERANGE);
                assert_null(m);
                assert_non_null(strstr(error, "totals over 100000000 (120000000 participants)"));
                assert_int_equal(bbb_xml_parse(at, strlen(at), &m, NULL), 0);
                assert_int_equal(m->totals.participants, BBB_COUNT_MAX);
        }
        (void)n;
}

/* An answer larger than one BBB_XML_CHUNK parses as a whole, and its truncation at any slice boundary
 * is still caught. */
static void test_large_answer(void **state)
{
        static const char meeting[] = "<meeting><participantCount>1,001</participantCount><isBreakout>false"
                                      "</isBreakout></meeting>\n";
        const size_t n = 3 * BBB_XML_CHUNK / (sizeof meeting - 1) + 7;
        _cleanup_(bbb_meetings_freep) BbbMeetings *m = NULL;
        _cleanup_free_ char *xml = NULL;
        size_t size;
        char *p;

        xml = malloc(n * (sizeof meeting - 1) + 256);
        assert_non_null(xml);
        p = stpcpy(xml, "<response><returncode>SUCCESS</returncode><meetings>");
        for (size_t i = 0; i < n; i++)
                p = stpcpy(p, meeting);
        p = stpcpy(p, "</meetings></response>");
        size = (size_t)(p - xml);
        assert_true(size > 3 * BBB_XML_CHUNK);

        assert_int_equal(bbb_xml_parse(xml, size, &m, NULL), 0);
        assert_int_equal(m->totals.meetings, (int64_t)n);
        assert_int_equal(m->totals.participants, (int64_t)n * 1001);

        for (size_t cut = BBB_XML_CHUNK - 1; cut <= 2 * BBB_XML_CHUNK + 1; cut += BBB_XML_CHUNK) {
                _cleanup_free_ char *error = NULL;
                assert_int_equal(bbb_xml_parse(xml, cut, NULL, &error), -EBADMSG);
                assert_non_null(strstr(error, "not XML"));
        }
}

static void test_client_types_overflow(void **state)
{
        _cleanup_(bbb_meetings_freep) BbbMeetings *m = NULL;
        char xml[8192], *p = xml;

        p = stpcpy(p, "<response><returncode>SUCCESS</returncode><meetings><meeting><attendees>");
        for (int i = 0; i < BBB_CLIENT_TYPES_MAX + 3; i++)
                p += sprintf(p, "<attendee><clientType>T%d</clientType></attendee>", i);
        p = stpcpy(p, "<attendee><clientType></clientType></attendee>");
        stpcpy(p, "</attendees></meeting></meetings></response>");

        assert_int_equal(bbb_xml_parse(xml, strlen(xml), &m, NULL), 0);
        assert_int_equal(m->n_client_types, BBB_CLIENT_TYPES_MAX + 1);
        assert_string_equal(m->client_types[BBB_CLIENT_TYPES_MAX].name, "other");
        assert_int_equal(m->client_types[BBB_CLIENT_TYPES_MAX].count, 4);
        assert_int_equal(m->attendees, BBB_CLIENT_TYPES_MAX + 4);
}

static void test_counts(void **state)
{
        static const struct {
                const char *s;
                int r;
                int64_t v;
        } v[] = {
                {"0", 0, 0},
                {"7", 0, 7},
                {" 42\n", 0, 42},
                {"1202", 0, 1202},
                {"1,202", 0, 1202},
                {"1.202", 0, 1202},
                {"1 202", 0, 1202},
                {"1'202", 0, 1202},
                {"1\xc2\xa0" "202", 0, 1202},
                {"1\xe2\x80\xaf" "202", 0, 1202},
                {"1\xe2\x80\x99" "202", 0, 1202},
                {"12,345,678", 0, 12345678},
                {"100,000,000", 0, 100000000},
                {"100,000,001", -ERANGE, 0},
                {"99999999999999999999999", -ERANGE, 0},
                {"1,2,3", -EINVAL, 0},
                {"1,20", -EINVAL, 0},
                {"1,2020", -EINVAL, 0},
                {"1234,567", -EINVAL, 0},
                {",123", -EINVAL, 0},
                {"123,", -EINVAL, 0},
                {"1,234.567", -EINVAL, 0},
                {"1.5", -EINVAL, 0},
                {"-1", -EINVAL, 0},
                {"+1", -EINVAL, 0},
                {"0x10", -EINVAL, 0},
                {"", -EINVAL, 0},
                {"   ", -EINVAL, 0},
                {"1\xc2" "202", -EINVAL, 0},
                {"1,,202", -EINVAL, 0},
        };

        for (size_t i = 0; i < ELEMENTSOF(v); i++) {
                int64_t x = -1;
                int r = bbb_parse_count(v[i].s, strlen(v[i].s), &x);
                if (r != v[i].r || (r == 0 && x != v[i].v))
                        fail_msg("'%s': got %d/%" PRIi64 ", wanted %d/%" PRIi64, v[i].s, r, x, v[i].r, v[i].v);
        }
        /* not NUL-terminated: only n bytes count */
        int64_t x;
        assert_int_equal(bbb_parse_count("12345", 2, &x), 0);
        assert_int_equal(x, 12);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_two_meetings),
                cmocka_unit_test(test_breakouts),
                cmocka_unit_test(test_separators),
                cmocka_unit_test(test_zero_meetings),
                cmocka_unit_test(test_failed),
                cmocka_unit_test(test_bad_bodies),
                cmocka_unit_test(test_malformed),
                cmocka_unit_test(test_limits),
                cmocka_unit_test(test_large_answer),
                cmocka_unit_test(test_client_types_overflow),
                cmocka_unit_test(test_counts),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
