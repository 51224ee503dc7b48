#pragma once
/* Per-user curves: running aggregates per participant count, a compact log-scale histogram for p95,
 * and the least-squares fit over every sample, computed exactly from the aggregates (so a curve over a
 * year costs what one over an hour does). Pure arithmetic on structs and buffers. The store
 * writes the aggregates on ingest; the HTTP query side reads them. */

#include "macro.h"

typedef enum CurveMetric {
        CURVE_CPU_RATIO = 0,
        CURVE_CPU_CORES = 1,
        CURVE_WORKING_SET = 2,
        CURVE_NET_RX = 3,
        CURVE_NET_TX = 4,
        CURVE_STEAL_RATIO = 5, /* share of the effective CPUs stolen by the hypervisor (KVM guests) */
        _CURVE_METRIC_MAX,
} CurveMetric;

const char *curve_metric_to_string(CurveMetric m); /* "cpu_ratio", "cpu_cores", "working_set_bytes",
                                                      "net_rx_bps", "net_tx_bps", "steal_ratio" */
int curve_metric_from_string(const char *s, CurveMetric *ret);

/* Log-scale histogram: buckets of 1/64 octave (about 1.1% wide), so a quantile is known to within about
 * 0.6%. Values <= 0 go to a zero bucket. Sparse when serialised. */
typedef struct CurveHist CurveHist;

#define CURVE_HIST_VERSION 1               /* first byte of the serialised form */
#define CURVE_HIST_PER_OCTAVE 64
#define CURVE_HIST_MIN_EXP (-32)           /* values below 2^-32 count as zero */
#define CURVE_HIST_MAX_EXP 64              /* values of 2^64 and more go to the top bucket */
#define CURVE_HIST_BUCKETS ((CURVE_HIST_MAX_EXP - CURVE_HIST_MIN_EXP) * CURVE_HIST_PER_OCTAVE)
#define CURVE_HIST_SERIALIZED_MAX (128 * 1024) /* larger blobs are refused; the densest fits in ~74 KiB */

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
/* Parses what curve_hist_serialize() wrote; -EBADMSG on garbage (any input, at most
 * CURVE_HIST_SERIALIZED_MAX bytes, else -EMSGSIZE), -ENOMEM. */
int curve_hist_deserialize(const uint8_t *buf, size_t size, CurveHist **ret);
/* Adds every count of src to dst. -EOVERFLOW if a count would wrap (dst unchanged), -ENOMEM. */
int curve_hist_merge(CurveHist *dst, const CurveHist *src);
/* Number of values added (zero bucket included). */
uint64_t curve_hist_count(const CurveHist *h);

typedef struct CurveFit {
        double intercept, slope, r2;
        uint64_t n;
        bool valid; /* at least two distinct participant counts */
} CurveFit;

/* Ordinary least squares of value on users over every sample behind aggs (exact, from n, sum, sumsq). */
void curve_fit(const CurveAgg *aggs, size_t n_aggs, CurveFit *ret);

/* Participants at which the fit reaches threshold, or -1 when it never does (slope <= 0, or no valid
 * fit); 0 when the fit is at or above the threshold already with no participant. */
double curve_capacity(const CurveFit *fit, double threshold);

/* Fills *ret from one row of the curves table (users, n, sum, sumsq, max, hist), as the HTTP side reads
 * it; blob may be NULL (no histogram: p95 unknown). -EBADMSG for a damaged blob or inconsistent numbers
 * (negative or non-finite sums, n == 0 with values). Free with curve_agg_done(). */
int curve_agg_from_row(int64_t users, int64_t n, double sum, double sumsq, double max, const void *blob,
                       size_t blob_size, CurveAgg *ret);
/* Frees what *a owns (the histogram) and leaves it empty. */
void curve_agg_done(CurveAgg *a);

/* What a curve point answers: mean, standard deviation (population) and p95 of the samples behind a;
 * NAN for what is unknown (no samples; p95 without histogram). p95 is clamped to a->max, since a bucket's
 * centre can lie slightly above the largest value. Every out-parameter may be NULL. */
void curve_point_stats(const CurveAgg *a, double *ret_mean, double *ret_stddev, double *ret_p95);
