/* See config.h. Every key lives in one table (section, name, type, default, bounds) read by the settings
 * engine of common/conf.h; the file parser, the command line and config_dump() all go through it, so a
 * key is checked the same way wherever it comes from and printed the way it is read. This file keeps
 * what is the daemon's own: the sections and their names, the value types only it has (listen URIs,
 * BBB URLs, token hashes, times), secret files and the cross-checks of config_finish(). */

#include <ctype.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <time.h>
#include <sys/stat.h>

#include "config-build.h"
#include "conf.h"
#include "config.h"
#include "log.h"
#include "util.h"

static int unhex(char c)
{
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

/* Epoch milliseconds from digits, or from a UTC time YYYY-MM-DDTHH:MM[:SS]Z. */
static int parse_time_ms(const char *s, int64_t *ret)
{
        struct tm tm = { 0 };
        const char *end;
        int64_t v;

        if (!isempty(s) && s[strspn(s, "0123456789")] == 0) {
                if (safe_atoi64(s, &v) < 0 || v > 253402300799999LL)
                        return -ERANGE;
                *ret = v;
                return 0;
        }
        end = strptime(s, "%Y-%m-%dT%H:%M", &tm);
        if (end && *end == ':')
                end = strptime(end, ":%S", &tm);
        if (!end || !streq(end, "Z") || tm.tm_year < 70 || tm.tm_year > 8099)
                return -EINVAL;
        *ret = (int64_t)timegm(&tm) * 1000;
        return 0;
}

/* The custom value types of the table below. Each parses into the struct at base and says why it
 * refused a value; the common types (strings, bounded numbers) are the engine's. */

static void format_string(const ConfKey *k, const void *base, const void *userdata, FILE *f)
{
        fprintf(f, "%s = %s\n", k->name, (const char *)conf_field_const(k, base));
}

/* ADDR:PORT, IPv6 as [ADDR]:PORT. */
static int parse_hostport(const ConfKey *k, void *base, const char *value, void *userdata, const char **ret_why)
{
        char host[256];
        unsigned port;

        if (strlen(value) >= k->size || address_parse_host_port(value, host, sizeof host, &port) < 0) {
                *ret_why = "expected ADDR:PORT (IPv6 as [ADDR]:PORT)";
                return -EINVAL;
        }
        strcpy(conf_field(k, base), value);
        return 0;
}

/* A listen URI; repeated lines accumulate, "listen =" empties the list as in systemd unit files. */
static int parse_listen(const ConfKey *k, void *base, const char *value, void *userdata, const char **ret_why)
{
        Config *c = userdata;
        SocketAddress uri;

        if (isempty(value)) {
                c->n_listen = 0;
                return 0;
        }
        if (strlen(value) >= CONFIG_PATH_MAX || address_parse(value, ADDRESS_LISTEN, &uri) < 0) {
                *ret_why = "expected unix:PATH, tcp:HOST:PORT or vsock:CID:PORT";
                return -EINVAL;
        }
        for (unsigned i = 0; i < c->n_listen; i++)
                if (streq(c->listen[i], value)) {
                        *ret_why = "listed twice";
                        return -EEXIST;
                }
        if (c->n_listen >= CONFIG_LISTEN_MAX) {
                *ret_why = "too many listen= lines (at most 8)";
                return -E2BIG;
        }
        strcpy(c->listen[c->n_listen++], value);
        return 0;
}

static void format_listen(const ConfKey *k, const void *base, const void *userdata, FILE *f)
{
        const Config *c = userdata;

        for (unsigned j = 0; j < c->n_listen; j++)
                fprintf(f, "%s = %s\n", k->name, c->listen[j]);
}

/* http:// or https://, stored with a trailing slash. */
static int parse_url(const ConfKey *k, void *base, const char *value, void *userdata, const char **ret_why)
{
        char *field = conf_field(k, base);
        size_t n = strlen(value);

        if (!strneq(value, "http://", 7) && !strneq(value, "https://", 8)) {
                *ret_why = "expected an http:// or https:// URL";
                return -EINVAL;
        }
        for (size_t i = 0; i < n; i++)
                if ((unsigned char)value[i] <= ' ' || (unsigned char)value[i] >= 0x7f || value[i] == '?' ||
                    value[i] == '#') {
                        *ret_why = "URL with spaces, a query or a fragment";
                        return -EINVAL;
                }
        if (n + 2 > k->size) {
                *ret_why = "URL too long";
                return -ENAMETOOLONG;
        }
        strcpy(field, value);
        if (value[n - 1] != '/')
                strcat(field, "/");
        return 0;
}

static int parse_checksum(const ConfKey *k, void *base, const char *value, void *userdata, const char **ret_why)
{
        if (checksum_algo_from_string(value, conf_field(k, base)) < 0) {
                *ret_why = "expected sha1, sha256, sha384 or sha512";
                return -EINVAL;
        }
        return 0;
}

static void format_checksum(const ConfKey *k, const void *base, const void *userdata, FILE *f)
{
        fprintf(f, "%s = %s\n", k->name, strna(checksum_algo_name(*(const ChecksumAlgo *)conf_field_const(k, base))));
}

/* 64 hex digits: the SHA-256 of the agent's token. */
static int parse_token(const ConfKey *k, void *base, const char *value, void *userdata, const char **ret_why)
{
        AgentConfig *a = base;
        uint8_t h[32];

        *ret_why = "expected 64 hex digits (SHA-256 of the token)";
        if (strlen(value) != 64)
                return -EINVAL;
        for (size_t i = 0; i < 32; i++) {
                int hi = unhex(value[2 * i]), lo = unhex(value[2 * i + 1]);
                if (hi < 0 || lo < 0)
                        return -EINVAL;
                h[i] = (uint8_t)(hi << 4 | lo);
        }
        memcpy(a->token_sha256, h, sizeof h);
        a->has_token = true;
        return 0;
}

static void format_token(const ConfKey *k, const void *base, const void *userdata, FILE *f)
{
        fprintf(f, "%s = %s\n", k->name, ((const AgentConfig *)base)->has_token ? "(redacted)" : "(none)");
}

/* A [bbb NAME] reference, may be empty. */
static int parse_name(const ConfKey *k, void *base, const char *value, void *userdata, const char **ret_why)
{
        if (!isempty(value) && !id_is_valid(value)) {
                *ret_why = "expected a name of [A-Za-z0-9._-]{1,64}";
                return -EINVAL;
        }
        strcpy(conf_field(k, base), value);
        return 0;
}

/* Epoch milliseconds, or UTC as YYYY-MM-DDTHH:MM[:SS]Z. */
static int parse_time(const ConfKey *k, void *base, const char *value, void *userdata, const char **ret_why)
{
        if (parse_time_ms(value, conf_field(k, base)) < 0) {
                *ret_why = "expected epoch milliseconds or a UTC time like 2026-12-05T08:00:00Z";
                return -EINVAL;
        }
        return 0;
}

static void format_time(const ConfKey *k, const void *base, const void *userdata, FILE *f)
{
        fprintf(f, "%s = %lld\n", k->name, (long long)*(const int64_t *)conf_field_const(k, base));
}

#define D(field) CONF_FIELD(Config, field)
#define B(field) CONF_FIELD(BbbConfig, field)
#define A(field) CONF_FIELD(AgentConfig, field)
#define E(field) CONF_FIELD(ExperimentConfig, field)
#define CUSTOM(p, f) .type = CONF_CUSTOM, .parse = parse_##p, .format = f
#define PATH .type = CONF_STRING
#define UINT(lo, hi) .type = CONF_UINT, .min = (lo), .max = (hi)
#define SHARE(field) \
        field, .type = CONF_DOUBLE, .flags = CONF_EMPTY_UNSET | CONF_ABOVE_MIN, .max = CONFIG_SHARE_MAX, .def = "", \
        .why = "expected a share above 0 (0.8 is 80%)"
#define MBPS(field) \
        field, .type = CONF_DOUBLE, .flags = CONF_EMPTY_UNSET | CONF_ABOVE_MIN, .max = CONFIG_MBPS_MAX, .def = "", \
        .why = "expected a link speed in Mbit/s above 0"

/* Every key of the file: [daemon], [bbb NAME], [agent NAME], [capacity], [experiment NAME]. A NULL
 * default is computed (db, listen) or required (url, secret_file, start, end: config_finish() says so). */
static const ConfKey config_keys[] = {
        {"daemon", "http", D(http), CUSTOM(hostport, format_string), .def = "127.0.0.1:8480"},
        {"daemon", "listen", D(listen), CUSTOM(listen, format_listen), .flags = CONF_REPEAT},
        {"daemon", "db", D(db), PATH},
        {"daemon", "raw_retention_days", D(raw_retention_days), UINT(1, 36500), .def = "14"},
        {"daemon", "trend_retention_days", D(trend_retention_days), UINT(1, 36500), .def = "730"},
        {"daemon", "commit_interval_ms", D(commit_interval_ms), UINT(1, 60000), .def = "200"},
        {"daemon", "http_token_file", D(http_token_file), PATH, .def = ""},
        {"daemon", "tls_cert", D(tls_cert), PATH, .def = ""},
        {"daemon", "tls_key", D(tls_key), PATH, .def = ""},
        {"daemon", "http_threads", D(http_threads), UINT(1, 64), .def = "2"},
        {"daemon", "http_max_connections", D(http_max_connections), UINT(1, 65536), .def = "512"},
        {"daemon", "http_timeout_s", D(http_timeout_s), UINT(1, 3600), .def = "15"},
        {"daemon", "zabbix_max_age_s", D(zabbix_max_age_s), UINT(1, 86400), .def = "60"},

        {"bbb", "url", B(url), CUSTOM(url, format_string)},
        {"bbb", "secret_file", B(secret_file), PATH},
        {"bbb", "checksum", B(checksum), CUSTOM(checksum, format_checksum), .def = "sha1"},
        {"bbb", "interval_s", B(interval_s), UINT(1, 3600), .def = "5"},

        {"agent", "token_sha256", A(token_sha256), CUSTOM(token, format_token)},
        {"agent", "peer_uid", A(peer_uid), UINT(0, CONFIG_PEER_UID_NONE - 1)},
        {"agent", "bbb", A(bbb), CUSTOM(name, format_string), .def = ""},
        {"agent", SHARE("cpu_threshold"), A(capacity.cpu)},
        {"agent", SHARE("memory_threshold"), A(capacity.memory)},
        {"agent", SHARE("net_threshold"), A(capacity.net)},
        {"agent", MBPS("link_mbps"), A(capacity.link_mbps)},

        {"capacity", SHARE("cpu_threshold"), D(capacity.cpu)},
        {"capacity", SHARE("memory_threshold"), D(capacity.memory)},
        {"capacity", SHARE("net_threshold"), D(capacity.net)},
        {"capacity", MBPS("link_mbps"), D(capacity.link_mbps)},

        {"experiment", "start", E(start_ms), CUSTOM(time, format_time)},
        {"experiment", "end", E(end_ms), CUSTOM(time, format_time)},
};

#undef D
#undef B
#undef A
#undef E
#undef CUSTOM
#undef PATH
#undef UINT
#undef SHARE
#undef MBPS

static const ConfKey *config_key_find(const char *section, const char *name)
{
        return conf_find(config_keys, ELEMENTSOF(config_keys), section, name);
}

/* Applies the table's defaults of section to base. Defaults are known good. */
static void config_apply_defaults(const char *section, void *base, Config *c)
{
        (void)conf_apply_defaults(config_keys, ELEMENTSOF(config_keys), section, base, c);
}

static const char *env_dir(const char *name)
{
        const char *e = getenv(name);

        /* systemd may pass several directories separated by ':'; the first one is ours. */
        if (isempty(e) || e[0] != '/' || strchr(e, ':'))
                return NULL;
        return e;
}

int config_new_defaults(Config **ret)
{
        _cleanup_(config_freep) Config *c = NULL;
        const char *state, *runtime;
        char listen[CONFIG_PATH_MAX];
        int n;

        c = calloc(1, sizeof *c);
        if (!c)
                return -ENOMEM;
        config_apply_defaults("daemon", c, c);
        config_apply_defaults("capacity", c, c);

        state = env_dir("STATE_DIRECTORY");
        n = snprintf(c->db, sizeof c->db, "%s%sseatmeter.db", state ? state : "", state ? "/" : "");
        if (n < 0 || (size_t)n >= sizeof c->db)
                return -ENAMETOOLONG;

        runtime = env_dir("RUNTIME_DIRECTORY");
        n = snprintf(listen, sizeof listen, "unix:%s%singest.sock", runtime ? runtime : ".", "/");
        if (n < 0 || (size_t)n >= sizeof listen)
                return -ENAMETOOLONG;
        if (runtime) {
                SocketAddress u;
                if (address_parse(listen, ADDRESS_LISTEN, &u) < 0) /* too long for sun_path: keep ./ingest.sock */
                        runtime = NULL;
        }
        strcpy(c->listen[0], runtime ? listen : "unix:./ingest.sock");
        c->n_listen = 1;
        c->listen_default = true;

        *ret = TAKE_PTR(c);
        return 0;
}

typedef struct ParseContext {
        Config *config;
        bool listen_seen; /* the first listen= of a file replaces the defaults */
} ParseContext;

/* Finds the [bbb NAME], [agent NAME] or [experiment NAME] entry, adding it with its defaults when new. */
static int config_section_entry(ParseContext *ctx, const ConfLine *l, const char *section, const char *name,
                                void **ret)
{
        Config *c = ctx->config;
        int r;

        if (streq(section, "bbb")) {
                BbbConfig *b = (BbbConfig *)config_find_bbb(c, name);
                if (!b) {
                        r = GREEDY_REALLOC_CAPPED(c->bbb, c->n_bbb_alloc, c->n_bbb + 1, CONFIG_BBB_MAX);
                        if (r < 0)
                                return r;
                        b = &c->bbb[c->n_bbb++];
                        *b = (BbbConfig){.line = l->section_line};
                        strcpy(b->name, name);
                        config_apply_defaults(section, b, c);
                }
                *ret = b;
        } else if (streq(section, "experiment")) {
                ExperimentConfig *e = NULL;
                for (unsigned i = 0; i < c->n_experiments && !e; i++)
                        if (streq(c->experiments[i].name, name))
                                e = &c->experiments[i];
                if (!e) {
                        r = GREEDY_REALLOC_CAPPED(c->experiments, c->n_experiments_alloc, c->n_experiments + 1,
                                                  CONFIG_EXPERIMENTS_MAX);
                        if (r < 0)
                                return r;
                        e = &c->experiments[c->n_experiments++];
                        *e = (ExperimentConfig){.start_ms = -1, .end_ms = -1, .line = l->section_line};
                        strcpy(e->name, name);
                }
                *ret = e;
        } else {
                AgentConfig *a = (AgentConfig *)config_find_agent(c, name);
                if (!a) {
                        r = GREEDY_REALLOC_CAPPED(c->agents, c->n_agents_alloc, c->n_agents + 1, CONFIG_AGENTS_MAX);
                        if (r < 0)
                                return r;
                        a = &c->agents[c->n_agents++];
                        *a = (AgentConfig){.peer_uid = CONFIG_PEER_UID_NONE, .line = l->section_line};
                        strcpy(a->id, name);
                        config_apply_defaults(section, a, c);
                }
                *ret = a;
        }
        return 0;
}

/* The sections of the file, in the order config_dump() prints them; the named ones take a NAME. */
static const struct {
        const char *kind;
        bool named;
} config_sections[] = {
        {"daemon", false}, {"bbb", true}, {"agent", true}, {"capacity", false}, {"experiment", true},
};

static int config_handler(const ConfLine *l, void *userdata)
{
        ParseContext *ctx = userdata;
        const char *section = l->section, *key = l->key, *value = l->value;
        const char *kind = NULL, *why = NULL, *name = NULL;
        bool named = false;
        const ConfKey *k;
        void *base;
        int r;

        for (size_t i = 0; i < ELEMENTSOF(config_sections) && !kind; i++) {
                const char *s = config_sections[i].kind;
                size_t len = strlen(s);

                /* "[bbb]" counts as named, with an empty (invalid) name */
                named = config_sections[i].named;
                if (!named ? streq(section, s) : strneq(section, s, len) && strchr(" \t", section[len]))
                        kind = s;
        }
        if (!kind) {
                log_error("%s:%u: unknown section [%s] (expected [daemon], [bbb NAME], [agent NAME], [capacity] "
                          "or [experiment NAME]).",
                          l->path, l->line, section);
                return -EINVAL;
        }
        if (named) {
                name = section + strcspn(section, " \t");
                name += strspn(name, " \t");
                if (!id_is_valid(name)) {
                        log_error("%s:%u: invalid name in section [%s]: expected [A-Za-z0-9._-]{1,64}.", l->path,
                                  l->line, section);
                        return -EINVAL;
                }
        }

        k = config_key_find(kind, key);
        if (!k) {
                log_error("%s:%u: unknown key '%s' in [%s].", l->path, l->line, key, section);
                return -EINVAL;
        }

        if (!name)
                base = ctx->config;
        else {
                r = config_section_entry(ctx, l, kind, name, &base);
                if (r < 0) {
                        log_error_errno(r, "%s:%u: cannot add [%s]: %m", l->path, l->line, section);
                        return -EINVAL;
                }
        }

        if ((k->flags & CONF_REPEAT) && !ctx->listen_seen) {
                config_clear_listen(ctx->config);
                ctx->listen_seen = true;
        }
        r = conf_set(k, base, value, ctx->config, &why);
        if (r < 0) {
                log_error("%s:%u: bad value for '%s': %s.", l->path, l->line, key, why);
                return -EINVAL;
        }
        return 0;
}

int config_load_file(Config *c, const char *path)
{
        ParseContext ctx = {.config = c};
        unsigned errors = 0;
        int r;

        assert(c);
        assert(path);

        r = conf_parse_file(path, config_handler, &ctx, &errors);
        if (r < 0)
                return r;
        if (errors > 0)
                return log_error_errno(EINVAL, "%s: %u error(s), configuration not loaded.", path, errors);
        {
                _cleanup_free_ char *abs = realpath(path, NULL);
                const char *name = abs ? abs : path;

                if (strlen(name) < sizeof c->config_file)
                        strcpy(c->config_file, name);
        }
        return 0;
}

int config_set_daemon(Config *c, const char *key, const char *value)
{
        const ConfKey *k = config_key_find("daemon", key);
        const char *why = NULL;
        int r;

        if (!k || !value)
                return -EINVAL;
        r = conf_set(k, c, value, c, &why);
        if (r < 0)
                return log_error_errno(r, "Bad value '%s' for %s: %s.", value, key, why);
        return 0;
}

void config_clear_listen(Config *c)
{
        c->n_listen = 0;
        c->listen_default = false;
}

/* Reads a secret file: at most CONFIG_SECRET_MAX bytes, surrounding whitespace stripped, not empty. A
 * file others can read is accepted with a warning: the operator may have reasons, but should know. */
static int read_secret_file(const char *path, const char *what, char **ret)
{
        _cleanup_free_ char *buf = NULL;
        _cleanup_close_ int fd = -EBADF;
        struct stat st;
        char *s;
        int r;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return log_error_errno(errno, "Failed to open %s '%s': %m", what, path);
        if (fstat(fd, &st) < 0)
                return log_error_errno(errno, "Failed to stat %s '%s': %m", what, path);
        if (!S_ISREG(st.st_mode))
                return log_error_errno(EINVAL, "%s '%s' is not a regular file.", what, path);
        if (st.st_mode & S_IROTH)
                log_warning("%s '%s' is readable by every user (mode %04o); chmod o-r it.", what, path,
                            (unsigned)(st.st_mode & 07777));
        buf = malloc(CONFIG_SECRET_MAX + 1);
        if (!buf)
                return log_oom();
        for (size_t got = 0;;) {
                ssize_t n = read(fd, buf + got, CONFIG_SECRET_MAX + 1 - got);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        r = negative_errno();
                        break;
                }
                got += (size_t)n;
                if (got > CONFIG_SECRET_MAX) {
                        r = -EFBIG;
                        break;
                }
                if (n == 0) {
                        buf[got] = 0;
                        r = memchr(buf, 0, got) ? -EBADMSG : 0;
                        break;
                }
        }
        if (r == -EFBIG)
                return log_error_errno(r, "%s '%s' is larger than %d bytes.", what, path, CONFIG_SECRET_MAX);
        if (r == -EBADMSG)
                return log_error_errno(r, "%s '%s' holds a NUL byte.", what, path);
        if (r < 0)
                return log_error_errno(r, "Failed to read %s '%s': %m", what, path);
        s = strstrip(buf);
        if (isempty(s))
                return log_error_errno(EINVAL, "%s '%s' is empty.", what, path);
        if (strlen(s) != strcspn(s, "\r\n"))
                return log_error_errno(EINVAL, "%s '%s' holds more than one line.", what, path);
        memmove(buf, s, strlen(s) + 1);
        *ret = TAKE_PTR(buf);
        return 0;
}

