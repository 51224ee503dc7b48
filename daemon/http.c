/* The HTTP server: libmicrohttpd with an internal thread pool over epoll. Each worker thread lazily opens
 * its own read-only SQLite connection (query.h), so HTTP reads never wait on, or stall, the ingest
 * writer (WAL). Which paths exist, and what each needs, is the route table's (routes.h); this file does
 * what the table says at the transport: methods, authentication, TLS, the dashboard's static files, and
 * the database connection handed to api_handle(). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <microhttpd.h>
#include <openssl/sha.h>

#include "api.h"
#include "http-guard.h"
#include "http.h"
#include "log.h"
#include "query.h"
#include "routes.h"
#include "stats.h"
#include "util.h"
#include "web-files.h"

#define HTTP_TLS_FILE_MAX (1024 * 1024) /* certificate chain or key file */
#define HTTP_AUTH_HEADER_MAX 4096       /* Authorization header value */
#define HTTP_MEMORY_LIMIT (64 * 1024)   /* per connection: request line, headers and their parsing */
#define HTTP_LISTEN_BACKLOG 1024
#define HTTP_ETAG_MAX 24
#define HTTP_THREAD_NICE 10 /* HTTP workers yield the CPU to the ingest loop */
#define HTTP_HEADER_DEADLINE_MS 10000 /* a request line and headers must arrive within this, in total */

typedef struct HttpAsset {
        const char *name;
        const char *content_type;
        const char *cache_control;
        char etag[HTTP_ETAG_MAX];
        struct MHD_Response *response;
        struct MHD_Response *not_modified;
} HttpAsset;

struct Http {
        struct MHD_Daemon *mhd;
        char *db_path;
        char *config_file; /* for /api/v1/status; NULL: built-in defaults */
        int64_t zabbix_max_age_ms;
        bool has_token;
        uint8_t token_sha256[SHA256_DIGEST_LENGTH];
        char *tls_cert, *tls_key;
        unsigned port;
        bool inherited; /* the listening socket came from systemd: never shut it down */

        /* Per-thread connections, all listed here so http_free() closes them after the threads ended. */
        pthread_key_t query_key;
        bool query_key_created;
        pthread_mutex_t lock;
        Query **queries;
        size_t n_queries, allocated_queries;

        SeriesCache *series_cache;
        Live *live; /* not owned */
        const Config *config; /* not owned: the daemon keeps every config it loaded alive */
        HttpGuard *guard;

        HttpAsset *assets;
        size_t n_assets;
};

/* ---- per-thread database connections ---- */

/* The calling thread's connection, opened on first use. NULL when the database cannot be opened now (the
 * request gets a 503 and the next one tries again). */
static Query *http_thread_query(Http *h)
{
        _cleanup_(query_freep) Query *q = NULL;
        Query *ret;
        int r;

        ret = pthread_getspecific(h->query_key);
        if (ret)
                return ret;

        /* First request on this worker thread: let the ingest loop win when CPUs are short, so that a
         * flood of HTTP requests slows HTTP down rather than ingest (Linux nice values are per thread). */
        if (setpriority(PRIO_PROCESS, (id_t)gettid(), HTTP_THREAD_NICE) < 0)
                log_debug_errno(errno, "Failed to lower the HTTP thread's priority, ignoring: %m");

        r = query_open(h->db_path, &q);
        if (r < 0) {
                log_warning_errno(r, "Failed to open database '%s' for reading: %m", h->db_path);
                return NULL;
        }

        pthread_mutex_lock(&h->lock);
        if (GREEDY_REALLOC(h->queries, h->allocated_queries, h->n_queries + 1) < 0) {
                pthread_mutex_unlock(&h->lock);
                return NULL;
        }
        h->queries[h->n_queries++] = q;
        pthread_mutex_unlock(&h->lock);

        ret = TAKE_PTR(q);
        if (pthread_setspecific(h->query_key, ret) != 0)
                return NULL; /* stays listed, freed by http_free() */
        return ret;
}

/* ---- responses ---- */

