/* Capacity planning answers over a window, per limits epoch. See capacity.h and docs/curves.md. */

#include <inttypes.h>
#include <math.h>

#include "capacity.h"
#include "log.h"
#include "util.h"

static const char *const resource_names[_CAPACITY_RESOURCE_MAX] = {
        [CAPACITY_CPU] = "cpu",
        [CAPACITY_MEMORY] = "memory",
        [CAPACITY_NET_RX] = "net_rx",
        [CAPACITY_NET_TX] = "net_tx",
};

static const CurveMetric resource_metrics[_CAPACITY_RESOURCE_MAX] = {
        [CAPACITY_CPU] = CURVE_CPU_RATIO,
        [CAPACITY_MEMORY] = CURVE_WORKING_SET,
        [CAPACITY_NET_RX] = CURVE_NET_RX,
        [CAPACITY_NET_TX] = CURVE_NET_TX,
};

const char *capacity_resource_to_string(CapacityResource r)
{
        if ((unsigned)r >= _CAPACITY_RESOURCE_MAX)
                return NULL;
        return resource_names[r];
}

CurveMetric capacity_resource_metric(CapacityResource r)
{
        assert((unsigned)r < _CAPACITY_RESOURCE_MAX);
        return resource_metrics[r];
}

static void merge_one(double *v, double fallback)
{
        if (!isfinite(*v))
                *v = fallback;
}

void capacity_thresholds_merge(CapacityThresholds *t, const CapacityThresholds *fallback)
{
        assert(t);
        if (fallback) {
                merge_one(&t->cpu, fallback->cpu);
                merge_one(&t->memory, fallback->memory);
                merge_one(&t->net, fallback->net);
                merge_one(&t->link_mbps, fallback->link_mbps);
        }
        merge_one(&t->cpu, CAPACITY_CPU_DEFAULT);
        merge_one(&t->memory, CAPACITY_MEMORY_DEFAULT);
        merge_one(&t->net, CAPACITY_NET_DEFAULT);
}

bool capacity_metric_uses_steal(CurveMetric m)
{
        return m == CURVE_CPU_RATIO || m == CURVE_CPU_CORES;
}

double capacity_threshold(CurveMetric m, const CapacityThresholds *t, const QueryEpoch *limits, const QueryAgent *a,
                          double steal)
{
        double cpus = limits && isfinite(limits->effective_cpus) ? limits->effective_cpus : a->effective_cpus;
        double memory = limits && isfinite(limits->memory_limit_bytes) ? limits->memory_limit_bytes
                                                                         : a->memory_limit_bytes;
        double link = isfinite(t->link_mbps) && t->link_mbps > 0 ? t->link_mbps * 1e6 / 8 : NAN; /* bytes/s */
        double cpu = isfinite(steal) && steal > 0 ? MAX(t->cpu - steal, 0.0) : t->cpu;

        switch (m) {
        case CURVE_CPU_RATIO:
                return cpu;
        case CURVE_CPU_CORES:
                return isfinite(cpus) ? cpu * cpus : NAN;
        case CURVE_WORKING_SET:
                return isfinite(memory) ? t->memory * memory : NAN;
        case CURVE_NET_RX:
        case CURVE_NET_TX:
                return t->net * link;
        default:
                return NAN;
        }
}

/* ---- curves ---- */

typedef struct CurveLoad {
        CapacityCurves *out;
        int64_t skipped;
} CurveLoad;

/* The epoch entry of a CapacityCurves or CapacityModels for rows of epoch (they come ordered by epoch),
 * appended when new. */
#define DEFINE_EPOCH_GET(name, Container, Entry)                                                            \
        static int name(Container *c, int64_t epoch, Entry **ret)                                            \
        {                                                                                                    \
                int r;                                                                                       \
                                                                                                             \
                if (c->n > 0 && c->epochs[c->n - 1].limits.epoch == epoch) {                                 \
                        *ret = &c->epochs[c->n - 1];                                                         \
                        return 0;                                                                            \
                }                                                                                            \
                if (c->n >= CAPACITY_EPOCHS_MAX)                                                             \
                        return -E2BIG;                                                                       \
                r = GREEDY_REALLOC(c->epochs, c->allocated, c->n + 1);                                       \
                if (r < 0)                                                                                   \
                        return r;                                                                            \
                c->epochs[c->n] = (Entry){                                                                   \
                        .limits = { .epoch = epoch, .start_ms = -1, .effective_cpus = NAN,                   \
                                    .memory_limit_bytes = NAN },                                             \
                        .end_ms = INT64_MAX,                                                                 \
                        .steal = NAN,                                                                        \
                };                                                                                           \
                *ret = &c->epochs[c->n++];                                                                   \
                return 0;                                                                                    \
        }

