/* The routes the Zabbix template reads (api-zabbix.h). */
#include <errno.h>
#include <math.h>
#include <string.h>

#include "api-agents.h"
#include "api-bbb.h"
#include "api-zabbix.h"
#include "config-build.h"
#include "metrics.h"
#include "util.h"

/* Zabbix 6.0's JSONPath step turns a JSON null into the text "null": the step succeeds, so a
 * "discard value" error handler never applies, and the numeric dependent item becomes unsupported. A key
 * that is absent fails the step and is discarded. So these routes leave out whatever is unknown, the way
 * /metrics does, and never write null. A sample older than the zabbix_max_age_s setting is not served as
 * current either: Zabbix would store it again at every poll with a new timestamp, and a dead guest's last
 * CPU figure would keep its triggers firing. Its values are left out and "fresh" says 0. */

static int zabbix_set_number(json_t *o, const char *key, double v, bool integer)
{
        if (!isfinite(v))
                return 0;
        return api_json_set(o, key, integer ? json_integer((json_int_t)v) : json_real(v));
}

static int zabbix_set_text(json_t *o, const char *key, const char *s)
{
        if (isempty(s))
                return 0;
        return api_json_set(o, key, api_json_text(s));
}

static int64_t zabbix_max_age_ms(const ApiRequest *req)
{
        return req->zabbix_max_age_ms > 0 ? req->zabbix_max_age_ms : API_ZABBIX_MAX_AGE_DEFAULT_MS;
}

static int zabbix_discovery_append(const QueryAgent *a, const QuerySample *latest, void *userdata)
{
        json_t *o = json_pack("{s:s,s:o,s:o}", "{#AGENT}", a->id, "{#VIRT}", api_json_text_or_empty(a->virt),
                              "{#BBB}", api_json_text_or_empty(a->bbb));

        if (!o)
                return -ENOMEM;
        return json_array_append_new(userdata, o) < 0 ? -ENOMEM : 0;
}

int api_route_zabbix_discovery(Query *q, const ApiRequest *req, const char *id, ApiResponse *ret)
{
        return api_agents_array(q, zabbix_discovery_append, ret);
}

int api_route_zabbix_agent(Query *q, const ApiRequest *req, const char *id, ApiResponse *ret)
{
        static const QueryColumn columns[] = {
                QUERY_CPU_CORES,      QUERY_CPU_RATIO,         QUERY_THROTTLED_RATIO,
                QUERY_MEMORY_BYTES,   QUERY_WORKING_SET_BYTES, QUERY_CACHE_BYTES,
                QUERY_ANON_BYTES,     QUERY_SWAP_BYTES,        QUERY_IO_READ_BPS,
                QUERY_IO_WRITE_BPS,   QUERY_NET_RX_BPS,        QUERY_NET_TX_BPS,
                QUERY_USERS,          QUERY_IO_READ_BYTES,     QUERY_IO_WRITE_BYTES,
                QUERY_NET_RX_BYTES,   QUERY_NET_TX_BYTES,      QUERY_OOM_KILLS,
                QUERY_CPU_NR_PERIODS, QUERY_CPU_NR_THROTTLED,
        };
        _cleanup_json_ json_t *o = NULL;
        QueryAgent a;
        QuerySample s;
        int64_t age_ms = 0;
        bool has, fresh;
        int r;

        r = api_find_agent_latest(q, id, &a, &s, ret);
        if (r < 0)
                return 0;
        has = r > 0;
        if (has)
                age_ms = req->now_ms - (s.time_ms + a.clock_offset_ms);
        fresh = has && age_ms <= zabbix_max_age_ms(req);

        o = json_object();
        if (!o)
                return -ENOMEM;
        /* The agent's id, virt and bbb as text (the last two left out when unknown or none), the rest
         * numbers (booleans as 0/1) for the template's numeric dependent items. */
        if (api_json_set(o, "agent", json_string(a.id)) < 0 || zabbix_set_text(o, "virt", a.virt) < 0 ||
            zabbix_set_text(o, "bbb", a.bbb) < 0 ||
            api_json_set(o, "connected", json_integer(a.connected)) < 0 ||
            api_json_set(o, "fresh", json_integer(fresh)) < 0 ||
            zabbix_set_number(o, "last_seen_ms", a.last_seen_ms, true) < 0 ||
            zabbix_set_number(o, "effective_cpus", a.effective_cpus, false) < 0 ||
            zabbix_set_number(o, "cpu_count", a.cpu_count >= 0 ? (double)a.cpu_count : NAN, true) < 0 ||
            zabbix_set_number(o, "memory_limit_bytes", a.memory_limit_bytes, true) < 0 ||
            api_json_set(o, "clock_offset_ms", json_integer(a.clock_offset_ms)) < 0)
                return -ENOMEM;
        if (has && (api_json_set(o, "time_ms", json_integer(s.time_ms)) < 0 ||
                    api_json_set(o, "sample_age_s", json_real((double)age_ms / 1000.0)) < 0))
                return -ENOMEM;
        if (fresh) {
                if (zabbix_set_number(o, "cpu_usage_seconds", s.v[QUERY_CPU_USAGE_USEC] / 1e6, false) < 0 ||
                    zabbix_set_number(o, "cpu_throttled_seconds", s.v[QUERY_CPU_THROTTLED_USEC] / 1e6,
                                      false) < 0)
                        return -ENOMEM;
                for (size_t i = 0; i < ELEMENTSOF(columns); i++)
                        if (zabbix_set_number(o, query_column_to_string(columns[i]), s.v[columns[i]],
                                              query_column_is_integer(columns[i])) < 0)
                                return -ENOMEM;
        }
        return api_response_json(ret, 200, TAKE_PTR(o));
}

