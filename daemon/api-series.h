#pragma once
/* An agent's history as rows {"time_ms":..., metric: value, ...}: raw rows, buckets aggregated from the
 * samples (finished ones cached, series-cache.h), or hourly trends, chosen by the range and the step
 * asked for (docs/http.md). */

#include "api.h"

#define API_SERIES_LIMIT_DEFAULT 10000 /* rows of a series answer */
#define API_SERIES_LIMIT_MAX 100000
#define API_SERIES_POINTS_DEFAULT 1000              /* points of a series when no step is asked for */
#define API_SERIES_RANGE_DEFAULT_MS (3600LL * 1000) /* from defaults to to - 1 h */
#define API_SERIES_RANGE_MAX_MS (10LL * 366 * 24 * 3600 * 1000) /* longer ranges are refused */
#define API_SERIES_RAW_RANGE_MAX_MS (48LL * 3600 * 1000)        /* longer ranges read hourly trends */

/* The series of agent id: from=, to=, step=, metrics=, limit=, agg=. Says how it was answered in
 * X-Seatmeter-Source (raw, samples, trends), X-Seatmeter-Step-Ms and X-Seatmeter-Cached-Buckets, and where
 * a raw answer cut at limit goes on in X-Seatmeter-Next-From. */
int api_route_series(Query *q, const ApiRequest *req, const char *id, ApiResponse *ret);

/* Parses a series step: "raw", a number of milliseconds, or a number with a unit (ms, s, m, h, d).
 * Returns 0 and the step in ms (0 for "raw"), -EINVAL on anything else, -ERANGE when it exceeds
 * API_SERIES_RANGE_MAX_MS or is zero. */
int api_parse_step(const char *s, int64_t *ret_ms);

/* The series plan for [from_ms, to_ms] with the step asked for (0: none, -1: raw) and the row limit:
 * the step actually used (a "nice" value, so that at most limit points come out), and whether hourly
 * trends answer instead of raw rows. Pure; see docs/http.md for the rule. */
typedef struct ApiSeriesPlan {
        bool raw;        /* rows as stored, no aggregation */
        bool trends;     /* hourly trends (step a multiple of an hour) */
        int64_t step_ms; /* bucket width; 0 when raw */
} ApiSeriesPlan;
void api_series_plan(int64_t from_ms, int64_t to_ms, int64_t step_ms, uint64_t limit, ApiSeriesPlan *ret);
