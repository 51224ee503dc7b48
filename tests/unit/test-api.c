/* The API's routes (daemon/api*.c) without sockets: parameter parsing, the series plan, and answers and
 * errors for requests built by hand. */

#include <jansson.h>

#include "http-testdb.h"

#include "daemon/api-series.h"
#include "daemon/api.h"
#include "daemon/routes.h"

static TestDb db;
static Query *q;

static int setup(void **state)
{
        testdb_create(&db);
        return query_open(db.path, &q) < 0 ? -1 : 0;
}

static int teardown(void **state)
{
        q = query_free(q);
        testdb_remove(&db);
        return 0;
}

static void test_step(void **state)
{
        int64_t ms;

        assert_int_equal(api_parse_step("raw", &ms), 0);
        assert_int_equal(ms, 0);
        assert_int_equal(api_parse_step("1500", &ms), 0);
        assert_int_equal(ms, 1500);
        assert_int_equal(api_parse_step("250ms", &ms), 0);
        assert_int_equal(ms, 250);
        assert_int_equal(api_parse_step("10s", &ms), 0);
        assert_int_equal(ms, 10000);
        assert_int_equal(api_parse_step("5m", &ms), 0);
        assert_int_equal(ms, 300000);
        assert_int_equal(api_parse_step("2h", &ms), 0);
        assert_int_equal(ms, 7200000);
        assert_int_equal(api_parse_step("1d", &ms), 0);
        assert_int_equal(ms, 86400000);
        assert_int_equal(api_parse_step("0", &ms), -ERANGE);
        assert_int_equal(api_parse_step("99999999999999999999999", &ms), -ERANGE);
        assert_int_equal(api_parse_step("4000d", &ms), -ERANGE);
        assert_int_equal(api_parse_step("-1s", &ms), -EINVAL);
        assert_int_equal(api_parse_step("1w", &ms), -EINVAL);
        assert_int_equal(api_parse_step("s", &ms), -EINVAL);
        assert_int_equal(api_parse_step("", &ms), -EINVAL);
        assert_int_equal(api_parse_step(NULL, &ms), -EINVAL);
}

static void test_plan(void **state)
{
        const int64_t H = 3600 * 1000, T = 1700000000000LL;
        ApiSeriesPlan p;

        /* raw forced */
        api_series_plan(T, T + H, -1, 100, &p);
        assert_true(p.raw);
        /* no step: about 1000 points, a nice step: 1 h / 1000 = 3.6 s -> 5 s */
        api_series_plan(T, T + H, 0, 10000, &p);
        assert_false(p.raw);
        assert_false(p.trends);
        assert_int_equal(p.step_ms, 5000);
        /* 24 h without step: 86.4 s -> 2 min, from samples */
        api_series_plan(T, T + 24 * H, 0, 10000, &p);
        assert_false(p.trends);
        assert_int_equal(p.step_ms, 120000);
        /* a step asked for is kept when the limit allows it */
        api_series_plan(T, T + H, 7000, 10000, &p);
        assert_int_equal(p.step_ms, 7000);
        /* ... and raised when it does not: 1 h at 1 s with limit 100 -> 36 s -> 1 min */
        api_series_plan(T, T + H, 1000, 100, &p);
        assert_int_equal(p.step_ms, 60000);
        /* an hour or more: trends, whole hours */
        api_series_plan(T, T + 2 * H, H, 10000, &p);
        assert_true(p.trends);
        assert_int_equal(p.step_ms, H);
        api_series_plan(T, T + 2 * H, 90 * 60 * 1000, 10000, &p);
        assert_true(p.trends);
        assert_int_equal(p.step_ms, 2 * H);
        /* more than 48 h: trends even with a fine step */
        api_series_plan(T, T + 72 * H, 60000, 10000, &p);
        assert_true(p.trends);
        assert_int_equal(p.step_ms, H);
        /* 10 years with limit 10: a few hundred days per point */
        api_series_plan(T, T + 3650 * 24 * H, 0, 10, &p);
        assert_true(p.trends);
        assert_true(p.step_ms >= 365 * 24 * H);
        /* a single instant */
        api_series_plan(T, T, 0, 10000, &p);
        assert_int_equal(p.step_ms, 1000);
}

