/* seatmeterd: the command line, the configuration, and the sd-event loop that ties the modules together:
 * the store (SQLite writer, this thread only), the HTTP server (its own threads), the BBB poller and the
 * ingest connections (on the loop), plus the systemd protocol: sockets by sd_listen_fds, READY=1,
 * STATUS=, WATCHDOG=1, STOPPING=1, and SIGHUP reloads. Exit codes are listed in docs/daemon.md. */

#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <netdb.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <linux/vm_sockets.h>

#include <systemd/sd-daemon.h>
#include <systemd/sd-event.h>

#include "bbb.h"
#include "config-build.h"
#include "config.h"
#include "http.h"
#include "ingest.h"
#include "log.h"
#include "stats.h"
#include "store.h"
#include "util.h"

/* Exit codes (docs/daemon.md). */
enum {
        EXIT_OK = 0,
        EXIT_CONFIG = 1,  /* the configuration is invalid (also: --verify found an error) */
        EXIT_USAGE = 2,   /* bad command line */
        EXIT_STORE = 3,   /* the database cannot be opened or migrated */
        EXIT_SOCKETS = 4, /* a listening socket cannot be set up (HTTP or ingest) */
        EXIT_RUNTIME = 5, /* the event loop failed */
        EXIT_LOCKED = 6,  /* another process writes the database */
};

#define STATUS_INTERVAL_USEC (5 * USEC_PER_SEC)
#define SHUTDOWN_FLUSH_MS 3000
#define DEFAULT_CONFIG_FILE SYSCONFDIR "/seatmeter/seatmeterd.conf"
#define READY_LINE_MAX 4096

static const char *arg_config = NULL;
static const char *arg_db = NULL;
static const char *arg_http = NULL;
static char *arg_listen[CONFIG_LISTEN_MAX];
static unsigned arg_n_listen = 0;
static bool arg_verify = false;

typedef struct Daemon {
        sd_event *event;
        Config *config;
        Config **old_configs; /* kept alive: the HTTP threads may still hold pointers into them */
        size_t n_old_configs, alloc_old_configs;
        int db_lock_fd; /* holds the database's single-writer lock; closed after the store */
        Store *store;
        Live *live; /* newest sample per agent: written by the store, read by the HTTP threads */
        Http *http;
        BbbPoller *poller;
        Ingest *ingest;
        sd_event_source *status_timer;
        uint64_t status_last_stored;
        uint64_t status_last_usec;
        double samples_per_sec;
} Daemon;

static void help(void)
{
        printf("seatmeterd [--config FILE] [--db PATH] [--http ADDR:PORT] [--listen URI]... [--verify]\n\n"
               "Collects samples from seatmeter agents, polls BigBlueButton, stores both in SQLite and serves\n"
               "them over HTTP.\n\n"
               "  -c --config FILE     configuration file (default %s if it exists,\n"
               "                       else built-in defaults; the log says which)\n"
               "     --db PATH         SQLite database (default $STATE_DIRECTORY/seatmeter.db, else\n"
               "                       ./seatmeter.db); one daemon per database\n"
               "     --http ADDR:PORT  HTTP API and dashboard (default 127.0.0.1:8480; port 0: any free one)\n"
               "     --listen URI      where agents connect, repeatable (at most 8), replaces the file's\n"
               "                       list: unix:PATH, tcp:HOST:PORT, vsock:CID:PORT (default\n"
               "                       unix:$RUNTIME_DIRECTORY/ingest.sock, else unix:./ingest.sock)\n"
               "     --verify          run the startup checks on the configuration, print the settings\n"
               "                       in effect, exit 0 or 1\n"
               "  -h --help            this text\n"
               "     --version         the version\n\n"
               "Exit status: 0 stopped cleanly, 1 bad configuration, 2 bad command line, 3 database\n"
               "cannot be opened, 4 socket cannot be set up, 5 runtime failure, 6 database in use by\n"
               "another seatmeterd. See seatmeterd(8) and seatmeterd.conf(5).\n",
               DEFAULT_CONFIG_FILE);
}

