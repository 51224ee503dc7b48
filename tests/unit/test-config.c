/* Unit tests of daemon/config.c: the key table, the INI file on temporary files, the command line on top,
 * config_finish() and the redacted dump. */

#include <fcntl.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "daemon/config.h"
#include "log.h"
#include "util.h"

static char tmpdir[] = "/tmp/seatmeter-test-config-XXXXXX";

/* Writes text to name inside the test's temporary folder and returns the full path (static buffer). */
static const char *write_tmp(const char *name, const char *text, mode_t mode)
{
        static char path[512];
        FILE *f;

        snprintf(path, sizeof path, "%s/%s", tmpdir, name);
        f = fopen(path, "we");
        assert_non_null(f);
        fputs(text, f);
        fclose(f);
        assert_int_equal(chmod(path, mode), 0);
        return path;
}

static int load_text(const char *text, Config **ret)
{
        _cleanup_(config_freep) Config *c = NULL;
        int r;

        assert_int_equal(config_new_defaults(&c), 0);
        r = config_load_file(c, write_tmp("seatmeterd.conf", text, 0644));
        if (r < 0)
                return r;
        *ret = TAKE_PTR(c);
        return 0;
}

static void test_defaults(void **state)
{
        _cleanup_(config_freep) Config *c = NULL;

        unsetenv("STATE_DIRECTORY");
        unsetenv("RUNTIME_DIRECTORY");
        assert_int_equal(config_new_defaults(&c), 0);
        assert_string_equal(c->http, "127.0.0.1:8480");
        assert_string_equal(c->db, "seatmeter.db");
        assert_int_equal(c->n_listen, 1);
        assert_string_equal(c->listen[0], "unix:./ingest.sock");
        assert_int_equal(c->raw_retention_days, 14);
        assert_int_equal(c->trend_retention_days, 730);
        assert_int_equal(c->commit_interval_ms, 200);
        assert_int_equal(c->http_threads, 2);
        assert_int_equal(c->http_max_connections, 512);
        assert_int_equal(c->http_timeout_s, 15);
        assert_int_equal(c->n_bbb, 0);
        assert_int_equal(c->n_agents, 0);
        assert_int_equal(config_finish(c), 0);
        c = config_free(c);

        setenv("STATE_DIRECTORY", "/var/lib/seatmeter", 1);
        setenv("RUNTIME_DIRECTORY", "/run/seatmeter", 1);
        assert_int_equal(config_new_defaults(&c), 0);
        assert_string_equal(c->db, "/var/lib/seatmeter/seatmeter.db");
        assert_string_equal(c->listen[0], "unix:/run/seatmeter/ingest.sock");
        unsetenv("STATE_DIRECTORY");
        unsetenv("RUNTIME_DIRECTORY");
}

static void test_full_file(void **state)
{
        _cleanup_(config_freep) Config *c = NULL;
        char text[2048];
        const char *secret = write_tmp("bbb1.secret", "  s3cr3t-value \n", 0600);
        const AgentConfig *a;
        const BbbConfig *b;

        snprintf(text, sizeof text,
                 "; a comment\n"
                 "# another\n"
                 "[daemon]\n"
                 "http = 127.0.0.1:9000\n"
                 "listen = unix:/run/seatmeter/ingest.sock\n"
                 "listen = tcp:0.0.0.0:8481 ; inline comment\n"
                 "listen = tcp:[::1]:0\n"
                 "listen = vsock:2:5000\n"
                 "db = /var/lib/seatmeter/x.db\n"
                 "raw_retention_days = 7\n"
                 "commit_interval_ms = 50\n"
                 "\n"
                 "[bbb bbb1]\n"
                 "url = https://bbb1.example.org/bigbluebutton\n"
                 "secret_file = %s\n"
                 "checksum = sha256          ; sha1 | sha256 | sha384 | sha512\n"
                 "interval_s = 10\n"
                 "\n"
                 "[agent bbb1-lxc]\n"
                 "token_sha256 = 9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08\n"
                 "bbb = bbb1\n"
                 "[agent plain_1.x]\n",
                 secret);
        /* an empty section header with no keys adds nothing: [agent plain_1.x] has no key */
        assert_int_equal(load_text(text, &c), 0);
        assert_int_equal(config_finish(c), 0);

        assert_string_equal(c->http, "127.0.0.1:9000");
        assert_int_equal(c->n_listen, 4); /* the file's list replaces the default */
        assert_string_equal(c->listen[0], "unix:/run/seatmeter/ingest.sock");
        assert_string_equal(c->listen[1], "tcp:0.0.0.0:8481");
        assert_string_equal(c->listen[2], "tcp:[::1]:0");
        assert_string_equal(c->listen[3], "vsock:2:5000");
        assert_string_equal(c->db, "/var/lib/seatmeter/x.db");
        assert_int_equal(c->raw_retention_days, 7);
        assert_int_equal(c->trend_retention_days, 730);
        assert_int_equal(c->commit_interval_ms, 50);

        assert_int_equal(c->n_bbb, 1);
        b = config_find_bbb(c, "bbb1");
        assert_non_null(b);
        assert_string_equal(b->url, "https://bbb1.example.org/bigbluebutton/");
        assert_int_equal(b->checksum, CHECKSUM_SHA256);
        assert_int_equal(b->interval_s, 10);
        assert_string_equal(b->secret, "s3cr3t-value");
        assert_null(config_find_bbb(c, "bbb2"));

        a = config_find_agent(c, "bbb1-lxc");
        assert_non_null(a);
        assert_true(a->has_token);
        assert_int_equal(a->token_sha256[0], 0x9f);
        assert_int_equal(a->token_sha256[31], 0x08);
        assert_string_equal(a->bbb, "bbb1");
        assert_null(config_find_agent(c, "nobody"));
}

