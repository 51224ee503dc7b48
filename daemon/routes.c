/* The route table (routes.h): the one place a path of the HTTP API or the dashboard is written. */
#include <stdio.h>
#include <string.h>

#include "api-agents.h"
#include "api-bbb.h"
#include "api-capacity.h"
#include "api-experiments.h"
#include "api-report.h"
#include "api-series.h"
#include "api-status.h"
#include "api-zabbix.h"
#include "routes.h"

#define READ (ROUTE_GET | ROUTE_HEAD)
#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})
#define NO_ARGS ((const char *const[]){NULL})

static int route_not_found(Query *q, const ApiRequest *req, const char *id, ApiResponse *ret)
{
        return api_error(ret, 404, "no such route");
}

/* Matched in order: the first route whose pattern matches answers. */
static const Route routes[] = {
        /* The dashboard's files carry no data and must load so that the page can ask for the token. */
        {"/", READ, ROUTE_DB_NONE, ROUTE_PUBLIC, NULL, ROUTES_INDEX_FILE, NULL, NULL},
        {"/index.html", READ, ROUTE_DB_NONE, ROUTE_PUBLIC, NULL, ROUTES_INDEX_FILE, NULL, NULL},
        {"/assets/{*}", READ, ROUTE_DB_NONE, ROUTE_PUBLIC, NULL, NULL, NULL, NULL},
        /* Probes get no token. Any argument to /metrics is ignored rather than failing a scrape. */
        {"/healthz", READ, ROUTE_DB_NONE, ROUTE_PUBLIC, api_route_healthz, NULL, NULL, NULL},
        {"/metrics", READ, ROUTE_DB_REQUIRED, ROUTE_TOKEN, api_route_metrics, NULL, NULL, NULL},

        {"/api/v1/status", READ, ROUTE_DB_NONE, ROUTE_TOKEN, api_route_status, NULL, NO_ARGS, NULL},
        {"/api/v1/agents", READ, ROUTE_DB_REQUIRED, ROUTE_TOKEN, api_route_agents, NULL, NO_ARGS, NULL},
        {"/api/v1/agents/{id}", READ, ROUTE_DB_REQUIRED, ROUTE_TOKEN, api_route_agent, NULL, NO_ARGS, NULL},
        {"/api/v1/agents/{id}/latest", READ, ROUTE_DB_REQUIRED, ROUTE_TOKEN, api_route_latest, NULL, NO_ARGS,
         NULL},
        {"/api/v1/agents/{id}/series", READ, ROUTE_DB_REQUIRED, ROUTE_TOKEN, api_route_series, NULL,
         ARGS("from", "to", "step", "metrics", "limit", "agg"), NULL},
        {"/api/v1/curves", READ, ROUTE_DB_REQUIRED, ROUTE_TOKEN, api_route_curves, NULL,
         ARGS("agent", "metric", "format", "threshold", "from", "to", "experiment"), "agent"},
        {"/api/v1/model", READ, ROUTE_DB_REQUIRED, ROUTE_TOKEN, api_route_model, NULL,
         ARGS("agent", "metric", "threshold", "from", "to", "experiment", "mix"), "agent"},
        {"/api/v1/report", READ, ROUTE_DB_REQUIRED, ROUTE_TOKEN, api_route_report, NULL,
         ARGS("agent", "format", "from", "to", "experiment", "mix"), "agent"},
        {"/api/v1/experiments", READ | ROUTE_POST, ROUTE_DB_REQUIRED, ROUTE_TOKEN, api_route_experiments, NULL,
         NO_ARGS, NULL},
        {"/api/v1/bbb", READ, ROUTE_DB_REQUIRED, ROUTE_TOKEN, api_route_bbb, NULL, NO_ARGS, NULL},

        {"/api/v1/zabbix/discovery", READ, ROUTE_DB_REQUIRED, ROUTE_TOKEN, api_route_zabbix_discovery, NULL,
         NO_ARGS, NULL},
        {"/api/v1/zabbix/agents/{id}", READ, ROUTE_DB_REQUIRED, ROUTE_TOKEN, api_route_zabbix_agent, NULL,
         NO_ARGS, NULL},
        {"/api/v1/zabbix/bbb", READ, ROUTE_DB_REQUIRED, ROUTE_TOKEN, api_route_zabbix_bbb_discovery, NULL,
         NO_ARGS, NULL},
        {"/api/v1/zabbix/bbb/{id}", READ, ROUTE_DB_REQUIRED, ROUTE_TOKEN, api_route_zabbix_bbb, NULL,
         NO_ARGS, NULL},
        /* Answered even when the database cannot be opened: Zabbix then sees "database down". */
        {"/api/v1/zabbix/daemon", READ, ROUTE_DB_OPTIONAL, ROUTE_TOKEN, api_route_zabbix_daemon, NULL,
         NO_ARGS, NULL},

        /* Any other path of the API needs the token too: without it, nothing tells which routes exist. */
        {"/api/v1/{*}", READ, ROUTE_DB_NONE, ROUTE_TOKEN, route_not_found, NULL, NULL, NULL},
};

static const struct {
        const char *name;
        RouteMethod method;
} methods[] = {
        {"GET", ROUTE_GET},
        {"HEAD", ROUTE_HEAD},
        {"POST", ROUTE_POST},
};

/* Whether path matches pattern; the {id} segment and the {*} rest go to *m. */
static bool pattern_match(const char *pattern, const char *path, RouteMatch *m)
{
        const char *p = pattern, *s = path;

        *m = (RouteMatch){0};
        for (;;) {
                if (streq(p, "{*}")) {
                        m->rest = s;
                        return true;
                }
                if (strneq(p, "{id}", 4)) {
                        size_t n = strcspn(s, "/");

                        if (n == 0)
                                return false;
                        m->id = s;
                        m->id_len = n;
                        p += 4;
                        s += n;
                        continue;
                }
                if (*p != *s)
                        return false;
                if (*p == 0)
                        return true;
                p++;
                s++;
        }
}

bool routes_match(const char *path, RouteMatch *ret)
{
        RouteMatch m;

        assert(path);
        assert(ret);

        for (size_t i = 0; i < ELEMENTSOF(routes); i++)
                if (pattern_match(routes[i].pattern, path, &m)) {
                        m.route = &routes[i];
                        *ret = m;
                        return true;
                }
        return false;
}

/* r's methods; without a route, those every route takes (a path nothing answers is a 405 for POST). */
static unsigned routes_methods(const Route *r)
{
        unsigned common = ~0u;

        if (r)
                return r->methods;
        for (size_t i = 0; i < ELEMENTSOF(routes); i++)
                common &= routes[i].methods;
        return common;
}

bool routes_method_allowed(const Route *r, const char *method)
{
        unsigned m = routes_methods(r);

        for (size_t i = 0; i < ELEMENTSOF(methods); i++)
                if (streq(methods[i].name, method))
                        return m & methods[i].method;
        return false;
}

void routes_allow(const Route *r, const char *sep, char *buf, size_t n)
{
        unsigned m = routes_methods(r);
        size_t k = 0;

        assert(n > 0);
        buf[0] = 0;
        for (size_t i = 0; i < ELEMENTSOF(methods); i++) {
                int w;

                if (!(m & methods[i].method))
                        continue;
                w = snprintf(buf + k, n - k, "%s%s", k > 0 ? sep : "", methods[i].name);
                if (w < 0 || (size_t)w >= n - k) {
                        buf[k] = 0; /* no half names */
                        return;
                }
                k += (size_t)w;
        }
}