static int parse_argv(int argc, char **argv)
{
        enum { ARG_DB = 0x100, ARG_HTTP, ARG_LISTEN, ARG_VERIFY, ARG_VERSION };
        static const struct option options[] = {
                {"config", required_argument, NULL, 'c'},   {"db", required_argument, NULL, ARG_DB},
                {"http", required_argument, NULL, ARG_HTTP}, {"listen", required_argument, NULL, ARG_LISTEN},
                {"verify", no_argument, NULL, ARG_VERIFY},  {"help", no_argument, NULL, 'h'},
                {"version", no_argument, NULL, ARG_VERSION}, {NULL, 0, NULL, 0},
        };
        int c;

        while ((c = getopt_long(argc, argv, "c:h", options, NULL)) >= 0)
                switch (c) {
                case 'c':
                        arg_config = optarg;
                        break;
                case ARG_DB:
                        arg_db = optarg;
                        break;
                case ARG_HTTP:
                        arg_http = optarg;
                        break;
                case ARG_LISTEN:
                        if (arg_n_listen >= CONFIG_LISTEN_MAX) {
                                log_error("Too many --listen options (at most %d).", CONFIG_LISTEN_MAX);
                                return -E2BIG;
                        }
                        arg_listen[arg_n_listen++] = optarg;
                        break;
                case ARG_VERIFY:
                        arg_verify = true;
                        break;
                case 'h':
                        help();
                        return 0;
                case ARG_VERSION:
                        printf("seatmeterd %s\n", PACKAGE_VERSION);
                        return 0;
                default:
                        return -EINVAL;
                }
        if (optind < argc) {
                log_error("Unexpected argument '%s'.", argv[optind]);
                return -EINVAL;
        }
        return 1;
}

/* Whether a socket of this address could be bound here: the address is local (bound with port 0 on a
 * fresh socket, so a daemon already serving the port does not count against it). */
static int check_inet_address(const char *key, const char *host, unsigned port, bool *ret_loopback)
{
        struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE}, *ai = NULL;
        bool loopback = true;
        int r;

        r = getaddrinfo(host, NULL, &hints, &ai);
        if (r != 0)
                return log_error_errno(EADDRNOTAVAIL, "%s: cannot resolve '%s': %s", key, host, gai_strerror(r));
        r = 0;
        for (struct addrinfo *a = ai; a && r == 0; a = a->ai_next) {
                _cleanup_close_ int fd = socket(a->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);

                if (fd < 0 || bind(fd, a->ai_addr, a->ai_addrlen) < 0)
                        r = log_error_errno(errno, "%s: '%s' (port %u) is not an address of this machine: %m", key,
                                            host, port);
                if (a->ai_family == AF_INET)
                        loopback = loopback && (ntohl(((const struct sockaddr_in *)(const void *)a->ai_addr)
                                                              ->sin_addr.s_addr) >> 24) == 127;
                else
                        loopback = loopback && a->ai_family == AF_INET6 &&
                                   IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)(const void *)a->ai_addr)->sin6_addr);
        }
        freeaddrinfo(ai);
        if (ret_loopback)
                *ret_loopback = loopback;
        return r;
}

/* The checks of a configuration that need the system, run by --verify and at every start before anything
 * else, so that --verify refuses exactly what startup would: addresses that resolve to no local address,
 * unix sockets in missing folders, vsock without a transport, TLS files that cannot be read, HTTP beyond
 * loopback without a token (http.c refuses that too, also for a socket from systemd). Binding the
 * real addresses is left to startup (a running daemon holds them while --verify checks its file). */
