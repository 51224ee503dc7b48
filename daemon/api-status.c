/* The daemon's own state (api-status.h): /healthz, /api/v1/status and /metrics. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "api-status.h"
#include "config-build.h"
#include "metrics.h"
#include "stats.h"
#include "util.h"

int api_route_metrics(Query *q, const ApiRequest *req, const char *id, ApiResponse *ret)
{
        _cleanup_free_ char *body = NULL;
        size_t size;
        int r;

        /* Prometheus sends no arguments; anything is ignored rather than failing a scrape. */
        r = metrics_render(q, &body, &size);
        if (r < 0)
                return api_db_error(ret, r);
        ret->status = 200;
        ret->content_type = METRICS_CONTENT_TYPE;
        ret->body = TAKE_PTR(body);
        ret->size = size;
        return 0;
}

/* Not ok while the store cannot commit (a full disk, a database error): agents keep their samples
 * meanwhile, but nothing new is stored, and a probe must say so. */
int api_route_healthz(Query *q, const ApiRequest *req, const char *id, ApiResponse *ret)
{
        int e = atomic_load(&daemon_stats.commit_failing_errno);
        int n;

        if (e == 0)
                n = asprintf(&ret->body, "{\"status\":\"ok\"}");
        else
                n = asprintf(&ret->body, "{\"status\":\"error\",\"reason\":\"database commits fail: %s\"}",
                             strerror(e));
        if (n < 0) {
                ret->body = NULL;
                return -ENOMEM;
        }
        ret->status = e == 0 ? 200 : 503;
        ret->content_type = API_CONTENT_TYPE_JSON;
        ret->size = (size_t)n;
        return 0;
}

/* /api/v1/status: what this daemon runs on, answered without the database. */
int api_route_status(Query *q, const ApiRequest *req, const char *id, ApiResponse *ret)
{
        bool file = req->config_file && req->config_file[0];
        json_t *o;

        o = json_pack("{s:s,s:o,s:s,s:o}", "version", PACKAGE_VERSION, "config_file",
                      file ? json_string(req->config_file) : json_null(), "config_source",
                      file ? "file" : "built-in defaults", "db", api_json_text(req->db_path));
        if (!o)
                return -ENOMEM;
        return api_response_json(ret, 200, o);
}
