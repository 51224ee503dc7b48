#pragma once
/* Per-user curves: running aggregates per participant count, a compact log-scale histogram for p95,
 * and the least-squares fit over every sample, computed exactly from the aggregates (so a curve over a
 * year costs what one over an hour does). Pure arithmetic on structs and buffers. OWNER: store helper
 * (aggregates are written on ingest); read by the HTTP query side. */

#include "macro.h"

typedef enum CurveMetric {
        CURVE_CPU_RATIO = 0,
        CURVE_CPU_CORES = 1,
        CURVE_WORKING_SET = 2,
        CURVE_NET_RX = 3,
        CURVE_NET_TX = 4,
        _CURVE_METRIC_MAX,
} CurveMetric;

const char *curve_metric_to_string(CurveMetric m); /* "cpu_ratio", "cpu_cores", "working_set_bytes",
                                                      "net_rx_bps", "net_tx_bps" */
int curve_metric_from_string(const char *s, CurveMetric *ret);

/* Log-scale histogram: buckets of 1/64 octave (about 1.1% wide), so a quantile is known to within about
 * 0.6%. Values <= 0 go to a zero bucket. Sparse when serialised. */
typedef struct CurveHist CurveHist;

/* One (agent, metric, users) aggregate. */
typedef struct CurveAgg {
        int64_t users;
        uint64_t n;
        double sum, sumsq, max;
        CurveHist *hist; /* owned */
} CurveAgg;

int curve_hist_new(CurveHist **ret);
CurveHist *curve_hist_free(CurveHist *h);
DEFINE_TRIVIAL_CLEANUP_FUNC(CurveHist *, curve_hist_free)
void curve_hist_add(CurveHist *h, double v);
/* The q-quantile (0..1) of what was added, NAN when empty. */
double curve_hist_quantile(const CurveHist *h, double q);
/* Serialises into a new buffer (sparse: (bucket, count) pairs). */
int curve_hist_serialize(const CurveHist *h, uint8_t **ret, size_t *ret_size);
/* Parses what curve_hist_serialize() wrote; -EBADMSG on garbage. */
int curve_hist_deserialize(const uint8_t *buf, size_t size, CurveHist **ret);

typedef struct CurveFit {
        double intercept, slope, r2;
        uint64_t n;
        bool valid; /* at least two distinct participant counts */
} CurveFit;

/* Ordinary least squares of value on users over every sample behind aggs (exact, from n, sum, sumsq). */
void curve_fit(const CurveAgg *aggs, size_t n_aggs, CurveFit *ret);

/* Participants at which the fit reaches threshold, or -1 when it never does (slope <= 0). */
double curve_capacity(const CurveFit *fit, double threshold);