static int check_config_system(const Config *c)
{
        char host[256];
        unsigned port;
        int r = 0, k;

        if (address_parse_host_port(c->http, host, sizeof host, &port) == 0) {
                bool loopback = false;

                if ((k = check_inet_address("http", host, port, &loopback)) < 0)
                        r = k;
                else if (!loopback && isempty(c->http_token))
                        r = log_error_errno(EPERM, "http: '%s' reaches beyond loopback: set http_token_file (and "
                                            "tls_cert, tls_key) first.", c->http);
        }
        for (unsigned i = 0; i < c->n_listen; i++) {
                SocketAddress u;

                if (address_parse(c->listen[i], ADDRESS_LISTEN, &u) < 0)
                        continue; /* config_finish() refused it already */
                if (u.kind == ADDRESS_TCP) {
                        if ((k = check_inet_address("listen", u.host, u.port, NULL)) < 0)
                                r = k;
                } else if (u.kind == ADDRESS_UNIX) {
                        _cleanup_free_ char *dir = strdup(u.path);
                        struct stat st;

                        if (!dir)
                                return log_oom();
                        if (stat(dirname(dir), &st) < 0 || !S_ISDIR(st.st_mode))
                                r = log_error_errno(ENOENT, "listen: the folder of '%s' does not exist.", u.path);
                } else if (u.kind == ADDRESS_VSOCK) {
                        _cleanup_close_ int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
                        struct sockaddr_vm sa = {.svm_family = AF_VSOCK, .svm_cid = u.cid, .svm_port = VMADDR_PORT_ANY};

                        if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0)
                                r = log_error_errno(errno, "listen: cannot use '%s' here (no vsock transport for "
                                                    "that CID?): %m", c->listen[i]);
                }
        }
        for (unsigned i = 0; i < 2; i++) {
                const char *f = i == 0 ? c->tls_cert : c->tls_key;
                _cleanup_close_ int fd = -EBADF;

                if (isempty(f))
                        continue;
                fd = open(f, O_RDONLY | O_CLOEXEC | O_NOCTTY);
                if (fd < 0)
                        r = log_error_errno(errno, "%s: cannot read '%s': %m", i == 0 ? "tls_cert" : "tls_key", f);
        }
        return r;
}

/* Builds the effective configuration: defaults, the file, then the command line. */
static int load_config(Config **ret)
{
        _cleanup_(config_freep) Config *c = NULL;
        const char *path = arg_config;
        int r;

        r = config_new_defaults(&c);
        if (r < 0)
                return log_error_errno(r, "Failed to set up the default configuration: %m");
        if (!path && access(DEFAULT_CONFIG_FILE, F_OK) == 0)
                path = DEFAULT_CONFIG_FILE;
        if (path) {
                r = config_load_file(c, path);
                if (r < 0)
                        return r;
                log_info("Configuration read from '%s'.", c->config_file[0] ? c->config_file : path);
        } else
                log_info("No configuration file ('%s' does not exist): running on built-in defaults.",
                         DEFAULT_CONFIG_FILE);
        if (arg_db && (r = config_set_daemon(c, "db", arg_db)) < 0)
                return r;
        if (arg_http && (r = config_set_daemon(c, "http", arg_http)) < 0)
                return r;
        if (arg_n_listen > 0) {
                config_clear_listen(c);
                for (unsigned i = 0; i < arg_n_listen; i++)
                        if ((r = config_set_daemon(c, "listen", arg_listen[i])) < 0)
                                return r;
        }
        r = config_finish(c);
        if (r < 0)
                return log_error_errno(r, "The configuration is invalid.");
        r = check_config_system(c);
        if (r < 0)
                return log_error_errno(r, "The configuration cannot work on this machine.");
        *ret = TAKE_PTR(c);
        return 0;
}

