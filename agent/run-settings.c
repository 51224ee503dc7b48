/* See run-settings.h. */

#include <getopt.h>

#include "conf.h"
#include "link.h"
#include "log.h"
#include "run-settings.h"
#include "util.h"

#define RUN_HELP_COLUMN 21

/* virt, label and net_iface belong to watch.c, shared with "sample" and "view". */
static int parse_watch(const ConfKey *k, void *base, const char *value, void *userdata, const char **ret_why)
{
        return watch_options_set(&((RunConfig *)base)->watch, k->name, value, ret_why);
}

#define STR(field, max) CONF_OFFSET(RunConfig, field), .type = CONF_STRDUP, .size = (max) + 1, .flags = CONF_NOT_EMPTY
#define WATCH .type = CONF_CUSTOM, .parse = parse_watch

/* Every setting of [agent] and its command-line twin, in the order --help lists them. */
static const ConfKey run_keys[] = {
        {"agent", "connect", STR(connect, ADDRESS_MAX), .def = RUN_CONNECT_DEFAULT, .option = "connect",
         .arg = "URI", .help = "unix:PATH, tcp:HOST:PORT or vsock:CID:PORT"},
        {"agent", "id", STR(id, RUN_ID_MAX), .option = "id", .arg = "NAME",
         .help = "agent id, [A-Za-z0-9._-]{1,64} (default: the hostname)"},
        {"agent", "token_file", STR(token_file, RUN_PATH_MAX), .option = "token-file", .arg = "FILE",
         .help = "token presented to the daemon (needed over tcp and vsock)"},
        {"agent", "interval_ms", CONF_FIELD(RunConfig, interval_ms), .type = CONF_U64, .min = RUN_INTERVAL_MIN_MS,
         .max = RUN_INTERVAL_MAX_MS, .def = STRINGIFY(RUN_INTERVAL_DEFAULT_MS), .option = "interval", .arg = "MS",
         .help = "sampling interval, " STRINGIFY(RUN_INTERVAL_MIN_MS) "..3600000"},
        {"agent", "spool", STR(spool, RUN_PATH_MAX), .option = "spool", .arg = "DIR",
         .help = "where the spool file lives (default $STATE_DIRECTORY or .)"},
        {"agent", "cgroup", STR(cgroup, AGENT_PATH_MAX - 1), .option = "cgroup", .arg = "PATH",
         .help = "watch that cgroup instead of our own"},
        {"agent", "root", STR(root, RUN_PATH_MAX), .option = "root", .arg = "DIR",
         .help = "read /proc and /sys under DIR"},
        {"agent", "virt", WATCH, .option = "virt", .arg = "KIND",
         .help = "the guest's kind (default: detected; with --cgroup, from its path)"},
        {"agent", "label", WATCH, .flags = CONF_REPEAT, .option = "label", .arg = "KEY=VALUE",
         .help = "a free label sent to the daemon (repeatable)"},
        {"agent", "net_iface", WATCH, .flags = CONF_REPEAT, .option = "net-iface", .arg = "IFACE",
         .help = "take the network figures from this host interface (repeatable)"},
};

#undef STR
#undef WATCH

_Static_assert(RUN_INTERVAL_MAX_MS == 3600000, "the help text of --interval names the maximum");

static int config_line(const ConfLine *l, void *userdata)
{
        RunConfig *c = userdata;
        const ConfKey *k;
        const char *why = NULL;
        int r;

        if (!streq(l->section, "agent"))
                return 0; /* other sections belong to other programs sharing the file */
        k = conf_find(run_keys, ELEMENTSOF(run_keys), "agent", l->key);
        if (!k)
                return log_error_errno(EINVAL, "%s:%u: unknown key '%s' in [agent].", l->path, l->line, l->key);
        r = conf_set(k, c, l->value, NULL, &why);
        if (r >= 0)
                return 0;
        if (k->type == CONF_CUSTOM)
                return log_error_errno(r, "%s:%u: invalid value '%s' for '%s': %s.", l->path, l->line, l->value,
                                       l->key, why);
        return log_error_errno(r, "%s:%u: invalid value for '%s': %m", l->path, l->line, l->key);
}