static void check_double(double v, const char *want)
{
        char buf[API_DOUBLE_MAX];

        assert_int_equal(api_format_double(v, buf), strlen(want));
        assert_string_equal(buf, want);
}

static void test_format_double(void **state)
{
        char buf[API_DOUBLE_MAX];

        check_double(0, "0");
        check_double(-0.0, "0");
        check_double(42, "42");
        check_double(-42, "-42");
        check_double(4294967296.0, "4294967296");
        check_double(0.5, "0.5");
        check_double(0.1 + 0.2, "0.3");
        check_double(1.0 / 3, "0.333333333333333");
        check_double(2.0 / 3, "0.666666666666667");
        check_double(123.456, "123.456");
        check_double(-0.000123, "-0.000123");
        check_double(0.0000015, "0.0000015");
        check_double(999.9999999999999, "1000");
        check_double(9.9999999999999995, "10");
        check_double(524806986.4, "524806986.4");
        check_double(1e-7, "1e-07");
        check_double(1.5e20, "1.5e+20");
        check_double(1.5e300, "1.5e+300");
        check_double(NAN, "null");
        check_double(INFINITY, "null");
        /* Round trip within 15 digits over a spread of magnitudes. */
        for (double v = 1.2345678901234e-6; v < 1e15; v *= 7.77) {
                api_format_double(v, buf);
                assert_true(fabs(strtod(buf, NULL) - v) <= fabs(v) * 1e-14);
                api_format_double(-v, buf);
                assert_true(fabs(strtod(buf, NULL) + v) <= fabs(v) * 1e-14);
        }
}

/* The route table decides access, the database and the handler for every path. */
static void test_names(void **state)
{
        RouteMatch m;
        char allow[ROUTES_ALLOW_MAX];

        assert_true(routes_match("/healthz", &m));
        assert_int_equal(m.route->access, ROUTE_PUBLIC);
        assert_int_equal(m.route->db, ROUTE_DB_NONE);
        assert_non_null(m.route->handler);
        assert_true(routes_match("/metrics", &m));
        assert_int_equal(m.route->access, ROUTE_TOKEN);
        assert_int_equal(m.route->db, ROUTE_DB_REQUIRED);
        /* Unknown API paths need the token too (then 404), so nothing tells which exist. */
        assert_true(routes_match("/api/v1/anything", &m));
        assert_int_equal(m.route->access, ROUTE_TOKEN);
        assert_true(routes_match("/api/v1/zabbix/daemon", &m));
        assert_int_equal(m.route->db, ROUTE_DB_OPTIONAL);
        assert_true(routes_match("/api/v1/status", &m));
        assert_int_equal(m.route->db, ROUTE_DB_NONE);

        assert_true(routes_match("/", &m));
        assert_null(m.route->handler);
        assert_string_equal(m.route->asset, ROUTES_INDEX_FILE);
        assert_int_equal(m.route->access, ROUTE_PUBLIC);
        assert_true(routes_match("/assets/app.js", &m));
        assert_null(m.route->handler);
        assert_null(m.route->asset);
        assert_string_equal(m.rest, "app.js");
        assert_false(routes_match("/elsewhere", &m));
        assert_false(routes_match("/api/v1", &m));
        assert_false(routes_match("/healthz/", &m));

        assert_true(routes_match("/api/v1/agents/lxc-1/latest", &m));
        assert_int_equal(m.id_len, 5);
        assert_true(strneq(m.id, "lxc-1", 5));
        assert_non_null(m.route->handler);
        assert_true(routes_match("/api/v1/agents/lxc-1", &m));
        assert_int_equal(m.id_len, 5);
        assert_null(m.rest);
        /* An empty {id} matches only the catch-all. */
        assert_true(routes_match("/api/v1/agents//latest", &m));
        assert_null(m.id);
        assert_non_null(m.rest);

        assert_true(routes_method_allowed(NULL, "GET"));
        assert_true(routes_method_allowed(NULL, "HEAD"));
        assert_false(routes_method_allowed(NULL, "POST"));
        assert_true(routes_match("/api/v1/agents", &m));
        assert_false(routes_method_allowed(m.route, "DELETE"));
        routes_allow(m.route, ", ", allow, sizeof(allow));
        assert_string_equal(allow, "GET, HEAD");
        routes_allow(NULL, " and ", allow, sizeof(allow));
        assert_string_equal(allow, "GET and HEAD");
        routes_allow(NULL, ", ", allow, 5);
        assert_string_equal(allow, "GET");
        /* POST only where a route takes it. */
        assert_true(routes_match("/api/v1/experiments", &m));
        assert_true(routes_method_allowed(m.route, "POST"));
        routes_allow(m.route, ", ", allow, sizeof(allow));
        assert_string_equal(allow, "GET, HEAD, POST");
        assert_true(routes_match("/api/v1/curves", &m));
        assert_false(routes_method_allowed(m.route, "POST"));
}