static void test_errors(void **state)
{
        static const char *const bad[] = {
                "[daemon]\nbogus = 1\n",
                "[daemon]\nhttp = nocolon\n",
                "[daemon]\nhttp = 127.0.0.1:70000\n",
                "[daemon]\nhttp = ::1:80\n",
                "[daemon]\nlisten = udp:1.2.3.4:5\n",
                "[daemon]\nlisten = unix:\n",
                "[daemon]\nlisten = vsock:x:5\n",
                "[daemon]\nlisten = tcp:h:1\nlisten = tcp:h:1\n",
                "[daemon]\nraw_retention_days = 0\n",
                "[daemon]\nraw_retention_days = -3\n",
                "[daemon]\nhttp_threads = 1000\n",
                "[daemon]\ncommit_interval_ms = abc\n",
                "[whatever]\nx = 1\n",
                "[bbb bad/name]\nurl = http://x/\n",
                "[bbb]\nurl = http://x/\n",
                "[bbb b]\nurl = ftp://x/\n",
                "[bbb b]\nurl = http://x/a b\n",
                "[bbb b]\nchecksum = md5\n",
                "[bbb b]\ninterval_s = 0\n",
                "[agent a]\ntoken_sha256 = 1234\n",
                "[agent a]\ntoken_sha256 = zz86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\n",
                "[agent a]\nbbb = no spaces\n",
                "[agent a]\nunknown = 1\n",
                "[agent "
                "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa]\n"
                "bbb = \n",
                "[daemon]\nthis line has no equals sign\n",
                "[capacity]\ncpu_threshold = 0\n",
                "[capacity]\ncpu_threshold = -0.5\n",
                "[capacity]\nmemory_threshold = nan\n",
                "[capacity]\nlink_mbps = 1e99\n",
                "[capacity]\nbogus = 1\n",
                "[agent a]\nnet_threshold = lots\n",
                "[experiment e]\nstart = yesterday\n",
                "[experiment e]\nstart = 2026-13-05T08:00:00Z\n",
                "[experiment e]\nend = 2026-12-05T08:00:00\n",
                "[experiment bad name]\nstart = 1\n",
                "key_before_section = 1\n",
        };

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                Config *c = NULL;
                int r = load_text(bad[i], &c);
                if (r != -EINVAL)
                        fail_msg("accepted bad config #%zu: %s", i, bad[i]);
                assert_null(c);
        }
}

static void test_long_line(void **state)
{
        char text[1024];
        Config *c = NULL;

        memset(text, 0, sizeof text);
        strcpy(text, "[daemon]\ndb = /");
        memset(text + strlen(text), 'x', 600);
        strcat(text, "\nhttp = 127.0.0.1:1\n");
        assert_int_equal(load_text(text, &c), -EINVAL);
        assert_null(c);

        /* a 64-byte agent id is longer than libinih's section buffer but valid */
        memset(text, 0, sizeof text);
        strcpy(text, "[agent ");
        memset(text + strlen(text), 'b', 64);
        strcat(text, "]\nbbb =\n");
        assert_int_equal(load_text(text, &c), 0);
        assert_int_equal(c->n_agents, 1);
        assert_int_equal(strlen(c->agents[0].id), 64);
        c = config_free(c);
}

static void test_missing_file(void **state)
{
        _cleanup_(config_freep) Config *c = NULL;
        char path[512];

        snprintf(path, sizeof path, "%s/does-not-exist.conf", tmpdir);
        assert_int_equal(config_new_defaults(&c), 0);
        assert_int_equal(config_load_file(c, path), -ENOENT);
        assert_int_equal(config_load_file(c, tmpdir), -EINVAL); /* a directory */
}

