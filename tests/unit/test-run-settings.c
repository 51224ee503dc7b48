/* Unit tests of agent/run-settings.c: the [agent] section of a temporary config file, the command line on
 * top of it, the lists the command line replaces, and the values both refuse. */

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <cmocka.h>

#include "macro.h"
#include "agent/run-settings.h"

static char tmpdir[] = "/tmp/seatmeter-test-run-settings-XXXXXX";
static char conf_path[128];

static void write_conf(const char *text)
{
        FILE *f = fopen(conf_path, "we");

        assert_non_null(f);
        fputs(text, f);
        fclose(f);
}

/* Parses "run" followed by the NULL-terminated arguments. */
static int parse(RunConfig *c, ...)
{
        char *argv[32] = {(char *)"run"};
        int argc = 1;
        va_list ap;

        va_start(ap, c);
        for (char *a; (a = va_arg(ap, char *)); argc++) {
                assert_true(argc < (int)ELEMENTSOF(argv) - 1);
                argv[argc] = a;
        }
        va_end(ap);
        *c = (RunConfig){0};
        return run_config_parse(argc, argv, c);
}

static void test_defaults(void **state)
{
        RunConfig c;

        assert_int_equal(parse(&c, NULL), 0);
        assert_string_equal(c.connect, RUN_CONNECT_DEFAULT);
        assert_int_equal(c.interval_ms, RUN_INTERVAL_DEFAULT_MS);
        assert_null(c.id);
        assert_null(c.spool);
        assert_int_equal(c.watch.virt, AGENT_VIRT_UNKNOWN);
        run_config_done(&c);
        assert_null(c.connect);
}

static void test_file_then_command_line(void **state)
{
        RunConfig c;

        write_conf("[daemon]\nwhatever = 1\n[agent]\nconnect = tcp:127.0.0.1:1\nid = from-file\ninterval_ms = 20\n"
                   "label = a=1\nlabel = b=2\nnet_iface = tap0\nvirt = lxc\n");
        assert_int_equal(parse(&c, "--config", conf_path, NULL), 0);
        assert_string_equal(c.connect, "tcp:127.0.0.1:1");
        assert_string_equal(c.id, "from-file");
        assert_int_equal(c.interval_ms, 20);
        assert_int_equal(c.watch.labels.n, 2);
        assert_int_equal(c.watch.n_ifaces, 1);
        run_config_done(&c);

        /* The command line wins, wherever it stands; a list it gives replaces the file's list. */
        assert_int_equal(parse(&c, "--id", "from-cli", "--label", "c=3", "--config", conf_path, "--interval", "30",
                               NULL),
                         0);
        assert_string_equal(c.connect, "tcp:127.0.0.1:1");
        assert_string_equal(c.id, "from-cli");
        assert_int_equal(c.interval_ms, 30);
        assert_int_equal(c.watch.labels.n, 1);
        assert_string_equal(c.watch.labels.l[0].key, "c");
        assert_int_equal(c.watch.n_ifaces, 1);
        assert_string_equal(c.watch.ifaces[0], "tap0");
        run_config_done(&c);
}

static void test_errors(void **state)
{
        static const char *const bad_files[] = {
                "[agent]\nnope = 1\n",
                "[agent]\ninterval_ms = 9\n",
                "[agent]\ninterval_ms = 3600001\n",
                "[agent]\ninterval_ms = soon\n",
                "[agent]\nid =\n",
                "[agent]\nvirt = toaster\n",
                "[agent]\nno equals sign\n",
        };
        RunConfig c;

        for (size_t i = 0; i < ELEMENTSOF(bad_files); i++) {
                write_conf(bad_files[i]);
                if (parse(&c, "--config", conf_path, NULL) >= 0)
                        fail_msg("accepted bad config #%zu: %s", i, bad_files[i]);
                run_config_done(&c);
        }
        assert_int_equal(parse(&c, "--interval", "9", NULL), -ERANGE);
        run_config_done(&c);
        assert_int_equal(parse(&c, "--interval", "x", NULL), -EINVAL);
        run_config_done(&c);
        assert_true(parse(&c, "--label", "bad key=1", NULL) < 0);
        run_config_done(&c);
        assert_true(parse(&c, "--no-such-option", NULL) < 0);
        run_config_done(&c);
        assert_true(parse(&c, "stray", NULL) < 0);
        run_config_done(&c);
        /* A bad command line is refused before a missing file is looked at. */
        assert_int_equal(parse(&c, "--config", "/nonexistent/agent.conf", "--interval", "9", NULL), -ERANGE);
        run_config_done(&c);
        assert_int_equal(parse(&c, "--config", "/nonexistent/agent.conf", NULL), -ENOENT);
        run_config_done(&c);
}

static int setup(void **state)
{
        assert_non_null(mkdtemp(tmpdir));
        snprintf(conf_path, sizeof conf_path, "%s/agent.conf", tmpdir);
        return 0;
}

static int teardown(void **state)
{
        (void)unlink(conf_path);
        (void)rmdir(tmpdir);
        return 0;
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_defaults),
                cmocka_unit_test(test_file_then_command_line),
                cmocka_unit_test(test_errors),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