/* Runs one request at now_ms (with a Zabbix max age, 0: the default) and returns the parsed JSON body (or
 * NULL for non-JSON), checking the status. */
static json_t *request_at(Query *qq, const char *path, int64_t now_ms, int64_t zabbix_max_age_ms,
                          const ApiArg *args, size_t n_args, unsigned status, ApiResponse *ret)
{
        ApiRequest req = {
                .method = "GET",
                .path = path,
                .args = args,
                .n_args = n_args,
                .now_ms = now_ms,
                .zabbix_max_age_ms = zabbix_max_age_ms,
        };
        json_error_t err;
        json_t *j;

        assert_int_equal(api_handle(qq, &req, ret), 0);
        if (ret->status != status)
                fprintf(stderr, "%s: %u %.*s\n", path, ret->status, (int)ret->size, ret->body);
        assert_int_equal(ret->status, status);
        assert_non_null(ret->content_type);
        assert_non_null(ret->body);
        if (!strneq(ret->content_type, "application/json", 16))
                return NULL;
        j = json_loadb(ret->body, ret->size, 0, &err);
        assert_non_null(j);
        if (status >= 400)
                assert_true(json_is_string(json_object_get(j, "error")));
        return j;
}

static json_t *request(Query *qq, const char *path, const ApiArg *args, size_t n_args, unsigned status,
                       ApiResponse *ret)
{
        return request_at(qq, path, TESTDB_T0 + 10000, 0, args, n_args, status, ret);
}

static void check(Query *qq, const char *path, const ApiArg *args, size_t n_args, unsigned status)
{
        ApiResponse r;
        json_t *j = request(qq, path, args, n_args, status, &r);

        json_decref(j);
        api_response_done(&r);
}