static enum MHD_Result queue(struct MHD_Connection *c, unsigned status, struct MHD_Response *resp)
{
        enum MHD_Result ret;

        if (!resp)
                return MHD_NO;
        ret = MHD_queue_response(c, status, resp);
        MHD_destroy_response(resp);
        return ret;
}

static void add_common_headers(struct MHD_Response *resp)
{
        MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
}

/* Queues an API response, taking its body. */
static enum MHD_Result queue_api(struct MHD_Connection *c, ApiResponse *r)
{
        struct MHD_Response *resp;

        resp = MHD_create_response_from_buffer_with_free_callback(r->size, r->body, free);
        if (!resp) {
                api_response_done(r);
                return MHD_NO;
        }
        r->body = NULL;
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, r->content_type);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
        add_common_headers(resp);
        for (size_t i = 0; i < ELEMENTSOF(r->header_names); i++)
                if (r->header_names[i])
                        MHD_add_response_header(resp, r->header_names[i], r->header_values[i]);
        if (r->status == 401)
                MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
                                        "Bearer realm=\"seatmeter\", error=\"invalid_token\"");
        unsigned status = r->status;
        api_response_done(r);
        return queue(c, status, resp);
}

static enum MHD_Result queue_error(struct MHD_Connection *c, unsigned status, const char *msg)
{
        ApiResponse r = {0};

        if (api_error(&r, status, "%s", msg) < 0)
                return MHD_NO;
        return queue_api(c, &r);
}

/* ---- authentication ---- */

/* Whether the request carries "Authorization: Bearer <token>" with the configured token. Both sides are
 * hashed first, so the comparison is constant-time whatever the lengths. */
static bool http_authorized(const Http *h, struct MHD_Connection *c)
{
        uint8_t digest[SHA256_DIGEST_LENGTH];
        const char *v, *tok;
        size_t n;

        v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
        if (!v)
                return false;
        n = strnlen(v, HTTP_AUTH_HEADER_MAX + 1);
        if (n > HTTP_AUTH_HEADER_MAX || n < 7 || strncasecmp(v, "Bearer ", 7) != 0)
                return false;
        tok = v + 7;
        tok += strspn(tok, " ");
        n = strlen(tok);
        while (n > 0 && tok[n - 1] == ' ')
                n--;
        SHA256((const unsigned char *)tok, n, digest);
        return memeq_consttime(digest, h->token_sha256, sizeof(digest));
}

/* ---- static files ---- */

