/* The HTTP API's requests and responses (api.h): checking a request and dispatching it to its
 * route (routes.h) in a resource's module (api-*.c), and the response and argument helpers those share. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <string.h>

#include <jansson.h>

#include "api.h"
#include "routes.h"
#include "log.h"
#include "util.h"

void api_response_done(ApiResponse *r)
{
        if (!r)
                return;
        free(r->body);
        for (size_t i = 0; i < ELEMENTSOF(r->header_values); i++)
                free(r->header_values[i]);
        *r = (ApiResponse){0};
}

int api_response_set_header(ApiResponse *r, const char *name, const char *fmt, ...)
{
        va_list ap;
        char *v;
        int k;

        for (size_t i = 0; i < ELEMENTSOF(r->header_names); i++) {
                if (r->header_names[i])
                        continue;
                va_start(ap, fmt);
                k = vasprintf(&v, fmt, ap);
                va_end(ap);
                if (k < 0)
                        return -ENOMEM;
                r->header_names[i] = name;
                r->header_values[i] = v;
                return 0;
        }
        return -ENOBUFS;
}

int api_response_json(ApiResponse *ret, unsigned status, json_t *j)
{
        _cleanup_json_ json_t *owned = j;
        char *body;

        if (!owned)
                return -ENOMEM;
        body = json_dumps(owned, API_JSON_FLAGS | JSON_ENCODE_ANY);
        if (!body)
                return -ENOMEM;
        free(ret->body);
        ret->status = status;
        ret->content_type = API_CONTENT_TYPE_JSON;
        ret->body = body;
        ret->size = strlen(body);
        return 0;
}

int api_error(ApiResponse *ret, unsigned status, const char *fmt, ...)
{
        _cleanup_free_ char *msg = NULL;
        va_list ap;
        int k;

        va_start(ap, fmt);
        k = vasprintf(&msg, fmt, ap);
        va_end(ap);
        if (k < 0)
                return -ENOMEM;
        /* A parameter quoted in msg comes from the client and may be anything: keep printable ASCII
         * only, so the message is always valid JSON text. */
        for (char *p = msg; *p; p++)
                if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
                        *p = '?';
        return api_response_json(ret, status, json_pack("{s:s%}", "error", msg, (size_t)k));
}

int api_failed(int r)
{
        return r < 0 ? r : -EINVAL;
}

int api_db_error(ApiResponse *ret, int r)
{
        if (r == -ENOMEM)
                return r;
        return api_error(ret, 503, "database unavailable (%s)", strerror(-r));
}

int api_response_array(ApiResponse *ret, json_t *a, int r)
{
        _cleanup_json_ json_t *owned = a;

        if (r < 0)
                return api_db_error(ret, r);
        return api_response_json(ret, 200, TAKE_PTR(owned));
}

int api_response_csv(FILE **f, char **buf, size_t *size, const char *name, ApiResponse *ret)
{
        if (fflush(*f) != 0 || ferror(*f))
                return -ENOMEM;
        fclose(TAKE_PTR(*f));
        ret->status = 200;
        ret->content_type = API_CONTENT_TYPE_CSV;
        ret->body = TAKE_PTR(*buf);
        ret->size = *size;
        return api_response_set_header(ret, "Content-Disposition", "inline; filename=\"seatmeter-%s.csv\"",
                                       name);
}

/* ---- query arguments ---- */

int api_args_check(const ApiRequest *req, const char *const *allowed, const char *repeatable,
                   ApiResponse *ret)
{
        for (size_t i = 0; i < req->n_args; i++) {
                const char *k = req->args[i].key;
                bool ok = false;

                if (k[0] == '_')
                        continue;
                for (const char *const *a = allowed; *a; a++)
                        if (streq(*a, k)) {
                                ok = true;
                                break;
                        }
                if (!ok)
                        return api_failed(api_error(ret, 400, "unknown parameter '%.64s'", k));
                if (repeatable && streq(k, repeatable))
                        continue;
                for (size_t j = 0; j < i; j++)
                        if (streq(req->args[j].key, k))
                                return api_failed(api_error(ret, 400, "parameter '%s' given twice", k));
        }
        return 0;
}

