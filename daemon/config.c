/* See config.h. Every key lives in one table (section, name, type, default, bounds); the file parser, the
 * command line and config_dump() all go through it, so a key is checked the same way wherever it comes
 * from and printed the way it is read. */

#include <ctype.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <time.h>
#include <sys/stat.h>

#include <ini.h>

#include "config-build.h"
#include "config.h"
#include "log.h"
#include "util.h"

/* libinih reads lines into a fixed buffer of INI_MAX_LINE bytes (200 in Debian's build); longer lines
 * are refused with a clear error instead of being cut in two. */
#define CONFIG_LINE_MAX INI_MAX_LINE
#define CONFIG_FILE_MAX (1024 * 1024)

typedef enum ConfigSection {
        SECTION_DAEMON,
        SECTION_BBB,
        SECTION_AGENT,
        SECTION_CAPACITY,
        SECTION_EXPERIMENT,
        _SECTION_MAX,
} ConfigSection;

typedef enum ConfigType {
        TYPE_STRING,   /* any text that fits */
        TYPE_PATH,     /* a file name, may be empty */
        TYPE_UINT,     /* unsigned within [min, max] */
        TYPE_HOSTPORT, /* ADDR:PORT */
        TYPE_LISTEN,   /* a listen URI; repeated lines accumulate */
        TYPE_URL,      /* http:// or https://, stored with a trailing slash */
        TYPE_CHECKSUM, /* sha1 | sha256 | sha384 | sha512 */
        TYPE_TOKEN,    /* 64 hex digits: SHA-256 of the agent's token */
        TYPE_NAME,     /* a [bbb NAME] reference, may be empty */
        TYPE_SHARE,    /* a number in (0, CONFIG_SHARE_MAX]; empty: unset (NAN) */
        TYPE_MBPS,     /* a number in (0, CONFIG_MBPS_MAX]; empty: unset (NAN) */
        TYPE_TIME,     /* epoch milliseconds, or UTC as YYYY-MM-DDTHH:MM[:SS]Z */
} ConfigType;

typedef struct ConfigKey {
        ConfigSection section;
        const char *name;
        ConfigType type;
        size_t offset; /* into Config, BbbConfig or AgentConfig */
        size_t size;   /* of a string field */
        const char *def; /* NULL: computed (db, listen) or required (url, secret_file) */
        unsigned min, max;
        bool required;
} ConfigKey;

#define D(field) offsetof(Config, field), sizeof(((Config *)0)->field)
#define B(field) offsetof(BbbConfig, field), sizeof(((BbbConfig *)0)->field)
#define A(field) offsetof(AgentConfig, field), sizeof(((AgentConfig *)0)->field)
#define E(field) offsetof(ExperimentConfig, field), sizeof(((ExperimentConfig *)0)->field)

