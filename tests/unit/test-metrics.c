/* Prometheus text output (daemon/metrics.c): escaping, number formatting, and the whole exposition of
 * a small database checked line by line against the text format 0.0.4 rules. */

#include "http-testdb.h"

#include "daemon/metrics.h"

static TestDb db;

static int setup(void **state)
{
        testdb_create(&db);
        return 0;
}

static int teardown(void **state)
{
        testdb_remove(&db);
        return 0;
}

static char *render(void (*f)(FILE *, const void *), const void *arg)
{
        char *buf = NULL;
        size_t size = 0;
        FILE *m = open_memstream(&buf, &size);

        assert_non_null(m);
        f(m, arg);
        fclose(m);
        return buf;
}

static void label(FILE *f, const void *s)
{
        metrics_write_label_value(f, s);
}

static void value(FILE *f, const void *v)
{
        metrics_write_value(f, *(const double *)v);
}

static void check_value(double v, const char *want)
{
        _cleanup_free_ char *s = render(value, &v);
        assert_string_equal(s, want);
}

static void test_format(void **state)
{
        _cleanup_free_ char *a = render(label, "a\\b\"c\nd");

        assert_string_equal(a, "a\\\\b\\\"c\\nd");
        check_value(0, "0");
        check_value(42, "42");
        check_value(-7, "-7");
        check_value(4294967296.0, "4294967296");
        check_value(0.5, "0.5");
        check_value(0.005, "0.005");
        check_value(0.1 + 0.2, "0.30000000000000004");
        check_value(1e300, "1e+300");
        check_value(1.0 / 3, "0.3333333333333333");
        check_value(NAN, "NaN");
        check_value(INFINITY, "+Inf");
        check_value(-INFINITY, "-Inf");
}

/* Every family: HELP then TYPE then its samples, names unique, names with the prefix, counters ending in
 * _total, label values quoted. */
static void test_render(void **state)
{
        _cleanup_(query_freep) Query *q = NULL;
        _cleanup_free_ char *text = NULL;
        char family[128] = "", type[32] = "";
        char *save = NULL, *line;
        size_t size, n_families = 0, n_samples = 0;

        assert_int_equal(query_open(db.path, &q), 0);
        assert_int_equal(metrics_render(q, &text, &size), 0);
        assert_int_equal(strlen(text), size);
        assert_true(size > 0 && text[size - 1] == '\n');

        assert_non_null(strstr(text, "seatmeter_cpu_usage_seconds_total{agent=\"lxc-1\"} 10\n"));
        assert_non_null(strstr(text, "seatmeter_spec_cpu_effective_cpus{agent=\"lxc-1\"} 1.5\n"));
        assert_non_null(strstr(text, "seatmeter_agent_info{agent=\"lxc-1\",virt=\"lxc\",hostname=\"host "
                                     "\\\"one\\\"\",bbb=\"bbb1\"} 1\n"));
        assert_non_null(strstr(
                text,
                "seatmeter_network_receive_bytes_total{agent=\"lxc-1\",interface=\"we\\\"ird\\\\if\"} 5\n"));
        assert_non_null(strstr(text, "seatmeter_bbb_participants{bbb=\"bbb1\"} 40\n"));
        /* Unknown is absent, never zero. */
        assert_null(strstr(text, "seatmeter_bbb_up{bbb=\"bbb2\"}"));
        assert_null(strstr(text, "seatmeter_spec_cpu_effective_cpus{agent=\"kvm-2\"}"));
        assert_null(strstr(text, "seatmeter_cpu_usage_seconds_total{agent=\"kvm-2\"}"));
        assert_non_null(strstr(text, "seatmeter_agent_connected{agent=\"kvm-2\"} 0\n"));

        for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                if (strneq(line, "# HELP ", 7)) {
                        char name[128];

                        assert_int_equal(sscanf(line + 7, "%127s", name), 1);
                        assert_true(strneq(name, "seatmeter_", 10));
                        /* a family appears once */
                        assert_string_not_equal(name, family);
                        snprintf(family, sizeof(family), "%s", name);
                        type[0] = 0;
                        n_families++;
                } else if (strneq(line, "# TYPE ", 7)) {
                        char name[128];

                        assert_int_equal(sscanf(line + 7, "%127s %31s", name, type), 2);
                        assert_string_equal(name, family);
                        assert_true(streq(type, "gauge") || streq(type, "counter"));
                        if (streq(type, "counter"))
                                assert_true(strlen(name) > 6 && streq(name + strlen(name) - 6, "_total"));
                } else {
                        size_t k = strlen(family);

                        assert_true(type[0]);
                        assert_true(strneq(line, family, k));
                        assert_true(line[k] == '{' || line[k] == ' ');
                        n_samples++;
                }
        }
        assert_true(n_families > 40);
        assert_true(n_samples > 30);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_format),
                cmocka_unit_test(test_render),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
