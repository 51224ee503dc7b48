/* Labels (common/label.c): the grammar both the agent and the daemon check, and the stored JSON. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "label.h"

static void test_key(void **state)
{
        (void)state;
        assert_true(label_key_is_valid("site"));
        assert_true(label_key_is_valid("_x9"));
        assert_true(label_key_is_valid("ABCDEFGHIJKLMNOPQRSTUVWXYZ012345")); /* 32 bytes */
        assert_false(label_key_is_valid("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456"));
        assert_false(label_key_is_valid(""));
        assert_false(label_key_is_valid("9lives"));
        assert_false(label_key_is_valid("a-b"));
        assert_false(label_key_is_valid("a.b"));
        assert_false(label_key_is_valid("a b"));
        assert_false(label_key_is_valid(NULL));
}

static void test_value(void **state)
{
        char long_value[LABEL_VALUE_MAX + 2];

        (void)state;
        assert_true(label_value_is_valid(""));
        assert_true(label_value_is_valid("Frankfurt, rack 3 \"B\""));
        assert_true(label_value_is_valid("M\xc3\xbcnchen \xe2\x82\xac \xf0\x9f\x98\x80"));
        assert_false(label_value_is_valid("tab\there"));
        assert_false(label_value_is_valid("nl\n"));
        assert_false(label_value_is_valid("del\x7f"));
        assert_false(label_value_is_valid("\xc3"));             /* cut sequence */
        assert_false(label_value_is_valid("\xc0\xaf"));         /* overlong '/' */
        assert_false(label_value_is_valid("\xed\xa0\x80"));     /* surrogate */
        assert_false(label_value_is_valid("\xf4\x90\x80\x80")); /* above U+10FFFF */
        assert_false(label_value_is_valid("\xc2\x85"));         /* C1 control NEL */
        memset(long_value, 'x', LABEL_VALUE_MAX);
        long_value[LABEL_VALUE_MAX] = 0;
        assert_true(label_value_is_valid(long_value));
        long_value[LABEL_VALUE_MAX] = 'x';
        long_value[LABEL_VALUE_MAX + 1] = 0;
        assert_false(label_value_is_valid(long_value));
}

static void test_assignment_and_json(void **state)
{
        Labels l = {0};
        const char *reason = NULL;
        char json[LABELS_JSON_MAX + 1];
        char key[8];
        int n;

        (void)state;
        assert_int_equal(labels_add_assignment(&l, "site=fra1", &reason), 0);
        assert_int_equal(labels_add_assignment(&l, "note=a=b \"q\" \\", &reason), 0);
        assert_int_equal(labels_add_assignment(&l, "empty=", &reason), 0);
        assert_int_equal(l.n, 3);
        assert_string_equal(l.l[1].value, "a=b \"q\" \\");
        assert_int_equal(labels_add_assignment(&l, "site=ber1", &reason), -EEXIST);
        assert_int_equal(labels_add_assignment(&l, "noequals", &reason), -EINVAL);
        assert_string_equal(reason, "expected key=value");
        assert_int_equal(labels_add_assignment(&l, "=v", &reason), -EINVAL);
        assert_int_equal(labels_add_assignment(&l, "k=\x01", &reason), -EINVAL);
        assert_int_equal(l.n, 3);

        n = labels_to_json(&l, json, sizeof json);
        assert_int_equal(n, (int)strlen(json));
        assert_string_equal(json, "{\"empty\":\"\",\"note\":\"a=b \\\"q\\\" \\\\\",\"site\":\"fra1\"}");
        assert_int_equal(labels_to_json(&l, json, 10), -ENOBUFS);
        assert_int_equal(labels_to_json(&(Labels){0}, json, sizeof json), 2);
        assert_string_equal(json, "{}");

        /* LABELS_MAX, then no more. */
        l = (Labels){0};
        for (int i = 0; i < LABELS_MAX; i++) {
                char a[16];
                snprintf(a, sizeof a, "k%d=v", i);
                assert_int_equal(labels_add_assignment(&l, a, &reason), 0);
        }
        snprintf(key, sizeof key, "z=1");
        assert_int_equal(labels_add_assignment(&l, key, &reason), -E2BIG);
}

/* The worst case fits LABELS_JSON_MAX: the bound the daemon's and the agent's buffers use. */
static void test_json_bound(void **state)
{
        Labels l = {0};
        char json[LABELS_JSON_MAX + 1];

        (void)state;
        for (unsigned i = 0; i < LABELS_MAX; i++) {
                snprintf(l.l[i].key, sizeof l.l[i].key, "k%02u%.*s", i, LABEL_KEY_MAX - 3,
                         "____________________________________________");
                memset(l.l[i].value, '"', LABEL_VALUE_MAX);
                l.l[i].value[LABEL_VALUE_MAX] = 0;
        }
        l.n = LABELS_MAX;
        assert_true(labels_to_json(&l, json, sizeof json) > 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_key),
                cmocka_unit_test(test_value),
                cmocka_unit_test(test_assignment_and_json),
                cmocka_unit_test(test_json_bound),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