static const struct {
        const char *suffix, *content_type;
} content_types[] = {
        {".html", "text/html; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"},
        {".mjs", "text/javascript; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},
        {".svg", "image/svg+xml"},
        {".png", "image/png"},
        {".ico", "image/x-icon"},
        {".json", "application/json"},
        {".map", "application/json"},
        {".txt", "text/plain; charset=utf-8"},
        {".woff2", "font/woff2"},
};

static const char *content_type_for(const char *name)
{
        size_t n = strlen(name);

        for (size_t i = 0; i < ELEMENTSOF(content_types); i++) {
                size_t k = strlen(content_types[i].suffix);

                if (n > k && streq(name + n - k, content_types[i].suffix))
                        return content_types[i].content_type;
        }
        return "application/octet-stream";
}

static uint64_t fnv1a64(const unsigned char *p, size_t n)
{
        uint64_t h = 0xcbf29ce484222325ULL;

        for (size_t i = 0; i < n; i++) {
                h ^= p[i];
                h *= 0x100000001b3ULL;
        }
        return h;
}

static int http_load_assets(Http *h)
{
        size_t n = 0;

        while (web_files[n].name)
                n++;
        h->assets = calloc(MAX(n, (size_t)1), sizeof(HttpAsset));
        if (!h->assets)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                HttpAsset *a = &h->assets[h->n_assets];
                const EmbeddedFile *f = &web_files[i];

                a->name = f->name;
                a->content_type = content_type_for(f->name);
                /* The page is revalidated on every load; its assets may be reused for a few minutes. */
                a->cache_control = streq(f->name, ROUTES_INDEX_FILE) ? "no-cache" : "public, max-age=300";
                snprintf(a->etag, sizeof(a->etag), "\"%016llx\"",
                         (unsigned long long)fnv1a64(f->data, f->size));

                /* Built once and shared by every request (libmicrohttpd reference-counts responses). */
                a->response =
                        MHD_create_response_from_buffer(f->size, (void *)f->data, MHD_RESPMEM_PERSISTENT);
                a->not_modified = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
                if (!a->response || !a->not_modified) {
                        if (a->response)
                                MHD_destroy_response(a->response);
                        if (a->not_modified)
                                MHD_destroy_response(a->not_modified);
                        return -ENOMEM;
                }
                MHD_add_response_header(a->response, MHD_HTTP_HEADER_CONTENT_TYPE, a->content_type);
                MHD_add_response_header(a->response, MHD_HTTP_HEADER_CACHE_CONTROL, a->cache_control);
                MHD_add_response_header(a->response, MHD_HTTP_HEADER_ETAG, a->etag);
                MHD_add_response_header(a->not_modified, MHD_HTTP_HEADER_CACHE_CONTROL, a->cache_control);
                MHD_add_response_header(a->not_modified, MHD_HTTP_HEADER_ETAG, a->etag);
                add_common_headers(a->response);
                add_common_headers(a->not_modified);
                if (streq(f->name, ROUTES_INDEX_FILE)) {
                        MHD_add_response_header(a->response, "X-Frame-Options", "DENY");
                        MHD_add_response_header(a->response, "Referrer-Policy", "no-referrer");
                }
                h->n_assets++;
        }
        return 0;
}

static enum MHD_Result queue_asset(struct MHD_Connection *c, const HttpAsset *a)
{
        const char *inm = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_IF_NONE_MATCH);

        if (inm && (streq(inm, a->etag) || streq(inm, "*")))
                return MHD_queue_response(c, MHD_HTTP_NOT_MODIFIED, a->not_modified);
        return MHD_queue_response(c, MHD_HTTP_OK, a->response);
}

static const HttpAsset *http_find_asset(const Http *h, const char *name)
{
        for (size_t i = 0; i < h->n_assets; i++)
                if (streq(h->assets[i].name, name))
                        return &h->assets[i];
        return NULL;
}

/* ---- the request handler ---- */

typedef struct ArgsCollect {
        ApiArg args[API_ARGS_MAX + 1];
        size_t n;
        bool overflow;
        const char *blank; /* a parameter whose value has blanks around it ("from= 5" is not 5) */
} ArgsCollect;

/* libmicrohttpd's unescaping, except that a path or parameter holding %00 is left as sent: unescaped,
 * the C string would end there ("/api/v1/agents/agA%00x" read as agA). Left escaped, it matches no
 * route and no parameter parses. */
static size_t http_unescape(void *cls, struct MHD_Connection *c, char *s)
{
        for (const char *p = strchr(s, '%'); p; p = strchr(p + 1, '%'))
                if (p[1] == '0' && p[2] == '0')
                        return strlen(s);
        return MHD_http_unescape(s);
}

static enum MHD_Result count_authorization(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
        if (key && strcasecmp(key, MHD_HTTP_HEADER_AUTHORIZATION) == 0)
                (*(unsigned *)cls)++;
        return MHD_YES;
}

static enum MHD_Result collect_arg(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
        ArgsCollect *a = cls;

        if (a->n >= ELEMENTSOF(a->args)) {
                a->overflow = true;
                return MHD_NO;
        }
        if (value && value[0] && (strchr(" \t\r\n", value[0]) || strchr(" \t\r\n", value[strlen(value) - 1])))
                a->blank = key ? key : "";
        a->args[a->n++] = (ApiArg){.key = key ? key : "", .value = value};
        return MHD_YES;
}

/* The per-request state of libmicrohttpd's con_cls: request_seen for GET and HEAD, an HttpBody for a POST. */
static int request_seen;

