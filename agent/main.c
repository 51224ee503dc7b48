/* seatmeter-agent: the command line. "sample" prints JSON lines, "view" renders cgroup-aware /proc
 * files, "run" streams to the daemon (agent/run.c).
 *
 * Exit codes: 0 success; 1 failure at run time (root or --cgroup not found, output error); 2 usage error
 * (unknown command or option, bad number). */

#include <getopt.h>
#include <inttypes.h>
#include <time.h>

#include "conf.h"
#include "config-build.h"
#include "json.h"
#include "log.h"
#include "procview.h"
#include "run.h"
#include "sampler.h"
#include "util.h"
#include "watch.h"

#define EXIT_USAGE 2
#define ARG_COUNT_MAX 1000000000   /* samples per invocation */
#define ARG_INTERVAL_MAX 3600000   /* ms between samples: one hour */

/* The options of sample and view. */
typedef struct Args {
        uint64_t count;
        uint64_t interval_ms;
        char *cgroup; /* NULL: our own */
        char *root;   /* NULL: / */
        bool include_lo;
        WatchOptions watch;
} Args;

static Args arg = {.count = 1, .interval_ms = 1000, .watch.virt = AGENT_VIRT_UNKNOWN};

static void help(FILE *f)
{
        fprintf(f,
                "Usage: seatmeter-agent COMMAND [OPTIONS]\n"
                "\n"
                "Reports what the cgroup of this container or VM is granted and uses.\n"
                "\n"
                "Commands:\n"
                "  sample [--count N] [--interval MS] [--cgroup PATH] [--root DIR] [--include-lo]\n"
                "         [--virt KIND] [--label KEY=VALUE]... [--net-iface IFACE]...\n"
                "        print N samples (default 1) as JSON lines, MS apart (default 1000)\n"
                "  view meminfo|cpuinfo|stat|uptime|loadavg|swaps|cpu-online [--cgroup PATH] [--root DIR]\n"
                "        print a cgroup-aware rendering of that /proc or /sys file\n"
                "  run [--config FILE] [--connect URI] [--id NAME] [--token-file FILE] [--interval MS]\n"
                "      [--spool DIR] [--cgroup PATH] [--root DIR] [--virt KIND] [--label KEY=VALUE]...\n"
                "      [--net-iface IFACE]...\n"
                "        stream samples to seatmeterd until stopped\n"
                "\n"
                "Options:\n"
                "  --count N          samples to print, 0 to 1000000000 (default 1)\n"
                "  --interval MS      ms between samples: sample 0 to 3600000 (0: back to back),\n"
                "                     run 10 to 3600000 (default 1000)\n"
                "  --cgroup PATH      watch this cgroup (\"/lxc/101\", \"/qemu.slice/102.scope\"; a bare name\n"
                "                     is searched) instead of our own, e.g. a guest from its host\n"
                "  --root DIR         read /proc and /sys under DIR (fixture trees)\n"
                "  --include-lo       keep the loopback interface in the network figures\n"
                "  --virt KIND        the guest's kind: none, lxc, openvz, docker, podman, kvm, qemu,\n"
                "                     vm-other, container-other (default: detected; with --cgroup, from\n"
                "                     its path)\n"
                "  --label KEY=VALUE  a free label for the guest (repeatable, at most 16)\n"
                "  --net-iface IFACE  take the network figures from this host interface (a VM's tap;\n"
                "                     repeatable), as the guest sees them; with --cgroup and without it,\n"
                "                     they are the network namespace's of a task in the cgroup\n"
                "  --config FILE      run: read the [agent] section of FILE (keys as the long options)\n"
                "  --connect URI      run: unix:PATH, tcp:HOST:PORT or vsock:CID:PORT\n"
                "                     (default unix:/run/seatmeter/ingest.sock)\n"
                "  --id NAME          run: the agent id, [A-Za-z0-9._-]{1,64} (default: the host name)\n"
                "  --token-file FILE  run: the token to present on tcp and vsock\n"
                "  --spool DIR        run: where unacknowledged samples wait ($STATE_DIRECTORY under systemd)\n"
                "  -h --help          show this help\n"
                "  --version          show the version\n"
                "\n"
                "Exit status: 0 success, 1 failure, 2 usage error. See seatmeter-agent(8).\n");
}

