#pragma once
/* Capacity planning arithmetic: least squares over participant levels with standard errors, 95%
 * intervals (Student t), the capacity where a fit reaches a threshold with its Fieller interval, and the
 * participant mix of a model. Pure: structs in, structs out, no I/O. docs/curves.md says why each choice.
 *
 * A level is one distinct combination of regressors (a participant count, or a listeners/voice/video
 * mix) with the running aggregates of the samples taken at it (n, sum, sum of squares). Each level with
 * at least FIT_LEVEL_MIN_SAMPLES samples counts once, whatever its duration: its mean is one observation.
 * So an idle night of 30,000 samples weighs what a 3-minute level does, and the scatter of the level
 * means around the fit (which also holds what one second's samples share with the next) sets the
 * interval, with levels - parameters degrees of freedom. */

#include "macro.h"

#define FIT_PARAMS_MAX 4           /* intercept + at most 3 regressors (listeners, voice, video) */
#define FIT_LEVEL_MIN_SAMPLES 3    /* fewer samples at a level: shown, not fitted */
#define FIT_SAMPLES_MIN 30         /* fewer samples in all: the fit is flagged as too thin */
#define FIT_MIX_MAX 100.0          /* a mix share (streams per participant) above this is refused */
#define FIT_MIX_TEXT_MAX 256       /* bytes of a mix argument */

typedef struct FitLevel {
        double x[FIT_PARAMS_MAX - 1]; /* the regressors of this level (participants, or listeners/voice/video) */
        double users;                 /* participants at this level, for the observed mix (NAN unknown) */
        uint64_t n;
        double sum, sumsq;
} FitLevel;

typedef enum FitQuality {
        FIT_OK,
        FIT_TOO_FEW_SAMPLES,  /* a fit, but on fewer than FIT_SAMPLES_MIN samples */
        FIT_TOO_FEW_LEVELS,   /* no interval: not more levels than parameters */
        FIT_NONE,             /* no fit at all (no usable level, or nothing varies) */
} FitQuality;

const char *fit_quality_to_string(FitQuality q); /* "ok", "too_few_samples", "too_few_levels", "none" */

typedef struct FitResult {
        unsigned k;                       /* regressors asked for */
        bool active[FIT_PARAMS_MAX];      /* [0] intercept, always; [1 + j] regressor j varied and was fitted */
        double beta[FIT_PARAMS_MAX];      /* NAN when inactive */
        double se[FIT_PARAMS_MAX];        /* standard errors, NAN without an interval */
        double cov[FIT_PARAMS_MAX][FIT_PARAMS_MAX];
        double r2;                        /* of the level means */
        double sigma;                     /* residual standard deviation of a level mean */
        double t95;                       /* two-sided 95% Student t quantile for dof, NAN when dof = 0 */
        unsigned dof;
        size_t levels;                    /* levels fitted */
        uint64_t samples;                 /* samples behind them */
        double x_max[FIT_PARAMS_MAX - 1]; /* largest regressor values fitted */
        double users_max;                 /* largest participant count fitted (NAN unknown) */
        double mix[FIT_PARAMS_MAX - 1];   /* observed regressor per participant, sample-weighted (NAN unknown) */
        FitQuality quality;
        bool valid;                       /* beta usable (quality FIT_OK, _TOO_FEW_SAMPLES or _TOO_FEW_LEVELS) */
} FitResult;

/* Fits value = beta0 + sum_j beta[1+j] * x[j] (j < k) over the levels, each counted once (see above).
 * A regressor that does not vary over the levels, or that repeats a combination of the others, is left
 * out (active false). Never fails: ret->quality says what the fit is worth. */
void fit_levels(const FitLevel *levels, size_t n_levels, unsigned k, FitResult *ret);

/* Two-sided 95% quantile of Student's t with dof degrees of freedom (NAN for 0), to 3 decimals. */
double fit_t95(unsigned dof);

typedef struct FitCapacity {
        double users;       /* where the fit reaches the threshold; NAN: never (flat or falling) */
        double lo, hi;      /* 95% interval; hi INFINITY when the slope is not surely positive; NAN unknown */
        bool extrapolated;  /* users beyond the largest participant count fitted */
} FitCapacity;

/* The participant count at which beta0 + users * (per_user . beta[1..]) reaches threshold, with the
 * Fieller 95% interval (honest when the slope is uncertain: the upper end becomes unbounded). per_user
 * holds, per regressor, what one participant adds to it (1 for a fit on participants; the mix for the
 * model); inactive regressors count as 0. users 0 when the threshold is already reached. */
void fit_capacity(const FitResult *fit, const double *per_user, double threshold, FitCapacity *ret);

/* The per-participant slope along per_user and its standard error (NAN without an interval). */
void fit_slope_along(const FitResult *fit, const double *per_user, double *ret_slope, double *ret_se);

/* Parses a participant mix: three non-negative shares "L,V,C" (listeners, voice, video per participant)
 * or named "listeners:L,voice:V,video:C" in any order (names may be abbreviated to l, v, c; missing
 * ones are 0). Shares are per participant and may overlap (a webcam user usually also has a microphone),
 * so they need not add up to 1. -EINVAL on anything else (never reads past size). */
int fit_mix_parse(const char *s, size_t size, double ret[static FIT_PARAMS_MAX - 1]);