static int zabbix_bbb_discovery_append(const QueryBbb *b, void *userdata)
{
        json_t *o = json_pack("{s:s}", "{#BBB}", b->name);

        if (!o)
                return -ENOMEM;
        return json_array_append_new(userdata, o) < 0 ? -ENOMEM : 0;
}

int api_route_zabbix_bbb_discovery(Query *q, const ApiRequest *req, const char *id, ApiResponse *ret)
{
        return api_bbb_array(q, zabbix_bbb_discovery_append, ret);
}

typedef struct ZabbixBbbFind {
        const char *name;
        QueryBbb found;
        bool has;
} ZabbixBbbFind;

static int zabbix_bbb_find(const QueryBbb *b, void *userdata)
{
        ZabbixBbbFind *f = userdata;

        if (!streq(b->name, f->name))
                return 0;
        f->found = *b;
        f->has = true;
        return 0;
}

/* One BBB server: up (0/1) and whether the newest poll failed (poll_error 0/1, with its error text, ""
 * when none) always; the counts while the newest successful poll is fresh (zabbix_max_age_s), else
 * nothing: a server whose poller stopped is not reported as still holding its last meetings. */
int api_route_zabbix_bbb(Query *q, const ApiRequest *req, const char *name, ApiResponse *ret)
{
        _cleanup_json_ json_t *o = NULL;
        ZabbixBbbFind f = {.name = name};
        const QueryBbb *b = &f.found;
        bool fresh;
        int r;

        r = query_bbb(q, zabbix_bbb_find, &f);
        if (r < 0)
                return api_db_error(ret, r);
        if (!f.has)
                return api_error(ret, 404, "unknown BBB server '%s'", name);
        fresh = isfinite(b->last_ok_ms) && req->now_ms - (int64_t)b->last_ok_ms <= zabbix_max_age_ms(req);

        o = json_object();
        if (!o)
                return -ENOMEM;
        if (api_json_set(o, "name", json_string(b->name)) < 0 ||
            (b->up >= 0 && api_json_set(o, "up", json_integer(b->up)) < 0) ||
            api_json_set(o, "fresh", json_integer(fresh)) < 0 ||
            api_json_set(o, "poll_error", json_integer(!isempty(b->error))) < 0 ||
            api_json_set(o, "error", api_json_text_or_empty(b->error)) < 0 ||
            zabbix_set_number(o, "last_poll_ms", b->last_poll_ms, true) < 0 ||
            zabbix_set_number(o, "last_ok_ms", b->last_ok_ms, true) < 0)
                return -ENOMEM;
        if (fresh && (zabbix_set_number(o, "meetings", b->meetings, true) < 0 ||
                      zabbix_set_number(o, "participants", b->participants, true) < 0 ||
                      zabbix_set_number(o, "listeners", b->listeners, true) < 0 ||
                      zabbix_set_number(o, "voice", b->voice, true) < 0 ||
                      zabbix_set_number(o, "video", b->video, true) < 0 ||
                      zabbix_set_number(o, "moderators", b->moderators, true) < 0 ||
                      zabbix_set_number(o, "breakouts", b->breakouts, true) < 0))
                return -ENOMEM;
        return api_response_json(ret, 200, TAKE_PTR(o));
}

static int zabbix_count_agent(const QueryAgent *a, const QuerySample *latest, void *userdata)
{
        (*(int64_t *)userdata)++;
        return 0;
}

/* The daemon's own health for Zabbix: whether its database answers a read (db_ok), the agents it knows,
 * and its ingest, store, BBB and HTTP counters (those of /metrics). Answered even when the database
 * cannot be opened, so that Zabbix sees "database down" rather than an unsupported item. */
int api_route_zabbix_daemon(Query *q, const ApiRequest *req, const char *id, ApiResponse *ret)
{
        _cleanup_json_ json_t *o = NULL;
        int64_t agents = 0;
        bool db_ok;

        db_ok = q && query_agents(q, zabbix_count_agent, &agents) >= 0;
        o = json_pack("{s:s,s:i}", "version", PACKAGE_VERSION, "db_ok", (int)db_ok);
        if (!o)
                return -ENOMEM;
        /* The counters of /metrics (metrics.h), under their Zabbix keys. */
        for (size_t i = 0; i < metrics_n_counters; i++) {
                const MetricsCounter *c = &metrics_counters[i];

                if (c->zabbix &&
                    api_json_set(o, c->zabbix, json_integer((json_int_t)metrics_counter_value(c))) < 0)
                        return -ENOMEM;
        }
        if (db_ok && api_json_set(o, "agents", json_integer(agents)) < 0)
                return -ENOMEM;
        return api_response_json(ret, 200, TAKE_PTR(o));
}