DEFINE_EPOCH_GET(curve_epoch_get, CapacityCurves, CapacityCurve)
DEFINE_EPOCH_GET(model_epoch_get, CapacityModels, CapacityModel)

/* Rows come by epoch and users, one per hour: consecutive rows of one level are summed. */
static int curve_load_row(const QueryCurveRow *row, void *userdata)
{
        CurveLoad *l = userdata;
        CapacityCurve *e;
        CurveAgg agg, *last;
        int r;

        r = curve_epoch_get(l->out, row->epoch, &e);
        if (r < 0)
                return r;
        r = curve_agg_from_row(row->users, row->n, row->sum, row->sumsq, row->max, row->hist, row->hist_size, &agg);
        /* A damaged histogram costs the p95 of this level, not the whole answer. */
        if (r == -EBADMSG && row->hist)
                r = curve_agg_from_row(row->users, row->n, row->sum, row->sumsq, row->max, NULL, 0, &agg);
        if (r == -EBADMSG) {
                l->skipped++;
                return 0;
        }
        if (r < 0)
                return r;

        last = e->n_levels > 0 ? &e->levels[e->n_levels - 1] : NULL;
        if (last && last->users == agg.users) {
                if (agg.n > 0) {
                        last->max = last->n == 0 ? agg.max : MAX(last->max, agg.max);
                        last->n += agg.n;
                        last->sum += agg.sum;
                        last->sumsq += agg.sumsq;
                }
                if (row->single && last->hist)
                        curve_hist_add(last->hist, row->sum);
                else if (agg.hist && !last->hist)
                        last->hist = TAKE_PTR(agg.hist);
                else if (agg.hist && curve_hist_merge(last->hist, agg.hist) < 0)
                        last->hist = curve_hist_free(last->hist); /* an overflow costs the p95 */
                curve_agg_done(&agg);
                return 0;
        }
        if (e->n_levels >= CAPACITY_LEVELS_MAX) {
                curve_agg_done(&agg);
                return -E2BIG;
        }
        if (row->single && !agg.hist) { /* a level that starts with a raw sample: its histogram too */
                r = curve_hist_new(&agg.hist);
                if (r < 0) {
                        curve_agg_done(&agg);
                        return r;
                }
                curve_hist_add(agg.hist, row->sum);
        }
        r = GREEDY_REALLOC(e->levels, e->alloc_levels, e->n_levels + 1);
        if (r < 0) {
                curve_agg_done(&agg);
                return r;
        }
        e->levels[e->n_levels++] = agg;
        return 0;
}

typedef struct EpochFill {
        CapacityCurve *curves;
        CapacityModel *models;
        size_t n;
        int64_t *prev_end; /* end_ms of the previous entry filled, to be set by the next epoch */
} EpochFill;

static QueryEpoch *epoch_limits(EpochFill *f, size_t i, int64_t **ret_end)
{
        *ret_end = f->curves ? &f->curves[i].end_ms : &f->models[i].end_ms;
        return f->curves ? &f->curves[i].limits : &f->models[i].limits;
}

/* Epochs come oldest first: each one ends where the next one starts. */
static int epoch_fill(const QueryEpoch *q, void *userdata)
{
        EpochFill *f = userdata;

        if (f->prev_end && q->start_ms >= 0)
                *f->prev_end = q->start_ms;
        f->prev_end = NULL;
        for (size_t i = 0; i < f->n; i++) {
                int64_t *end;
                QueryEpoch *dst = epoch_limits(f, i, &end);

                if (dst->epoch == q->epoch) {
                        *dst = *q;
                        f->prev_end = end;
                }
        }
        return 0;
}

/* ---- CPU steal per epoch, from the hourly trends ---- */

typedef struct StealAcc {
        EpochFill *epochs;
        double *sum, *n; /* per epoch, weighted by the share of each hour that lies in the epoch */
} StealAcc;