/* virt, label and net_iface belong to watch.c, shared with "run". */
static int parse_watch(const ConfKey *k, void *base, const char *value, void *userdata, const char **ret_why)
{
        return watch_options_set(&((Args *)base)->watch, k->name, value, ret_why);
}

#define NUMBER(field, hi) \
        CONF_FIELD(Args, field), .type = CONF_U64, .max = (hi), .why = "expected a number from 0 to " STRINGIFY(hi)
#define WATCH .type = CONF_CUSTOM, .parse = parse_watch

/* The options of sample and view (view takes neither --count nor --interval). */
static const ConfKey arg_keys[] = {
        {"sample", "count", NUMBER(count, ARG_COUNT_MAX), .option = "count"},
        {"sample", "interval", NUMBER(interval_ms, ARG_INTERVAL_MAX), .option = "interval"},
        {"sample", "cgroup", CONF_OFFSET(Args, cgroup), .type = CONF_STRDUP, .size = AGENT_PATH_MAX,
         .flags = CONF_NOT_EMPTY, .why = "empty or longer than 511 bytes",
         .option = "cgroup"},
        {"sample", "root", CONF_OFFSET(Args, root), .type = CONF_STRDUP, .size = SIZE_MAX, .flags = CONF_NOT_EMPTY,
         .why = "empty", .option = "root"},
        {"sample", "include_lo", CONF_FIELD(Args, include_lo), .type = CONF_BOOL, .option = "include-lo"},
        {"sample", "virt", WATCH, .option = "virt"},
        {"sample", "label", WATCH, .option = "label"},
        {"sample", "net_iface", WATCH, .option = "net-iface"},
};

#undef NUMBER
#undef WATCH

_Static_assert(AGENT_PATH_MAX == 512, "the reason given for a refused --cgroup names its longest length");

/* Parses the options of sample and view into arg; argv[0] is the command. Returns 0, or EXIT_USAGE. */
static int parse_options(int argc, char **argv, bool sample)
{
        static const struct option extra[] = {{"help", no_argument, NULL, 'h'}};
        struct option options[ELEMENTSOF(arg_keys) + ELEMENTSOF(extra) + 1];
        int c;

        if (conf_options(arg_keys, ELEMENTSOF(arg_keys), "sample", extra, ELEMENTSOF(extra), options,
                         ELEMENTSOF(options)) < 0)
                return EXIT_USAGE; /* cannot happen: options has room for every row */
        optind = 0;
        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0) {
                const ConfKey *k = conf_option_key(arg_keys, ELEMENTSOF(arg_keys), c);
                const char *why = NULL;

                if (c == 'h') {
                        help(stdout);
                        exit(EXIT_SUCCESS);
                }
                if (!k)
                        return EXIT_USAGE;
                if (!sample && k->type == CONF_U64) {
                        log_error("%s takes no --count or --interval.", argv[0]);
                        return EXIT_USAGE;
                }
                if (conf_set(k, &arg, k->type == CONF_BOOL ? "yes" : optarg, NULL, &why) >= 0)
                        continue;
                if (k->type == CONF_STRDUP)
                        log_error("Invalid --%s: %s.", k->option, why);
                else
                        log_error("Invalid --%s '%s': %s.", k->option, optarg, why);
                return EXIT_USAGE;
        }
        return 0;
}

static int open_sampler(Sampler **ret)
{
        SamplerOptions o = {.root = arg.root, .cgroup = arg.cgroup, .include_lo = arg.include_lo};

        watch_options_apply(&arg.watch, &o);
        return sampler_new(&o, ret);
}

