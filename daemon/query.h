#pragma once
/* The read side of the store: SQL reads over schema/001_init.sql for the HTTP API. One Query is one
 * read-only SQLite connection with its prepared statements cached; it is used by one thread at a time
 * (each HTTP worker thread opens its own), so readers never take a lock that the ingest writer waits on
 * (WAL mode). Statements are reset as soon as a function returns, so no read transaction stays open
 * and checkpoints can proceed.
 *
 * Functions return 0 (or 1 = found) on success and -errno on failure (sqlite codes translated: BUSY ->
 * -EBUSY, else -EIO). Row callbacks get pointers valid only during the call; a callback returning < 0
 * stops the walk and that value is returned. */

#include <math.h>

#include "label.h"
#include "id.h"
#include "macro.h"

typedef struct Query Query;

#define QUERY_ID_MAX ID_MAX
#define QUERY_TEXT_MAX 255       /* hostnames, virt, cgroup paths, errors: longer values are cut */
#define QUERY_NETDEV_NAME_MAX 31 /* interface names (IFNAMSIZ is 16; kept roomy) */

/* The columns of a samples row that the API serves. The first QUERY_SERIES_MAX ones also exist in the
 * hourly trends table and are the metrics a series can ask for. */
typedef enum QueryColumn {
        QUERY_CPU_CORES,
        QUERY_CPU_RATIO,
        QUERY_THROTTLED_RATIO,
        QUERY_MEMORY_BYTES,
        QUERY_WORKING_SET_BYTES,
        QUERY_IO_READ_BPS,
        QUERY_IO_WRITE_BPS,
        QUERY_NET_RX_BPS,
        QUERY_NET_TX_BPS,
        QUERY_USERS,
        QUERY_STEAL_RATIO,
        QUERY_SERIES_MAX, /* end of the series metrics */
        QUERY_CACHE_BYTES = QUERY_SERIES_MAX,
        QUERY_ANON_BYTES,
        QUERY_SWAP_BYTES,
        QUERY_CPU_USAGE_USEC,
        QUERY_CPU_THROTTLED_USEC,
        QUERY_IO_READ_BYTES,
        QUERY_IO_WRITE_BYTES,
        QUERY_NET_RX_BYTES,
        QUERY_NET_TX_BYTES,
        QUERY_OOM_KILLS,
        QUERY_CPU_NR_PERIODS,
        QUERY_CPU_NR_THROTTLED,
        QUERY_CPU_STEAL_USEC,
        _QUERY_COLUMN_MAX,
} QueryColumn;

/* The column's name in the schema and the API ("cpu_ratio", ...). */
const char *query_column_to_string(QueryColumn c);
/* Looks a name up among the first max columns; -EINVAL when unknown. */
int query_column_from_string(const char *s, QueryColumn max, QueryColumn *ret);
/* Whether the column holds integers (bytes, counters, users) rather than rates. */
bool query_column_is_integer(QueryColumn c);

/* One samples row. NULL columns are NAN. */
typedef struct QuerySample {
        int64_t time_ms;
        int64_t seq;
        double v[_QUERY_COLUMN_MAX];
} QuerySample;

/* One hourly trends row: per series metric the count, min, sum and max of the non-NULL values. */
typedef struct QueryTrend {
        int64_t hour_ms;
        int64_t n;
        int64_t count[QUERY_SERIES_MAX];
        double min[QUERY_SERIES_MAX], sum[QUERY_SERIES_MAX], max[QUERY_SERIES_MAX];
} QueryTrend;