typedef struct HttpBody {
        char buf[API_BODY_MAX];
        size_t size;
        bool too_large;
} HttpBody;

/* Frees a POST's body, then lets the guard account the request. */
static void http_request_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                                   enum MHD_RequestTerminationCode toe)
{
        Http *h = cls;

        if (*con_cls && *con_cls != &request_seen)
                free(*con_cls);
        *con_cls = NULL;
        http_guard_request_completed(h->guard, c, con_cls, toe);
}

static enum MHD_Result http_handler(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                    const char *version, const char *upload_data, size_t *upload_data_size,
                                    void **con_cls)
{
        Http *h = cls;
        ArgsCollect args = {0};
        ApiRequest req;
        ApiResponse resp;
        Query *q = NULL;
        const HttpAsset *asset;
        HttpBody *body = NULL;
        bool post = streq(method, MHD_HTTP_METHOD_POST); /* past the method check: a route that takes it */
        RouteMatch m;
        bool found;
        int r;

        if (!*con_cls)
                http_guard_request_started(h->guard, c);
        found = routes_match(url, &m);
        if (!routes_method_allowed(found ? m.route : NULL, method)) {
                ApiResponse e = {0};

                /* Answered at once: libmicrohttpd then discards any body and closes the connection. */
                if (api_method_not_allowed(&e, found ? m.route : NULL) < 0)
                        return MHD_NO;
                return queue_api(c, &e);
        }

        /* The first call only announces the request. Answering in it would make libmicrohttpd close
         * the connection afterwards (an "early" response), which costs a new connection per request. */
        if (!*con_cls) {
                if (post) {
                        body = calloc(1, sizeof(HttpBody));
                        if (!body)
                                return MHD_NO;
                        *con_cls = body;
                } else
                        *con_cls = &request_seen;
                return MHD_YES;
        }
        if (post)
                body = *con_cls;
        if (*upload_data_size > 0) {
                /* A GET body is ignored; a POST body is kept up to its limit, the rest only counted. */
                if (body && !body->too_large && *upload_data_size <= sizeof(body->buf) - body->size) {
                        memcpy(body->buf + body->size, upload_data, *upload_data_size);
                        body->size += *upload_data_size;
                } else if (body)
                        body->too_large = true;
                *upload_data_size = 0;
                return MHD_YES;
        }
        if (body && body->too_large)
                return queue_error(c, 413, "request body too large (at most " STRINGIFY(API_BODY_MAX) " bytes)");
        STATS_INC(http_requests);
        if (strnlen(url, API_PATH_MAX + 1) > API_PATH_MAX)
                return queue_error(c, 414, "path too long");
        if (!found)
                return queue_error(c, 404, "no such route");

        if (!m.route->handler) {
                /* A file of the dashboard: the one the route names, or the rest of the path. */
                asset = http_find_asset(h, m.route->asset ? m.route->asset : m.rest);
                if (!asset)
                        return queue_error(c, 404, m.route->asset ? "no dashboard built in" : "no such file");
                return queue_asset(c, asset);
        }
        if (h->has_token && m.route->access == ROUTE_TOKEN) {
                unsigned n_auth = 0;

                /* Which of two Authorization headers would count is a guess; neither does. */
                MHD_get_connection_values(c, MHD_HEADER_KIND, count_authorization, &n_auth);
                if (n_auth > 1)
                        return queue_error(c, 400, "more than one Authorization header");
                if (!http_authorized(h, c))
                        return queue_error(c, 401, "missing or wrong bearer token");
        }

        MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, collect_arg, &args);
        if (args.overflow || args.n > API_ARGS_MAX)
                return queue_error(c, 400, "too many query parameters");
        if (args.blank) {
                ApiResponse e = {0};

                if (api_error(&e, 400, "parameter '%.64s' has blanks around its value", args.blank) < 0)
                        return MHD_NO;
                return queue_api(c, &e);
        }

        if (m.route->db != ROUTE_DB_NONE)
                q = http_thread_query(h);
        req = (ApiRequest){
                .method = method,
                .path = url,
                .match = &m,
                .args = args.args,
                .n_args = args.n,
                .now_ms = now_ms(),
                .cache = h->series_cache,
                .live = h->live,
                .config_file = h->config_file,
                .db_path = h->db_path,
                .zabbix_max_age_ms = h->zabbix_max_age_ms,
                .config = __atomic_load_n(&h->config, __ATOMIC_ACQUIRE),
                .body = body ? body->buf : NULL,
                .body_size = body ? body->size : 0,
        };
        r = api_handle(q, &req, &resp);
        if (r < 0) {
                log_warning_errno(r, "Failed to answer '%s': %m", url);
                return MHD_NO; /* closes the connection: no partial body */
        }
        return queue_api(c, &resp);
}

