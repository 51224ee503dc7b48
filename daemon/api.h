#pragma once
/* The HTTP API's routes (DESIGN.md "HTTP API"): a request (method, path, query arguments) in, a complete
 * response (status, content type, body) out. No sockets here: daemon/http.c does the transport,
 * authentication and static files, so every route is testable with a database and a struct. */

#include <stdio.h>

#include "api-format.h"
#include "config.h"
#include "live.h"
#include "macro.h"
#include "query.h"
#include "series-cache.h"

#define API_ARGS_MAX 64        /* query arguments per request */
#define API_ARG_VALUE_MAX 1024 /* bytes of one argument value */
#define API_PATH_MAX 1024      /* bytes of the path */
#define API_HOUR_MS (3600LL * 1000)
#define API_TIME_MAX_MS 253402300799999LL /* 9999-12-31T23:59:59.999Z */

#define API_CONTENT_TYPE_JSON "application/json"
#define API_CONTENT_TYPE_CSV "text/csv; charset=utf-8"
#define API_CONTENT_TYPE_HTML "text/html; charset=utf-8"

typedef struct Route Route;           /* routes.h */
typedef struct RouteMatch RouteMatch; /* routes.h */

typedef struct ApiArg {
        const char *key;
        const char *value;
} ApiArg;

typedef struct ApiRequest {
        const char *method;      /* "GET", "HEAD", "POST": one its route takes (else 405); NULL: not checked */
        const char *path;        /* without the query string, e.g. "/api/v1/agents/x/latest" */
        const RouteMatch *match; /* path's route when the caller matched it already, or NULL */
        const ApiArg *args;      /* in the order given; keys may repeat (agent=) */
        size_t n_args;
        int64_t now_ms;          /* the default end of time ranges */
        SeriesCache *cache;      /* finished series buckets shared between requests, or NULL */
        Live *live;              /* the newest committed sample of each agent, or NULL: read the database */
        const char *config_file; /* for /api/v1/status: the file read, NULL or "": built-in defaults */
        const char *db_path;     /* for /api/v1/status, or NULL */
        int64_t zabbix_max_age_ms; /* older samples are not served as current to Zabbix; 0: the default */
        const Config *config;      /* thresholds and experiments of the capacity routes, or NULL: defaults */
        const char *body;          /* a POST's body (not NUL-terminated), NULL for GET and HEAD */
        size_t body_size;
} ApiRequest;

#define API_BODY_MAX 4096 /* bytes of a POST's body (the routes that take POST: routes.c) */

typedef struct ApiResponse {
        unsigned status;
        const char *content_type; /* static string */
        char *body;               /* owned, malloc'ed */
        size_t size;
        /* Extra headers (static names, owned values), NULL when unused. */
        const char *header_names[4];
        char *header_values[4];
} ApiResponse;

/* A route: answers req into ret. q is the calling thread's read-only connection (NULL for a route that
 * does not read the database, and possibly NULL for one that reads it only when it can); id is the
 * {id} segment of the path, NULL for a path without one. Returns what api_handle() documents. */
typedef int (*ApiHandler)(Query *q, const ApiRequest *req, const char *id, ApiResponse *ret);

/* Answers req by its route (routes.h) from q (which may be NULL when the database cannot be opened:
 * routes that need it then answer 503). Always fills *ret with a complete response, errors included
 * (400/404/405/503 with {"error":"..."}); returns -ENOMEM only when not even that could be built. */
int api_handle(Query *q, const ApiRequest *req, ApiResponse *ret);

/* The 405 for a method route does not take (every route's when NULL), with its Allow header. Returns 0
 * or -ENOMEM. */
int api_method_not_allowed(ApiResponse *ret, const Route *route);

void api_response_done(ApiResponse *r);

/* ---- building a response ----
 * A route answers through these. An error the client caused is a complete response too: the route
 * builds it and returns 0 (or api_failed()'s code to stop its caller); a route returns < 0 only when
 * it could not answer at all (-ENOMEM, or an internal error that becomes a 500). */

/* Builds a {"error": message} response with status. Returns 0, or -ENOMEM. */
int api_error(ApiResponse *ret, unsigned status, const char *fmt, ...) _printf_(3, 4);
/* For "return api_failed(api_error(...));" in a helper: r when < 0 (out of memory), else -EINVAL, so the
 * caller stops while the error response stands. */
int api_failed(int r);
/* A database error r as a 503 response; -ENOMEM is passed on as it is. */
int api_db_error(ApiResponse *ret, int r);
/* A 200 JSON response from j, which it takes (NULL: out of memory). Returns 0 or -ENOMEM. */
int api_response_json(ApiResponse *ret, unsigned status, json_t *j);
/* The JSON array a (taken) that a query filled and returned r for: 200 with a, or the 503 of a database
 * error. Returns 0 or -ENOMEM. */
int api_response_array(ApiResponse *ret, json_t *a, int r);
/* Closes *f (an open_memstream() of *buf, *size) and answers its text as CSV, named
 * seatmeter-<name>.csv; takes *buf. Returns 0 or -ENOMEM. */
int api_response_csv(FILE **f, char **buf, size_t *size, const char *name, ApiResponse *ret);
/* Adds a header (name static, value formatted) to r. Returns 0, -ENOMEM, or -ENOBUFS when the slots are
 * full. */
int api_response_set_header(ApiResponse *r, const char *name, const char *fmt, ...) _printf_(3, 4);

/* ---- reading the arguments ---- */

/* Checks that every argument is one of allowed (NULL-terminated) and that only repeatable (or NULL)
 * repeats. Arguments starting with "_" (cache busters) are ignored. Answers 400 itself and returns < 0. */
int api_args_check(const ApiRequest *req, const char *const *allowed, const char *repeatable,
                   ApiResponse *ret);
/* The value of the first argument key ("" for a key without value), or NULL when absent. */
const char *api_arg_get(const ApiRequest *req, const char *key);
/* Parses the epoch-ms argument key within [0, API_TIME_MAX_MS] into *ret; def when absent. Answers 400
 * itself and returns < 0. */
int api_arg_time(const ApiRequest *req, const char *key, int64_t def, int64_t *ret, ApiResponse *resp);
