#pragma once
/* A bounded cache of aggregated series buckets, shared by the HTTP threads. A 24-hour series at 1 s
 * resolution scans 86,400 rows; a dashboard asks for it again every few seconds while only its newest
 * buckets change. Buckets that lie in the past are kept here with the sample count of their hour in the
 * trends table when they were computed: a later sample in that hour (a backfill) changes that count, so
 * the stale bucket is recomputed, never served. Direct-mapped: a colliding bucket replaces the old one. */

#include "macro.h"
#include "query.h"

#define SERIES_CACHE_SLOTS 16384 /* about 6 MiB when full */

typedef struct SeriesBucket {
        double count[QUERY_SERIES_MAX];
        double sum[QUERY_SERIES_MAX];
        double min[QUERY_SERIES_MAX];
        double max[QUERY_SERIES_MAX];
} SeriesBucket;

typedef struct SeriesKey {
        int64_t agent_num;
        int64_t step_ms;
        int64_t bucket_ms;
        uint64_t columns; /* the metrics the bucket was computed for */
        int64_t hour_n;   /* samples in the bucket's hour per the trends table, at computation time */
} SeriesKey;

typedef struct SeriesCache SeriesCache;

int series_cache_new(size_t slots, SeriesCache **ret);
SeriesCache *series_cache_free(SeriesCache *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(SeriesCache *, series_cache_free)

/* Both take NULL (no cache). Copies the bucket stored under key (all fields equal, hour_n included) into
 * *ret and returns true. */
bool series_cache_get(SeriesCache *c, const SeriesKey *key, SeriesBucket *ret);
void series_cache_put(SeriesCache *c, const SeriesKey *key, const SeriesBucket *b);

/* Lookups and hits since start, for tests and the docs' figures. */
void series_cache_stats(SeriesCache *c, uint64_t *ret_lookups, uint64_t *ret_hits);