static const ConfigKey config_keys[] = {
        {SECTION_DAEMON, "http", TYPE_HOSTPORT, D(http), "127.0.0.1:8480", 0, 0, false},
        {SECTION_DAEMON, "listen", TYPE_LISTEN, D(listen), NULL, 0, 0, false},
        {SECTION_DAEMON, "db", TYPE_PATH, D(db), NULL, 0, 0, false},
        {SECTION_DAEMON, "raw_retention_days", TYPE_UINT, D(raw_retention_days), "14", 1, 36500, false},
        {SECTION_DAEMON, "trend_retention_days", TYPE_UINT, D(trend_retention_days), "730", 1, 36500, false},
        {SECTION_DAEMON, "commit_interval_ms", TYPE_UINT, D(commit_interval_ms), "200", 1, 60000, false},
        {SECTION_DAEMON, "http_token_file", TYPE_PATH, D(http_token_file), "", 0, 0, false},
        {SECTION_DAEMON, "tls_cert", TYPE_PATH, D(tls_cert), "", 0, 0, false},
        {SECTION_DAEMON, "tls_key", TYPE_PATH, D(tls_key), "", 0, 0, false},
        {SECTION_DAEMON, "http_threads", TYPE_UINT, D(http_threads), "2", 1, 64, false},
        {SECTION_DAEMON, "http_max_connections", TYPE_UINT, D(http_max_connections), "512", 1, 65536, false},
        {SECTION_DAEMON, "http_timeout_s", TYPE_UINT, D(http_timeout_s), "15", 1, 3600, false},
        {SECTION_DAEMON, "zabbix_max_age_s", TYPE_UINT, D(zabbix_max_age_s), "60", 1, 86400, false},

        {SECTION_BBB, "url", TYPE_URL, B(url), NULL, 0, 0, true},
        {SECTION_BBB, "secret_file", TYPE_PATH, B(secret_file), NULL, 0, 0, true},
        {SECTION_BBB, "checksum", TYPE_CHECKSUM, B(checksum), "sha1", 0, 0, false},
        {SECTION_BBB, "interval_s", TYPE_UINT, B(interval_s), "5", 1, 3600, false},

        {SECTION_AGENT, "token_sha256", TYPE_TOKEN, A(token_sha256), NULL, 0, 0, false},
        {SECTION_AGENT, "peer_uid", TYPE_UINT, A(peer_uid), NULL, 0, CONFIG_PEER_UID_NONE - 1, false},
        {SECTION_AGENT, "bbb", TYPE_NAME, A(bbb), "", 0, 0, false},
        {SECTION_AGENT, "cpu_threshold", TYPE_SHARE, A(capacity.cpu), "", 0, 0, false},
        {SECTION_AGENT, "memory_threshold", TYPE_SHARE, A(capacity.memory), "", 0, 0, false},
        {SECTION_AGENT, "net_threshold", TYPE_SHARE, A(capacity.net), "", 0, 0, false},
        {SECTION_AGENT, "link_mbps", TYPE_MBPS, A(capacity.link_mbps), "", 0, 0, false},

        {SECTION_CAPACITY, "cpu_threshold", TYPE_SHARE, D(capacity.cpu), "", 0, 0, false},
        {SECTION_CAPACITY, "memory_threshold", TYPE_SHARE, D(capacity.memory), "", 0, 0, false},
        {SECTION_CAPACITY, "net_threshold", TYPE_SHARE, D(capacity.net), "", 0, 0, false},
        {SECTION_CAPACITY, "link_mbps", TYPE_MBPS, D(capacity.link_mbps), "", 0, 0, false},

        {SECTION_EXPERIMENT, "start", TYPE_TIME, E(start_ms), NULL, 0, 0, true},
        {SECTION_EXPERIMENT, "end", TYPE_TIME, E(end_ms), NULL, 0, 0, true},
};

#undef D
#undef B
#undef A
#undef E

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

