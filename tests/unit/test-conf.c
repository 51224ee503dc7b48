/* Unit tests of common/conf.c: one table of settings, set from text, printed back, turned into getopt
 * options and help. */

#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include <cmocka.h>

#include "conf.h"
#include "macro.h"

typedef struct Settings {
        char name[8];
        char *path;
        unsigned count;
        uint64_t interval;
        double share;
        bool verbose;
        int custom;
} Settings;

static int parse_even(const ConfKey *k, void *base, const char *value, void *userdata, const char **ret_why)
{
        int *calls = userdata;

        (*calls)++;
        if (strlen(value) % 2) {
                *ret_why = "odd";
                return -EINVAL;
        }
        *(int *)conf_field(k, base) = (int)strlen(value);
        return 0;
}

static void format_even(const ConfKey *k, const void *base, const void *userdata, FILE *f)
{
        fprintf(f, "%s = <%d>\n", k->name, *(const int *)conf_field_const(k, base));
}

static const ConfKey keys[] = {
        {"s", "name", CONF_FIELD(Settings, name), .type = CONF_STRING, .def = "x", .option = "name", .arg = "N",
         .help = "a name"},
        {"s", "path", CONF_OFFSET(Settings, path), .type = CONF_STRDUP, .size = 5, .flags = CONF_NOT_EMPTY,
         .option = "path", .arg = "P", .help = "a path"},
        {"s", "count", CONF_FIELD(Settings, count), .type = CONF_UINT, .min = 1, .max = 10, .def = "3"},
        {"s", "interval", CONF_FIELD(Settings, interval), .type = CONF_U64, .min = 10, .max = 5e9,
         .option = "interval", .arg = "MS", .help = "how often"},
        {"s", "share", CONF_FIELD(Settings, share), .type = CONF_DOUBLE, .min = 0, .max = 1,
         .flags = CONF_ABOVE_MIN | CONF_EMPTY_UNSET, .def = "", .why = "expected a share"},
        {"s", "verbose", CONF_FIELD(Settings, verbose), .type = CONF_BOOL, .option = "verbose", .help = "talk"},
        {"s", "even", CONF_FIELD(Settings, custom), .type = CONF_CUSTOM, .parse = parse_even, .format = format_even},
        {"other", "name", CONF_FIELD(Settings, count), .type = CONF_UINT, .max = 5, .option = "other-name"},
};

static void test_set(void **state)
{
        Settings s = {0};
        const char *why = NULL;
        int calls = 0;

        assert_null(conf_find(keys, ELEMENTSOF(keys), "s", "nope"));
        assert_ptr_equal(conf_find(keys, ELEMENTSOF(keys), "other", "name"), &keys[7]);

        assert_int_equal(conf_apply_defaults(keys, ELEMENTSOF(keys), "s", &s, &calls), 0);
        assert_string_equal(s.name, "x");
        assert_int_equal(s.count, 3);
        assert_true(isnan(s.share));

        assert_int_equal(conf_set(&keys[0], &s, "1234567", NULL, &why), 0);
        assert_int_equal(conf_set(&keys[0], &s, "12345678", NULL, &why), -ENAMETOOLONG);
        assert_string_equal(why, "value too long");
        assert_string_equal(s.name, "1234567");

        assert_int_equal(conf_set(&keys[1], &s, "", NULL, &why), -EINVAL);
        assert_null(s.path);
        assert_int_equal(conf_set(&keys[1], &s, "/a", NULL, &why), 0);
        assert_int_equal(conf_set(&keys[1], &s, "/abcd", NULL, &why), -ENAMETOOLONG);
        assert_int_equal(conf_set(&keys[1], &s, "/abc", NULL, &why), 0);
        assert_string_equal(s.path, "/abc");

        assert_int_equal(conf_set(&keys[2], &s, "0", NULL, &why), -ERANGE);
        assert_int_equal(conf_set(&keys[2], &s, "11", NULL, &why), -ERANGE);
        assert_int_equal(conf_set(&keys[2], &s, "-1", NULL, &why), -EINVAL);
        assert_int_equal(conf_set(&keys[2], &s, "x", NULL, &why), -EINVAL);
        assert_string_equal(why, "not a number within the allowed range");
        assert_int_equal(conf_set(&keys[2], &s, "10", NULL, &why), 0);
        assert_int_equal(s.count, 10);

        assert_int_equal(conf_set(&keys[3], &s, "5000000000", NULL, &why), 0);
        assert_int_equal(s.interval, 5000000000ULL);
        assert_int_equal(conf_set(&keys[3], &s, "5000000001", NULL, &why), -ERANGE);
        assert_int_equal(conf_set(&keys[3], &s, "9", NULL, &why), -ERANGE);

        assert_int_equal(conf_set(&keys[4], &s, "0", NULL, &why), -ERANGE); /* min itself is out */
        assert_string_equal(why, "expected a share");
        assert_int_equal(conf_set(&keys[4], &s, "nan", NULL, &why), -EINVAL);
        assert_int_equal(conf_set(&keys[4], &s, "1.5", NULL, &why), -ERANGE);
        assert_int_equal(conf_set(&keys[4], &s, "0.25", NULL, &why), 0);
        assert_true(s.share == 0.25);

        assert_int_equal(conf_set(&keys[5], &s, "yes", NULL, &why), 0);
        assert_true(s.verbose);
        assert_int_equal(conf_set(&keys[5], &s, "maybe", NULL, &why), -EINVAL);
        assert_true(s.verbose);

        assert_int_equal(conf_set(&keys[6], &s, "abc", &calls, &why), -EINVAL);
        assert_string_equal(why, "odd");
        assert_int_equal(conf_set(&keys[6], &s, "abcd", &calls, &why), 0);
        assert_int_equal(s.custom, 4);
        assert_int_equal(calls, 2);

        conf_done(keys, ELEMENTSOF(keys), "s", &s);
        assert_null(s.path);
}