void http_set_config(Http *h, const Config *c)
{
        assert(h);
        __atomic_store_n(&h->config, c, __ATOMIC_RELEASE);
}

/* libmicrohttpd's own messages (accept failures, the connection limit reached, TLS handshakes). */
_printf_(2, 0) static void http_mhd_log(void *cls, const char *fmt, va_list ap)
{
        _cleanup_free_ char *msg = NULL;

        if (vasprintf(&msg, fmt, ap) < 0)
                return;
        msg[strcspn(msg, "\n")] = 0;
        log_debug("libmicrohttpd: %s", msg);
}

/* ---- setup ---- */

static bool sockaddr_is_loopback(const struct sockaddr *sa)
{
        if (sa->sa_family == AF_INET) {
                const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
                return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
        }
        if (sa->sa_family == AF_INET6) {
                const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
                static const uint8_t mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

                if (IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr))
                        return true;
                return memcmp(in6->sin6_addr.s6_addr, mapped_prefix, 12) == 0 &&
                       in6->sin6_addr.s6_addr[12] == 127;
        }
        return sa->sa_family == AF_UNIX;
}

/* Creates a listening socket on c->http (ADDR:PORT, numeric address or a name, port 0 allowed). */
static int http_bind(const char *spec, bool *ret_loopback, int *ret_fd)
{
        char host[256];
        char port_s[8];
        unsigned port;
        struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV},
                        *ai = NULL;
        _cleanup_close_ int fd = -EBADF;
        int r, one = 1;

        r = address_parse_host_port(spec, host, sizeof(host), &port);
        if (r < 0)
                return log_error_errno(r, "Invalid HTTP address '%s' (want ADDR:PORT or [V6]:PORT): %m",
                                       spec);
        snprintf(port_s, sizeof(port_s), "%u", port);
        r = getaddrinfo(host, port_s, &hints, &ai);
        if (r != 0)
                return log_error_errno(EADDRNOTAVAIL, "Cannot resolve HTTP address '%s': %s", host,
                                       gai_strerror(r));

        fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) {
                r = negative_errno();
                freeaddrinfo(ai);
                return log_error_errno(r, "Failed to create HTTP socket: %m");
        }
        (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (ai->ai_family == AF_INET6)
                (void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
                r = negative_errno();
                freeaddrinfo(ai);
                return log_error_errno(r, "Failed to bind HTTP socket to '%s': %m", spec);
        }
        *ret_loopback = sockaddr_is_loopback(ai->ai_addr);
        freeaddrinfo(ai);
        if (listen(fd, HTTP_LISTEN_BACKLOG) < 0)
                return log_error_errno(errno, "Failed to listen on '%s': %m", spec);
        *ret_fd = TAKE_FD(fd);
        return 0;
}

static bool fd_is_loopback(int fd)
{
        struct sockaddr_storage ss;
        socklen_t len = sizeof(ss);

        if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
                return false;
        return sockaddr_is_loopback((struct sockaddr *)&ss);
}

static int read_tls_file(const char *path, const char *what, char **ret)
{
        size_t size;
        int r;

        r = read_full_file_at(AT_FDCWD, path, HTTP_TLS_FILE_MAX, ret, &size);
        if (r < 0)
                return log_error_errno(r, "Failed to read TLS %s '%s': %m", what, path);
        if (size == 0 || strlen(*ret) != size)
                return log_error_errno(EINVAL, "TLS %s '%s' is empty or not PEM text.", what, path);
        return 0;
}