/* One agents row. Unknown numbers are NAN (or -1 for cgroup_version/cpu_count), unknown text "". */
typedef struct QueryAgent {
        int64_t num;
        char id[QUERY_ID_MAX + 1];
        char virt[QUERY_TEXT_MAX + 1];
        char hostname[QUERY_TEXT_MAX + 1];
        char bbb[QUERY_ID_MAX + 1];
        char transport[QUERY_TEXT_MAX + 1];
        char cgroup_mode[QUERY_TEXT_MAX + 1];
        char cgroup_path[QUERY_TEXT_MAX + 1];
        char agent_version[QUERY_TEXT_MAX + 1];
        char labels[LABELS_JSON_MAX + 1]; /* JSON object, "" when unknown */
        bool connected;
        int64_t cgroup_version; /* -1 unknown */
        int64_t cpu_count;      /* -1 unknown */
        double effective_cpus;
        double memory_limit_bytes;
        double swap_limit_bytes;
        double host_cpus;
        double host_memory_bytes;
        double first_seen_ms;
        double last_seen_ms;
        int64_t clock_offset_ms;
        int64_t agg_time_ms; /* trends and curves include every sample up to this time */
} QueryAgent;

typedef struct QueryNetdev {
        int64_t agent_num;
        char name[QUERY_NETDEV_NAME_MAX + 1];
        int64_t time_ms;
        double rx_bytes, tx_bytes, rx_packets, tx_packets, rx_errors, tx_errors, rx_dropped, tx_dropped;
} QueryNetdev;

typedef struct QueryBbb {
        char name[QUERY_ID_MAX + 1];
        int up; /* -1 unknown (never polled), 0, 1 */
        double last_poll_ms, last_ok_ms;
        char error[QUERY_TEXT_MAX + 1];                                                /* "" when none */
        double meetings, participants, listeners, voice, video, moderators, breakouts; /* NAN unknown */
} QueryBbb;

/* One curves row (one hour of one limits epoch). hist points into SQLite's memory, valid during the
 * callback only. */
typedef struct QueryCurveRow {
        int64_t epoch; /* 0: stored before limits epochs were recorded */
        int64_t users;
        int64_t n;
        double sum, sumsq, max;
        const uint8_t *hist;
        size_t hist_size;
        bool single; /* one raw sample of a cut hour: n 1, its value in sum and max, no histogram */
} QueryCurveRow;

#define QUERY_BUSY_TIMEOUT_MS 2000
#define QUERY_HIST_MAX (256 * 1024) /* larger curve histograms are refused as corrupt */

/* Opens db_path read-only (SQLITE_OPEN_READONLY, no mutex: one thread at a time) with a busy timeout.
 * The database must exist. */
int query_open(const char *db_path, Query **ret);
Query *query_free(Query *q);
DEFINE_TRIVIAL_CLEANUP_FUNC(Query *, query_free)

/* Starts and ends a read transaction, so that several reads see one snapshot. query_end() takes a
 * Query with no transaction open too. */
int query_begin(Query *q);
void query_end(Query *q);

typedef int (*QueryAgentCb)(const QueryAgent *a, const QuerySample *latest, void *userdata);

/* Calls cb for every agent, ordered by id, with its newest samples row (NULL when it has none). */
int query_agents(Query *q, QueryAgentCb cb, void *userdata);
/* Finds agent id. Returns 1 and *ret when found, 0 when unknown. */
int query_agent_find(Query *q, const char *id, QueryAgent *ret);
/* The newest samples row of agent num. Returns 1 and *ret, or 0 when it has none. */
int query_latest(Query *q, int64_t agent_num, QuerySample *ret);

typedef int (*QuerySampleCb)(const QuerySample *s, void *userdata);
typedef int (*QueryTrendCb)(const QueryTrend *t, void *userdata);

/* A set of columns, for reading only what is needed: decoding is most of the cost of a long scan. */
#define QUERY_COLUMN_BIT(c) (UINT64_C(1) << (c))
#define QUERY_COLUMNS_ALL ((UINT64_C(1) << _QUERY_COLUMN_MAX) - 1)

/* Raw samples of agent num with from_ms <= time_ms <= to_ms, ascending, at most limit rows (limit 0:
 * no limit). Only the columns in the mask are read; the others are NAN. */
int query_samples(Query *q, int64_t agent_num, int64_t from_ms, int64_t to_ms, uint64_t limit,
                  uint64_t columns, QuerySampleCb cb, void *userdata);
