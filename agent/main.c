/* seatmeter-agent: the command line. "sample" prints JSON lines, "view" renders cgroup-aware /proc
 * files, "run" streams to the daemon (agent/run.c).
 *
 * Exit codes: 0 success; 1 failure at run time (root or --cgroup not found, output error); 2 usage error
 * (unknown command or option, bad number). */

#include <getopt.h>
#include <inttypes.h>
#include <time.h>

#include "config-build.h"
#include "json.h"
#include "log.h"
#include "procview.h"
#include "run.h"
#include "sampler.h"
#include "util.h"
#include "watch.h"

#define EXIT_USAGE 2
#define ARG_COUNT_MAX 1000000000ULL   /* samples per invocation */
#define ARG_INTERVAL_MAX 3600000ULL   /* ms between samples: one hour */

static uint64_t arg_count = 1;
static uint64_t arg_interval_ms = 1000;
static const char *arg_cgroup = NULL;
static const char *arg_root = NULL;
static bool arg_include_lo = false;
static WatchOptions arg_watch = {.virt = AGENT_VIRT_UNKNOWN};

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

static int parse_number(const char *opt, const char *s, uint64_t max, uint64_t *ret)
{
        uint64_t v;

        if (safe_atou64(s, &v) < 0 || v > max) {
                log_error("Invalid %s '%s': expected a number from 0 to %" PRIu64 ".", opt, s, max);
                return -EINVAL;
        }
        *ret = v;
        return 0;
}

/* Parses the options of sample and view; argv[0] is the command. Returns 0, or EXIT_USAGE. */
static int parse_options(int argc, char **argv, bool sample)
{
        enum { ARG_COUNT = 0x100, ARG_INTERVAL, ARG_CGROUP, ARG_ROOT, ARG_INCLUDE_LO, ARG_VIRT, ARG_LABEL,
               ARG_NET_IFACE };
        static const struct option options[] = {
                {"count", required_argument, NULL, ARG_COUNT},
                {"interval", required_argument, NULL, ARG_INTERVAL},
                {"cgroup", required_argument, NULL, ARG_CGROUP},
                {"root", required_argument, NULL, ARG_ROOT},
                {"include-lo", no_argument, NULL, ARG_INCLUDE_LO},
                {"virt", required_argument, NULL, ARG_VIRT},
                {"label", required_argument, NULL, ARG_LABEL},
                {"net-iface", required_argument, NULL, ARG_NET_IFACE},
                {"help", no_argument, NULL, 'h'},
                {0},
        };
        int c;

        optind = 0;
        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        help(stdout);
                        exit(EXIT_SUCCESS);
                case ARG_COUNT:
                case ARG_INTERVAL:
                        if (!sample) {
                                log_error("%s takes no --count or --interval.", argv[0]);
                                return EXIT_USAGE;
                        }
                        if (parse_number(c == ARG_COUNT ? "--count" : "--interval", optarg,
                                         c == ARG_COUNT ? ARG_COUNT_MAX : ARG_INTERVAL_MAX,
                                         c == ARG_COUNT ? &arg_count : &arg_interval_ms) < 0)
                                return EXIT_USAGE;
                        break;
                case ARG_CGROUP:
                        if (isempty(optarg) || strlen(optarg) >= AGENT_PATH_MAX) {
                                log_error("Invalid --cgroup: empty or longer than %d bytes.", AGENT_PATH_MAX - 1);
                                return EXIT_USAGE;
                        }
                        arg_cgroup = optarg;
                        break;
                case ARG_ROOT:
                        if (isempty(optarg)) {
                                log_error("Invalid --root: empty.");
                                return EXIT_USAGE;
                        }
                        arg_root = optarg;
                        break;
                case ARG_INCLUDE_LO:
                        arg_include_lo = true;
                        break;
                case ARG_VIRT:
                case ARG_LABEL:
                case ARG_NET_IFACE: {
                        const char *key = c == ARG_VIRT ? "virt" : c == ARG_LABEL ? "label" : "net_iface";
                        const char *reason = "invalid";

                        if (watch_options_set(&arg_watch, key, optarg, &reason) < 0) {
                                log_error("Invalid --%s '%s': %s.", c == ARG_NET_IFACE ? "net-iface" : key, optarg,
                                          reason);
                                return EXIT_USAGE;
                        }
                        break;
                }
                default:
                        return EXIT_USAGE;
                }
        return 0;
}

static int open_sampler(Sampler **ret)
{
        SamplerOptions o = {.root = arg_root, .cgroup = arg_cgroup, .include_lo = arg_include_lo};

        watch_options_apply(&arg_watch, &o);
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
        for (uint64_t i = 0; i < arg_count; i++) {
                int n;

                if (i > 0 && arg_interval_ms > 0) {
                        next += arg_interval_ms * USEC_PER_MSEC;
                        sleep_until(next);
                }
                r = sampler_read(s, &sample);
                if (r < 0) {
                        log_error_errno(r, "Cannot read a sample: %m");
                        return EXIT_FAILURE;
                }
                sample.seq = i;
                n = json_format_sample(&sample, &arg_watch.labels, line, sizeof line - 1);
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
