/* An agent's series (api-series.h): raw rows, buckets aggregated from samples (cached), or hourly
 * trends, chosen by range and step. */
#include <errno.h>
#include <math.h>
#include <string.h>

#include "api-agents.h"
#include "api-series.h"
#include "series-cache.h"
#include "util.h"

#define SERIES_STEP_MIN_MS 1000LL /* an aggregated series never uses buckets below a second */

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

int api_route_series(Query *q, const ApiRequest *req, const char *id, ApiResponse *ret)
{
        Series s = {0};
        ApiSeriesPlan plan;
        QueryAgent a;
        int64_t from, to, step = 0;
        uint64_t limit = API_SERIES_LIMIT_DEFAULT;
        const char *v;
        int r;

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
        if (series_parse_metrics(&s, api_arg_get(req, "metrics"), ret) < 0 ||
            api_find_agent(q, id, &a, ret) < 0)
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
                r = api_response_set_header(ret, "X-Seatmeter-Next-From", "%lld",
                                            (long long)s.last_time_ms + 1);
        return r;
}
