/* The HTTP API's routes: JSON with jansson, CSV for curves, Prometheus text through metrics.c. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <string.h>

#include <jansson.h>

#include "api.h"
#include "capacity.h"
#include "report.h"
#include "config-build.h"
#include "curve.h"
#include "log.h"
#include "metrics.h"
#include "series-cache.h"
#include "stats.h"
#include "util.h"

#define SERIES_STEP_MIN_MS 1000LL /* an aggregated series never uses buckets below a second */

static const char *const routes_prefix = "/api/v1/";

bool api_handles(const char *path)
{
        return streq(path, "/healthz") || streq(path, "/metrics") ||
               strneq(path, routes_prefix, strlen(routes_prefix));
}

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

int api_response_csv(FILE **f, char **buf, size_t *size, const char *name, ApiResponse *ret)
{
        if (fflush(*f) != 0 || ferror(*f))
                return -ENOMEM;
        fclose(TAKE_PTR(*f));
        ret->status = 200;
        ret->content_type = API_CONTENT_TYPE_CSV;
        ret->body = TAKE_PTR(*buf);
        ret->size = *size;
        return api_response_set_header(ret, "Content-Disposition", "inline; filename=\"seatmeter-%s.csv\"", name);
}

/* ---- query arguments ---- */

int api_args_check(const ApiRequest *req, const char *const *allowed, const char *repeatable, ApiResponse *ret)
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

/* ---- /api/v1/agents ---- */

