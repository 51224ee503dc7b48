/* experiments.c: the POST body's parser and the insert into a real SQLite file; the stored experiments
 * read back through query.c. */

#include "http-testdb.h"

#include "daemon/experiments.h"
#include "daemon/query.h"

#define TIME_MAX 253402300799999LL

static int parse(const char *body, ExperimentRequest *e, const char **reason)
{
        return experiment_request_parse(body, strlen(body), TIME_MAX, e, reason);
}

static void test_parse(void **state)
{
        ExperimentRequest e;
        const char *reason = NULL;
        static const struct {
                const char *body, *reason;
        } bad[] = {
                { "", "JSON object" },
                { "{\"name\": \"x\"", "not valid JSON" },
                { "{\"name\":\"x\",\"from\":0,\"to\":1} x", "not valid JSON" },
                { "\"x\"", "JSON object" },
                { "{\"name\":\"x\",\"name\":\"y\",\"from\":0,\"to\":1}", "repeats a key" },
                { "{\"name\":\"a/b\",\"from\":0,\"to\":1}", "'name'" },
                { "{\"name\":\"\",\"from\":0,\"to\":1}", "'name'" },
                { "{\"name\":7,\"from\":0,\"to\":1}", "'name'" },
                { "{\"name\":\"x\",\"from\":0}", "'from' and 'to'" },
                { "{\"name\":\"x\",\"from\":0,\"to\":253402300800000}", "'from' and 'to'" },
                { "{\"name\":\"x\",\"from\":true,\"to\":1}", "'from' and 'to'" },
                { "{\"name\":\"x\",\"from\":2,\"to\":2}", "before" },
                { "{\"name\":\"x\",\"from\":0,\"to\":1,\"by\":\"me\"}", "unknown key" },
        };

        (void)state;
        assert_int_equal(parse("{\"to\": 2000, \"name\": \"load-a\", \"from\": 1000}", &e, &reason), 0);
        assert_string_equal(e.name, "load-a");
        assert_int_equal(e.start_ms, 1000);
        assert_int_equal(e.end_ms, 2000);
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                reason = NULL;
                assert_int_equal(parse(bad[i].body, &e, &reason), -EINVAL);
                assert_non_null(reason);
                if (!strstr(reason, bad[i].reason)) {
                        fprintf(stderr, "%s: '%s'\n", bad[i].body, reason);
                        fail();
                }
        }
        /* size bounds the read: a valid prefix is not the whole body */
        assert_int_equal(experiment_request_parse("{\"name\":\"x\",\"from\":0,\"to\":1}", 10, TIME_MAX, &e, &reason),
                         -EINVAL);
}

static int copy_cb(const QueryExperiment *e, void *userdata)
{
        QueryExperiment *list = userdata;

        for (int i = 0; i < 2; i++)
                if (!list[i].name[0]) {
                        list[i] = *e;
                        return 0;
                }
        return -E2BIG;
}

static void test_store(void **state)
{
        TestDb t;
        Query *q = NULL;
        QueryExperiment found, list[2] = { 0 };
        ExperimentRequest b = { .name = "b", .start_ms = 10, .end_ms = 20 };
        ExperimentRequest a = { .name = "a", .start_ms = 1, .end_ms = 2 };
        char missing[192];

        (void)state;
        testdb_create(&t);
        assert_int_equal(experiment_store(t.path, &b, 500, 1000), 0);
        assert_int_equal(experiment_store(t.path, &a, 600, 1000), 0);
        assert_int_equal(experiment_store(t.path, &a, 700, 1000), -EEXIST);
        snprintf(missing, sizeof(missing), "%s/missing.db", t.dir);
        assert_int_equal(experiment_store(missing, &a, 700, 1000), -ENOENT);

        assert_int_equal(query_open(t.path, &q), 0);
        assert_int_equal(query_experiments(q, copy_cb, list), 0);
        assert_string_equal(list[0].name, "a");
        assert_string_equal(list[1].name, "b");
        assert_int_equal(list[1].created_ms, 500);
        assert_int_equal(query_experiment_find(q, "b", &found), 1);
        assert_int_equal(found.start_ms, 10);
        assert_int_equal(found.end_ms, 20);
        assert_int_equal(query_experiment_find(q, "c", &found), 0);
        query_free(q);
        testdb_remove(&t);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_parse),
                cmocka_unit_test(test_store),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