static void test_finish_errors(void **state)
{
        char text[1024];
        Config *c = NULL;

        /* agent names a BBB server that does not exist */
        assert_int_equal(load_text("[agent a]\nbbb = nope\n", &c), 0);
        assert_int_equal(config_finish(c), -EINVAL);
        c = config_free(c);

        /* BBB server without url or secret */
        assert_int_equal(load_text("[bbb b]\nchecksum = sha512\n", &c), 0);
        assert_int_equal(config_finish(c), -EINVAL);
        c = config_free(c);

        /* secret file missing */
        snprintf(text, sizeof text, "[bbb b]\nurl = http://x/\nsecret_file = %s/missing.secret\n", tmpdir);
        assert_int_equal(load_text(text, &c), 0);
        assert_int_equal(config_finish(c), -EINVAL);
        c = config_free(c);

        /* secret file empty */
        snprintf(text, sizeof text, "[bbb b]\nurl = http://x/\nsecret_file = %s\n",
                 write_tmp("empty.secret", " \n", 0600));
        assert_int_equal(load_text(text, &c), 0);
        assert_int_equal(config_finish(c), -EINVAL);
        c = config_free(c);

        /* world-readable secret: accepted, with a warning */
        snprintf(text, sizeof text, "[bbb b]\nurl = http://x/\nsecret_file = %s\n",
                 write_tmp("open.secret", "abc\n", 0644));
        assert_int_equal(load_text(text, &c), 0);
        assert_int_equal(config_finish(c), 0);
        assert_string_equal(c->bbb[0].secret, "abc");
        assert_int_equal(c->bbb[0].checksum, CHECKSUM_SHA1);
        assert_int_equal(c->bbb[0].interval_s, 5);
        c = config_free(c);

        /* tls_cert without tls_key */
        assert_int_equal(load_text("[daemon]\ntls_cert = /x.pem\n", &c), 0);
        assert_int_equal(config_finish(c), -EINVAL);
        c = config_free(c);

        /* http token file */
        snprintf(text, sizeof text, "[daemon]\nhttp_token_file = %s\n", write_tmp("http.token", "tok\n", 0600));
        assert_int_equal(load_text(text, &c), 0);
        assert_int_equal(config_finish(c), 0);
        assert_string_equal(c->http_token, "tok");
        c = config_free(c);
}

static void test_command_line(void **state)
{
        _cleanup_(config_freep) Config *c = NULL;

        assert_int_equal(load_text("[daemon]\nlisten = tcp:127.0.0.1:1\nlisten = tcp:127.0.0.1:2\n", &c), 0);
        assert_int_equal(c->n_listen, 2);
        config_clear_listen(c);
        assert_int_equal(config_set_daemon(c, "listen", "unix:/tmp/x.sock"), 0);
        assert_int_equal(c->n_listen, 1);
        assert_string_equal(c->listen[0], "unix:/tmp/x.sock");
        assert_int_equal(config_set_daemon(c, "db", "/tmp/y.db"), 0);
        assert_string_equal(c->db, "/tmp/y.db");
        assert_int_equal(config_set_daemon(c, "http", "127.0.0.1:0"), 0);
        assert_int_equal(config_set_daemon(c, "http", "bad"), -EINVAL);
        assert_string_equal(c->http, "127.0.0.1:0");
        assert_int_equal(config_set_daemon(c, "nonsense", "1"), -EINVAL);
        for (unsigned i = 1; i < CONFIG_LISTEN_MAX; i++) {
                char uri[64];
                snprintf(uri, sizeof uri, "tcp:127.0.0.1:%u", 1000 + i);
                assert_int_equal(config_set_daemon(c, "listen", uri), 0);
        }
        assert_int_equal(config_set_daemon(c, "listen", "tcp:127.0.0.1:5"), -E2BIG);
}

/* listen= takes listener addresses (port 0, CID "any"); the grammar itself is tested in test-address. */
static void test_listen_values(void **state)
{
        _cleanup_(config_freep) Config *c = NULL;

        assert_int_equal(config_new_defaults(&c), 0);
        config_clear_listen(c);
        assert_int_equal(config_set_daemon(c, "listen", "tcp:[::1]:0"), 0);
        assert_int_equal(config_set_daemon(c, "listen", "vsock:any:5000"), 0);
        assert_int_equal(config_set_daemon(c, "listen", "tcp:h: 80"), -EINVAL);
        assert_int_equal(config_set_daemon(c, "listen", "file:/x"), -EINVAL);
        assert_int_equal(c->n_listen, 2);
        assert_int_equal(config_set_daemon(c, "http", "[::1]:0"), 0);
        assert_int_equal(config_set_daemon(c, "http", "[::1]:65536"), -EINVAL);
}