int http_new(const Config *c, const char *db_path, Live *live, int listen_fd, Http **ret)
{
        _cleanup_(http_freep) Http *h = NULL;
        _cleanup_close_ int own_fd = -EBADF;
        /* MHD_USE_ITC: MHD_quiesce_daemon() needs it in this threading mode (see http_free()). */
        unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG | MHD_USE_ITC;
        struct MHD_OptionItem tls_options[3] = {
                {MHD_OPTION_END, 0, NULL},
                {MHD_OPTION_END, 0, NULL},
                {MHD_OPTION_END, 0, NULL},
        };
        unsigned threads, max_conn, per_ip;
        const union MHD_DaemonInfo *info;
        bool loopback = false;
        int fd, r;

        assert(c);
        assert(db_path);
        assert(ret);

        h = calloc(1, sizeof(*h));
        if (!h)
                return log_oom();
        h->lock = (pthread_mutex_t)PTHREAD_MUTEX_INITIALIZER;
        r = pthread_key_create(&h->query_key, NULL);
        if (r != 0)
                return log_error_errno(r, "Failed to create thread key: %m");
        h->query_key_created = true;
        h->live = live;
        h->config = c;
        h->zabbix_max_age_ms = (int64_t)c->zabbix_max_age_s * 1000;
        /* Absolute, so that /api/v1/status names the file whatever the daemon's working directory. */
        h->db_path = realpath(db_path, NULL);
        if (!h->db_path)
                h->db_path = strdup(db_path);
        if (!h->db_path)
                return log_oom();
        if (!isempty(c->config_file)) {
                h->config_file = strdup(c->config_file);
                if (!h->config_file)
                        return log_oom();
        }

        if (!isempty(c->http_token)) {
                SHA256((const unsigned char *)c->http_token, strlen(c->http_token), h->token_sha256);
                h->has_token = true;
        }

        if (listen_fd >= 0) {
                fd = listen_fd;
                h->inherited = true;
                loopback = fd_is_loopback(fd);
        } else {
                r = http_bind(c->http, &loopback, &own_fd);
                if (r < 0)
                        return r;
                fd = own_fd;
        }
        if (!loopback && !h->has_token)
                return log_error_errno(EPERM,
                                       "Refusing to serve HTTP beyond loopback (%s) without a token: set "
                                       "http_token_file= in [daemon], or bind 127.0.0.1.",
                                       listen_fd >= 0 ? "socket passed by systemd" : c->http);

        if (!isempty(c->tls_cert) || !isempty(c->tls_key)) {
                if (isempty(c->tls_cert) || isempty(c->tls_key))
                        return log_error_errno(EINVAL, "tls_cert= and tls_key= go together.");
                if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES)
                        return log_error_errno(EOPNOTSUPP, "libmicrohttpd was built without TLS support.");
                r = read_tls_file(c->tls_cert, "certificate", &h->tls_cert);
                if (r < 0)
                        return r;
                r = read_tls_file(c->tls_key, "key", &h->tls_key);
                if (r < 0)
                        return r;
                flags |= MHD_USE_TLS;
                tls_options[0] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, h->tls_cert};
                tls_options[1] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, h->tls_key};
        }

        r = http_load_assets(h);
        if (r < 0)
                return log_oom();
        r = series_cache_new(SERIES_CACHE_SLOTS, &h->series_cache);
        if (r < 0)
                return log_oom();

        threads = c->http_threads > 0 ? c->http_threads : 2;
        max_conn = c->http_max_connections > 0 ? c->http_max_connections : 512;
        /* One address may hold at most half of the connections, so that a single slow or greedy client
         * cannot take them all. */
        per_ip = MAX(max_conn / 4, 1u);
        /* A request's headers must be complete within HTTP_HEADER_DEADLINE_MS, and at most three quarters
         * of the connections may wait for theirs (http-guard.h). */
        r = http_guard_new(MAX(max_conn * 3 / 4, 1u), HTTP_HEADER_DEADLINE_MS, &h->guard);
        if (r < 0)
                return log_error_errno(r, "Failed to start the HTTP guard: %m");

        h->mhd = MHD_start_daemon(
                flags, 0, NULL, NULL, http_handler, h, MHD_OPTION_EXTERNAL_LOGGER, http_mhd_log, h,
                MHD_OPTION_LISTEN_SOCKET, (MHD_socket)fd, MHD_OPTION_THREAD_POOL_SIZE, threads,
                MHD_OPTION_CONNECTION_LIMIT, max_conn, MHD_OPTION_PER_IP_CONNECTION_LIMIT, per_ip,
                MHD_OPTION_CONNECTION_TIMEOUT, c->http_timeout_s > 0 ? c->http_timeout_s : 15u,
                MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HTTP_MEMORY_LIMIT,
                MHD_OPTION_NOTIFY_CONNECTION, http_guard_notify_connection, h->guard,
                MHD_OPTION_UNESCAPE_CALLBACK, http_unescape, NULL,
                MHD_OPTION_NOTIFY_COMPLETED, http_request_completed, h,
                MHD_OPTION_LISTEN_BACKLOG_SIZE, HTTP_LISTEN_BACKLOG, MHD_OPTION_ARRAY, tls_options,
                MHD_OPTION_END);
        if (!h->mhd)
                return log_error_errno(EIO, "Failed to start the HTTP server on %s.", c->http);
        TAKE_FD(own_fd); /* libmicrohttpd closes the listening socket when it stops */

        info = MHD_get_daemon_info(h->mhd, MHD_DAEMON_INFO_BIND_PORT);
        h->port = info ? info->port : 0;

        log_debug("HTTP on port %u, %u threads, at most %u connections (%u per address), %s%s.", h->port,
                  threads, max_conn, per_ip, h->tls_cert ? "TLS" : "plain",
                  h->has_token ? ", bearer token" : "");
        *ret = TAKE_PTR(h);
        return 0;
}

