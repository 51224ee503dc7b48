#pragma once
/* What the store derives from a sample before any SQL: rates from the previous sample of the same agent,
 * and the hourly trend and per-participant curve deltas that an aggregate flush adds to the database.
 * Pure: no SQLite, no I/O, nothing but memory; unit-tested alone (tests/unit/test-store-derive.c). */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../curve.h"

/* Columns of a stored row, in the order of the samples INSERT (store-migrate.c). */
enum { R_CPU_CORES, R_CPU_RATIO, R_THROTTLED_RATIO, R_IO_READ, R_IO_WRITE, R_NET_RX, R_NET_TX, R_STEAL_RATIO, _R_MAX };
enum { G_MEMORY, G_WORKING_SET, G_CACHE, G_ANON, G_SWAP, _G_MAX };
enum {
        C_CPU_USAGE,
        C_THROTTLED_USEC,
        C_IO_READ,
        C_IO_WRITE,
        C_NET_RX,
        C_NET_TX,
        C_OOM_KILLS,
        C_NR_PERIODS,
        C_NR_THROTTLED,
        C_STEAL_USEC,
        _C_MAX
};

/* One sample as it will be stored. NAN and -1 stand for NULL (every stored integer is >= 0). */
typedef struct Row {
        int64_t time_ms, seq;
        int32_t users, listeners, voice, video; /* -1 unknown */
        int64_t epoch;                          /* limits epoch, -1 unknown (recovered old rows) */
        uint32_t next; /* the agent's next pending row, in arrival order */
        double rate[_R_MAX];
        int64_t gauge[_G_MAX];
        int64_t counter[_C_MAX];
} Row;

/* The previous sample of an agent, as far as rates need it. */
typedef struct Prev {
        bool valid;
        int64_t time_ms;
        int n_net; /* interfaces summed into C_NET_*, -1 unknown */
        int64_t counter[_C_MAX];
} Prev;

/* Hourly trend columns, in the schema's order. */
enum {
        T_CPU_CORES,
        T_CPU_RATIO,
        T_THROTTLED_RATIO,
        T_MEMORY,
        T_WORKING_SET,
        T_IO_READ,
        T_IO_WRITE,
        T_NET_RX,
        T_NET_TX,
        T_USERS,
        T_STEAL_RATIO,
        _T_MAX
};

typedef struct TrendAcc {
        int64_t n;
        double min, sum, max;
} TrendAcc;

/* What one commit adds to a trends row. */
typedef struct TrendDelta {
        int64_t hour_ms;
        int64_t n;
        TrendAcc col[_T_MAX];
} TrendDelta;

typedef struct CurveAcc {
        uint64_t n;
        double sum, sumsq, max;
        CurveHist *hist;
} CurveAcc;

/* What one commit adds to the curves rows of one hour, limits epoch and participant count, and to
 * the curve_mix rows of that participant mix (listeners -1: mix unknown, curves only). */
typedef struct CurveDelta {
        int64_t hour_ms, epoch;
        int32_t users, listeners, voice, video;
        CurveAcc m[_CURVE_METRIC_MAX];
} CurveDelta;

/* The trend and curve deltas of one agent since its last aggregate flush, newest last. */
typedef struct TrendDeltas {
        TrendDelta *d;
        size_t n, alloc;
} TrendDeltas;

typedef struct CurveDeltas {
        CurveDelta *d;
        size_t n, alloc;
} CurveDeltas;

/* Fills the derived rates of row (NAN where unknown) from prev, the agent's sample just before it in
 * time. n_net is the number of interfaces summed into row's network counters (-1 unknown): a sum over a
 * different set of interfaces than prev's gives no network rate. effective_cpus (NAN unknown) turns
 * cores into ratios. */
void derive_rates(Row *row, const Prev *prev, int n_net, double effective_cpus);

/* Folds row into the delta of its hour. Returns 0 or -ENOMEM. */
int derive_trend_add(TrendDeltas *t, const Row *row);

/* Folds row into the curve delta of its hour, limits epoch, participant count and mix; a row without a
 * participant count is in no curve. Returns 0 or -ENOMEM. */
int derive_curve_add(CurveDeltas *c, const Row *row);

/* Empties the deltas after a flush wrote them (keeping their memory); derive_curves_free() also frees it. */
void derive_trends_clear(TrendDeltas *t);
void derive_curves_clear(CurveDeltas *c);
void derive_trends_free(TrendDeltas *t);
void derive_curves_free(CurveDeltas *c);