static void test_routes(void **state)
{
        ApiResponse r;
        json_t *j, *row;

        j = request(q, "/api/v1/agents/lxc-1/latest", NULL, 0, 200, &r);
        assert_int_equal(json_integer_value(json_object_get(j, "time_ms")), TESTDB_T0 + 9000);
        assert_int_equal(json_integer_value(json_object_get(j, "users")), 9);
        assert_true(json_is_null(json_object_get(j, "net_rx_bps")));
        json_decref(j);
        api_response_done(&r);

        j = request(q, "/api/v1/agents/kvm-2/latest", NULL, 0, 200, &r);
        assert_true(json_is_null(json_object_get(j, "time_ms")));
        json_decref(j);
        api_response_done(&r);

        {
                ApiArg a[] = {{"from", "1700000000000"},
                              {"to", "1700000004999"},
                              {"step", "raw"},
                              {"metrics", "users,cpu_ratio"}};
                j = request(q, "/api/v1/agents/lxc-1/series", a, ELEMENTSOF(a), 200, &r);
                assert_int_equal(json_array_size(j), 5);
                row = json_array_get(j, 4);
                assert_int_equal(json_object_size(row), 3);
                assert_int_equal(json_integer_value(json_object_get(row, "users")), 4);
                assert_string_equal(r.header_names[0], "X-Seatmeter-Source");
                assert_string_equal(r.header_values[0], "raw");
                json_decref(j);
                api_response_done(&r);
        }
        {
                /* two 5 s buckets of averages */
                ApiArg a[] = {{"from", "1700000000000"},
                              {"to", "1700000009999"},
                              {"step", "5s"},
                              {"metrics", "users"}};
                j = request(q, "/api/v1/agents/lxc-1/series", a, ELEMENTSOF(a), 200, &r);
                assert_int_equal(json_array_size(j), 2);
                assert_true(json_number_value(json_object_get(json_array_get(j, 0), "users")) == 2.0);
                assert_true(json_number_value(json_object_get(json_array_get(j, 1), "users")) == 7.0);
                json_decref(j);
                api_response_done(&r);
        }
        {
                ApiArg a[] = {{"from", "1699999200000"},
                              {"to", "1700006400000"},
                              {"step", "2h"},
                              {"metrics", "cpu_ratio,users"}};
                j = request(q, "/api/v1/agents/lxc-1/series", a, ELEMENTSOF(a), 200, &r);
                /* Both stored hours fall into the epoch-aligned 2 h bucket starting at 1699999200000;
                 * averages weigh each hour by its count. */
                assert_string_equal(r.header_values[0], "trends");
                assert_int_equal(json_array_size(j), 1);
                row = json_array_get(j, 0);
                assert_int_equal(json_integer_value(json_object_get(row, "time_ms")), 1699999200000LL);
                assert_true(fabs(json_number_value(json_object_get(row, "cpu_ratio")) - 2.45 / 12) < 1e-12);
                assert_true(json_number_value(json_object_get(row, "users")) == 4.5);
                json_decref(j);
                api_response_done(&r);
        }
        {
                ApiArg a[] = {{"agent", "lxc-1"}, {"agent", "kvm-2"}};
                j = request(q, "/api/v1/curves", a, ELEMENTSOF(a), 200, &r);
                json_t *agents = json_object_get(j, "agents");
                json_t *a0 = json_array_get(agents, 0), *fit = json_object_get(a0, "fit");
                assert_int_equal(json_array_size(agents), 2);
                assert_int_equal(json_array_size(json_object_get(a0, "points")), 5);
                assert_true(fabs(json_real_value(json_object_get(fit, "slope")) - 0.02) < 1e-9);
                assert_true(fabs(json_real_value(json_object_get(fit, "intercept")) - 0.1095) < 1e-9);
                /* capacity at 0.8: (0.8 - 0.1095) / 0.02 */
                assert_true(fabs(json_real_value(json_object_get(json_object_get(a0, "capacity"), "users")) -
                                 34.525) < 1e-6);
                assert_true(json_is_null(json_object_get(json_array_get(agents, 1), "fit")));
                json_decref(j);
                api_response_done(&r);
        }
        {
                ApiArg a[] = {{"format", "csv"}};
                assert_null(request(q, "/api/v1/curves", a, 1, 200, &r));
                assert_true(strneq(r.content_type, "text/csv", 8));
                assert_true(strneq(r.body, "agent,virt,metric,users,", 24));
                api_response_done(&r);
        }
        assert_null(request(q, "/metrics", NULL, 0, 200, &r));
        api_response_done(&r);
        check(q, "/api/v1/agents", NULL, 0, 200);
        check(q, "/api/v1/agents/lxc-1", NULL, 0, 200);
        check(q, "/api/v1/bbb", NULL, 0, 200);
        check(q, "/api/v1/zabbix/discovery", NULL, 0, 200);
        check(q, "/api/v1/zabbix/agents/lxc-1", NULL, 0, 200);
        check(q, "/healthz", NULL, 0, 200);
        check(NULL, "/healthz", NULL, 0, 200);
}