static void test_dump(void **state)
{
        Settings s = {.name = "n", .count = 2, .interval = 30, .share = NAN, .custom = 6};
        char *buf = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&buf, &size);

        assert_non_null(f);
        conf_dump(keys, ELEMENTSOF(keys), "s", &s, NULL, f);
        s.share = 0.5;
        s.path = (char *)"/p";
        conf_dump(keys, ELEMENTSOF(keys), "s", &s, NULL, f);
        fclose(f);
        assert_string_equal(buf, "name = n\npath =\ncount = 2\ninterval = 30\nshare =\nverbose = no\neven = <6>\n"
                                 "name = n\npath = /p\ncount = 2\ninterval = 30\nshare = 0.5\nverbose = no\n"
                                 "even = <6>\n");
        free(buf);
}

static void test_options(void **state)
{
        static const struct option extra[] = {{"help", no_argument, NULL, 'h'}};
        struct option options[6];
        char *buf = NULL;
        size_t size = 0;
        FILE *f;

        assert_int_equal(conf_options(keys, ELEMENTSOF(keys), "s", extra, ELEMENTSOF(extra), options, 4), -ENOBUFS);
        assert_int_equal(conf_options(keys, ELEMENTSOF(keys), "s", extra, ELEMENTSOF(extra), options, 6), 0);
        assert_string_equal(options[0].name, "name");
        assert_string_equal(options[1].name, "path");
        assert_string_equal(options[2].name, "interval");
        assert_string_equal(options[3].name, "verbose");
        assert_int_equal(options[3].has_arg, no_argument);
        assert_int_equal(options[2].has_arg, required_argument);
        assert_string_equal(options[4].name, "help");
        assert_null(options[5].name);
        assert_ptr_equal(conf_option_key(keys, ELEMENTSOF(keys), options[2].val), &keys[3]);
        assert_null(conf_option_key(keys, ELEMENTSOF(keys), 'h'));
        assert_null(conf_option_key(keys, ELEMENTSOF(keys), CONF_OPTION_BASE + (int)ELEMENTSOF(keys)));

        f = open_memstream(&buf, &size);
        assert_non_null(f);
        conf_help(keys, ELEMENTSOF(keys), "s", 16, f);
        fclose(f);
        assert_string_equal(buf, "  --name N      a name (default x)\n"
                                 "  --path P      a path\n"
                                 "  --interval MS how often\n"
                                 "  --verbose     talk\n");
        free(buf);
}

typedef struct Seen {
        unsigned n;
        char lines[8][160];
} Seen;

static int take_line(const ConfLine *l, void *userdata)
{
        Seen *seen = userdata;

        if (streq(l->key, "bad"))
                return -EINVAL;
        assert_true(seen->n < ELEMENTSOF(seen->lines));
        snprintf(seen->lines[seen->n++], sizeof seen->lines[0], "%u [%s]@%u %s=%s", l->line, l->section,
                 l->section_line, l->key, l->value);
        return 0;
}

static void test_parse_file(void **state)
{
        char path[] = "/tmp/seatmeter-test-conf-XXXXXX";
        char long_name[CONF_SECTION_MAX + 2];
        unsigned errors = 99;
        Seen seen = {0};
        FILE *f;
        int fd;

        fd = mkstemp(path);
        assert_true(fd >= 0);
        f = fdopen(fd, "w");
        assert_non_null(f);
        memset(long_name, 'n', sizeof long_name - 1);
        long_name[sizeof long_name - 1] = 0;
        fprintf(f, "top = 1\n"
                   "; comment\n"
                   "[agent  a-name-longer-than-libinih-cuts-section-names-at-fifty-bytes ]\n"
                   "k = v w\n"
                   "bad = 1\n"
                   "[%s]\n"
                   "skipped = 1\n"
                   "[s]\n"
                   "long = %0300d\n"
                   "after = 2\n",
                long_name, 0);
        fclose(f);

        assert_int_equal(conf_parse_file(path, take_line, &seen, &errors), 0);
        assert_int_equal(errors, 3); /* bad, the long section header, the long line */
        assert_int_equal(seen.n, 3);
        assert_string_equal(seen.lines[0], "1 []@0 top=1");
        assert_string_equal(seen.lines[1],
                            "4 [agent  a-name-longer-than-libinih-cuts-section-names-at-fifty-bytes]@3 k=v w");
        assert_string_equal(seen.lines[2], "10 [s]@8 after=2");

        f = fopen(path, "we");
        assert_non_null(f);
        fputs("[s]\nno equals sign\n", f);
        fclose(f);
        assert_int_equal(conf_parse_file(path, take_line, &seen, &errors), 0);
        assert_int_equal(errors, 1);

        assert_int_equal(unlink(path), 0);
        assert_int_equal(conf_parse_file(path, take_line, &seen, &errors), -ENOENT);
        assert_int_equal(conf_parse_file("/tmp", take_line, &seen, &errors), -EINVAL);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_set),
                cmocka_unit_test(test_dump),
                cmocka_unit_test(test_options),
                cmocka_unit_test(test_parse_file),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