/* The agent's labels as stored (a JSON object the store wrote), {} when unknown or unreadable. */
static json_t *agent_labels_to_json(const QueryAgent *a)
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
        if (api_json_set(o, "labels", agent_labels_to_json(a)) < 0) {
                json_decref(o);
                return NULL;
        }
        if (api_json_set(o, "id", json_string(a->id)) < 0 || api_json_set(o, "virt", api_json_text(a->virt)) < 0 ||
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

/* A GET without arguments answered with a JSON array: what append adds for each agent. */
static int route_agent_array(Query *q, const ApiRequest *req, QueryAgentCb append, ApiResponse *ret)
{
        static const char *const allowed[] = {NULL};
        _cleanup_json_ json_t *a = NULL;
        int r;

        if (api_args_check(req, allowed, NULL, ret) < 0)
                return 0;
        a = json_array();
        if (!a)
                return -ENOMEM;
        r = query_agents(q, append, a);
        if (r < 0)
                return api_db_error(ret, r);
        return api_response_json(ret, 200, TAKE_PTR(a));
}

/* Looks agent id up; answers 400/404/503 itself and returns < 0 when not found. */
static int find_agent(Query *q, const char *id, QueryAgent *ret_agent, ApiResponse *ret)
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

static int route_agent(Query *q, const ApiRequest *req, const char *id, ApiResponse *ret)
{
        static const char *const allowed[] = {NULL};
        QueryAgent a;
        QuerySample latest;
        int r;

        if (api_args_check(req, allowed, NULL, ret) < 0 || find_agent(q, id, &a, ret) < 0)
                return 0;
        r = query_latest(q, a.num, &latest);
        if (r < 0)
                return api_db_error(ret, r);
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
static int route_latest(Query *q, const ApiRequest *req, const char *id, ApiResponse *ret)
{
        static const char *const allowed[] = {NULL};
        _cleanup_json_ json_t *o = NULL;
        QuerySample s;
        bool has = false;
        int r = 0;

        if (api_args_check(req, allowed, NULL, ret) < 0)
                return 0;
        if (req->live && id_is_valid(id)) {
                int64_t num;

                r = live_get(req->live, id, &num, &s, &has);
        }
        if (r == 0) {
                QueryAgent a;

                if (find_agent(q, id, &a, ret) < 0)
                        return 0;
                r = query_latest(q, a.num, &s);
                if (r < 0)
                        return api_db_error(ret, r);
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

/* ---- /api/v1/agents/{id}/series ---- */

int api_parse_step(const char *s, int64_t *ret_ms)
{
        static const struct {
                const char *suffix;
                int64_t ms;
        } units[] = {
                {"ms", 1}, {"s", 1000}, {"m", 60 * 1000}, {"h", 3600 * 1000}, {"d", 24 * 3600 * 1000},
        };
        char digits[21];
        size_t n;
        uint64_t v;
        int64_t mult = 1;

        if (!s)
                return -EINVAL;
        if (streq(s, "raw")) {
                *ret_ms = 0;
                return 0;
        }
        n = strspn(s, "0123456789");
        if (n == 0 || n >= sizeof(digits))
                return n == 0 ? -EINVAL : -ERANGE;
        if (s[n]) {
                bool found = false;

                for (size_t i = 0; i < ELEMENTSOF(units); i++)
                        if (streq(s + n, units[i].suffix)) {
                                mult = units[i].ms;
                                found = true;
                                break;
                        }
                if (!found)
                        return -EINVAL;
        }
        memcpy(digits, s, n);
        digits[n] = 0;
        if (safe_atou64(digits, &v) < 0)
                return -ERANGE;
        if (v == 0 || v > (uint64_t)(API_SERIES_RANGE_MAX_MS / mult))
                return -ERANGE;
        *ret_ms = (int64_t)v * mult;
        return 0;
}

/* The smallest "nice" bucket width (what a person would pick for a chart) that is >= ms. */
static int64_t nice_step(int64_t ms)
{
        static const int64_t steps[] = {
                1000,
                2000,
                5000,
                10000,
                15000,
                30000,
                60000,
                2 * 60000,
                5 * 60000,
                10 * 60000,
                15 * 60000,
                30 * 60000,
                API_HOUR_MS,
                2 * API_HOUR_MS,
                3 * API_HOUR_MS,
                6 * API_HOUR_MS,
                12 * API_HOUR_MS,
                24 * API_HOUR_MS,
        };
        const int64_t day = 24 * API_HOUR_MS;

        for (size_t i = 0; i < ELEMENTSOF(steps); i++)
                if (ms <= steps[i])
                        return steps[i];
        return (ms + day - 1) / day * day;
}

void api_series_plan(int64_t from_ms, int64_t to_ms, int64_t step_ms, uint64_t limit, ApiSeriesPlan *ret)
{
        int64_t range = to_ms - from_ms + 1, min_step;

        assert(from_ms <= to_ms);
        assert(limit > 0);

        if (step_ms < 0) {
                *ret = (ApiSeriesPlan){.raw = true};
                return;
        }
        /* Bounded points: no more buckets than limit (or the default count when no step was asked). */
        min_step = nice_step(MAX((range + (int64_t)limit - 1) / (int64_t)limit, SERIES_STEP_MIN_MS));
        if (step_ms == 0)
                step_ms = nice_step(MAX(range / API_SERIES_POINTS_DEFAULT, SERIES_STEP_MIN_MS));
        step_ms = MAX(step_ms, min_step);

        /* Hourly trends answer whenever an hour is fine enough, or the range is too long to scan raw. */
        if (step_ms >= API_HOUR_MS || range > API_SERIES_RAW_RANGE_MAX_MS) {
                step_ms = (step_ms + API_HOUR_MS - 1) / API_HOUR_MS * API_HOUR_MS;
                *ret = (ApiSeriesPlan){.trends = true, .step_ms = step_ms};
                return;
        }
        *ret = (ApiSeriesPlan){.step_ms = step_ms};
}

typedef enum SeriesAgg {
        SERIES_AVG,
        SERIES_MIN,
        SERIES_MAX,
} SeriesAgg;

typedef struct Series {
        ApiJsonBuf out;
        QueryColumn metrics[QUERY_SERIES_MAX];
        size_t n_metrics;
        uint64_t columns; /* the metrics as a mask */
        SeriesAgg agg;
        int64_t step_ms;
        uint64_t n_rows, n_source; /* rows out, source rows read */
        /* The open bucket. */
        bool open;
        int64_t bucket;
        double count[QUERY_SERIES_MAX], sum[QUERY_SERIES_MAX], min[QUERY_SERIES_MAX], max[QUERY_SERIES_MAX];
        int64_t last_time_ms;

        /* Caching of finished buckets (aggregated samples only). */
        SeriesCache *cache;
        const QueryAgent *agent;
        int64_t from_ms, to_ms;
        int64_t first_hour_ms;
        int64_t *hour_n; /* samples per hour per the trends table, from first_hour_ms on */
        size_t n_hours;
        int64_t next_uncached; /* buckets before this were recorded (or are not cacheable) */
        uint64_t cache_hits;
} Series;

static bool series_cacheable(const Series *s, int64_t bucket)
{
        int64_t end = bucket + s->step_ms - 1;
        size_t h;

        if (!s->cache || bucket < s->from_ms || end > s->to_ms || end > s->agent->agg_time_ms)
                return false;
        h = (size_t)((bucket - s->first_hour_ms) / API_HOUR_MS);
        return h < s->n_hours;
}

static SeriesKey series_key(const Series *s, int64_t bucket)
{
        return (SeriesKey){
                .agent_num = s->agent->num,
                .step_ms = s->step_ms,
                .bucket_ms = bucket,
                .columns = s->columns,
                .hour_n = s->hour_n[(bucket - s->first_hour_ms) / API_HOUR_MS],
        };
}

/* Records the open bucket (or an empty one) in the cache; buckets are indexed by column there, so
 * metrics=a,b and metrics=b,a share them. */
static void series_cache_record(Series *s, int64_t bucket, bool with_data)
{
        SeriesBucket b;
        SeriesKey k;

        if (!series_cacheable(s, bucket))
                return;
        memset(&b, 0, sizeof(b));
        if (with_data)
                for (size_t i = 0; i < s->n_metrics; i++) {
                        QueryColumn c = s->metrics[i];

                        b.count[c] = s->count[i];
                        b.sum[c] = s->sum[i];
                        b.min[c] = s->min[i];
                        b.max[c] = s->max[i];
                }
        k = series_key(s, bucket);
        series_cache_put(s->cache, &k, &b);
}

/* Records the buckets in [s->next_uncached, upto) as empty: the scan covered them and found nothing. */
static void series_cache_empty_until(Series *s, int64_t upto)
{
        if (!s->cache)
                return;
        for (; s->next_uncached < upto; s->next_uncached += s->step_ms)
                series_cache_record(s, s->next_uncached, false);
}

static int series_flush(Series *s)
{
        if (!s->open)
                return 0;
        s->open = false;
        if (s->cache) {
                series_cache_empty_until(s, s->bucket);
                series_cache_record(s, s->bucket, true);
                s->next_uncached = s->bucket + s->step_ms;
        }
        api_jb_puts(&s->out, s->n_rows > 0 ? ",{\"time_ms\":" : "[{\"time_ms\":");
        api_jb_int(&s->out, s->bucket);
        for (size_t i = 0; i < s->n_metrics; i++) {
                double v = NAN;

                if (s->count[i] > 0)
                        v = s->agg == SERIES_MIN   ? s->min[i]
                            : s->agg == SERIES_MAX ? s->max[i]
                                                   : s->sum[i] / s->count[i];
                api_jb_puts(&s->out, ",\"");
                api_jb_puts(&s->out, query_column_to_string(s->metrics[i]));
                api_jb_puts(&s->out, "\":");
                api_jb_double(&s->out, v);
        }
        api_jb_puts(&s->out, "}");
        s->n_rows++;
        return s->out.oom ? -ENOMEM : 0;
}

static int series_open(Series *s, int64_t bucket)
{
        int r;

        if (s->open && s->bucket == bucket)
                return 0;
        r = series_flush(s);
        if (r < 0)
                return r;
        s->open = true;
        s->bucket = bucket;
        for (size_t i = 0; i < s->n_metrics; i++) {
                s->count[i] = s->sum[i] = 0;
                s->min[i] = INFINITY;
                s->max[i] = -INFINITY;
        }
        return 0;
}

static int series_raw_row(const QuerySample *row, void *userdata)
{
        Series *s = userdata;

        api_jb_puts(&s->out, s->n_rows > 0 ? ",{\"time_ms\":" : "[{\"time_ms\":");
        api_jb_int(&s->out, row->time_ms);
        for (size_t i = 0; i < s->n_metrics; i++) {
                QueryColumn c = s->metrics[i];
                double v = row->v[c];

                api_jb_puts(&s->out, ",\"");
                api_jb_puts(&s->out, query_column_to_string(c));
                api_jb_puts(&s->out, "\":");
                if (query_column_is_integer(c) && isfinite(v))
                        api_jb_int(&s->out, (int64_t)v);
                else
                        api_jb_double(&s->out, v);
        }
        api_jb_puts(&s->out, "}");
        s->n_rows++;
        s->last_time_ms = row->time_ms;
        return s->out.oom ? -ENOMEM : 0;
}

static int64_t floor_div(int64_t a, int64_t b)
{
        int64_t d = a / b;
        return (a % b != 0 && (a < 0) != (b < 0)) ? d - 1 : d;
}

static int series_sample(const QuerySample *row, void *userdata)
{
        Series *s = userdata;
        int r;

        r = series_open(s, floor_div(row->time_ms, s->step_ms) * s->step_ms);
        if (r < 0)
                return r;
        s->n_source++;
        for (size_t i = 0; i < s->n_metrics; i++) {
                double v = row->v[s->metrics[i]];

                if (!isfinite(v))
                        continue;
                s->count[i]++;
                s->sum[i] += v;
                s->min[i] = MIN(s->min[i], v);
                s->max[i] = MAX(s->max[i], v);
        }
        return 0;
}

static int series_trend(const QueryTrend *t, void *userdata)
{
        Series *s = userdata;
        int r;

        r = series_open(s, floor_div(t->hour_ms, s->step_ms) * s->step_ms);
        if (r < 0)
                return r;
        s->n_source++;
        for (size_t i = 0; i < s->n_metrics; i++) {
                QueryColumn c = s->metrics[i];

                if (t->count[c] <= 0)
                        continue;
                s->count[i] += (double)t->count[c];
                s->sum[i] += t->sum[c];
                if (isfinite(t->min[c]))
                        s->min[i] = MIN(s->min[i], t->min[c]);
                if (isfinite(t->max[c]))
                        s->max[i] = MAX(s->max[i], t->max[c]);
        }
        return 0;
}

static int series_hour_n(const QueryTrend *t, void *userdata)
{
        Series *s = userdata;
        int64_t h = (t->hour_ms - s->first_hour_ms) / API_HOUR_MS;

        if (h >= 0 && (size_t)h < s->n_hours)
                s->hour_n[h] = t->n;
        return 0;
}

/* Emits a bucket from the cache as a row (nothing for an empty one). */
static int series_emit_cached(Series *s, int64_t bucket, const SeriesBucket *b)
{
        bool any = false;
        int r;

        for (size_t i = 0; i < s->n_metrics; i++)
                any = any || b->count[s->metrics[i]] > 0;
        if (!any)
                return 0;
        r = series_open(s, bucket);
        if (r < 0)
                return r;
        for (size_t i = 0; i < s->n_metrics; i++) {
                QueryColumn c = s->metrics[i];

                s->count[i] = b->count[c];
                s->sum[i] = b->sum[c];
                s->min[i] = b->min[c];
                s->max[i] = b->max[c];
        }
        /* Already in the cache: emit without recording it again. */
        s->next_uncached = bucket + s->step_ms;
        SeriesCache *cache = TAKE_PTR(s->cache);
        r = series_flush(s);
        s->cache = cache;
        s->cache_hits++;
        return r;
}

/* Aggregated samples over [from, to], with finished buckets from (and into) the cache: walks the buckets,
 * answers hits from the cache and scans each run of misses with one query. */
static int series_samples_cached(Query *q, Series *s, int64_t from, int64_t to)
{
        _cleanup_free_ int64_t *hour_n = NULL;
        int64_t b, first;
        int r;

        s->from_ms = from;
        s->to_ms = to;
        s->first_hour_ms = floor_div(from, API_HOUR_MS) * API_HOUR_MS;
        s->n_hours = (size_t)((to - s->first_hour_ms) / API_HOUR_MS + 1);
        hour_n = calloc(s->n_hours, sizeof(int64_t));
        if (!hour_n)
                return -ENOMEM;
        s->hour_n = hour_n;
        r = query_trends(q, s->agent->num, s->first_hour_ms, to, series_hour_n, s);
        if (r < 0)
                goto finish;

        first = floor_div(from, s->step_ms) * s->step_ms;
        b = first;
        while (b <= to) {
                SeriesBucket cached;
                int64_t run_start;
                SeriesKey k;

                if (series_cacheable(s, b)) {
                        k = series_key(s, b);
                        if (series_cache_get(s->cache, &k, &cached)) {
                                r = series_emit_cached(s, b, &cached);
                                if (r < 0)
                                        goto finish;
                                b += s->step_ms;
                                continue;
                        }
                }
                /* A run of misses up to the next hit. */
                run_start = b;
                for (b += s->step_ms; b <= to; b += s->step_ms) {
                        if (!series_cacheable(s, b))
                                continue;
                        k = series_key(s, b);
                        if (series_cache_get(s->cache, &k, &cached))
                                break;
                }
                s->next_uncached = run_start;
                r = query_samples(q, s->agent->num, MAX(run_start, from), MIN(b - 1, to), 0, s->columns,
                                  series_sample, s);
                if (r >= 0)
                        r = series_flush(s);
                if (r < 0)
                        goto finish;
                series_cache_empty_until(s, MIN(b, to + 1));
        }
        r = 0;
finish:
        s->hour_n = NULL;
        return r;
}

/* Parses metrics=a,b into s->metrics; all series metrics when absent. */
static int series_parse_metrics(Series *s, const char *v, ApiResponse *ret)
{
        char buf[API_ARG_VALUE_MAX + 1];
        char *p, *save = NULL;

        if (!v) {
                for (QueryColumn c = 0; c < QUERY_SERIES_MAX; c++)
                        s->metrics[s->n_metrics++] = c;
                return 0;
        }
        if (strlen(v) >= sizeof(buf))
                return api_failed(api_error(ret, 400, "parameter 'metrics' too long"));
        strcpy(buf, v);
        for (p = strtok_r(buf, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
                QueryColumn c;
                bool dup = false;

                if (query_column_from_string(p, QUERY_SERIES_MAX, &c) < 0)
                        return api_failed(api_error(ret, 400, "unknown metric '%.64s'", p));
                for (size_t i = 0; i < s->n_metrics; i++)
                        dup = dup || s->metrics[i] == c;
                if (!dup)
                        s->metrics[s->n_metrics++] = c;
        }
        if (s->n_metrics == 0)
                return api_failed(api_error(ret, 400, "parameter 'metrics' is empty"));
        return 0;
}

static int route_series(Query *q, const ApiRequest *req, const char *id, ApiResponse *ret)
{
        static const char *const allowed[] = {"from", "to", "step", "metrics", "limit", "agg", NULL};
        Series s = {0};
        ApiSeriesPlan plan;
        QueryAgent a;
        int64_t from, to, step = 0;
        uint64_t limit = API_SERIES_LIMIT_DEFAULT;
        const char *v;
        int r;

        if (api_args_check(req, allowed, NULL, ret) < 0)
                return 0;
        if (api_arg_time(req, "to", req->now_ms, &to, ret) < 0 ||
            api_arg_time(req, "from", MAX(to - API_SERIES_RANGE_DEFAULT_MS, 0), &from, ret) < 0)
                return 0;
        if (from > to)
                return api_error(ret, 400, "'from' is after 'to'");
        if (to - from > API_SERIES_RANGE_MAX_MS)
                return api_error(ret, 400, "range longer than %lld days",
                                 API_SERIES_RANGE_MAX_MS / (24 * API_HOUR_MS));
        v = api_arg_get(req, "limit");
        if (v && (safe_atou64(v, &limit) < 0 || limit < 1 || limit > API_SERIES_LIMIT_MAX))
                return api_error(ret, 400, "parameter 'limit' must be 1..%d", API_SERIES_LIMIT_MAX);
        v = api_arg_get(req, "step");
        if (v) {
                r = api_parse_step(v, &step);
                if (r < 0)
                        return api_error(
                                ret, 400,
                                "parameter 'step' must be 'raw' or a duration (1000, 10s, 5m, 1h, 1d)");
                if (step == 0)
                        step = -1; /* raw */
        }
        v = api_arg_get(req, "agg");
        if (v) {
                if (streq(v, "avg"))
                        s.agg = SERIES_AVG;
                else if (streq(v, "min"))
                        s.agg = SERIES_MIN;
                else if (streq(v, "max"))
                        s.agg = SERIES_MAX;
                else
                        return api_error(ret, 400, "parameter 'agg' must be avg, min or max");
                if (step < 0) /* stored rows are not aggregated: a silently ignored agg would mislead */
                        return api_error(ret, 400, "parameter 'agg' applies to buckets, not to step=raw");
        }
        if (series_parse_metrics(&s, api_arg_get(req, "metrics"), ret) < 0 || find_agent(q, id, &a, ret) < 0)
                return 0;
        for (size_t i = 0; i < s.n_metrics; i++)
                s.columns |= QUERY_COLUMN_BIT(s.metrics[i]);

        api_series_plan(from, to, step, limit, &plan);
        s.step_ms = plan.step_ms;
        if (plan.raw)
                r = query_samples(q, a.num, from, to, limit, s.columns, series_raw_row, &s);
        else if (!plan.trends) {
                s.agent = &a;
                /* Buckets that tile the hour can be cached (each lies in one hour of the trends table). */
                s.cache = API_HOUR_MS % plan.step_ms == 0 ? req->cache : NULL;
                if (s.cache)
                        r = series_samples_cached(q, &s, from, to);
                else {
                        r = query_samples(q, a.num, from, to, 0, s.columns, series_sample, &s);
                        if (r >= 0)
                                r = series_flush(&s);
                }
                s.cache = NULL;
                /* Raw rows expired (retention) but the hours are kept: answer from them. */
                if (r >= 0 && s.n_source == 0) {
                        plan.trends = true;
                        plan.step_ms = s.step_ms =
                                (plan.step_ms + API_HOUR_MS - 1) / API_HOUR_MS * API_HOUR_MS;
                }
        }
        if (plan.trends) {
                r = query_trends(q, a.num, floor_div(from, API_HOUR_MS) * API_HOUR_MS, to, series_trend, &s);
                if (r >= 0)
                        r = series_flush(&s);
        }
        if (r < 0) {
                free(s.out.data);
                return api_db_error(ret, r);
        }
        api_jb_puts(&s.out, s.n_rows > 0 ? "]" : "[]");
        if (s.out.oom) {
                free(s.out.data);
                return -ENOMEM;
        }
        ret->status = 200;
        ret->content_type = API_CONTENT_TYPE_JSON;
        ret->body = TAKE_PTR(s.out.data);
        ret->size = s.out.size;

        r = api_response_set_header(ret, "X-Seatmeter-Source", "%s",
                                plan.raw      ? "raw"
                                : plan.trends ? "trends"
                                              : "samples");
        if (r >= 0 && !plan.raw)
                r = api_response_set_header(ret, "X-Seatmeter-Step-Ms", "%lld", (long long)plan.step_ms);
        if (r >= 0 && !plan.raw && !plan.trends)
                r = api_response_set_header(ret, "X-Seatmeter-Cached-Buckets", "%llu",
                                        (unsigned long long)s.cache_hits);
        /* A raw answer cut at limit says where the next page starts. */
        if (r >= 0 && plan.raw && s.n_rows >= limit)
                r = api_response_set_header(ret, "X-Seatmeter-Next-From", "%lld", (long long)s.last_time_ms + 1);
        return r;
}

/* ---- capacity planning: /api/v1/curves, /api/v1/model, /api/v1/report ---- */

/* The window, experiment, threshold and mix arguments shared by the planning routes. */
typedef struct PlanArgs {
        int64_t from_ms, to_ms;
        const char *experiment; /* NULL: none asked for */
        double threshold;       /* NAN: per metric and config */
        bool has_mix;
        double mix[FIT_PARAMS_MAX - 1];
} PlanArgs;

static const ExperimentConfig *find_experiment(const ApiRequest *req, const char *name)
{
        if (!req->config)
                return NULL;
        for (unsigned i = 0; i < req->config->n_experiments; i++)
                if (streq(req->config->experiments[i].name, name))
                        return &req->config->experiments[i];
        return NULL;
}

/* Parses from=, to=, experiment=, threshold= and mix=; answers 400/404 itself and returns < 0. */
static int plan_args_parse(const ApiRequest *req, PlanArgs *ret, ApiResponse *resp)
{
        PlanArgs p = { .threshold = NAN };
        const char *v;

        if (api_arg_time(req, "from", 0, &p.from_ms, resp) < 0 || api_arg_time(req, "to", req->now_ms, &p.to_ms, resp) < 0)
                return -EINVAL;
        v = api_arg_get(req, "experiment");
        if (v) {
                const ExperimentConfig *e;

                if (api_arg_get(req, "from") || api_arg_get(req, "to"))
                        return api_failed(api_error(resp, 400, "give either experiment= or from=/to=, not both"));
                if (!id_is_valid(v))
                        return api_failed(api_error(resp, 400, "invalid experiment name"));
                e = find_experiment(req, v);
                if (!e)
                        return api_failed(api_error(resp, 404, "unknown experiment '%s'", v));
                p.experiment = e->name;
                p.from_ms = e->start_ms;
                p.to_ms = e->end_ms;
        }
        if (p.from_ms > p.to_ms)
                return api_failed(api_error(resp, 400, "parameter 'from' is after 'to'"));
        v = api_arg_get(req, "threshold");
        if (v && (safe_atod(v, &p.threshold) < 0 || !isfinite(p.threshold) || p.threshold <= 0))
                return api_failed(api_error(resp, 400, "parameter 'threshold' must be a positive number"));
        v = api_arg_get(req, "mix");
        if (v) {
                if (fit_mix_parse(v, strlen(v), p.mix) < 0)
                        return api_failed(api_error(resp, 400,
                                                "parameter 'mix' must be three shares per participant "
                                                "(listeners,voice,video, e.g. 0.7,0.25,0.05) or "
                                                "listeners:L,voice:V,video:C"));
                p.has_mix = true;
        }
        *ret = p;
        return 0;
}

/* The thresholds for agent id: its [agent] section over the site's [capacity] over the defaults. */
static CapacityThresholds plan_thresholds(const ApiRequest *req, const char *id)
{
        CapacityThresholds t = { NAN, NAN, NAN, NAN };
        const AgentConfig *a = req->config ? config_find_agent(req->config, id) : NULL;

        if (a)
                t = a->capacity;
        capacity_thresholds_merge(&t, req->config ? &req->config->capacity : NULL);
        return t;
}

typedef struct AgentList {
        QueryAgent *agents;
        size_t n;
} AgentList;

static int agent_list_add(const QueryAgent *a, const QuerySample *latest, void *userdata)
{
        AgentList *l = userdata;

        if (l->n >= API_CURVE_AGENTS_MAX)
                return -E2BIG;
        l->agents[l->n++] = *a;
        return 0;
}

/* The agents named by agent= (in the order given), or every agent when none is named. Answers the
 * errors itself and returns < 0. */
static int plan_agents(Query *q, const ApiRequest *req, QueryAgent **ret, size_t *ret_n, ApiResponse *resp)
{
        _cleanup_free_ QueryAgent *list = NULL;
        size_t n = 0;
        int r;

        list = calloc(API_CURVE_AGENTS_MAX, sizeof(QueryAgent));
        if (!list)
                return -ENOMEM;
        for (size_t i = 0; i < req->n_args; i++) {
                if (!streq(req->args[i].key, "agent"))
                        continue;
                if (n >= API_CURVE_AGENTS_MAX)
                        return api_failed(api_error(resp, 400, "too many agents (at most %d)", API_CURVE_AGENTS_MAX));
                r = find_agent(q, (req->args[i].value ? req->args[i].value : ""), &list[n], resp);
                if (r < 0)
                        return r;
                n++;
        }
        if (n == 0) {
                AgentList l = { .agents = list };

                r = query_agents(q, agent_list_add, &l);
                if (r == -E2BIG)
                        return api_failed(api_error(resp, 400, "more than %d agents: name them with agent=",
                                                API_CURVE_AGENTS_MAX));
                if (r < 0)
                        return api_failed(api_db_error(resp, r));
                n = l.n;
        }
        *ret = TAKE_PTR(list);
        *ret_n = n;
        return 0;
}

static int plan_format(const ApiRequest *req, bool html_ok, int *ret, ApiResponse *resp)
{
        const char *v = api_arg_get(req, "format");

        if (!v || streq(v, "json"))
                *ret = 0;
        else if (streq(v, "csv"))
                *ret = 1;
        else if (html_ok && streq(v, "html"))
                *ret = 2;
        else
                return api_failed(api_error(resp, 400, html_ok ? "parameter 'format' must be json, csv or html"
                                                           : "parameter 'format' must be json or csv"));
        return 0;
}

static int plan_metric(const ApiRequest *req, CurveMetric *ret, ApiResponse *resp)
{
        const char *v = api_arg_get(req, "metric");

        *ret = CURVE_CPU_RATIO;
        if (v && curve_metric_from_string(v, ret) < 0)
                return api_failed(api_error(resp, 400,
                                        "unknown metric '%.64s' (cpu_ratio, cpu_cores, working_set_bytes, "
                                        "net_rx_bps, net_tx_bps)",
                                        v));
        return 0;
}

static json_t *window_to_json(const PlanArgs *p)
{
        int64_t first = p->from_ms - p->from_ms % API_HOUR_MS;
        int64_t end = p->to_ms - p->to_ms % API_HOUR_MS + API_HOUR_MS;

        /* The aggregates are hourly: the window answered is whole hours. */
        return json_pack("{s:I,s:I,s:I,s:I,s:o}", "from_ms", (json_int_t)p->from_ms, "to_ms", (json_int_t)p->to_ms,
                         "hours_from_ms", (json_int_t)first, "hours_to_ms", (json_int_t)end, "experiment",
                         p->experiment ? json_string(p->experiment) : json_null());
}

static json_t *limits_to_json(const QueryEpoch *e)
{
        return json_pack("{s:I,s:o,s:o,s:o}", "epoch", (json_int_t)e->epoch, "start_ms",
                         e->start_ms >= 0 ? json_integer(e->start_ms) : json_null(), "effective_cpus",
                         api_json_number(e->effective_cpus), "memory_limit_bytes",
                         api_json_integer(e->memory_limit_bytes));
}

/* steal: the mean CPU steal share that lowered the threshold (NAN: none, or not a CPU metric). */
static json_t *capacity_to_json(double threshold, double steal, const FitCapacity *c, const FitResult *f)
{
        return json_pack("{s:o,s:o,s:o,s:o,s:b,s:o,s:s}", "threshold", api_json_number(threshold), "steal_share",
                         api_json_number(steal), "users", api_json_number(c->users), "ci95",
                         api_json_interval(c->lo, c->hi), "extrapolated", c->extrapolated, "max_users_seen",
                         api_json_number(f->users_max), "quality", fit_quality_to_string(f->quality));
}

static json_t *curve_fit_to_json(const CapacityCurve *e)
{
        const FitResult *f = &e->fit;

        if (!f->valid)
                return json_null();
        return json_pack("{s:o,s:o,s:o,s:I,s:I,s:I,s:o,s:o,s:o,s:s}", "intercept", api_json_number(f->beta[0]),
                         "slope", api_json_number(f->beta[1]), "r2", api_json_number(f->r2), "samples",
                         (json_int_t)f->samples, "levels", (json_int_t)f->levels, "dof", (json_int_t)f->dof,
                         "slope_se", api_json_number(f->se[1]), "intercept_se", api_json_number(f->se[0]),
                         "slope_ci95", api_json_interval(e->slope_lo, e->slope_hi), "quality",
                         fit_quality_to_string(f->quality));
}

static double level_stat(const CurveAgg *l, int which)
{
        double v[3];

        curve_point_stats(l, &v[0], &v[1], &v[2]);
        return v[which];
}
#define level_mean(l) level_stat((l), 0)
#define level_stddev(l) level_stat((l), 1)
#define level_p95(l) level_stat((l), 2)

/* Sets points, fit, capacity and limits of one epoch's curve into o. */
static int curve_epoch_set(json_t *o, const CapacityCurve *e)
{
        json_t *points = json_array();

        if (api_json_set(o, "points", points) < 0)
                return -ENOMEM;
        for (size_t i = 0; e && i < e->n_levels; i++) {
                const CurveAgg *l = &e->levels[i];

                if (json_array_append_new(points,
                                          json_pack("{s:I,s:I,s:o,s:o,s:o,s:o}", "users", (json_int_t)l->users,
                                                    "samples", (json_int_t)l->n, "mean",
                                                    api_json_number(level_mean(l)), "stddev",
                                                    api_json_number(level_stddev(l)), "p95",
                                                    api_json_number(level_p95(l)), "max",
                                                    api_json_number(l->n > 0 ? l->max : NAN))) < 0)
                        return -ENOMEM;
        }
        if (!e)
                return api_json_set(o, "fit", json_null()) < 0 ||
                                       api_json_set(o, "capacity",
                                                json_pack("{s:n,s:n,s:n,s:n,s:b,s:n,s:s}", "threshold", "steal_share", "users", "ci95",
                                                          "extrapolated", false, "max_users_seen", "quality",
                                                          "none")) < 0 ||
                                       api_json_set(o, "limits", json_null()) < 0
                               ? -ENOMEM
                               : 0;
        if (api_json_set(o, "fit", curve_fit_to_json(e)) < 0 ||
            api_json_set(o, "capacity", capacity_to_json(e->threshold, e->steal, &e->capacity, &e->fit)) < 0 ||
            api_json_set(o, "limits", limits_to_json(&e->limits)) < 0)
                return -ENOMEM;
        return 0;
}

/* An agent's curves: the newest epoch in the window at the top (the shape of the first version), every
 * epoch in "epochs". */
static json_t *curves_agent_to_json(const QueryAgent *a, const CapacityCurves *c, const PlanArgs *p)
{
        _cleanup_json_ json_t *o = json_object();
        json_t *epochs = json_array();

        if (!o || api_json_set(o, "agent", json_string(a->id)) < 0 || api_json_set(o, "virt", api_json_text(a->virt)) < 0 ||
            api_json_set(o, "labels", agent_labels_to_json(a)) < 0 || api_json_set(o, "window", window_to_json(p)) < 0 || curve_epoch_set(o, capacity_curves_newest(c)) < 0 ||
            api_json_set(o, "epochs", epochs) < 0)
                return NULL;
        for (size_t i = 0; i < c->n; i++) {
                json_t *e = json_object();

                if (!e || json_array_append_new(epochs, e) < 0 || curve_epoch_set(e, &c->epochs[i]) < 0)
                        return NULL;
        }
        return TAKE_PTR(o);
}

static const char *metric_unit(CurveMetric m)
{
        switch (m) {
        case CURVE_CPU_RATIO:
                return "share_of_effective_cpus";
        case CURVE_CPU_CORES:
                return "cores";
        case CURVE_WORKING_SET:
                return "bytes";
        default:
                return "bytes_per_second";
        }
}

/* One row per agent, epoch and participant count; an agent without points is one row saying so. The
 * first 13 columns are those of the first version. */
static void curves_csv_rows(FILE *f, const QueryAgent *a, const CapacityCurves *c, CurveMetric metric)
{
        for (size_t i = 0; i < MAX(c->n, (size_t)1); i++) {
                const CapacityCurve *e = c->n > 0 ? &c->epochs[i] : NULL;
                const FitResult *fit = e ? &e->fit : NULL;

                for (size_t j = 0; j < MAX(e ? e->n_levels : 0, (size_t)1); j++) {
                        const CurveAgg *l = e && e->n_levels > 0 ? &e->levels[j] : NULL;
                        bool ok = fit && fit->valid;

                        api_csv_field(f, a->id);
                        fputc(',', f);
                        api_csv_field(f, a->virt);
                        fprintf(f, ",%s,", curve_metric_to_string(metric));
                        if (l)
                                fprintf(f, "%lld,%llu", (long long)l->users, (unsigned long long)l->n);
                        else
                                fputs(",0", f);
                        api_csv_numbers(f,
                                    (const double[]){ l ? level_mean(l) : NAN, l ? level_p95(l) : NAN,
                                                      l && l->n > 0 ? l->max : NAN, ok ? fit->beta[0] : NAN,
                                                      ok ? fit->beta[1] : NAN, ok ? fit->r2 : NAN,
                                                      e ? e->threshold : NAN, e ? e->capacity.users : NAN,
                                                      l ? level_stddev(l) : NAN },
                                    9);
                        fprintf(f, ",%s", e ? "" : "");
                        if (e)
                                fprintf(f, "%lld", (long long)e->limits.epoch);
                        api_csv_numbers(f,
                                    (const double[]){ e ? e->limits.effective_cpus : NAN,
                                                      e ? e->limits.memory_limit_bytes : NAN, e ? e->slope_lo : NAN,
                                                      e ? e->slope_hi : NAN, e ? e->capacity.lo : NAN,
                                                      e ? e->capacity.hi : NAN },
                                    6);
                        fprintf(f, ",%s,%s,%s,", e && isfinite(e->capacity.users) ? (e->capacity.extrapolated ? "1" : "0") : "",
                                fit_quality_to_string(fit ? fit->quality : FIT_NONE), metric_unit(metric));
                        /* The agent's labels as the JSON object /api/v1/agents serves. */
                        api_csv_field(f, isempty(a->labels) ? "{}" : a->labels);
                        fputs("\r\n", f);
                }
        }
}

#define CURVES_CSV_HEADER                                                                                    \
        "agent,virt,metric,users,samples,mean,p95,max,fit_intercept,fit_slope,fit_r2,capacity_threshold,"    \
        "capacity_users,stddev,epoch,effective_cpus,memory_limit_bytes,fit_slope_ci95_lo,fit_slope_ci95_hi," \
        "capacity_ci95_lo,capacity_ci95_hi,capacity_extrapolated,fit_quality,unit,labels\r\n"

static int route_curves(Query *q, const ApiRequest *req, ApiResponse *ret)
{
        static const char *const allowed[] = { "agent", "metric", "format", "threshold", "from", "to", "experiment", NULL };
        _cleanup_free_ CapacityCurves *curves = NULL;
        _cleanup_free_ QueryAgent *list = NULL;
        _cleanup_free_ char *buf = NULL;
        _cleanup_fclose_ FILE *f = NULL;
        _cleanup_json_ json_t *o = NULL;
        json_t *arr;
        CurveMetric metric;
        PlanArgs p;
        size_t n = 0, size = 0;
        int format, r = 0;

        if (api_args_check(req, allowed, "agent", ret) < 0 || plan_metric(req, &metric, ret) < 0 ||
            plan_format(req, false, &format, ret) < 0 || plan_args_parse(req, &p, ret) < 0 ||
            plan_agents(q, req, &list, &n, ret) < 0)
                return 0;

        curves = calloc(MAX(n, (size_t)1), sizeof(CapacityCurves));
        if (!curves)
                return -ENOMEM;
        for (size_t i = 0; i < n && r >= 0; i++) {
                CapacityThresholds t = plan_thresholds(req, list[i].id);

                r = capacity_curves_load(q, &list[i], metric, p.from_ms, p.to_ms, &t, p.threshold, &curves[i]);
                if (r == -E2BIG)
                        r = api_error(ret, 400, "curve of agent '%s' too large", list[i].id);
                else if (r < 0)
                        r = api_db_error(ret, r);
                else
                        r = 0;
                if (ret->status != 0)
                        goto done;
        }

        if (format == 1) {
                f = open_memstream(&buf, &size);
                if (!f) {
                        r = -ENOMEM;
                        goto done;
                }
                fputs(CURVES_CSV_HEADER, f);
                for (size_t i = 0; i < n; i++)
                        curves_csv_rows(f, &list[i], &curves[i], metric);
                r = api_response_csv(&f, &buf, &size, curve_metric_to_string(metric), ret);
                goto done;
        }

        r = -ENOMEM;
        arr = json_array();
        o = json_pack("{s:s,s:o,s:o}", "metric", curve_metric_to_string(metric), "window", window_to_json(&p),
                      "agents", arr);
        if (!o)
                goto done;
        r = 0;
        for (size_t i = 0; i < n && r >= 0; i++) {
                json_t *a = curves_agent_to_json(&list[i], &curves[i], &p);

                if (!a || json_array_append_new(arr, a) < 0)
                        r = -ENOMEM;
        }
        if (r >= 0)
                r = api_response_json(ret, 200, TAKE_PTR(o));
done:
        for (size_t i = 0; i < n; i++)
                capacity_curves_done(&curves[i]);
        return r;
}

/* ---- /api/v1/model ---- */

static const char *const model_terms[FIT_PARAMS_MAX] = { "base", "listeners", "voice", "video" };

static json_t *model_epoch_to_json(const CapacityModel *e)
{
        _cleanup_json_ json_t *o = json_object();
        json_t *coef = json_object();
        const FitResult *f = &e->fit;

        if (!o || api_json_set(o, "coefficients", coef) < 0)
                return NULL;
        for (unsigned i = 0; i < FIT_PARAMS_MAX; i++) {
                double lo = f->beta[i] - f->t95 * f->se[i], hi = f->beta[i] + f->t95 * f->se[i];

                if (api_json_set(coef, model_terms[i],
                             f->active[i] ? json_pack("{s:o,s:o,s:o}", "value", api_json_number(f->beta[i]),
                                                      "se", api_json_number(f->se[i]), "ci95",
                                                      api_json_interval(lo, hi))
                                          : json_null()) < 0)
                        return NULL;
        }
        if (api_json_set(o, "limits", limits_to_json(&e->limits)) < 0 ||
            api_json_set(o, "r2", api_json_number(f->r2)) < 0 ||
            api_json_set(o, "levels", json_integer((json_int_t)f->levels)) < 0 ||
            api_json_set(o, "samples", json_integer((json_int_t)f->samples)) < 0 ||
            api_json_set(o, "dof", json_integer((json_int_t)f->dof)) < 0 ||
            api_json_set(o, "quality", json_string(fit_quality_to_string(f->quality))) < 0 ||
            api_json_set(o, "mix",
                     json_pack("{s:o,s:o,s:o,s:b}", "listeners", api_json_number(e->mix[0]), "voice",
                               api_json_number(e->mix[1]), "video", api_json_number(e->mix[2]), "observed",
                               e->mix_observed)) < 0 ||
            api_json_set(o, "per_user",
                     json_pack("{s:o,s:o}", "value", api_json_number(e->per_user), "se",
                               api_json_number(e->per_user_se))) < 0 ||
            api_json_set(o, "capacity", capacity_to_json(e->threshold, e->steal, &e->capacity, f)) < 0)
                return NULL;
        return TAKE_PTR(o);
}

static json_t *model_agent_to_json(const QueryAgent *a, const CapacityModels *m, const PlanArgs *p)
{
        _cleanup_json_ json_t *o = json_object();
        json_t *epochs = json_array();

        if (!o || api_json_set(o, "agent", json_string(a->id)) < 0 || api_json_set(o, "virt", api_json_text(a->virt)) < 0 ||
            api_json_set(o, "labels", agent_labels_to_json(a)) < 0 || api_json_set(o, "window", window_to_json(p)) < 0 ||
            api_json_set(o, "model", m->n > 0 ? model_epoch_to_json(&m->epochs[m->n - 1]) : json_null()) < 0 ||
            api_json_set(o, "epochs", epochs) < 0)
                return NULL;
        for (size_t i = 0; i < m->n; i++)
                if (json_array_append_new(epochs, model_epoch_to_json(&m->epochs[i])) < 0)
                        return NULL;
        return TAKE_PTR(o);
}

static int route_model(Query *q, const ApiRequest *req, ApiResponse *ret)
{
        static const char *const allowed[] = { "agent", "metric", "threshold", "from", "to", "experiment", "mix", NULL };
        _cleanup_free_ QueryAgent *list = NULL;
        _cleanup_json_ json_t *o = NULL;
        json_t *arr;
        CurveMetric metric;
        PlanArgs p;
        size_t n = 0;
        int r = 0;

        if (api_args_check(req, allowed, "agent", ret) < 0 || plan_metric(req, &metric, ret) < 0 ||
            plan_args_parse(req, &p, ret) < 0 || plan_agents(q, req, &list, &n, ret) < 0)
                return 0;

        arr = json_array();
        o = json_pack("{s:s,s:o,s:o,s:o}", "metric", curve_metric_to_string(metric), "window", window_to_json(&p),
                      "mix",
                      p.has_mix ? json_pack("[f,f,f]", p.mix[0], p.mix[1], p.mix[2]) : json_null(),
                      "agents", arr);
        if (!o)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                CapacityThresholds t = plan_thresholds(req, list[i].id);
                CapacityModels m;
                json_t *a;

                r = capacity_models_load(q, &list[i], metric, p.from_ms, p.to_ms, p.has_mix ? p.mix : NULL, &t,
                                         p.threshold, &m);
                if (r == -E2BIG)
                        return api_error(ret, 400, "model of agent '%s' too large", list[i].id);
                if (r < 0)
                        return api_db_error(ret, r);
                a = model_agent_to_json(&list[i], &m, &p);
                capacity_models_done(&m);
                if (!a || json_array_append_new(arr, a) < 0)
                        return -ENOMEM;
        }
        return api_response_json(ret, 200, TAKE_PTR(o));
}

/* ---- /api/v1/report ---- */

typedef struct ReportData {
        QueryAgent agent;
        CapacityCurves curves[_CAPACITY_RESOURCE_MAX];
        CapacityModels models[_CAPACITY_RESOURCE_MAX];
        ReportAgent view;
} ReportData;

static void report_data_done(ReportData *d)
{
        for (unsigned r = 0; r < _CAPACITY_RESOURCE_MAX; r++) {
                capacity_curves_done(&d->curves[r]);
                capacity_models_done(&d->models[r]);
        }
}

static int report_load(Query *q, const ApiRequest *req, const PlanArgs *p, ReportData *d)
{
        CapacityThresholds t = plan_thresholds(req, d->agent.id);
        CapacityResource binding;
        int r;

        d->view = (ReportAgent){ .agent = &d->agent, .binding = -1 };
        for (unsigned i = 0; i < _CAPACITY_RESOURCE_MAX; i++) {
                CurveMetric m = capacity_resource_metric((CapacityResource)i);

                r = capacity_curves_load(q, &d->agent, m, p->from_ms, p->to_ms, &t, NAN, &d->curves[i]);
                if (r >= 0)
                        r = capacity_models_load(q, &d->agent, m, p->from_ms, p->to_ms, p->has_mix ? p->mix : NULL, &t,
                                                 NAN, &d->models[i]);
                if (r < 0)
                        return r;
                d->view.curves[i] = &d->curves[i];
                d->view.models[i] = &d->models[i];
        }
        if (capacity_binding(d->view.curves, &binding) >= 0)
                d->view.binding = (int)binding;
        return 0;
}

/* Mean of the within-level standard deviations, weighted by samples: how much one sample scatters. */
static double curve_sample_stddev(const CapacityCurve *e)
{
        double ss = 0;
        uint64_t n = 0;

        for (size_t i = 0; e && i < e->n_levels; i++) {
                const CurveAgg *l = &e->levels[i];

                if (l->n == 0)
                        continue;
                ss += MAX(0.0, l->sumsq - l->sum * l->sum / (double)l->n);
                n += l->n;
        }
        return n > 0 ? sqrt(ss / (double)n) : NAN;
}

static json_t *report_resource_to_json(const CapacityCurve *e, const CapacityModels *mm, CapacityResource r)
{
        const CapacityModel *m = mm->n > 0 ? &mm->epochs[mm->n - 1] : NULL;

        if (!e)
                return json_null();
        return json_pack("{s:s,s:s,s:o,s:o,s:o,s:o,s:o,s:I,s:I,s:s,s:o,s:o,s:o,s:o}", "metric",
                         curve_metric_to_string(capacity_resource_metric(r)), "unit", report_unit_text(r),
                         "per_user", api_json_number(e->fit.valid ? e->fit.beta[1] : NAN), "per_user_ci95",
                         api_json_interval(e->slope_lo, e->slope_hi), "base",
                         api_json_number(e->fit.valid ? e->fit.beta[0] : NAN), "r2", api_json_number(e->fit.r2),
                         "sample_stddev", api_json_number(curve_sample_stddev(e)), "levels",
                         (json_int_t)e->fit.levels, "samples", (json_int_t)e->fit.samples, "quality",
                         fit_quality_to_string(e->fit.quality), "threshold", api_json_number(e->threshold),
                         "capacity", capacity_to_json(e->threshold, e->steal, &e->capacity, &e->fit), "model",
                         m ? model_epoch_to_json(m) : json_null(), "limits", limits_to_json(&e->limits));
}

static json_t *report_agent_to_json(const ReportData *d, const PlanArgs *p)
{
        _cleanup_json_ json_t *o = json_object();
        json_t *res = json_object();
        const CapacityCurve *b =
                d->view.binding >= 0 ? capacity_curves_newest(&d->curves[d->view.binding]) : NULL;
        bool any = false;

        if (!o || api_json_set(o, "agent", json_string(d->agent.id)) < 0 ||
            api_json_set(o, "virt", api_json_text(d->agent.virt)) < 0 ||
            api_json_set(o, "hostname", api_json_text(d->agent.hostname)) < 0 ||
            api_json_set(o, "labels", agent_labels_to_json(&d->agent)) < 0 ||
            api_json_set(o, "window", window_to_json(p)) < 0 || api_json_set(o, "resources", res) < 0)
                return NULL;
        for (unsigned r = 0; r < _CAPACITY_RESOURCE_MAX; r++) {
                const CapacityCurve *e = capacity_curves_newest(&d->curves[r]);

                any = any || e;
                if (api_json_set(res, capacity_resource_to_string((CapacityResource)r),
                             report_resource_to_json(e, &d->models[r], (CapacityResource)r)) < 0)
                        return NULL;
        }
        if (api_json_set(o, "status", json_string(any ? "ok" : "no_points")) < 0 ||
            api_json_set(o, "binding",
                     b ? json_pack("{s:s,s:o,s:o}", "resource",
                                   capacity_resource_to_string((CapacityResource)d->view.binding), "users",
                                   api_json_number(b->capacity.users), "ci95",
                                   api_json_interval(b->capacity.lo, b->capacity.hi))
                       : json_null()) < 0)
                return NULL;
        return TAKE_PTR(o);
}

/* One row per agent (its newest epoch in the window), units in every column name. */
static void report_csv_header(FILE *f)
{
        fputs("agent,virt,hostname,labels,status,epoch,effective_cpus,memory_limit_bytes,window_from_ms,window_to_ms,"
              "binding_resource,binding_capacity_users,binding_capacity_ci95_lo_users,binding_capacity_ci95_hi_users",
              f);
        for (unsigned r = 0; r < _CAPACITY_RESOURCE_MAX; r++) {
                const char *n = capacity_resource_to_string((CapacityResource)r), *u = report_unit_suffix((CapacityResource)r);

                fprintf(f,
                        ",%s_per_user_%s,%s_per_user_ci95_lo_%s,%s_per_user_ci95_hi_%s,%s_base_%s,%s_sample_stddev_%s,"
                        "%s_r2,%s_levels,%s_samples,%s_quality,%s_threshold_%s,%s_capacity_users,"
                        "%s_capacity_ci95_lo_users,%s_capacity_ci95_hi_users,%s_capacity_extrapolated,"
                        "%s_per_listener_%s,%s_per_voice_%s,%s_per_video_%s,%s_per_listener_se_%s,%s_per_voice_se_%s,"
                        "%s_per_video_se_%s",
                        n, u, n, u, n, u, n, u, n, u, n, n, n, n, n, u, n, n, n, n, n, u, n, u, n, u, n, u, n, u, n, u);
        }
        fputs(",cpu_steal_share\r\n", f);
}

static void report_csv_row(FILE *f, const ReportData *d, const PlanArgs *p)
{
        const CapacityCurve *cpu = capacity_curves_newest(&d->curves[CAPACITY_CPU]);
        const CapacityCurve *b = d->view.binding >= 0 ? capacity_curves_newest(&d->curves[d->view.binding]) : NULL;
        bool any = false;

        for (unsigned r = 0; r < _CAPACITY_RESOURCE_MAX; r++)
                any = any || capacity_curves_newest(&d->curves[r]);
        api_csv_field(f, d->agent.id);
        fputc(',', f);
        api_csv_field(f, d->agent.virt);
        fputc(',', f);
        api_csv_field(f, d->agent.hostname);
        fputc(',', f);
        api_csv_field(f, d->agent.labels[0] ? d->agent.labels : "{}");
        fprintf(f, ",%s,", any ? "ok" : "no_points");
        if (cpu)
                fprintf(f, "%lld", (long long)cpu->limits.epoch);
        api_csv_numbers(f,
                    (const double[]){ cpu ? cpu->limits.effective_cpus : d->agent.effective_cpus,
                                      cpu ? cpu->limits.memory_limit_bytes : d->agent.memory_limit_bytes,
                                      (double)p->from_ms, (double)p->to_ms },
                    4);
        fprintf(f, ",%s", b ? capacity_resource_to_string((CapacityResource)d->view.binding) : "");
        api_csv_numbers(f, (const double[]){ b ? b->capacity.users : NAN, b ? b->capacity.lo : NAN, b ? b->capacity.hi : NAN },
                    3);
        for (unsigned r = 0; r < _CAPACITY_RESOURCE_MAX; r++) {
                const CapacityCurve *e = capacity_curves_newest(&d->curves[r]);
                const CapacityModel *m = d->models[r].n > 0 ? &d->models[r].epochs[d->models[r].n - 1] : NULL;
                bool ok = e && e->fit.valid;

                api_csv_numbers(f,
                            (const double[]){ ok ? e->fit.beta[1] : NAN, e ? e->slope_lo : NAN, e ? e->slope_hi : NAN,
                                              ok ? e->fit.beta[0] : NAN, curve_sample_stddev(e), e ? e->fit.r2 : NAN,
                                              e ? (double)e->fit.levels : NAN, e ? (double)e->fit.samples : NAN },
                            8);
                fprintf(f, ",%s", e ? fit_quality_to_string(e->fit.quality) : "");
                api_csv_numbers(f,
                            (const double[]){ e ? e->threshold : NAN, e ? e->capacity.users : NAN,
                                              e ? e->capacity.lo : NAN, e ? e->capacity.hi : NAN },
                            4);
                fprintf(f, ",%s", e && isfinite(e->capacity.users) ? (e->capacity.extrapolated ? "1" : "0") : "");
                api_csv_numbers(f,
                            (const double[]){ m ? m->fit.beta[1] : NAN, m ? m->fit.beta[2] : NAN, m ? m->fit.beta[3] : NAN,
                                              m ? m->fit.se[1] : NAN, m ? m->fit.se[2] : NAN, m ? m->fit.se[3] : NAN },
                            6);
        }
        api_csv_numbers(f, (const double[]){ cpu ? cpu->steal : NAN }, 1);
        fputs("\r\n", f);
}

static int route_report(Query *q, const ApiRequest *req, ApiResponse *ret)
{
        static const char *const allowed[] = { "agent", "format", "from", "to", "experiment", "mix", NULL };
        _cleanup_free_ ReportData *data = NULL;
        _cleanup_free_ ReportAgent *views = NULL;
        _cleanup_free_ QueryAgent *list = NULL;
        _cleanup_free_ char *buf = NULL;
        _cleanup_fclose_ FILE *f = NULL;
        _cleanup_json_ json_t *o = NULL;
        size_t n = 0, size = 0;
        json_t *arr;
        PlanArgs p;
        int format, r = 0;

        if (api_args_check(req, allowed, "agent", ret) < 0 || plan_format(req, true, &format, ret) < 0 ||
            plan_args_parse(req, &p, ret) < 0 || plan_agents(q, req, &list, &n, ret) < 0)
                return 0;
        data = calloc(MAX(n, (size_t)1), sizeof(ReportData));
        views = calloc(MAX(n, (size_t)1), sizeof(ReportAgent));
        if (!data || !views)
                return -ENOMEM;
        for (size_t i = 0; i < n && r >= 0; i++) {
                data[i].agent = list[i];
                r = report_load(q, req, &p, &data[i]);
                views[i] = data[i].view;
        }
        if (r == -E2BIG) {
                r = api_error(ret, 400, "too many levels to report");
                goto done;
        }
        if (r < 0) {
                r = api_db_error(ret, r);
                goto done;
        }

        if (format == 0) {
                r = -ENOMEM;
                arr = json_array();
                o = json_pack("{s:o,s:o,s:o}", "window", window_to_json(&p), "mix",
                              p.has_mix ? json_pack("[f,f,f]", p.mix[0], p.mix[1], p.mix[2]) : json_null(), "agents",
                              arr);
                if (!o)
                        goto done;
                r = 0;
                for (size_t i = 0; i < n && r >= 0; i++) {
                        json_t *a = report_agent_to_json(&data[i], &p);

                        if (!a || json_array_append_new(arr, a) < 0)
                                r = -ENOMEM;
                }
                if (r >= 0)
                        r = api_response_json(ret, 200, TAKE_PTR(o));
                goto done;
        }

        f = open_memstream(&buf, &size);
        if (!f) {
                r = -ENOMEM;
                goto done;
        }
        if (format == 1) {
                report_csv_header(f);
                for (size_t i = 0; i < n; i++)
                        report_csv_row(f, &data[i], &p);
                r = api_response_csv(&f, &buf, &size, "report", ret);
                goto done;
        }
        r = report_html(views, n,
                        &(const ReportWindow){ .from_ms = p.from_ms, .to_ms = p.to_ms, .experiment = p.experiment,
                                               .mix = p.has_mix ? p.mix : NULL, .now_ms = req->now_ms },
                        f);
        if (r >= 0 && (fflush(f) != 0 || ferror(f)))
                r = -ENOMEM;
        if (r >= 0) {
                fclose(TAKE_PTR(f));
                ret->status = 200;
                ret->content_type = API_CONTENT_TYPE_HTML;
                ret->body = TAKE_PTR(buf);
                ret->size = size;
        }
done:
        for (size_t i = 0; i < n; i++)
                report_data_done(&data[i]);
        return r;
}

/* ---- /api/v1/bbb ---- */

static int bbb_append(const QueryBbb *b, void *userdata)
{
        json_t *o = json_object();

        if (!o || json_array_append_new(userdata, o) < 0)
                return -ENOMEM;
        if (api_json_set(o, "name", api_json_text(b->name)) < 0 ||
            api_json_set(o, "up", b->up < 0 ? json_null() : json_boolean(b->up)) < 0 ||
            api_json_set(o, "last_poll_ms", api_json_integer(b->last_poll_ms)) < 0 ||
            api_json_set(o, "last_ok_ms", api_json_integer(b->last_ok_ms)) < 0 ||
            api_json_set(o, "meetings", api_json_integer(b->meetings)) < 0 ||
            api_json_set(o, "participants", api_json_integer(b->participants)) < 0 ||
            api_json_set(o, "listeners", api_json_integer(b->listeners)) < 0 ||
            api_json_set(o, "voice", api_json_integer(b->voice)) < 0 ||
            api_json_set(o, "video", api_json_integer(b->video)) < 0 ||
            api_json_set(o, "moderators", api_json_integer(b->moderators)) < 0 ||
            api_json_set(o, "breakouts", api_json_integer(b->breakouts)) < 0 ||
            api_json_set(o, "error", api_json_text(b->error)) < 0)
                return -ENOMEM;
        return 0;
}

/* An array with one entry per BBB server, built by append (/api/v1/bbb, the Zabbix discovery). */
static int route_bbb_array(Query *q, const ApiRequest *req, QueryBbbCb append, ApiResponse *ret)
{
        static const char *const allowed[] = {NULL};
        _cleanup_json_ json_t *a = NULL;
        int r;

        if (api_args_check(req, allowed, NULL, ret) < 0)
                return 0;
        a = json_array();
        if (!a)
                return -ENOMEM;
        r = query_bbb(q, append, a);
        if (r < 0)
                return api_db_error(ret, r);
        return api_response_json(ret, 200, TAKE_PTR(a));
}

/* ---- Zabbix ----
 * Zabbix 6.0's JSONPath step turns a JSON null into the text "null": the step succeeds, so a
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

static int route_zabbix_agent(Query *q, const ApiRequest *req, const char *id, ApiResponse *ret)
{
        static const char *const allowed[] = {NULL};
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

        if (api_args_check(req, allowed, NULL, ret) < 0 || find_agent(q, id, &a, ret) < 0)
                return 0;
        r = query_latest(q, a.num, &s);
        if (r < 0)
                return api_db_error(ret, r);
        has = r > 0;
        if (has)
                age_ms = req->now_ms - (s.time_ms + a.clock_offset_ms);
        fresh = has && age_ms <= zabbix_max_age_ms(req);

        o = json_object();
        if (!o)
                return -ENOMEM;
        /* Numbers only (booleans as 0/1) so every value feeds a numeric dependent item. */
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
static int route_zabbix_bbb(Query *q, const ApiRequest *req, const char *name, ApiResponse *ret)
{
        static const char *const allowed[] = {NULL};
        _cleanup_json_ json_t *o = NULL;
        ZabbixBbbFind f = {.name = name};
        const QueryBbb *b = &f.found;
        bool fresh;
        int r;

        if (api_args_check(req, allowed, NULL, ret) < 0)
                return 0;
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
static int route_zabbix_daemon(Query *q, const ApiRequest *req, ApiResponse *ret)
{
        static const char *const allowed[] = {NULL};
        _cleanup_json_ json_t *o = NULL;
        int64_t agents = 0;
        bool db_ok;

        if (api_args_check(req, allowed, NULL, ret) < 0)
                return 0;
        db_ok = q && query_agents(q, zabbix_count_agent, &agents) >= 0;
        o = json_pack(
                "{s:s,s:i,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "version", PACKAGE_VERSION,
                "db_ok", (int)db_ok, "agents_connected", (json_int_t)STATS_GET(agents_connected),
                "frames_received", (json_int_t)STATS_GET(frames_received), "samples_received",
                (json_int_t)STATS_GET(samples_received), "samples_stored",
                (json_int_t)STATS_GET(samples_stored), "samples_duplicate",
                (json_int_t)STATS_GET(samples_duplicate), "samples_rejected",
                (json_int_t)STATS_GET(samples_rejected), "hellos_refused",
                (json_int_t)STATS_GET(hellos_refused), "protocol_errors",
                (json_int_t)STATS_GET(protocol_errors), "store_commits", (json_int_t)STATS_GET(commits),
                "store_commit_errors", (json_int_t)STATS_GET(commit_errors), "bbb_polls",
                (json_int_t)STATS_GET(bbb_polls), "bbb_poll_errors", (json_int_t)STATS_GET(bbb_poll_errors),
                "http_requests", (json_int_t)STATS_GET(http_requests));
        if (!o)
                return -ENOMEM;
        if (db_ok && api_json_set(o, "agents", json_integer(agents)) < 0)
                return -ENOMEM;
        return api_response_json(ret, 200, TAKE_PTR(o));
}

/* ---- /metrics, /healthz ---- */

static int route_metrics(Query *q, const ApiRequest *req, ApiResponse *ret)
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
static int route_healthz(ApiResponse *ret)
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
static int route_status(const ApiRequest *req, ApiResponse *ret)
{
        static const char *const allowed[] = {NULL};
        bool file = req->config_file && req->config_file[0];
        json_t *o;

        if (api_args_check(req, allowed, NULL, ret) < 0)
                return 0;
        o = json_pack("{s:s,s:o,s:s,s:o}", "version", PACKAGE_VERSION, "config_file",
                      file ? json_string(req->config_file) : json_null(), "config_source",
                      file ? "file" : "built-in defaults", "db", api_json_text(req->db_path));
        if (!o)
                return -ENOMEM;
        return api_response_json(ret, 200, o);
}

/* ---- dispatch ---- */

static int dispatch(Query *q, const ApiRequest *req, ApiResponse *ret)
{
        const char *p = req->path, *rest;
        char id[QUERY_ID_MAX + 2];
        size_t n;

        if (streq(p, "/healthz"))
                return route_healthz(ret);
        if (streq(p, "/api/v1/status"))
                return route_status(req, ret);
        if (streq(p, "/api/v1/zabbix/daemon"))
                return route_zabbix_daemon(q, req, ret);
        if (!q)
                return api_error(ret, 503, "database unavailable");
        if (streq(p, "/metrics"))
                return route_metrics(q, req, ret);
        if (!strneq(p, routes_prefix, strlen(routes_prefix)))
                return api_error(ret, 404, "no such route");
        p += strlen(routes_prefix);

        if (streq(p, "agents"))
                return route_agent_array(q, req, agents_append, ret);
        if (streq(p, "curves"))
                return route_curves(q, req, ret);
        if (streq(p, "model"))
                return route_model(q, req, ret);
        if (streq(p, "report"))
                return route_report(q, req, ret);
        if (streq(p, "bbb"))
                return route_bbb_array(q, req, bbb_append, ret);
        if (streq(p, "zabbix/discovery"))
                return route_agent_array(q, req, zabbix_discovery_append, ret);
        if (streq(p, "zabbix/bbb"))
                return route_bbb_array(q, req, zabbix_bbb_discovery_append, ret);

        if (strneq(p, "agents/", 7))
                rest = p + 7;
        else if (strneq(p, "zabbix/agents/", 14))
                rest = p + 14;
        else if (strneq(p, "zabbix/bbb/", 11))
                rest = p + 11;
        else
                return api_error(ret, 404, "no such route");

        n = strcspn(rest, "/");
        if (n == 0 || n >= sizeof(id) - 1 || n > QUERY_ID_MAX)
                return api_error(ret, n == 0 ? 404 : 400, n == 0 ? "no such route" : "invalid agent id");
        memcpy(id, rest, n);
        id[n] = 0;
        rest += n;

        if (p[0] == 'z') {
                if (*rest)
                        return api_error(ret, 404, "no such route");
                if (p[7] == 'b')
                        return route_zabbix_bbb(q, req, id, ret);
                return route_zabbix_agent(q, req, id, ret);
        }
        if (streq(rest, ""))
                return route_agent(q, req, id, ret);
        if (streq(rest, "/latest"))
                return route_latest(q, req, id, ret);
        if (streq(rest, "/series"))
                return route_series(q, req, id, ret);
        return api_error(ret, 404, "no such route");
}

int api_handle(Query *q, const ApiRequest *req, ApiResponse *ret)
{
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

        /* One snapshot per request: /metrics and curves read several tables. */
        if (q && !streq(req->path, "/healthz") && !streq(req->path, "/api/v1/status") &&
            !streq(req->path, "/api/v1/zabbix/daemon")) {
                r = query_begin(q);
                if (r < 0)
                        return api_db_error(ret, r);
                tx = true;
        }
        r = dispatch(q, req, ret);
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