static void test_errors(void **state)
{
        ApiArg many[API_ARGS_MAX + 1];
        char big[API_ARG_VALUE_MAX + 2];

        check(NULL, "/api/v1/agents", NULL, 0, 503);
        check(q, "/api/v1/agents/nobody/latest", NULL, 0, 404);
        check(q, "/api/v1/agents/no%20body/latest", NULL, 0, 400);
        check(q, "/api/v1/agents//latest", NULL, 0, 404);
        check(q, "/api/v1/agents/lxc-1/latest/x", NULL, 0, 404);
        check(q, "/api/v1/zabbix/agents/lxc-1/x", NULL, 0, 404);
        check(q, "/api/v1/", NULL, 0, 404);
        check(NULL, "/api/v1/nothing", NULL, 0, 404); /* unknown whether or not the database opens */
        check(q, "/", NULL, 0, 404);                  /* the dashboard's files are http.c's */
        check(q, "/api/v1/agents/a123456789b123456789c123456789d123456789e123456789f123456789g1234", NULL, 0,
              400);
        check(NULL, "/api/v1/status", NULL, 0, 200);
        {
                ApiRequest req = {.method = "POST", .path = "/api/v1/agents", .now_ms = TESTDB_T0};
                ApiResponse r;

                assert_int_equal(api_handle(q, &req, &r), 0);
                assert_int_equal(r.status, 405);
                assert_string_equal(r.header_names[0], "Allow");
                assert_string_equal(r.header_values[0], "GET, HEAD");
                api_response_done(&r);
        }
        check(q, "/elsewhere", NULL, 0, 404);
        {
                ApiArg a[] = {{"from", "5"}, {"to", "4"}};
                check(q, "/api/v1/agents/lxc-1/series", a, 2, 400);
        }
        {
                ApiArg a[] = {{"from", NULL}};
                check(q, "/api/v1/agents/lxc-1/series", a, 1, 400);
        }
        {
                ApiArg a[] = {{"metrics", ",,,"}};
                check(q, "/api/v1/agents/lxc-1/series", a, 1, 400);
        }
        {
                ApiArg a[] = {{"agent", NULL}};
                check(q, "/api/v1/curves", a, 1, 400);
        }
        {
                ApiArg a[] = {{"oops", "1"}};
                check(q, "/api/v1/bbb", a, 1, 400);
                check(q, "/api/v1/agents/lxc-1/latest", a, 1, 400);
        }
        {
                ApiArg a[] = {{"\xff\xfe", "1"}};
                check(q, "/api/v1/agents", a, 1, 400);
        }
        for (size_t i = 0; i < ELEMENTSOF(many); i++)
                many[i] = (ApiArg){"_", "1"};
        check(q, "/api/v1/agents", many, ELEMENTSOF(many), 400);
        memset(big, 'x', sizeof(big) - 1);
        big[sizeof(big) - 1] = 0;
        {
                ApiArg a[] = {{"_", big}};
                check(q, "/api/v1/agents", a, 1, 400);
        }
}

/* Zabbix stores a JSON null as the text "null" and the numeric item fails: no null anywhere. */
static void assert_no_null(json_t *j)
{
        const char *key;
        json_t *v;
        size_t i;

        assert_false(json_is_null(j));
        if (json_is_object(j))
                json_object_foreach(j, key, v) assert_no_null(v);
        else if (json_is_array(j))
                json_array_foreach(j, i, v) assert_no_null(v);
}

/* GETs a Zabbix route at now_ms, checks that no value is null, and returns the object. */
static json_t *zabbix_get(Query *qq, const char *path, int64_t now_ms, int64_t max_age_ms)
{
        ApiResponse r;
        json_t *j = request_at(qq, path, now_ms, max_age_ms, NULL, 0, 200, &r);

        api_response_done(&r);
        assert_no_null(j);
        return j;
}