static void test_names(void **state)
{
        char n65[66];

        assert_true(id_is_valid("bbb1-lxc"));
        assert_true(id_is_valid("A.b_c-9"));
        assert_false(id_is_valid(""));
        assert_false(id_is_valid(NULL));
        assert_false(id_is_valid("a b"));
        assert_false(id_is_valid("a/b"));
        assert_false(id_is_valid("\xc3\xa9t\xc3\xa9"));
        memset(n65, 'a', 65);
        n65[65] = 0;
        assert_false(id_is_valid(n65));
        n65[64] = 0;
        assert_true(id_is_valid(n65));
}

static void test_dump_redacts(void **state)
{
        _cleanup_(config_freep) Config *c = NULL;
        _cleanup_free_ char *out = NULL;
        size_t size = 0;
        FILE *f;
        char text[1024];

        snprintf(text, sizeof text,
                 "[bbb b]\nurl = http://x/\nsecret_file = %s\n"
                 "[agent a]\ntoken_sha256 = 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\n"
                 "bbb = b\n",
                 write_tmp("dump.secret", "topsecret\n", 0600));
        assert_int_equal(load_text(text, &c), 0);
        assert_int_equal(config_finish(c), 0);
        f = open_memstream(&out, &size);
        assert_non_null(f);
        config_dump(c, f);
        fclose(f);
        assert_null(strstr(out, "topsecret"));
        assert_null(strstr(out, "9f86d0"));
        assert_non_null(strstr(out, "token_sha256 = (redacted)"));
        assert_non_null(strstr(out, "[agent a]"));
        assert_non_null(strstr(out, "[bbb b]"));
        assert_non_null(strstr(out, "checksum = sha1"));
        assert_non_null(strstr(out, "listen = unix:./ingest.sock"));
}

static int setup(void **state)
{
        return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
        char cmd[600];

        snprintf(cmd, sizeof cmd, "rm -rf -- '%s'", tmpdir);
        return system(cmd) == 0 ? 0 : -1;
}

/* [capacity], capacity keys of [agent], [experiment NAME]: parsed, checked, inherited, dumped. */
static void test_capacity_experiments(void **state)
{
        _cleanup_(config_freep) Config *c = NULL, *d = NULL, *e = NULL;
        _cleanup_free_ char *dump = NULL;
        size_t size = 0;
        FILE *f;

        assert_int_equal(config_new_defaults(&c), 0);
        assert_true(isnan(c->capacity.cpu) && isnan(c->capacity.link_mbps));
        c = config_free(c);

        assert_int_equal(load_text("[capacity]\ncpu_threshold = 0.7\nlink_mbps = 1000\n"
                                   "[agent a]\nmemory_threshold = 0.9\n[agent b]\nbbb =\n"
                                   "[experiment load1]\nstart = 2025-12-05T08:00:00Z\nend = 1764925200000\n",
                                   &c),
                         0);
        assert_int_equal(config_finish(c), 0);
        assert_true(c->capacity.cpu == 0.7 && c->capacity.link_mbps == 1000 && isnan(c->capacity.memory));
        assert_true(config_find_agent(c, "a")->capacity.memory == 0.9);
        assert_true(isnan(config_find_agent(c, "a")->capacity.cpu));
        assert_true(isnan(config_find_agent(c, "b")->capacity.memory));
        assert_int_equal(c->n_experiments, 1);
        assert_string_equal(c->experiments[0].name, "load1");
        assert_int_equal(c->experiments[0].start_ms, 1764921600000LL);
        assert_int_equal(c->experiments[0].end_ms, 1764925200000LL);

        f = open_memstream(&dump, &size);
        assert_non_null(f);
        config_dump(c, f);
        fclose(f);
        assert_non_null(strstr(dump, "[capacity]\ncpu_threshold = 0.7\n"));
        assert_non_null(strstr(dump, "[experiment load1]\nstart = 1764921600000\nend = 1764925200000\n"));

        /* An experiment needs both ends, in order. */
        assert_int_equal(load_text("[experiment x]\nstart = 5\n", &d), 0);
        assert_int_equal(config_finish(d), -EINVAL);
        assert_int_equal(load_text("[experiment x]\nstart = 5\nend = 5\n", &e), 0);
        assert_int_equal(config_finish(e), -EINVAL);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_defaults),     cmocka_unit_test(test_full_file),
                cmocka_unit_test(test_errors),       cmocka_unit_test(test_long_line),
                cmocka_unit_test(test_missing_file), cmocka_unit_test(test_finish_errors),
                cmocka_unit_test(test_command_line), cmocka_unit_test(test_listen_values),
                cmocka_unit_test(test_names),
                cmocka_unit_test(test_dump_redacts), cmocka_unit_test(test_capacity_experiments),
        };

        log_set_max_level(getenv("SEATMETER_TEST_VERBOSE") ? LOG_DEBUG : LOG_CRIT);
        return cmocka_run_group_tests(tests, setup, teardown);
}