/* Hourly trends of agent num whose hour starts in [from_ms, to_ms], ascending. */
int query_trends(Query *q, int64_t agent_num, int64_t from_ms, int64_t to_ms, QueryTrendCb cb,
                 void *userdata);

#define QUERY_HOUR_MS (3600LL * 1000)

/* How a window [from_ms, to_ms] is read for one agent and metric. The aggregates are daily and hourly:
 * the UTC days the window covers whole are read from the daily rows, the other hours it covers whole from
 * the hourly rows, and an hour it cuts from the raw samples of its part of that hour, when those samples are all still there (raw retention is shorter than the aggregates') and
 * agree with the hour's aggregate. Otherwise that edge takes the whole hour, and the window is not exact.
 * Only what the aggregates hold is answered (samples up to the agent's agg_time_ms). */
typedef struct QueryWindow {
        int64_t hours[2][2];               /* hour_ms ranges [from, to] of the hourly rows read; from > to: none */
        int64_t days[2];                   /* day_ms range of the daily rows read: the days covered whole */
        int64_t raw[2][2];                 /* raw sample ranges [from, to] of the cut hours */
        int64_t answered_from, answered_to; /* the window the answer covers */
        bool exact;                        /* answered_from/to are the window asked for */
} QueryWindow;

/* Plans the read of [from_ms, to_ms] (from_ms <= 0: all history, with the undated rows of schema version
 * 1 too) for agent num and metric (daemon/curve.h's CurveMetric). */
int query_window(Query *q, int64_t agent_num, int metric, int64_t from_ms, int64_t to_ms, QueryWindow *ret);

typedef int (*QueryCurveCb)(const QueryCurveRow *r, void *userdata);
/* The curves of agent num and metric in window w, ordered by epoch and users: the rows of one (epoch,
 * users) come in a row (one per hour, and one per raw sample of a cut hour) for the caller to sum. */
int query_curves(Query *q, int64_t agent_num, int metric, const QueryWindow *w, QueryCurveCb cb,
                 void *userdata);

/* One participant mix of the per-stream model, summed over the window. */
typedef struct QueryMixRow {
        int64_t epoch, users, listeners, voice, video;
        int64_t n;
        double sum, sumsq;
} QueryMixRow;
typedef int (*QueryMixCb)(const QueryMixRow *r, void *userdata);
/* The curve_mix sums of agent num and metric in window w (as query_curves()), per epoch and mix,
 * ordered by epoch. */
int query_curve_mix(Query *q, int64_t agent_num, int metric, const QueryWindow *w, QueryMixCb cb,
                    void *userdata);

/* One limits epoch of an agent. Unknown limits are NAN. */
typedef struct QueryEpoch {
        int64_t epoch;
        int64_t start_ms;
        double effective_cpus, memory_limit_bytes;
} QueryEpoch;
typedef int (*QueryEpochCb)(const QueryEpoch *e, void *userdata);
/* The epochs of agent num, oldest first. */
int query_epochs(Query *q, int64_t agent_num, QueryEpochCb cb, void *userdata);

typedef int (*QueryNetdevCb)(const QueryNetdev *d, void *userdata);
/* Every netdev row, ordered by agent num and interface name. */
int query_netdev(Query *q, QueryNetdevCb cb, void *userdata);

typedef int (*QueryBbbCb)(const QueryBbb *b, void *userdata);
/* Every BBB server, ordered by name. */
int query_bbb(Query *q, QueryBbbCb cb, void *userdata);

/* One experiment created through the API (schema/005_experiments.sql). */
typedef struct QueryExperiment {
        char name[QUERY_ID_MAX + 1];
        int64_t start_ms, end_ms, created_ms;
} QueryExperiment;
typedef int (*QueryExperimentCb)(const QueryExperiment *e, void *userdata);
/* Every stored experiment, by name. */
int query_experiments(Query *q, QueryExperimentCb cb, void *userdata);
/* Finds the stored experiment name: 1 and *ret, 0 when there is none. */
int query_experiment_find(Query *q, const char *name, QueryExperiment *ret);