static void daemon_update_status(Daemon *d)
{
        uint64_t now = now_usec(CLOCK_MONOTONIC), stored = STATS_GET(samples_stored);

        if (d->status_last_usec > 0 && now > d->status_last_usec)
                d->samples_per_sec = (double)(stored - d->status_last_stored) * USEC_PER_SEC /
                                     (double)(now - d->status_last_usec);
        d->status_last_usec = now;
        d->status_last_stored = stored;
        (void)sd_notifyf(false, "STATUS=%u agents connected, %.1f samples/s, BBB servers up: %u/%u",
                         ingest_n_agents(d->ingest), d->samples_per_sec, d->poller ? bbb_poller_n_up(d->poller) : 0,
                         d->config->n_bbb);
}

static int on_status_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
        daemon_update_status(userdata);
        (void)sd_event_source_set_time_relative(s, STATUS_INTERVAL_USEC);
        return 0;
}

static int on_stop_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
        Daemon *d = userdata;
        int r;

        (void)sd_notify(false, "STOPPING=1\nSTATUS=Stopping: committing pending samples");
        log_info("Received %s, stopping.", strsignal((int)si->ssi_signo));
        r = ingest_shutdown(d->ingest, SHUTDOWN_FLUSH_MS);
        (void)sd_event_exit(sd_event_source_get_event(s), r < 0 ? EXIT_RUNTIME : EXIT_OK);
        return 0;
}

/* SIGHUP: a new configuration for agents, tokens and BBB servers. Addresses and the database need a
 * restart; a bad new file is reported and the running configuration kept. */
static int on_reload_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
        Daemon *d = userdata;
        _cleanup_(config_freep) Config *c = NULL;
        int r;

        (void)sd_notify(false, "RELOADING=1");
        log_info("Received SIGHUP, reloading the configuration.");
        r = load_config(&c);
        if (r < 0) {
                log_error("Keeping the running configuration.");
                goto done;
        }
        if (!streq(c->db, d->config->db) || !streq(c->http, d->config->http) || c->n_listen != d->config->n_listen ||
            memcmp(c->listen, d->config->listen, sizeof c->listen[0] * c->n_listen) != 0)
                log_notice("Changes of db, http or listen take effect at the next restart.");

        if (GREEDY_REALLOC(d->old_configs, d->alloc_old_configs, d->n_old_configs + 1) < 0) {
                log_oom();
                goto done;
        }
        if (d->poller) {
                r = bbb_poller_reload(d->poller, c);
                if (r < 0) {
                        log_error_errno(r, "Failed to apply the new BBB servers, keeping the old ones: %m");
                        goto done;
                }
        }
        ingest_set_config(d->ingest, c);
        if (d->http)
                http_set_config(d->http, c);
        d->old_configs[d->n_old_configs++] = d->config;
        d->config = TAKE_PTR(c);
        log_info("Configuration reloaded: %u agents, %u BBB servers.", d->config->n_agents, d->config->n_bbb);
done:
        (void)sd_notify(false, "READY=1");
        daemon_update_status(d);
        return 0;
}

/* The "http" socket, if systemd passed one, and the ingest sockets: named "ingest", or any other stream
 * socket of a family we speak. Returns the number of ingest sockets taken. */
static int take_listen_fds(Daemon *d, int *ret_http_fd, char *uris, size_t uris_size)
{
        char **names = NULL;
        int n, n_ingest = 0;

        *ret_http_fd = -EBADF;
        n = sd_listen_fds_with_names(true, &names);
        if (n < 0)
                return log_error_errno(n, "Failed to get sockets from systemd: %m");
        for (int i = 0; i < n; i++) {
                int fd = SD_LISTEN_FDS_START + i, r;
                const char *name = names && names[i] ? names[i] : "unknown";
                _cleanup_free_ char *uri = NULL;

                if (streq(name, "http") && *ret_http_fd < 0 && sd_is_socket(fd, AF_UNSPEC, SOCK_STREAM, 1) > 0) {
                        *ret_http_fd = fd;
                        continue;
                }
                if (sd_is_socket(fd, AF_UNIX, SOCK_STREAM, 1) <= 0 && sd_is_socket(fd, AF_INET, SOCK_STREAM, 1) <= 0 &&
                    sd_is_socket(fd, AF_INET6, SOCK_STREAM, 1) <= 0 && sd_is_socket(fd, AF_VSOCK, SOCK_STREAM, 1) <= 0) {
                        log_warning("Ignoring socket %d ('%s') from systemd: not a listening stream socket.", fd, name);
                        safe_close(fd);
                        continue;
                }
                r = ingest_add_fd(d->ingest, fd, &uri);
                if (r < 0) {
                        log_error_errno(r, "Failed to use socket %d ('%s') from systemd: %m", fd, name);
                        continue;
                }
                n_ingest++;
                if (strlen(uris) + strlen(uri) + 9 < uris_size) {
                        strcat(uris, " listen=");
                        strcat(uris, uri);
                }
        }
        if (names) {
                for (int i = 0; i < n; i++)
                        free(names[i]);
                free(names);
        }
        return n_ingest;
}