/* "FILE:LINE: " of a section header, "FILE: " without a line, "" when no file was read. */
static const char *config_where(const Config *c, unsigned line, char *buf, size_t size)
{
        if (isempty(c->config_file))
                return "";
        if (line > 0)
                (void)snprintf(buf, size, "%s:%u: ", c->config_file, line);
        else
                (void)snprintf(buf, size, "%s: ", c->config_file);
        return buf;
}

int config_finish(Config *c)
{
        char where[CONFIG_PATH_MAX + 16];
        int r, errors = 0;

        assert(c);

        for (unsigned i = 0; i < c->n_bbb; i++) {
                BbbConfig *b = &c->bbb[i];

                if (isempty(b->url)) {
                        log_error("%s[bbb %s]: url= is required.", config_where(c, b->line, where, sizeof where),
                                  b->name);
                        errors++;
                }
                if (isempty(b->secret_file)) {
                        log_error("%s[bbb %s]: secret_file= is required.",
                                  config_where(c, b->line, where, sizeof where), b->name);
                        errors++;
                        continue;
                }
                free(b->secret);
                b->secret = NULL;
                r = read_secret_file(b->secret_file, "BBB secret file", &b->secret);
                if (r < 0) {
                        log_error("%s[bbb %s]: secret_file = %s cannot be used.",
                                  config_where(c, b->line, where, sizeof where), b->name, b->secret_file);
                        errors++;
                }
        }
        for (unsigned i = 0; i < c->n_experiments; i++) {
                const ExperimentConfig *e = &c->experiments[i];
                if (e->start_ms < 0 || e->end_ms < 0) {
                        log_error("%s[experiment %s]: start= and end= are required.",
                                  config_where(c, e->line, where, sizeof where), e->name);
                        errors++;
                } else if (e->start_ms >= e->end_ms) {
                        log_error("%s[experiment %s]: start= must be before end=.",
                                  config_where(c, e->line, where, sizeof where), e->name);
                        errors++;
                }
        }
        for (unsigned i = 0; i < c->n_agents; i++) {
                const AgentConfig *a = &c->agents[i];
                if (!isempty(a->bbb) && !config_find_bbb(c, a->bbb)) {
                        log_error("%s[agent %s]: bbb = %s names no [bbb %s] section.",
                                  config_where(c, a->line, where, sizeof where), a->id, a->bbb, a->bbb);
                        errors++;
                }
        }
        if (isempty(c->tls_cert) != isempty(c->tls_key)) {
                log_error("%s[daemon]: tls_cert= and tls_key= go together.", config_where(c, 0, where, sizeof where));
                errors++;
        }
        free(c->http_token);
        c->http_token = NULL;
        if (!isempty(c->http_token_file) &&
            read_secret_file(c->http_token_file, "HTTP token file", &c->http_token) < 0)
                errors++;
        if (isempty(c->db)) {
                log_error("[daemon]: db= must not be empty.");
                errors++;
        }
        if (c->n_listen == 0)
                log_warning("[daemon]: no listen= address: no agent can connect (unless sockets come from systemd).");

        return errors > 0 ? -EINVAL : 0;
}

