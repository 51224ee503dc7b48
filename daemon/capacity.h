#pragma once
/* Capacity planning answers: per agent, metric and limits epoch over a time window, the per-user curve
 * (points, fit with intervals, capacity), the per-stream-type model, and the resource that binds first.
 * Reads the windowed aggregates through a Query and does the arithmetic with fit.c; the HTTP side only
 * renders what comes out. docs/curves.md describes every figure. */

#include "config.h"
#include "curve.h"
#include "fit.h"
#include "query.h"

#define CAPACITY_CPU_DEFAULT 0.8
#define CAPACITY_MEMORY_DEFAULT 1.0
#define CAPACITY_NET_DEFAULT 0.8
#define CAPACITY_EPOCHS_MAX 1024   /* limits epochs answered per agent and metric */
#define CAPACITY_LEVELS_MAX 100000 /* levels (participant counts or mixes) per epoch */

/* Fills unset values of t from fallback (the site's, then the built-in defaults). */
void capacity_thresholds_merge(CapacityThresholds *t, const CapacityThresholds *fallback);

/* One metric's curve in one limits epoch. */
typedef struct CapacityCurve {
        QueryEpoch limits;      /* epoch 0 and NAN limits for rows stored before epochs existed */
        int64_t end_ms;         /* start of the next epoch, INT64_MAX for the newest */
        double steal;           /* mean CPU steal share over the epoch's hours in the window, NAN: none */
        CurveAgg *levels;       /* by users ascending, owned */
        size_t n_levels, alloc_levels;
        FitResult fit;
        double slope_lo, slope_hi; /* 95% interval of the slope (NAN without one) */
        double threshold;       /* in the metric's unit, lowered by steal (see capacity_threshold()), NAN: none */
        FitCapacity capacity;
} CapacityCurve;

typedef struct CapacityCurves {
        CapacityCurve *epochs; /* oldest first, only epochs with points in the window */
        size_t n, allocated;
        QueryWindow window;    /* how the window was read: exact, or which whole hours */
} CapacityCurves;

/* The threshold of metric m for an agent under limits (falling back to the agent's current limits when
 * the epoch's are unknown), from t (merged, see above). NAN when none is known.
 *
 * steal is the mean CPU steal share (of the effective CPUs) the guest saw, NAN when it measured none (a
 * container): the vCPU time the hypervisor gave to others is not the guest's to use, so a CPU threshold
 * is lowered by it, as if the steal were usage: cpu_ratio's threshold becomes cpu - steal (cpu_cores': that
 * times the CPUs), floored at 0. Other metrics ignore it. */
double capacity_threshold(CurveMetric m, const CapacityThresholds *t, const QueryEpoch *limits, const QueryAgent *a,
                          double steal);

/* Whether the capacity of metric m is lowered by CPU steal (cpu_ratio, cpu_cores). */
bool capacity_metric_uses_steal(CurveMetric m);

/* Reads the curve of agent a and metric m over [from_ms, to_ms] (see QueryWindow), per limits epoch, fits
 * each and projects its capacity at the threshold (threshold_override when finite). -E2BIG when an
 * epoch holds more than CAPACITY_LEVELS_MAX levels, other -errno from the query. */
int capacity_curves_load(Query *q, const QueryAgent *a, CurveMetric m, int64_t from_ms, int64_t to_ms,
                         const CapacityThresholds *t, double threshold_override, CapacityCurves *ret);
void capacity_curves_done(CapacityCurves *c);
/* The newest epoch of c, NULL when it has none. */
const CapacityCurve *capacity_curves_newest(const CapacityCurves *c);

/* The per-stream-type model of one metric in one epoch: value = base + a*listeners + b*voice + c*video. */
typedef struct CapacityModel {
        QueryEpoch limits;
        int64_t end_ms;   /* as in CapacityCurve */
        double steal;
        FitLevel *levels; /* owned */
        size_t n_levels, alloc_levels;
        FitResult fit;
        double mix[FIT_PARAMS_MAX - 1]; /* the mix the capacity is for */
        bool mix_observed;              /* the data's own mix (no mix given) */
        double per_user, per_user_se;   /* cost of one participant of that mix */
        double threshold;
        FitCapacity capacity;
} CapacityModel;

typedef struct CapacityModels {
        CapacityModel *epochs;
        size_t n, allocated;
        QueryWindow window;
} CapacityModels;

/* Reads and fits the model of agent a and metric m over the window, per epoch; the capacity for mix (3
 * shares per participant, NULL: the observed mix of each epoch). */
int capacity_models_load(Query *q, const QueryAgent *a, CurveMetric m, int64_t from_ms, int64_t to_ms,
                         const double *mix, const CapacityThresholds *t, double threshold_override,
                         CapacityModels *ret);
void capacity_models_done(CapacityModels *c);

/* The resources a capacity can run out of. */
typedef enum CapacityResource {
        CAPACITY_CPU,     /* cpu_ratio against the CPU threshold */
        CAPACITY_MEMORY,  /* working_set_bytes against the memory limit */
        CAPACITY_NET_RX,  /* net_rx_bps against the link */
        CAPACITY_NET_TX,
        _CAPACITY_RESOURCE_MAX,
} CapacityResource;

const char *capacity_resource_to_string(CapacityResource r); /* "cpu", "memory", "net_rx", "net_tx" */
CurveMetric capacity_resource_metric(CapacityResource r);

/* Which resource runs out first: the smallest finite capacity among the newest epochs' curves (NULL
 * entries are skipped). Returns the resource, or -ENODATA when none has a capacity. */
int capacity_binding(const CapacityCurves *const curves[_CAPACITY_RESOURCE_MAX], CapacityResource *ret);