static int steal_add_hour(const QueryTrend *t, void *userdata)
{
        StealAcc *s = userdata;
        int64_t n = t->count[QUERY_STEAL_RATIO];

        if (n <= 0 || !isfinite(t->sum[QUERY_STEAL_RATIO]))
                return 0;
        /* An hour in which the limits changed counts for each epoch by the part of it the epoch holds: a
         * change 5 s into an hour gives that hour to the new epoch, nearly all of it. */
        for (size_t i = 0; i < s->epochs->n; i++) {
                int64_t *end;
                const QueryEpoch *e = epoch_limits(s->epochs, i, &end);
                int64_t lo = MAX(t->hour_ms, e->start_ms), hi = MIN(t->hour_ms + QUERY_HOUR_MS, *end);
                double w;

                if (hi <= lo)
                        continue;
                w = (double)(hi - lo) / (double)QUERY_HOUR_MS;
                s->sum[i] += w * t->sum[QUERY_STEAL_RATIO];
                s->n[i] += w * (double)n;
        }
        return 0;
}

/* Sets the steal of every epoch in f to the mean steal share of the trends hours that overlap both the
 * window and the epoch (NAN when the agent measured no steal there: a container). The trends hold every
 * sample, with or without a participant count, so this is the share over the epoch's whole time in the
 * window, at the cost of one row per hour. */
static int steal_load(Query *q, int64_t agent_num, int64_t from_ms, int64_t to_ms, EpochFill *f)
{
        _cleanup_free_ double *sum = NULL, *n = NULL;
        int r;

        if (f->n == 0)
                return 0;
        sum = calloc(f->n, sizeof(double));
        n = calloc(f->n, sizeof(double));
        if (!sum || !n)
                return -ENOMEM;
        r = query_trends(q, agent_num, from_ms - from_ms % QUERY_HOUR_MS, to_ms, steal_add_hour,
                         &(StealAcc){ .epochs = f, .sum = sum, .n = n });
        if (r < 0)
                return r;
        for (size_t i = 0; i < f->n; i++) {
                double *dst = f->curves ? &f->curves[i].steal : &f->models[i].steal;

                *dst = n[i] > 0 ? sum[i] / n[i] : NAN;
        }
        return 0;
}

/* A container's agent measures its cgroup, never the machine's /proc/stat: it has no steal, and its
 * trends need not be read for it (that read would cost a curve request most of its time). */
static bool virt_is_container(const char *virt)
{
        static const char *const containers[] = {"lxc", "openvz", "docker", "podman", "container-other"};

        for (size_t i = 0; i < ELEMENTSOF(containers); i++)
                if (streq(virt, containers[i]))
                        return true;
        return false;
}

/* Fills the limits, ends and steal of the epochs of a curve or model load. */
static int epochs_complete(Query *q, const QueryAgent *a, CurveMetric m, int64_t from_ms, int64_t to_ms, EpochFill *f)
{
        int r;

        r = query_epochs(q, a->num, epoch_fill, f);
        if (r < 0 || !capacity_metric_uses_steal(m) || virt_is_container(a->virt))
                return r;
        return steal_load(q, a->num, from_ms, to_ms, f);
}

static void curve_finish(CapacityCurve *e, const QueryAgent *a, CurveMetric m, const CapacityThresholds *t,
                         double threshold_override)
{
        _cleanup_free_ FitLevel *levels = NULL;
        size_t n = 0;
        double se;

        levels = calloc(MAX(e->n_levels, (size_t)1), sizeof(FitLevel));
        if (levels)
                for (size_t i = 0; i < e->n_levels; i++)
                        levels[n++] = (FitLevel){ .x = { (double)e->levels[i].users }, .users = (double)e->levels[i].users,
                                                  .n = e->levels[i].n, .sum = e->levels[i].sum,
                                                  .sumsq = e->levels[i].sumsq };
        fit_levels(levels, n, 1, &e->fit);
        e->slope_lo = e->slope_hi = NAN;
        fit_slope_along(&e->fit, (const double[]){ 1 }, NULL, &se);
        if (isfinite(se)) {
                e->slope_lo = e->fit.beta[1] - e->fit.t95 * se;
                e->slope_hi = e->fit.beta[1] + e->fit.t95 * se;
        }
        e->threshold = isfinite(threshold_override) ? threshold_override
                                                    : capacity_threshold(m, t, &e->limits, a, e->steal);
        fit_capacity(&e->fit, (const double[]){ 1 }, e->threshold, &e->capacity);
}