/* Whether uri is one of the " listen=URI" words that take_listen_fds() wrote for the passed sockets. */
static bool listen_is_passed(const char *ready, const char *uri)
{
        size_t n = strlen(uri);

        for (const char *p = ready; (p = strstr(p, " listen=")); p += 8)
                if (strneq(p + 8, uri, n) && (p[8 + n] == ' ' || p[8 + n] == 0))
                        return true;
        return false;
}

/* "ADDR:PORT" of a bound socket. */
static void describe_http(int fd, const Config *c, const Http *h, char *buf, size_t size)
{
        struct sockaddr_storage sa = {0};
        socklen_t len = sizeof sa;
        char host[INET6_ADDRSTRLEN];

        if (fd >= 0 && getsockname(fd, (struct sockaddr *)&sa, &len) == 0) {
                if (sa.ss_family == AF_INET) {
                        const struct sockaddr_in *a = (const void *)&sa;
                        inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
                        snprintf(buf, size, "%s:%u", host, ntohs(a->sin_port));
                        return;
                }
                if (sa.ss_family == AF_INET6) {
                        const struct sockaddr_in6 *a = (const void *)&sa;
                        inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
                        snprintf(buf, size, "[%s]:%u", host, ntohs(a->sin6_port));
                        return;
                }
        }
        {
                char h_[256];
                unsigned port;
                if (address_parse_host_port(c->http, h_, sizeof h_, &port) == 0)
                        snprintf(buf, size, strchr(h_, ':') ? "[%s]:%u" : "%s:%u", h_, h ? http_port(h) : port);
                else
                        snprintf(buf, size, "%s", c->http);
        }
}

/* The pid holding a flock() on the file with stat st, from /proc/locks, or 0 when it is not found
 * there (another pid namespace, /proc not mounted). Only for the message. */
static pid_t flock_holder(const struct stat *st)
{
        _cleanup_fclose_ FILE *f = fopen("/proc/locks", "re");
        char line[256];

        if (!f)
                return 0;
        while (fgets(line, sizeof line, f)) {
                char kind[16], mode[16];
                unsigned maj, min;
                unsigned long long ino;
                int pid;

                if (sscanf(line, "%*[^:]: %15s %*s %15s %d %x:%x:%llu", kind, mode, &pid, &maj, &min, &ino) == 6 &&
                    streq(kind, "FLOCK") && pid > 0 && maj == major(st->st_dev) && min == minor(st->st_dev) &&
                    ino == (unsigned long long)st->st_ino)
                        return pid;
        }
        return 0;
}

/* Takes the single-writer lock of the database at path: an exclusive flock() on the database file itself,
 * created empty when missing (SQLite takes an empty file as a new database). The lock belongs to the
 * file, not to the name, so a second daemon reaching the same file by another path (a symlink, a hard
 * link, a bind mount, a relative path) meets it too. SQLite's own locks are POSIX record locks, which
 * flock() leaves alone; the descriptor must stay open while SQLite has the file open, because closing any
 * descriptor of a file drops the process's record locks on it. Returns the descriptor, -EBUSY when another
 * process holds the lock, or -errno; logs either way. */
