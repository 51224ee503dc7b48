/* The agents' routes: the list, one agent, its newest sample (api-agents.h). */
#include <errno.h>
#include <string.h>

#include "api-agents.h"
#include "util.h"

json_t *api_agent_labels_json(const QueryAgent *a)
{
        json_t *o = isempty(a->labels) ? NULL : json_loads(a->labels, JSON_REJECT_DUPLICATES, NULL);

        if (o && !json_is_object(o)) {
                json_decref(o);
                o = NULL;
        }
        return o ? o : json_object();
}

static json_t *agent_to_json(const QueryAgent *a, const QuerySample *latest)
{
        json_t *o = json_object();

        if (!o)
                return NULL;
        if (api_json_set(o, "labels", api_agent_labels_json(a)) < 0) {
                json_decref(o);
                return NULL;
        }
        if (api_json_set(o, "id", json_string(a->id)) < 0 ||
            api_json_set(o, "virt", api_json_text(a->virt)) < 0 ||
            api_json_set(o, "hostname", api_json_text(a->hostname)) < 0 ||
            api_json_set(o, "connected", json_boolean(a->connected)) < 0 ||
            api_json_set(o, "last_seen_ms", api_json_integer(a->last_seen_ms)) < 0 ||
            api_json_set(o, "effective_cpus", api_json_number(a->effective_cpus)) < 0 ||
            api_json_set(o, "cpu_count", a->cpu_count >= 0 ? json_integer(a->cpu_count) : json_null()) < 0 ||
            api_json_set(o, "memory_limit_bytes", api_json_integer(a->memory_limit_bytes)) < 0 ||
            api_json_set(o, "clock_offset_ms", json_integer(a->clock_offset_ms)) < 0 ||
            api_json_set(o, "bbb", api_json_text(a->bbb)) < 0 ||
            api_json_set(o, "first_seen_ms", api_json_integer(a->first_seen_ms)) < 0 ||
            api_json_set(o, "last_sample_ms", latest ? json_integer(latest->time_ms) : json_null()) < 0 ||
            api_json_set(o, "transport", api_json_text(a->transport)) < 0 ||
            api_json_set(o, "agent_version", api_json_text(a->agent_version)) < 0 ||
            api_json_set(o, "cgroup_version",
                         a->cgroup_version >= 0 ? json_integer(a->cgroup_version) : json_null()) < 0 ||
            api_json_set(o, "cgroup_mode", api_json_text(a->cgroup_mode)) < 0 ||
            api_json_set(o, "cgroup_path", api_json_text(a->cgroup_path)) < 0 ||
            api_json_set(o, "swap_limit_bytes", api_json_integer(a->swap_limit_bytes)) < 0 ||
            api_json_set(o, "host_cpus", api_json_integer(a->host_cpus)) < 0 ||
            api_json_set(o, "host_memory_bytes", api_json_integer(a->host_memory_bytes)) < 0) {
                json_decref(o);
                return NULL;
        }
        return o;
}

static int agents_append(const QueryAgent *a, const QuerySample *latest, void *userdata)
{
        json_t *o = agent_to_json(a, latest);

        if (!o)
                return -ENOMEM;
        return json_array_append_new(userdata, o) < 0 ? -ENOMEM : 0;
}

int api_agents_array(Query *q, QueryAgentCb append, ApiResponse *ret)
{
        json_t *a = json_array();

        return a ? api_response_array(ret, a, query_agents(q, append, a)) : -ENOMEM;
}

int api_route_agents(Query *q, const ApiRequest *req, const char *id, ApiResponse *ret)
{
        return api_agents_array(q, agents_append, ret);
}

int api_find_agent(Query *q, const char *id, QueryAgent *ret_agent, ApiResponse *ret)
{
        int r;

        if (!id_is_valid(id))
                return api_failed(api_error(ret, 400, "invalid agent id"));
        r = query_agent_find(q, id, ret_agent);
        if (r < 0)
                return api_failed(api_db_error(ret, r));
        if (r == 0)
                return api_failed(api_error(ret, 404, "unknown agent '%s'", id));
        return 0;
}

int api_find_agent_latest(Query *q, const char *id, QueryAgent *ret_agent, QuerySample *ret_latest,
                          ApiResponse *ret)
{
        int r;

        r = api_find_agent(q, id, ret_agent, ret);
        if (r < 0)
                return r;
        r = query_latest(q, ret_agent->num, ret_latest);
        if (r < 0)
                return api_failed(api_db_error(ret, r));
        return r > 0;
}

int api_route_agent(Query *q, const ApiRequest *req, const char *id, ApiResponse *ret)
{
        QueryAgent a;
        QuerySample latest;
        int r;

        r = api_find_agent_latest(q, id, &a, &latest, ret);
        if (r < 0)
                return 0;
        return api_response_json(ret, 200, agent_to_json(&a, r > 0 ? &latest : NULL));
}

static const QueryColumn latest_columns[] = {
        QUERY_CPU_CORES,         QUERY_CPU_RATIO,   QUERY_THROTTLED_RATIO, QUERY_MEMORY_BYTES,
        QUERY_WORKING_SET_BYTES, QUERY_IO_READ_BPS, QUERY_IO_WRITE_BPS,    QUERY_NET_RX_BPS,
        QUERY_NET_TX_BPS,        QUERY_USERS,       QUERY_CACHE_BYTES,     QUERY_ANON_BYTES,
        QUERY_SWAP_BYTES,        QUERY_STEAL_RATIO,
};

/* From live when it has the agent (no database read at all: dashboards poll this route hardest), else
 * from the database, and then live learns the agent. */
int api_route_latest(Query *q, const ApiRequest *req, const char *id, ApiResponse *ret)
{
        _cleanup_json_ json_t *o = NULL;
        QuerySample s;
        bool has = false;
        int r = 0;

        if (req->live && id_is_valid(id)) {
                int64_t num;

                r = live_get(req->live, id, &num, &s, &has);
        }
        if (r == 0) {
                QueryAgent a;

                r = api_find_agent_latest(q, id, &a, &s, ret);
                if (r < 0)
                        return 0;
                has = r > 0;
                if (req->live)
                        (void)live_offer(req->live, id, a.num, has ? &s : NULL);
        }
        o = json_object();
        if (!o)
                return -ENOMEM;
        if (api_json_set(o, "agent", json_string(id)) < 0 ||
            api_json_set(o, "time_ms", has ? json_integer(s.time_ms) : json_null()) < 0 ||
            api_json_set_columns(o, latest_columns, ELEMENTSOF(latest_columns), has ? &s : NULL) < 0)
                return -ENOMEM;
        return api_response_json(ret, 200, TAKE_PTR(o));
}