Http *http_free(Http *h)
{
        if (!h)
                return NULL;
        if (h->mhd) {
                /* MHD_stop_daemon() calls shutdown() on its listening socket. A socket passed by
                 * systemd is shared with the socket unit: shut down, it stops listening for systemd
                 * too (POLLHUP, the unit fails with 'resources' and the next start inherits a dead
                 * socket). Quiescing first takes the socket out of libmicrohttpd's hands; closing our
                 * descriptor leaves systemd's open and listening. */
                if (h->inherited) {
                        MHD_socket fd = MHD_quiesce_daemon(h->mhd);
                        if (fd == MHD_INVALID_SOCKET)
                                log_warning("Failed to take the HTTP socket back from libmicrohttpd; "
                                            "systemd's socket unit may have to be restarted.");
                        else
                                safe_close(fd);
                }
                MHD_stop_daemon(h->mhd); /* joins the worker threads */
        }
        http_guard_free(h->guard); /* after the connections are gone */
        for (size_t i = 0; i < h->n_queries; i++)
                query_free(h->queries[i]);
        free(h->queries);
        for (size_t i = 0; i < h->n_assets; i++) {
                MHD_destroy_response(h->assets[i].response);
                MHD_destroy_response(h->assets[i].not_modified);
        }
        free(h->assets);
        series_cache_free(h->series_cache);
        if (h->query_key_created)
                pthread_key_delete(h->query_key);
        pthread_mutex_destroy(&h->lock);
        free(h->db_path);
        free(h->config_file);
        if (h->tls_key) {
                explicit_bzero(h->tls_key, strlen(h->tls_key));
                free(h->tls_key);
        }
        free(h->tls_cert);
        explicit_bzero(h->token_sha256, sizeof(h->token_sha256));
        free(h);
        return NULL;
}

unsigned http_port(const Http *h)
{
        return h ? h->port : 0;
}