int capacity_curves_load(Query *q, const QueryAgent *a, CurveMetric m, int64_t from_ms, int64_t to_ms,
                         const CapacityThresholds *t, double threshold_override, CapacityCurves *ret)
{
        CapacityCurves c = { 0 };
        CurveLoad l = { .out = &c };
        int r;

        assert(q);
        assert(a);
        assert(t);
        assert(ret);

        r = query_window(q, a->num, (int)m, from_ms, to_ms, &c.window);
        if (r >= 0)
                r = query_curves(q, a->num, (int)m, &c.window, curve_load_row, &l);
        if (r >= 0)
                r = epochs_complete(q, a, m, from_ms, to_ms, &(EpochFill){ .curves = c.epochs, .n = c.n });
        if (r < 0) {
                capacity_curves_done(&c);
                return r;
        }
        if (l.skipped > 0)
                log_debug("Skipped %" PRIi64 " inconsistent curve rows of agent '%s'.", l.skipped, a->id);
        for (size_t i = 0; i < c.n; i++)
                curve_finish(&c.epochs[i], a, m, t, threshold_override);
        *ret = c;
        return 0;
}

void capacity_curves_done(CapacityCurves *c)
{
        if (!c)
                return;
        for (size_t i = 0; i < c->n; i++) {
                for (size_t j = 0; j < c->epochs[i].n_levels; j++)
                        curve_agg_done(&c->epochs[i].levels[j]);
                free(c->epochs[i].levels);
        }
        free(c->epochs);
        *c = (CapacityCurves){ 0 };
}

const CapacityCurve *capacity_curves_newest(const CapacityCurves *c)
{
        return c && c->n > 0 ? &c->epochs[c->n - 1] : NULL;
}

/* ---- the per-stream-type model ---- */

static int model_load_row(const QueryMixRow *row, void *userdata)
{
        CapacityModels *c = userdata;
        CapacityModel *e;
        int r;

        if (row->n <= 0 || !isfinite(row->sum))
                return 0;
        r = model_epoch_get(c, row->epoch, &e);
        if (r < 0)
                return r;
        if (e->n_levels >= CAPACITY_LEVELS_MAX)
                return -E2BIG;
        r = GREEDY_REALLOC(e->levels, e->alloc_levels, e->n_levels + 1);
        if (r < 0)
                return r;
        e->levels[e->n_levels++] = (FitLevel){
                .x = { (double)row->listeners, (double)row->voice, (double)row->video },
                .users = (double)row->users,
                .n = (uint64_t)row->n,
                .sum = row->sum,
                .sumsq = row->sumsq,
        };
        return 0;
}

int capacity_models_load(Query *q, const QueryAgent *a, CurveMetric m, int64_t from_ms, int64_t to_ms,
                         const double *mix, const CapacityThresholds *t, double threshold_override,
                         CapacityModels *ret)
{
        CapacityModels c = { 0 };
        int r;

        assert(q);
        assert(a);
        assert(t);
        assert(ret);

        r = query_window(q, a->num, (int)m, from_ms, to_ms, &c.window);
        if (r >= 0)
                r = query_curve_mix(q, a->num, (int)m, &c.window, model_load_row, &c);
        if (r >= 0)
                r = epochs_complete(q, a, m, from_ms, to_ms, &(EpochFill){ .models = c.epochs, .n = c.n });
        if (r < 0) {
                capacity_models_done(&c);
                return r;
        }
        for (size_t i = 0; i < c.n; i++) {
                CapacityModel *e = &c.epochs[i];

                fit_levels(e->levels, e->n_levels, 3, &e->fit);
                e->mix_observed = !mix;
                for (unsigned j = 0; j < 3; j++)
                        e->mix[j] = mix ? mix[j] : e->fit.mix[j];
                fit_slope_along(&e->fit, e->mix, &e->per_user, &e->per_user_se);
                e->threshold = isfinite(threshold_override) ? threshold_override
                                                            : capacity_threshold(m, t, &e->limits, a, e->steal);
                fit_capacity(&e->fit, e->mix, e->threshold, &e->capacity);
        }
        *ret = c;
        return 0;
}

void capacity_models_done(CapacityModels *c)
{
        if (!c)
                return;
        for (size_t i = 0; i < c->n; i++)
                free(c->epochs[i].levels);
        free(c->epochs);
        *c = (CapacityModels){ 0 };
}

int capacity_binding(const CapacityCurves *const curves[_CAPACITY_RESOURCE_MAX], CapacityResource *ret)
{
        double best = INFINITY;
        int found = -ENODATA;

        assert(ret);
        for (unsigned r = 0; r < _CAPACITY_RESOURCE_MAX; r++) {
                const CapacityCurve *e = capacity_curves_newest(curves[r]);

                if (e && isfinite(e->capacity.users) && e->capacity.users < best) {
                        best = e->capacity.users;
                        found = (int)r;
                }
        }
        if (found < 0)
                return found;
        *ret = (CapacityResource)found;
        return 0;
}
