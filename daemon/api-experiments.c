/* The experiments route (api-experiments.h). */
#include <errno.h>

#include "api-experiments.h"
#include "experiments.h"
#include "log.h"

#define EXPERIMENT_BUSY_MS 5000 /* how long a creation waits for the ingest writer's transaction */

static const ExperimentConfig *config_experiment(const ApiRequest *req, const char *name)
{
        if (!req->config)
                return NULL;
        for (unsigned i = 0; i < req->config->n_experiments; i++)
                if (streq(req->config->experiments[i].name, name))
                        return &req->config->experiments[i];
        return NULL;
}

int api_experiment_find(Query *q, const ApiRequest *req, const char *name, int64_t *ret_from_ms,
                        int64_t *ret_to_ms)
{
        const ExperimentConfig *c = config_experiment(req, name);
        QueryExperiment e;
        int r;

        if (c) {
                *ret_from_ms = c->start_ms;
                *ret_to_ms = c->end_ms;
                return 1;
        }
        if (!q)
                return 0;
        r = query_experiment_find(q, name, &e);
        if (r <= 0)
                return r;
        *ret_from_ms = e.start_ms;
        *ret_to_ms = e.end_ms;
        return 1;
}

static json_t *experiment_to_json(const char *name, int64_t from_ms, int64_t to_ms, const char *source,
                                  int64_t created_ms)
{
        return json_pack("{s:s,s:I,s:I,s:s,s:o}", "name", name, "from_ms", (json_int_t)from_ms, "to_ms",
                         (json_int_t)to_ms, "source", source,
                         "created_ms", created_ms >= 0 ? json_integer(created_ms) : json_null());
}

static int stored_append(const QueryExperiment *e, void *userdata)
{
        json_t *o = experiment_to_json(e->name, e->start_ms, e->end_ms, "api", e->created_ms);

        return o && json_array_append_new(userdata, o) == 0 ? 0 : -ENOMEM;
}

static int experiments_list(Query *q, const ApiRequest *req, ApiResponse *ret)
{
        json_t *a;

        a = json_array();
        if (!a)
                return -ENOMEM;
        for (unsigned i = 0; req->config && i < req->config->n_experiments; i++) {
                const ExperimentConfig *c = &req->config->experiments[i];
                json_t *o = experiment_to_json(c->name, c->start_ms, c->end_ms, "config", -1);

                if (!o || json_array_append_new(a, o) < 0) {
                        json_decref(a);
                        return -ENOMEM;
                }
        }
        return api_response_array(ret, a, query_experiments(q, stored_append, a));
}

static int experiment_create(Query *q, const ApiRequest *req, ApiResponse *ret)
{
        ExperimentRequest e;
        const char *reason;
        int64_t from, to;
        int r;

        if (req->body_size > API_BODY_MAX)
                return api_error(ret, 413, "the body is larger than %d bytes", API_BODY_MAX);
        if (experiment_request_parse(req->body, req->body_size, API_TIME_MAX_MS, &e, &reason) < 0)
                return api_error(ret, 400, "%s", reason);
        if (config_experiment(req, e.name))
                return api_error(ret, 409, "experiment '%s' is defined in the config", e.name);
        if (!req->db_path)
                return api_error(ret, 503, "database unavailable");
        r = experiment_store(req->db_path, &e, req->now_ms, EXPERIMENT_BUSY_MS);
        if (r == -EEXIST) {
                /* Say what holds the name: the same window again is still a conflict, not a no-op, so
                 * that two planners never believe they own one name. */
                if (api_experiment_find(q, req, e.name, &from, &to) > 0)
                        return api_error(ret, 409, "experiment '%s' exists (from %lld to %lld)", e.name,
                                         (long long)from, (long long)to);
                return api_error(ret, 409, "experiment '%s' exists", e.name);
        }
        if (r < 0) {
                log_warning_errno(r, "Failed to store experiment '%s': %m", e.name);
                return api_db_error(ret, r);
        }
        log_info("Experiment '%s' created through the API: %lld .. %lld.", e.name, (long long)e.start_ms,
                 (long long)e.end_ms);
        return api_response_json(ret, 201, experiment_to_json(e.name, e.start_ms, e.end_ms, "api", req->now_ms));
}

int api_route_experiments(Query *q, const ApiRequest *req, const char *id, ApiResponse *ret)
{
        if (req->method && streq(req->method, "POST"))
                return experiment_create(q, req, ret);
        return experiments_list(q, req, ret);
}