static void test_zabbix(void **state)
{
        /* lxc-1's newest sample: T0 + 9000 on its clock, 3 ms behind the daemon's (offset -3). */
        const int64_t newest = TESTDB_T0 + 9000 - 3;
        sqlite3 *w = NULL;
        json_t *j;

        /* Fresh: every known value, the unknown ones (net_rx_bps, swap_bytes) left out. */
        j = zabbix_get(q, "/api/v1/zabbix/agents/lxc-1", newest + 1000, 0);
        assert_int_equal(json_integer_value(json_object_get(j, "fresh")), 1);
        assert_int_equal(json_integer_value(json_object_get(j, "connected")), 1);
        assert_int_equal(json_integer_value(json_object_get(j, "users")), 9);
        assert_int_equal(json_integer_value(json_object_get(j, "time_ms")), TESTDB_T0 + 9000);
        assert_true(fabs(json_real_value(json_object_get(j, "cpu_ratio")) - 0.19) < 1e-12);
        assert_true(json_real_value(json_object_get(j, "cpu_usage_seconds")) == 10.0);
        assert_true(json_real_value(json_object_get(j, "sample_age_s")) == 1.0);
        assert_int_equal(json_integer_value(json_object_get(j, "oom_kills")), 0);
        assert_null(json_object_get(j, "net_rx_bps"));
        assert_null(json_object_get(j, "swap_bytes"));
        assert_null(json_object_get(j, "throttled_ratio"));
        json_decref(j);

        /* 60 s old is still current; a millisecond more is stale by default: the sample's values go, what
         * tells its age stays. */
        j = zabbix_get(q, "/api/v1/zabbix/agents/lxc-1", newest + 60000, 0);
        assert_int_equal(json_integer_value(json_object_get(j, "fresh")), 1);
        json_decref(j);
        j = zabbix_get(q, "/api/v1/zabbix/agents/lxc-1", newest + 60001, 0);
        assert_int_equal(json_integer_value(json_object_get(j, "fresh")), 0);
        assert_int_equal(json_integer_value(json_object_get(j, "time_ms")), TESTDB_T0 + 9000);
        assert_true(json_real_value(json_object_get(j, "sample_age_s")) == 60.001);
        assert_true(json_real_value(json_object_get(j, "effective_cpus")) == 1.5);
        for (const char *const *k =
                     (const char *const[]){"cpu_ratio", "cpu_cores", "memory_bytes", "users",
                                           "cpu_usage_seconds", "io_read_bytes", "oom_kills", NULL};
             *k; k++)
                assert_null(json_object_get(j, *k));
        json_decref(j);
        /* The max age is a setting. */
        j = zabbix_get(q, "/api/v1/zabbix/agents/lxc-1", newest + 60001, 120000);
        assert_int_equal(json_integer_value(json_object_get(j, "fresh")), 1);
        assert_non_null(json_object_get(j, "cpu_ratio"));
        json_decref(j);
        j = zabbix_get(q, "/api/v1/zabbix/agents/lxc-1", newest + 5001, 5000);
        assert_int_equal(json_integer_value(json_object_get(j, "fresh")), 0);
        json_decref(j);

        /* Nothing known at all: no sample, no limits, no virt text left as null. */
        j = zabbix_get(q, "/api/v1/zabbix/agents/kvm-2", newest, 0);
        assert_int_equal(json_integer_value(json_object_get(j, "fresh")), 0);
        assert_int_equal(json_integer_value(json_object_get(j, "connected")), 0);
        assert_null(json_object_get(j, "time_ms"));
        assert_null(json_object_get(j, "effective_cpus"));
        assert_null(json_object_get(j, "bbb"));
        json_decref(j);

        /* Discovery: every agent, {#BBB} empty where it has no server. */
        j = zabbix_get(q, "/api/v1/zabbix/discovery", newest, 0);
        assert_int_equal(json_array_size(j), 2);
        assert_string_equal(json_string_value(json_object_get(json_array_get(j, 0), "{#BBB}")), "");
        json_decref(j);

        /* BBB servers: a discovery of their names; counts while the last successful poll is fresh. */
        j = zabbix_get(q, "/api/v1/zabbix/bbb", newest, 0);
        assert_int_equal(json_array_size(j), 2);
        assert_string_equal(json_string_value(json_object_get(json_array_get(j, 0), "{#BBB}")), "bbb1");
        json_decref(j);
        assert_int_equal(sqlite3_open(db.path, &w), SQLITE_OK);
        testdb_exec(w, "UPDATE bbb_servers SET last_ok_ms = 1700000009000 WHERE name = 'bbb1'");
        testdb_exec(w, "UPDATE bbb_servers SET up = 0, last_poll_ms = 1700000009000, "
                       "error = 'connect timeout' WHERE name = 'bbb2'");
        sqlite3_close(w);
        j = zabbix_get(q, "/api/v1/zabbix/bbb/bbb1", TESTDB_T0 + 10000, 0);
        assert_int_equal(json_integer_value(json_object_get(j, "up")), 1);
        assert_int_equal(json_integer_value(json_object_get(j, "fresh")), 1);
        assert_int_equal(json_integer_value(json_object_get(j, "poll_error")), 0);
        assert_string_equal(json_string_value(json_object_get(j, "error")), "");
        assert_int_equal(json_integer_value(json_object_get(j, "participants")), 40);
        assert_int_equal(json_integer_value(json_object_get(j, "meetings")), 2);
        assert_int_equal(json_integer_value(json_object_get(j, "video")), 3);
        json_decref(j);
        j = zabbix_get(q, "/api/v1/zabbix/bbb/bbb1", TESTDB_T0 + 9000 + 60001, 0);
        assert_int_equal(json_integer_value(json_object_get(j, "fresh")), 0);
        assert_null(json_object_get(j, "participants"));
        json_decref(j);
        j = zabbix_get(q, "/api/v1/zabbix/bbb/bbb2", TESTDB_T0 + 10000, 0);
        assert_int_equal(json_integer_value(json_object_get(j, "up")), 0);
        assert_int_equal(json_integer_value(json_object_get(j, "poll_error")), 1);
        assert_string_equal(json_string_value(json_object_get(j, "error")), "connect timeout");
        assert_null(json_object_get(j, "participants"));
        json_decref(j);
        check(q, "/api/v1/zabbix/bbb/nope", NULL, 0, 404);
        check(q, "/api/v1/zabbix/bbb/bbb1/x", NULL, 0, 404);

        /* The daemon's health: the database read, and answered (db_ok 0) without a database. */
        j = zabbix_get(q, "/api/v1/zabbix/daemon", newest, 0);
        assert_int_equal(json_integer_value(json_object_get(j, "db_ok")), 1);
        assert_int_equal(json_integer_value(json_object_get(j, "agents")), 2);
        assert_true(json_is_integer(json_object_get(j, "samples_stored")));
        assert_true(json_is_integer(json_object_get(j, "store_commit_errors")));
        /* version, db_ok, agents and the 13 counters the template reads: no more, no fewer. */
        assert_int_equal(json_object_size(j), 16);
        assert_true(json_is_integer(json_object_get(j, "agents_connected")));
        assert_true(json_is_integer(json_object_get(j, "http_requests")));
        json_decref(j);
        j = zabbix_get(NULL, "/api/v1/zabbix/daemon", newest, 0);
        assert_int_equal(json_integer_value(json_object_get(j, "db_ok")), 0);
        assert_null(json_object_get(j, "agents"));
        json_decref(j);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_step),          cmocka_unit_test(test_plan),
                cmocka_unit_test(test_format_double), cmocka_unit_test(test_names),
                cmocka_unit_test(test_routes),        cmocka_unit_test(test_errors),
                cmocka_unit_test(test_zabbix),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