static int load_config_file(const char *path, RunConfig *c)
{
        unsigned errors = 0;
        int r;

        r = conf_parse_file(path, config_line, c, &errors);
        if (r < 0)
                return r;
        if (errors > 0)
                return log_error_errno(EINVAL, "%s: %u error(s).", path, errors);
        return 0;
}

static void help(void)
{
        printf("seatmeter-agent run [OPTIONS]\n\n"
               "Stream samples to the daemon until stopped.\n\n"
               "  %-*s read [agent] settings from FILE (the command line wins)\n",
               RUN_HELP_COLUMN - 3, "--config FILE");
        conf_help(run_keys, ELEMENTSOF(run_keys), "agent", RUN_HELP_COLUMN, stdout);
}

/* A repeatable list given on the command line replaces the file's instead of adding to it. */
static void clear_list(RunConfig *c, const ConfKey *k)
{
        if (streq(k->name, "label"))
                c->watch.labels.n = 0;
        else if (streq(k->name, "net_iface"))
                c->watch.n_ifaces = 0;
}

/* Applies the command line's settings to c. Returns 0, 1 after --help, or <0 after logging. With
 * config, notes the --config FILE given (NULL: none). */
static int apply_argv(int argc, char **argv, const struct option *options, RunConfig *c, const char **config)
{
        bool seen[ELEMENTSOF(run_keys)] = {false};
        int opt;

        optind = 0;
        opterr = 1;
        while ((opt = getopt_long(argc, argv, "h", options, NULL)) >= 0) {
                const ConfKey *k = conf_option_key(run_keys, ELEMENTSOF(run_keys), opt);
                const char *why = NULL;
                int r;

                if (opt == 'c') {
                        if (config)
                                *config = optarg;
                        continue;
                }
                if (opt == 'h') {
                        help();
                        return 1;
                }
                if (!k)
                        return -EINVAL;
                if ((k->flags & CONF_REPEAT) && !seen[k - run_keys])
                        clear_list(c, k);
                seen[k - run_keys] = true;
                r = conf_set(k, c, optarg, NULL, &why);
                if (r < 0 && k->type == CONF_CUSTOM)
                        return log_error_errno(r, "Invalid --%s '%s': %s.", k->option, optarg, why);
                if (r < 0)
                        return log_error_errno(r, "Invalid --%s '%s': %m", k->option, optarg);
        }
        if (optind < argc)
                return log_error_errno(EINVAL, "Unexpected argument '%s'.", argv[optind]);
        return 0;
}

int run_config_parse(int argc, char **argv, RunConfig *ret)
{
        static const struct option extra[] = {
                {"config", required_argument, NULL, 'c'},
                {"help", no_argument, NULL, 'h'},
        };
        struct option options[ELEMENTSOF(run_keys) + ELEMENTSOF(extra) + 1];
        RunConfig cli = {.watch.virt = AGENT_VIRT_UNKNOWN};
        const char *config = NULL;
        int r;

        assert(ret);

        r = conf_options(run_keys, ELEMENTSOF(run_keys), "agent", extra, ELEMENTSOF(extra), options,
                         ELEMENTSOF(options));
        assert(r == 0);

        /* The command line is checked first (bad options are reported before the file is read), the
         * file read onto the defaults, and the command line applied again on top of it. */
        r = apply_argv(argc, argv, options, &cli, &config);
        run_config_done(&cli);
        if (r != 0)
                return r;
        ret->watch.virt = AGENT_VIRT_UNKNOWN;
        r = conf_apply_defaults(run_keys, ELEMENTSOF(run_keys), "agent", ret, NULL);
        if (r < 0)
                return r;
        if (config) {
                r = load_config_file(config, ret);
                if (r < 0)
                        return r;
        }
        return apply_argv(argc, argv, options, ret, NULL);
}

void run_config_done(RunConfig *c)
{
        conf_done(run_keys, ELEMENTSOF(run_keys), "agent", c);
}