static int lock_database(const char *path)
{
        _cleanup_close_ int fd = -EBADF;
        struct stat st;

        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOCTTY, 0644);
        if (fd < 0)
                return log_error_errno(errno, "Failed to open database '%s': %m", path);
        if (fstat(fd, &st) < 0)
                return log_error_errno(errno, "Failed to stat database '%s': %m", path);
        if (!S_ISREG(st.st_mode))
                return log_error_errno(EINVAL, "Database '%s' is not a regular file.", path);
        if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
                pid_t pid;

                if (errno != EWOULDBLOCK)
                        return log_error_errno(errno, "Failed to lock database '%s': %m", path);
                pid = flock_holder(&st);
                if (pid > 0)
                        log_error("Database '%s' is in use by another seatmeterd (pid %d); exiting without "
                                  "touching it. One daemon per database.", path, (int)pid);
                else
                        log_error("Database '%s' is in use by another seatmeterd; exiting without touching it. "
                                  "One daemon per database.", path);
                return -EBUSY;
        }
        return TAKE_FD(fd);
}

static Daemon *daemon_free(Daemon *d)
{
        if (!d)
                return NULL;
        d->status_timer = sd_event_source_disable_unref(d->status_timer);
        d->ingest = ingest_free(d->ingest);
        d->poller = bbb_poller_free(d->poller);
        d->http = http_free(d->http);
        d->store = store_free(d->store);
        d->db_lock_fd = safe_close(d->db_lock_fd);
        d->live = live_free(d->live);
        d->config = config_free(d->config);
        for (size_t i = 0; i < d->n_old_configs; i++)
                config_free(d->old_configs[i]);
        free(d->old_configs);
        d->event = sd_event_unref(d->event);
        free(d);
        return NULL;
}
DEFINE_TRIVIAL_CLEANUP_FUNC(Daemon *, daemon_free)