/* Sets one key of the struct at base from text. Returns 0, or -errno with a static reason in *ret_why. */
static int config_key_set(const ConfigKey *k, void *base, Config *c, const char *value, const char **ret_why)
{
        char *field = (char *)base + k->offset;
        unsigned u;

        switch (k->type) {
        case TYPE_STRING:
        case TYPE_PATH:
                if (strlen(value) >= k->size) {
                        *ret_why = "value too long";
                        return -ENAMETOOLONG;
                }
                strcpy(field, value);
                return 0;

        case TYPE_UINT:
                if (safe_atou(value, &u) < 0 || u < k->min || u > k->max) {
                        *ret_why = "not a number within the allowed range";
                        return -ERANGE;
                }
                *(unsigned *)(void *)field = u;
                return 0;

        case TYPE_HOSTPORT: {
                char host[256];
                if (strlen(value) >= k->size || address_parse_host_port(value, host, sizeof host, &u) < 0) {
                        *ret_why = "expected ADDR:PORT (IPv6 as [ADDR]:PORT)";
                        return -EINVAL;
                }
                strcpy(field, value);
                return 0;
        }

        case TYPE_LISTEN: {
                SocketAddress uri;
                if (isempty(value)) { /* "listen =" empties the list, as in systemd unit files */
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

        case TYPE_URL: {
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

        case TYPE_CHECKSUM:
                if (checksum_algo_from_string(value, (ChecksumAlgo *)(void *)field) < 0) {
                        *ret_why = "expected sha1, sha256, sha384 or sha512";
                        return -EINVAL;
                }
                return 0;

        case TYPE_TOKEN: {
                AgentConfig *a = base;
                uint8_t h[32];
                if (strlen(value) != 64) {
                        *ret_why = "expected 64 hex digits (SHA-256 of the token)";
                        return -EINVAL;
                }
                for (size_t i = 0; i < 32; i++) {
                        int hi = unhex(value[2 * i]), lo = unhex(value[2 * i + 1]);
                        if (hi < 0 || lo < 0) {
                                *ret_why = "expected 64 hex digits (SHA-256 of the token)";
                                return -EINVAL;
                        }
                        h[i] = (uint8_t)(hi << 4 | lo);
                }
                memcpy(a->token_sha256, h, sizeof h);
                a->has_token = true;
                return 0;
        }

        case TYPE_SHARE:
        case TYPE_MBPS: {
                double d, max = k->type == TYPE_SHARE ? CONFIG_SHARE_MAX : CONFIG_MBPS_MAX;

                if (isempty(value)) {
                        *(double *)(void *)field = NAN;
                        return 0;
                }
                if (safe_atod(value, &d) < 0 || !isfinite(d) || d <= 0 || d > max) {
                        *ret_why = k->type == TYPE_SHARE ? "expected a share above 0 (0.8 is 80%)"
                                                         : "expected a link speed in Mbit/s above 0";
                        return -ERANGE;
                }
                *(double *)(void *)field = d;
                return 0;
        }

        case TYPE_TIME:
                if (parse_time_ms(value, (int64_t *)(void *)field) < 0) {
                        *ret_why = "expected epoch milliseconds or a UTC time like 2026-12-05T08:00:00Z";
                        return -EINVAL;
                }
                return 0;

        case TYPE_NAME:
                if (!isempty(value) && !id_is_valid(value)) {
                        *ret_why = "expected a name of [A-Za-z0-9._-]{1,64}";
                        return -EINVAL;
                }
                strcpy(field, value);
                return 0;
        }
        *ret_why = "internal error";
        return -EINVAL;
}

static const ConfigKey *config_key_find(ConfigSection section, const char *name)
{
        for (size_t i = 0; i < ELEMENTSOF(config_keys); i++)
                if (config_keys[i].section == section && streq(config_keys[i].name, name))
                        return &config_keys[i];
        return NULL;
}

/* Applies the table's defaults of section to base. Defaults are known good. */
static void config_apply_defaults(ConfigSection section, void *base, Config *c)
{
        for (size_t i = 0; i < ELEMENTSOF(config_keys); i++) {
                const ConfigKey *k = &config_keys[i];
                const char *why = NULL;

                if (k->section != section || !k->def)
                        continue;
                if (config_key_set(k, base, c, k->def, &why) < 0)
                        log_error("Built-in default %s=%s is invalid: %s", k->name, k->def, why);
        }
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
        config_apply_defaults(SECTION_DAEMON, c, c);
        config_apply_defaults(SECTION_CAPACITY, c, c);

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
        const char *path;
        FILE *f;
        unsigned line;
        unsigned errors;
        /* The current section as written: libinih cuts section names at 50 bytes, ours reach
         * "agent " + 64, so the reader tracks it. */
        char section[STRLEN("experiment ") + CONFIG_NAME_MAX + 1];
        unsigned section_line; /* where the current section's header is */
        bool section_bad; /* already reported: its keys are skipped silently */
        bool listen_seen; /* the first listen= of a file replaces the defaults */
} ParseContext;

/* An fgets() that counts lines and refuses lines that do not fit libinih's buffer. */
static char *config_reader(char *str, int num, void *stream)
{
        ParseContext *ctx = stream;
        size_t n;

        if (!fgets(str, num, ctx->f))
                return NULL;
        ctx->line++;
        n = strlen(str);
        if (n > 0 && str[n - 1] != '\n' && !feof(ctx->f)) {
                int ch;
                log_error("%s:%u: line too long (at most %d bytes).", ctx->path, ctx->line, CONFIG_LINE_MAX - 2);
                ctx->errors++;
                while ((ch = fgetc(ctx->f)) != EOF && ch != '\n')
                        ;
                strcpy(str, "\n");
                return str;
        }

        {
                const char *p = str + strspn(str, " \t"), *close;
                if (p[0] == '[' && (close = strchr(p, ']'))) {
                        char *sec;
                        size_t len = (size_t)(close - p - 1);

                        ctx->section_bad = false;
                        ctx->section_line = ctx->line;
                        if (len >= sizeof ctx->section) {
                                log_error("%s:%u: section name too long.", ctx->path, ctx->line);
                                ctx->errors++;
                                ctx->section_bad = true;
                                ctx->section[0] = 0;
                        } else {
                                memcpy(ctx->section, p + 1, len);
                                ctx->section[len] = 0;
                                sec = strstrip(ctx->section);
                                memmove(ctx->section, sec, strlen(sec) + 1);
                        }
                }
        }
        return str;
}

/* Finds the [bbb NAME] or [agent NAME] entry, adding it with its defaults when new. */
static int config_section_entry(ParseContext *ctx, ConfigSection section, const char *name, void **ret)
{
        Config *c = ctx->config;

        if (section == SECTION_BBB) {
                BbbConfig *b;
                for (unsigned i = 0; i < c->n_bbb; i++)
                        if (streq(c->bbb[i].name, name)) {
                                *ret = &c->bbb[i];
                                return 0;
                        }
                if (c->n_bbb >= CONFIG_BBB_MAX)
                        return -E2BIG;
                b = realloc(c->bbb, (c->n_bbb + 1) * sizeof *b);
                if (!b)
                        return -ENOMEM;
                c->bbb = b;
                b = &c->bbb[c->n_bbb++];
                *b = (BbbConfig){0};
                strcpy(b->name, name);
                b->line = ctx->section_line;
                config_apply_defaults(SECTION_BBB, b, c);
                *ret = b;
        } else if (section == SECTION_EXPERIMENT) {
                ExperimentConfig *e;
                for (unsigned i = 0; i < c->n_experiments; i++)
                        if (streq(c->experiments[i].name, name)) {
                                *ret = &c->experiments[i];
                                return 0;
                        }
                if (c->n_experiments >= CONFIG_EXPERIMENTS_MAX)
                        return -E2BIG;
                e = realloc(c->experiments, (c->n_experiments + 1) * sizeof *e);
                if (!e)
                        return -ENOMEM;
                c->experiments = e;
                e = &c->experiments[c->n_experiments++];
                *e = (ExperimentConfig){ .start_ms = -1, .end_ms = -1, .line = ctx->section_line };
                strcpy(e->name, name);
                *ret = e;
        } else {
                AgentConfig *a;
                for (unsigned i = 0; i < c->n_agents; i++)
                        if (streq(c->agents[i].id, name)) {
                                *ret = &c->agents[i];
                                return 0;
                        }
                if (c->n_agents >= CONFIG_AGENTS_MAX)
                        return -E2BIG;
                a = realloc(c->agents, (c->n_agents + 1) * sizeof *a);
                if (!a)
                        return -ENOMEM;
                c->agents = a;
                a = &c->agents[c->n_agents++];
                *a = (AgentConfig){ .peer_uid = CONFIG_PEER_UID_NONE };
                strcpy(a->id, name);
                a->line = ctx->section_line;
                config_apply_defaults(SECTION_AGENT, a, c);
                *ret = a;
        }
        return 0;
}

static int config_handler(void *user, const char *section, const char *key, const char *value)
{
        ParseContext *ctx = user;
        ConfigSection sec;
        const ConfigKey *k;
        const char *why = NULL, *name = NULL;
        void *base;
        size_t n;
        int r;

        if (ctx->section_bad)
                return 1;
        section = ctx->section; /* the whole name; libinih's copy may be cut short */
        if (streq(section, "daemon"))
                sec = SECTION_DAEMON;
        else if (streq(section, "capacity"))
                sec = SECTION_CAPACITY;
        else if ((strneq(section, "bbb", 3) && strchr(" \t", section[3])) ||
                 (strneq(section, "agent", 5) && strchr(" \t", section[5])) ||
                 (strneq(section, "experiment", 10) && strchr(" \t", section[10]))) {
                sec = section[0] == 'b' ? SECTION_BBB : section[0] == 'a' ? SECTION_AGENT : SECTION_EXPERIMENT;
                name = section + strcspn(section, " \t");
                name += strspn(name, " \t");
                if (!id_is_valid(name)) {
                        log_error("%s:%u: invalid name in section [%s]: expected [A-Za-z0-9._-]{1,64}.", ctx->path,
                                  ctx->line, section);
                        goto fail;
                }
        } else {
                log_error("%s:%u: unknown section [%s] (expected [daemon], [bbb NAME], [agent NAME], [capacity] "
                          "or [experiment NAME]).",
                          ctx->path, ctx->line, section);
                goto fail;
        }

        k = config_key_find(sec, key);
        if (!k) {
                log_error("%s:%u: unknown key '%s' in [%s].", ctx->path, ctx->line, key, section);
                goto fail;
        }

        if (sec == SECTION_DAEMON || sec == SECTION_CAPACITY)
                base = ctx->config;
        else {
                r = config_section_entry(ctx, sec, name, &base);
                if (r < 0) {
                        log_error_errno(r, "%s:%u: cannot add [%s]: %m", ctx->path, ctx->line, section);
                        goto fail;
                }
        }

        if (k->type == TYPE_LISTEN && !ctx->listen_seen) {
                ctx->config->n_listen = 0;
                ctx->config->listen_default = false;
                ctx->listen_seen = true;
        }
        n = strlen(value);
        if (n > CONFIG_LINE_MAX) { /* cannot happen with libinih's line buffer; be explicit anyway */
                log_error("%s:%u: value of '%s' too long.", ctx->path, ctx->line, key);
                goto fail;
        }
        r = config_key_set(k, base, ctx->config, value, &why);
        if (r < 0) {
                log_error("%s:%u: bad value for '%s': %s.", ctx->path, ctx->line, key, why);
                goto fail;
        }
        return 1;
fail:
        ctx->errors++;
        return 1; /* keep going: report every bad line at once; errors are counted in ctx */
}

int config_load_file(Config *c, const char *path)
{
        _cleanup_fclose_ FILE *f = NULL;
        ParseContext ctx = {.config = c, .path = path};
        struct stat st;
        int r;

        assert(c);
        assert(path);

        f = fopen(path, "re");
        if (!f)
                return log_error_errno(errno, "Failed to open config file '%s': %m", path);
        if (fstat(fileno(f), &st) < 0)
                return log_error_errno(errno, "Failed to stat config file '%s': %m", path);
        if (!S_ISREG(st.st_mode))
                return log_error_errno(EINVAL, "Config file '%s' is not a regular file.", path);
        if (st.st_size > CONFIG_FILE_MAX)
                return log_error_errno(EFBIG, "Config file '%s' is larger than %d bytes.", path, CONFIG_FILE_MAX);
        ctx.f = f;

        r = ini_parse_stream(config_reader, &ctx, config_handler, &ctx);
        if (r > 0) {
                /* The handler never fails, so this is a syntax error libinih found itself (no '=' on a
                 * line, an unclosed '['); it reports the first one. */
                log_error("%s:%d: syntax error (expected [section], key = value, or a ; comment).", path, r);
                ctx.errors++;
        } else if (r < 0)
                return log_error_errno(ENOMEM, "Failed to parse '%s': %m", path);
        if (ctx.errors > 0)
                return log_error_errno(EINVAL, "%s: %u error(s), configuration not loaded.", path, ctx.errors);
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
        const ConfigKey *k = config_key_find(SECTION_DAEMON, key);
        const char *why = NULL;
        int r;

        if (!k || !value)
                return -EINVAL;
        r = config_key_set(k, c, c, value, &why);
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
        for (int s = SECTION_DAEMON; s < _SECTION_MAX; s++) {
                unsigned n = s == SECTION_DAEMON || s == SECTION_CAPACITY ? 1
                             : s == SECTION_BBB                           ? c->n_bbb
                             : s == SECTION_AGENT                         ? c->n_agents
                                                                          : c->n_experiments;

                for (unsigned e = 0; e < n; e++) {
                        const void *base;

                        if (s == SECTION_DAEMON) {
                                base = c;
                                fprintf(f, "[daemon]\n");
                        } else if (s == SECTION_BBB) {
                                base = &c->bbb[e];
                                fprintf(f, "\n[bbb %s]\n", c->bbb[e].name);
                        } else if (s == SECTION_AGENT) {
                                base = &c->agents[e];
                                fprintf(f, "\n[agent %s]\n", c->agents[e].id);
                        } else if (s == SECTION_CAPACITY) {
                                base = c;
                                fprintf(f, "\n[capacity]\n");
                        } else {
                                base = &c->experiments[e];
                                fprintf(f, "\n[experiment %s]\n", c->experiments[e].name);
                        }

                        for (size_t i = 0; i < ELEMENTSOF(config_keys); i++) {
                                const ConfigKey *k = &config_keys[i];
                                const char *field = (const char *)base + k->offset;

                                if (k->section != (ConfigSection)s)
                                        continue;
                                switch (k->type) {
                                case TYPE_STRING:
                                case TYPE_PATH:
                                case TYPE_HOSTPORT:
                                case TYPE_URL:
                                case TYPE_NAME:
                                        fprintf(f, "%s = %s\n", k->name, field);
                                        break;
                                case TYPE_UINT:
                                        fprintf(f, "%s = %u\n", k->name, *(const unsigned *)(const void *)field);
                                        break;
                                case TYPE_LISTEN:
                                        for (unsigned j = 0; j < c->n_listen; j++)
                                                fprintf(f, "%s = %s\n", k->name, c->listen[j]);
                                        break;
                                case TYPE_CHECKSUM:
                                        fprintf(f, "%s = %s\n", k->name,
                                                strna(checksum_algo_name(
                                                        *(const ChecksumAlgo *)(const void *)field)));
                                        break;
                                case TYPE_TOKEN:
                                        fprintf(f, "%s = %s\n", k->name,
                                                ((const AgentConfig *)base)->has_token ? "(redacted)"
                                                                                       : "(none)");
                                        break;
                                case TYPE_SHARE:
                                case TYPE_MBPS: {
                                        double d = *(const double *)(const void *)field;
                                        if (isfinite(d))
                                                fprintf(f, "%s = %g\n", k->name, d);
                                        else
                                                fprintf(f, "%s =\n", k->name);
                                        break;
                                }
                                case TYPE_TIME:
                                        fprintf(f, "%s = %lld\n", k->name,
                                                (long long)*(const int64_t *)(const void *)field);
                                        break;
                                }
                        }
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