void config_dump(const Config *c, FILE *f)
{
        if (c->config_file[0])
                fprintf(f, "# read from %s\n", c->config_file);
        else
                fprintf(f, "# no configuration file read: built-in defaults\n");
        for (size_t s = 0; s < ELEMENTSOF(config_sections); s++) {
                const char *kind = config_sections[s].kind;
                unsigned n = !config_sections[s].named ? 1
                             : streq(kind, "bbb")      ? c->n_bbb
                             : streq(kind, "agent")    ? c->n_agents
                                                       : c->n_experiments;

                for (unsigned e = 0; e < n; e++) {
                        const void *base = c;
                        const char *name = NULL;

                        if (streq(kind, "bbb")) {
                                base = &c->bbb[e];
                                name = c->bbb[e].name;
                        } else if (streq(kind, "agent")) {
                                base = &c->agents[e];
                                name = c->agents[e].id;
                        } else if (streq(kind, "experiment")) {
                                base = &c->experiments[e];
                                name = c->experiments[e].name;
                        }
                        fprintf(f, "%s[%s%s%s]\n", s > 0 ? "\n" : "", kind, name ? " " : "", name ? name : "");
                        conf_dump(config_keys, ELEMENTSOF(config_keys), kind, base, c, f);
                }
        }
}

Config *config_free(Config *c)
{
        if (!c)
                return NULL;
        for (unsigned i = 0; i < c->n_bbb; i++)
                if (c->bbb[i].secret) {
                        explicit_bzero(c->bbb[i].secret, strlen(c->bbb[i].secret));
                        free(c->bbb[i].secret);
                }
        free(c->bbb);
        if (c->http_token) {
                explicit_bzero(c->http_token, strlen(c->http_token));
                free(c->http_token);
        }
        free(c->agents);
        free(c->experiments);
        free(c);
        return NULL;
}

const AgentConfig *config_find_agent(const Config *c, const char *id)
{
        for (unsigned i = 0; c && id && i < c->n_agents; i++)
                if (streq(c->agents[i].id, id))
                        return &c->agents[i];
        return NULL;
}

const BbbConfig *config_find_bbb(const Config *c, const char *name)
{
        for (unsigned i = 0; c && name && i < c->n_bbb; i++)
                if (streq(c->bbb[i].name, name))
                        return &c->bbb[i];
        return NULL;
}