static int run(void)
{
        _cleanup_(daemon_freep) Daemon *d = NULL;
        char ready[READY_LINE_MAX] = "", http_addr[300];
        int http_fd, n_ingest, r;
        sigset_t mask;

        d = calloc(1, sizeof *d);
        if (!d)
                return log_oom(), EXIT_RUNTIME;
        d->db_lock_fd = -EBADF;
        r = load_config(&d->config);
        if (r < 0)
                return EXIT_CONFIG;

        /* Blocked before any thread starts, so that every thread inherits the mask and the signals
         * reach the loop's signalfd. */
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGHUP);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
                return log_error_errno(errno, "sigprocmask: %m"), EXIT_RUNTIME;
        (void)signal(SIGPIPE, SIG_IGN);

        r = sd_event_default(&d->event);
        if (r < 0)
                return log_error_errno(r, "Failed to create the event loop: %m"), EXIT_RUNTIME;
        if (sd_event_add_signal(d->event, NULL, SIGTERM, on_stop_signal, d) < 0 ||
            sd_event_add_signal(d->event, NULL, SIGINT, on_stop_signal, d) < 0 ||
            sd_event_add_signal(d->event, NULL, SIGHUP, on_reload_signal, d) < 0)
                return log_error("Failed to watch signals."), EXIT_RUNTIME;

        /* The lock comes before SQLite opens the file: a second daemon must not even fold the first
         * one's newest samples into the aggregates (store_open() does), or they are counted twice. */
        if (!streq(d->config->db, ":memory:")) {
                r = lock_database(d->config->db);
                if (r < 0)
                        return r == -EBUSY ? EXIT_LOCKED : EXIT_STORE;
                d->db_lock_fd = r;
        }
        r = store_open(d->config->db, &d->store);
        if (r < 0)
                return r == -ENOMEM ? log_oom() : 0, EXIT_STORE; /* store_open() said why */
        r = live_new(&d->live);
        if (r < 0)
                return log_oom(), EXIT_RUNTIME;
        store_set_live(d->store, d->live);
        r = store_reset_connected(d->store);
        if (r < 0)
                log_warning_errno(r, "Failed to reset the agents' connected flags: %m");

        r = ingest_new(d->event, d->store, NULL, d->config, &d->ingest);
        if (r < 0)
                return log_error_errno(r, "Failed to set up ingest: %m"), EXIT_RUNTIME;

        n_ingest = take_listen_fds(d, &http_fd, ready, sizeof ready);
        if (n_ingest < 0)
                return EXIT_SOCKETS;

        r = http_new(d->config, d->config->db, d->live, http_fd, &d->http);
        if (r < 0) {
                safe_close(http_fd);
                return log_error_errno(r, "Failed to start HTTP on %s: %m", d->config->http), EXIT_SOCKETS;
        }
        describe_http(http_fd, d->config, d->http, http_addr, sizeof http_addr);

        r = bbb_poller_new(d->event, d->config, d->store, &d->poller);
        if (r < 0)
                return log_error_errno(r, "Failed to start the BBB poller: %m"), EXIT_RUNTIME;
        ingest_set_poller(d->ingest, d->poller);

        /* Sockets passed by systemd replace the built-in default address (which is where the shipped
         * socket unit listens); listen lines of the file or the command line are bound in addition, except
         * an address that a passed socket already has. */
        if (n_ingest > 0 && d->config->listen_default)
                log_info("Agents connect on the %d socket(s) from systemd; the default address is not bound.",
                         n_ingest);
        else
                for (unsigned i = 0; i < d->config->n_listen; i++) {
                        _cleanup_free_ char *uri = NULL;

                        if (listen_is_passed(ready, d->config->listen[i])) {
                                log_info("listen = %s: already passed by systemd, not bound again.",
                                         d->config->listen[i]);
                                continue;
                        }
                        r = ingest_listen(d->ingest, d->config->listen[i], &uri);
                        if (r < 0)
                                return EXIT_SOCKETS;
                        if (strlen(ready) + strlen(uri) + 9 < sizeof ready) {
                                strcat(ready, " listen=");
                                strcat(ready, uri);
                        }
                }

        r = sd_event_add_time_relative(d->event, &d->status_timer, CLOCK_MONOTONIC, STATUS_INTERVAL_USEC,
                                       USEC_PER_SEC, on_status_timer, d);
        if (r < 0)
                return log_error_errno(r, "Failed to add the status timer: %m"), EXIT_RUNTIME;
        (void)sd_event_source_set_enabled(d->status_timer, SD_EVENT_ON);

        log_info("ready http=%s%s", http_addr, ready);
        (void)sd_notify(false, "READY=1");
        daemon_update_status(d);
        /* WATCHDOG=1 from the loop itself, at about half of the interval systemd asked for; enabled only
         * now, so that the first ping follows READY=1. */
        r = sd_event_set_watchdog(d->event, true);
        if (r < 0)
                log_warning_errno(r, "Failed to enable the watchdog: %m");

        r = sd_event_loop(d->event);
        if (r < 0)
                return log_error_errno(r, "Event loop failed: %m"), EXIT_RUNTIME;
        if (r > 0)
                return r; /* the exit code on_stop_signal() chose */
        r = store_commit(d->store);
        if (r < 0)
                log_error_errno(r, "Final commit failed: %m");
        log_info("Stopped.");
        return r < 0 ? EXIT_RUNTIME : EXIT_OK;
}

int main(int argc, char **argv)
{
        int r;

        log_open("seatmeterd");
        r = parse_argv(argc, argv);
        if (r <= 0)
                return r < 0 ? EXIT_USAGE : EXIT_OK;

        if (arg_verify) {
                _cleanup_(config_freep) Config *c = NULL;

                if (load_config(&c) < 0)
                        return EXIT_CONFIG;
                config_dump(c, stdout);
                return EXIT_OK;
        }
        return run();
}