const char *api_arg_get(const ApiRequest *req, const char *key)
{
        for (size_t i = 0; i < req->n_args; i++)
                if (streq(req->args[i].key, key))
                        return (req->args[i].value ? req->args[i].value : "");
        return NULL;
}

int api_arg_time(const ApiRequest *req, const char *key, int64_t def, int64_t *ret, ApiResponse *resp)
{
        const char *v = api_arg_get(req, key);
        int64_t t;

        if (!v) {
                *ret = def;
                return 0;
        }
        if (safe_atoi64(v, &t) < 0)
                return api_failed(api_error(resp, 400, "parameter '%s' must be epoch milliseconds", key));
        if (t < 0 || t > API_TIME_MAX_MS)
                return api_failed(api_error(resp, 400, "parameter '%s' out of range", key));
        *ret = t;
        return 0;
}

/* ---- dispatch ---- */

int api_method_not_allowed(ApiResponse *ret, const Route *route)
{
        char list[ROUTES_ALLOW_MAX], allow[ROUTES_ALLOW_MAX];
        int r;

        routes_allow(route, " and ", list, sizeof(list));
        routes_allow(route, ", ", allow, sizeof(allow));
        r = api_error(ret, 405, "method not allowed (%s only)", list);
        if (r >= 0)
                r = api_response_set_header(ret, "Allow", "%s", allow);
        return r;
}

/* Runs m's handler once the route's own rules hold: its methods, the database, the {id} segment's length
 * and the arguments it takes. */
static int dispatch(Query *q, const ApiRequest *req, const RouteMatch *m, ApiResponse *ret)
{
        const Route *route = m->route;
        char id[QUERY_ID_MAX + 1];

        if (req->method && !routes_method_allowed(route, req->method))
                return api_method_not_allowed(ret, route);
        if (m->id) {
                if (m->id_len > QUERY_ID_MAX)
                        return api_error(ret, 400, "invalid agent id");
                memcpy(id, m->id, m->id_len);
                id[m->id_len] = 0;
        }
        if (route->args && api_args_check(req, route->args, route->repeatable, ret) < 0)
                return 0;
        return route->handler(route->db == ROUTE_DB_NONE ? NULL : q, req, m->id ? id : NULL, ret);
}

int api_handle(Query *q, const ApiRequest *req, ApiResponse *ret)
{
        RouteMatch m;
        bool tx = false;
        int r;

        assert(req);
        assert(ret);

        *ret = (ApiResponse){0};
        if (req->n_args > API_ARGS_MAX)
                return api_error(ret, 400, "too many query parameters (at most %d)", API_ARGS_MAX);
        for (size_t i = 0; i < req->n_args; i++)
                if (req->args[i].value && strlen(req->args[i].value) > API_ARG_VALUE_MAX)
                        return api_error(ret, 400, "query parameter value too long (at most %d bytes)",
                                         API_ARG_VALUE_MAX);

        if (req->match)
                m = *req->match;
        else if (!routes_match(req->path, &m))
                return api_error(ret, 404, "no such route");
        if (!m.route->handler) /* a file of the dashboard: http.c serves those */
                return api_error(ret, 404, "no such route");

        if (m.route->db == ROUTE_DB_REQUIRED) {
                if (!q)
                        return api_error(ret, 503, "database unavailable");
                /* One snapshot per request: /metrics and curves read several tables. */
                r = query_begin(q);
                if (r < 0)
                        return api_db_error(ret, r);
                tx = true;
        }
        r = dispatch(q, req, &m, ret);
        if (tx)
                query_end(q);
        if (r < 0) {
                api_response_done(ret);
                if (r == -ENOMEM)
                        return r;
                return api_error(ret, 500, "internal error (%s)", strerror(-r));
        }
        if (ret->status == 0) {
                /* A route that answered an error through api_error() and returned 0 is fine; a route
                 * that produced nothing is a bug. */
                api_response_done(ret);
                return api_error(ret, 500, "internal error");
        }
        return 0;
}