/* Sleeps until the absolute CLOCK_MONOTONIC time *next (µs), so the interval does not drift. */
static void sleep_until(uint64_t next_usec)
{
        struct timespec ts = {.tv_sec = (time_t)(next_usec / USEC_PER_SEC),
                              .tv_nsec = (long)(next_usec % USEC_PER_SEC) * 1000};
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
                ;
}

static int cmd_sample(int argc, char **argv)
{
        _cleanup_(sampler_freep) Sampler *s = NULL;
        static char line[JSON_SAMPLE_MAX];
        AgentSample sample;
        uint64_t next;
        int r;

        r = parse_options(argc, argv, true);
        if (r != 0)
                return r;
        if (optind < argc) {
                log_error("sample takes no arguments ('%s').", argv[optind]);
                return EXIT_USAGE;
        }
        if (open_sampler(&s) < 0)
                return EXIT_FAILURE;

        next = now_usec(CLOCK_MONOTONIC);
        for (uint64_t i = 0; i < arg.count; i++) {
                int n;

                if (i > 0 && arg.interval_ms > 0) {
                        next += arg.interval_ms * USEC_PER_MSEC;
                        sleep_until(next);
                }
                r = sampler_read(s, &sample);
                if (r < 0) {
                        log_error_errno(r, "Cannot read a sample: %m");
                        return EXIT_FAILURE;
                }
                sample.seq = i;
                n = json_format_sample(&sample, &arg.watch.labels, line, sizeof line - 1);
                if (n < 0) {
                        log_error_errno(n, "Cannot format a sample: %m");
                        return EXIT_FAILURE;
                }
                line[n++] = '\n';
                if (fwrite(line, 1, (size_t)n, stdout) != (size_t)n || fflush(stdout) != 0) {
                        log_error_errno(errno, "Cannot write to standard output: %m");
                        return EXIT_FAILURE;
                }
        }
        return EXIT_SUCCESS;
}

static int cmd_view(int argc, char **argv)
{
        _cleanup_(sampler_freep) Sampler *s = NULL;
        ProcView v;
        int r;

        r = parse_options(argc, argv, false);
        if (r != 0)
                return r;
        if (optind + 1 != argc) {
                log_error("view takes exactly one file name: meminfo, cpuinfo, stat, uptime, loadavg, swaps or "
                          "cpu-online.");
                return EXIT_USAGE;
        }
        v = procview_from_string(argv[optind]);
        if (v < 0) {
                log_error("Unknown view '%s'.", argv[optind]);
                return EXIT_USAGE;
        }
        if (open_sampler(&s) < 0)
                return EXIT_FAILURE;
        r = procview_render(s, v, stdout);
        if (r < 0) {
                log_error_errno(r, "Cannot render %s: %m", argv[optind]);
                return EXIT_FAILURE;
        }
        if (fflush(stdout) != 0) {
                log_error_errno(errno, "Cannot write to standard output: %m");
                return EXIT_FAILURE;
        }
        return EXIT_SUCCESS;
}

int main(int argc, char **argv)
{
        log_open("seatmeter-agent");

        if (argc < 2) {
                help(stderr);
                return EXIT_USAGE;
        }
        if (streq(argv[1], "--help") || streq(argv[1], "-h") || streq(argv[1], "help")) {
                help(stdout);
                return EXIT_SUCCESS;
        }
        if (streq(argv[1], "--version")) {
                printf("seatmeter-agent %s\n", PACKAGE_VERSION);
                return EXIT_SUCCESS;
        }
        if (streq(argv[1], "run"))
                return run_main(argc - 1, argv + 1);
        if (streq(argv[1], "sample"))
                return cmd_sample(argc - 1, argv + 1);
        if (streq(argv[1], "view"))
                return cmd_view(argc - 1, argv + 1);

        log_error("Unknown command '%s'. See 'seatmeter-agent --help'.", argv[1]);
        return EXIT_USAGE;
}
