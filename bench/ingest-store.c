/* Ingest throughput of the store, beside the raw insert rate of the same rows.
 *
 *   ingest-store [--agents N] [--samples N] [--commit N] [--dir DIR] [--curve-days N]
 *
 * 1. store: N agents' samples interleaved (one sample of every agent per second, as a daemon receives
 *    them), through store_add_sample() and store_commit() every --commit samples, into a fresh database.
 * 2. raw: the same rows in the same order into the same samples table of another fresh database, by a
 *    minimal loop (one prepared INSERT, the same pragmas: WAL, synchronous=NORMAL, the same commit size),
 *    with no rates, trends, curves or dedup.
 * Prints both rates, their ratio and the database bytes per stored sample. With --curve-days N it also
 * stores N days of one agent at one sample per second and times a curve query over all of it (the SQL an
 * HTTP reader runs, the histogram parsing and the fit). Everything lives in a temporary folder that is
 * removed at the end. */

#include <getopt.h>
#include <math.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include "daemon/capacity.h"
#include "daemon/curve.h"
#include "daemon/ingest-wire.h"
#include "daemon/query.h"
#include "daemon/store.h"
#include "log.h"
#include "schema-files.h"
#include "util.h"

#define BENCH_AGENTS_MAX 10000
#define BENCH_SAMPLES_MAX 100000000ULL
#define BENCH_CURVE_DAYS_MAX 3650
#define BENCH_DIR_MAX 1024
#define BENCH_ID_MAX 24

static unsigned arg_agents = 100;
static uint64_t arg_samples = 1000000;
static unsigned arg_commit = 5000;
static const char *arg_dir = NULL;
static unsigned arg_curve_days = 0;

/* The synthetic sample number i of the run: agent i % agents at second i / agents. */
typedef struct Gen {
        int64_t t0;
        unsigned agents;
        char (*ids)[BENCH_ID_MAX];
} Gen;

typedef struct GenSample {
        Seatmeter__Sample s;
        Seatmeter__NetDev nd;
        Seatmeter__NetDev *ndp[1];
        int users;
        unsigned agent;
} GenSample;

/* The participant count of agent a in minute m: 0..49, one more each minute, per agent shifted. */
static unsigned users_at(uint64_t m, unsigned a)
{
        return (unsigned)((m + a) % 50);
}

/* Sum of the participant counts over the seconds before step, so that cumulative counters grow by a
 * fixed cost per participant and second, as a real load would. */
static uint64_t user_seconds(uint64_t step, unsigned a)
{
        uint64_t m = step / 60, sum = (m / 50) * 60 * (49 * 50 / 2);

        for (uint64_t j = (m / 50) * 50; j < m; j++)
                sum += 60 * users_at(j, a);
        return sum + (step % 60) * users_at(m, a);
}

static void gen_sample(const Gen *g, uint64_t i, GenSample *ret)
{
        uint64_t step = i / g->agents, us = user_seconds(step + 1, (unsigned)(i % g->agents));
        unsigned a = (unsigned)(i % g->agents);
        /* A participant count that moves every minute, a load that follows it: 0.005 cores plus 0.01
         * per participant, 1 kB/s in plus 120 kB/s per participant. */
        int users = (int)users_at(step / 60, a);

        seatmeter__sample__init(&ret->s);
        seatmeter__net_dev__init(&ret->nd);
        ret->agent = a;
        ret->users = users;
        ret->s.has_seq = ret->s.has_time_ms = true;
        ret->s.seq = step + 1;
        ret->s.time_ms = g->t0 + (int64_t)step * 1000;
        ret->s.has_cpu_usage_usec = ret->s.has_cpu_nr_periods = ret->s.has_cpu_nr_throttled = true;
        ret->s.cpu_usage_usec = step * 5000 + us * 10000;
        ret->s.cpu_nr_periods = step * 10;
        ret->s.cpu_nr_throttled = step;
        ret->s.has_cpu_throttled_usec = true;
        ret->s.cpu_throttled_usec = step * 1000;
        ret->s.has_memory_usage_bytes = ret->s.has_memory_working_set_bytes = true;
        ret->s.memory_usage_bytes = (1ULL << 30) + (uint64_t)users * (40ULL << 20) + (step % 97) * 4096;
        ret->s.memory_working_set_bytes = ret->s.memory_usage_bytes - (200ULL << 20);
        ret->s.has_memory_cache_bytes = ret->s.has_memory_anon_bytes = true;
        ret->s.memory_cache_bytes = 300ULL << 20;
        ret->s.memory_anon_bytes = ret->s.memory_working_set_bytes - (100ULL << 20);
        ret->s.has_io_read_bytes = ret->s.has_io_write_bytes = true;
        ret->s.io_read_bytes = step * 4096;
        ret->s.io_write_bytes = step * 65536;
        ret->nd.name = (char *)"eth0";
        ret->nd.has_rx_bytes = ret->nd.has_tx_bytes = true;
        ret->nd.rx_bytes = step * 1000 + us * 120000;
        ret->nd.tx_bytes = step * 2000 + us * 180000;
        ret->ndp[0] = &ret->nd;
        ret->s.net = ret->ndp;
        ret->s.n_net = 1;
}

static double elapsed_s(uint64_t start)
{
        return (double)(now_usec(CLOCK_MONOTONIC) - start) / 1e6;
}

static int64_t file_size(const char *path)
{
        struct stat st;

        return stat(path, &st) < 0 ? 0 : (int64_t)st.st_size;
}

/* The database and its WAL, as stored on disk. */
static int64_t db_bytes(const char *path)
{
        char wal[BENCH_DIR_MAX + 128];

        (void)snprintf(wal, sizeof(wal), "%s-wal", path);
        return file_size(path) + file_size(wal);
}

static int run_store(const Gen *g, const char *path, uint64_t n, double *ret_rate)
{
        _cleanup_(store_freep) Store *s = NULL;
        uint64_t start;
        static SampleBuf sample_buf;
        GenSample gs;
        int r;

        r = store_open(path, &s);
        if (r < 0)
                return r;

        /* Every agent says Hello with 4 CPUs, so cpu_ratio is derived as in production. */
        for (unsigned a = 0; a < g->agents; a++) {
                Seatmeter__Hello h = SEATMETER__HELLO__INIT;
                Seatmeter__Limits l = SEATMETER__LIMITS__INIT;
                AgentHello ah;
                StoreAgentInfo info = { .id = g->ids[a], .hello = &ah, .transport = "unix", .now_ms = now_ms() };

                l.has_effective_cpus = true;
                l.effective_cpus = 4;
                h.limits = &l;
                h.agent_id = g->ids[a];
                hello_from_wire(&h, &ah);
                r = store_agent_hello(s, &info, NULL, NULL);
                if (r < 0)
                        return log_error_errno(r, "Hello of '%s' failed: %m", g->ids[a]);
        }

        start = now_usec(CLOCK_MONOTONIC);
        for (uint64_t i = 0; i < n; i++) {
                gen_sample(g, i, &gs);
                /* A mix that moves with the count: a third with a microphone, a webcam per ten. */
                /* As the ingest hands it over: converted from the wire. */
                sample_from_wire(&gs.s, &sample_buf);
                r = store_add_sample_counts(s, g->ids[gs.agent], &sample_buf.sample,
                                            &(const StoreCounts){ .users = gs.users, .listeners = gs.users - gs.users / 3,
                                                                  .voice = gs.users / 3, .video = gs.users / 10 });
                if (r != 1)
                        return log_error_errno(r < 0 ? r : EEXIST, "Sample %llu not stored: %m",
                                               (unsigned long long)i);
                if (store_pending(s) >= arg_commit) {
                        r = store_commit(s);
                        if (r < 0)
                                return log_error_errno(r, "Commit failed: %m");
                }
        }
        r = store_commit(s);
        if (r < 0)
                return log_error_errno(r, "Commit failed: %m");
        *ret_rate = (double)n / elapsed_s(start);
        return 0;
}

#define SQLITE_CHECK(expr)                                                                                   \
        do {                                                                                                 \
                int _rc_ = (expr);                                                                           \
                if (_rc_ != SQLITE_OK && _rc_ != SQLITE_DONE && _rc_ != SQLITE_ROW)                          \
                        return log_error_errno(-store_errno(_rc_), "%s: %s", #expr, sqlite3_errstr(_rc_));    \
        } while (0)

/* The minimal loop: one prepared INSERT of the same 25 columns, the same commit size and pragmas. */
static int run_raw(const Gen *g, const char *path, uint64_t n, double *ret_rate)
{
        sqlite3 *db = NULL;
        sqlite3_stmt *st = NULL;
        uint64_t start;
        GenSample gs;
        int rc;

        SQLITE_CHECK(sqlite3_open(path, &db));
        SQLITE_CHECK(sqlite3_exec(db, "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;", NULL, NULL, NULL));
        SQLITE_CHECK(sqlite3_exec(db, (const char *)schema_files[0].data, NULL, NULL, NULL));
        SQLITE_CHECK(sqlite3_prepare_v2(
                db,
                "INSERT INTO samples (agent, time_ms, seq, users, cpu_cores, cpu_ratio, throttled_ratio,"
                " io_read_bps, io_write_bps, net_rx_bps, net_tx_bps, memory_bytes, working_set_bytes, cache_bytes,"
                " anon_bytes, swap_bytes, cpu_usage_usec, cpu_throttled_usec, io_read_bytes, io_write_bytes,"
                " net_rx_bytes, net_tx_bytes, oom_kills, cpu_nr_periods, cpu_nr_throttled)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                -1, &st, NULL));

        start = now_usec(CLOCK_MONOTONIC);
        SQLITE_CHECK(sqlite3_exec(db, "BEGIN", NULL, NULL, NULL));
        for (uint64_t i = 0; i < n; i++) {
                int k = 1;

                gen_sample(g, i, &gs);
                sqlite3_bind_int64(st, k++, gs.agent + 1);
                sqlite3_bind_int64(st, k++, gs.s.time_ms);
                sqlite3_bind_int64(st, k++, (int64_t)gs.s.seq);
                sqlite3_bind_int(st, k++, gs.users);
                /* rates: any plausible doubles, the loop does not derive them */
                for (int j = 0; j < 7; j++)
                        sqlite3_bind_double(st, k++, 0.25 * (gs.users + 1) + j);
                sqlite3_bind_int64(st, k++, (int64_t)gs.s.memory_usage_bytes);
                sqlite3_bind_int64(st, k++, (int64_t)gs.s.memory_working_set_bytes);
                sqlite3_bind_int64(st, k++, (int64_t)gs.s.memory_cache_bytes);
                sqlite3_bind_int64(st, k++, (int64_t)gs.s.memory_anon_bytes);
                sqlite3_bind_null(st, k++);
                sqlite3_bind_int64(st, k++, (int64_t)gs.s.cpu_usage_usec);
                sqlite3_bind_int64(st, k++, (int64_t)gs.s.cpu_throttled_usec);
                sqlite3_bind_int64(st, k++, (int64_t)gs.s.io_read_bytes);
                sqlite3_bind_int64(st, k++, (int64_t)gs.s.io_write_bytes);
                sqlite3_bind_int64(st, k++, (int64_t)gs.nd.rx_bytes);
                sqlite3_bind_int64(st, k++, (int64_t)gs.nd.tx_bytes);
                sqlite3_bind_null(st, k++);
                sqlite3_bind_int64(st, k++, (int64_t)gs.s.cpu_nr_periods);
                sqlite3_bind_int64(st, k++, (int64_t)gs.s.cpu_nr_throttled);
                rc = sqlite3_step(st);
                sqlite3_reset(st);
                SQLITE_CHECK(rc);
                if ((i + 1) % arg_commit == 0)
                        SQLITE_CHECK(sqlite3_exec(db, "COMMIT; BEGIN", NULL, NULL, NULL));
        }
        SQLITE_CHECK(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL));
        *ret_rate = (double)n / elapsed_s(start);
        sqlite3_finalize(st);
        sqlite3_close(db);
        return 0;
}

/* What GET /api/v1/curves and /api/v1/model cost for one agent and metric over the whole history:
 * the HTTP side's own code (query.c, capacity.c), on a read-only connection. */
static int curve_query(Query *q, const QueryAgent *a, CapacityCurves *ret_curves, CapacityModels *ret_models)
{
        CapacityThresholds t = { NAN, NAN, NAN, NAN };
        int r;

        capacity_thresholds_merge(&t, NULL);
        r = query_begin(q);
        if (r < 0)
                return r;
        r = capacity_curves_load(q, a, CURVE_CPU_RATIO, 0, INT64_MAX / 2, &t, NAN, ret_curves);
        if (r >= 0 && ret_models)
                r = capacity_models_load(q, a, CURVE_CPU_RATIO, 0, INT64_MAX / 2, NULL, &t, NAN, ret_models);
        query_end(q);
        return r;
}

/* Copies the hourly and daily aggregates stored from first_hour_ms on (block_days of them) back in time, by
 * whole days, until they cover days: what a longer history of the same load would hold (a query reads only
 * these rows). */
static int extend_aggregates(const char *path, int64_t first_hour_ms, unsigned block_days, unsigned days)
{
        sqlite3 *db = NULL;
        char sql[1536];

        SQLITE_CHECK(sqlite3_open(path, &db));
        SQLITE_CHECK(sqlite3_exec(db, "BEGIN", NULL, NULL, NULL));
        /* The stored hours span block_days and a bit: shift by whole spans, so the copies never overlap. */
        for (unsigned k = 1; (uint64_t)k * block_days < days; k++) {
                long long shift = (long long)k * ((long long)block_days + 1) * 86400000LL; /* whole days */
                long long first_day_ms = (long long)first_hour_ms - (long long)first_hour_ms % 86400000LL;

                (void)snprintf(sql, sizeof(sql),
                               "INSERT INTO curves SELECT agent, metric, hour_ms - %lld, epoch, users, n, sum, sumsq,"
                               " max, hist FROM curves WHERE hour_ms >= %lld;"
                               "INSERT INTO curve_mix SELECT agent, metric, hour_ms - %lld, epoch, users, listeners,"
                               " voice, video, n, sum, sumsq FROM curve_mix WHERE hour_ms >= %lld;"
                               "INSERT INTO curves_day SELECT agent, metric, day_ms - %lld, epoch, users, n, sum, sumsq,"
                               " max, hist FROM curves_day WHERE day_ms >= %lld;"
                               "INSERT INTO curve_mix_day SELECT agent, metric, day_ms - %lld, epoch, users, listeners,"
                               " voice, video, n, sum, sumsq FROM curve_mix_day WHERE day_ms >= %lld",
                               shift, (long long)first_hour_ms, shift, (long long)first_hour_ms, shift, first_day_ms,
                               shift, first_day_ms);
                SQLITE_CHECK(sqlite3_exec(db, sql, NULL, NULL, NULL));
        }
        SQLITE_CHECK(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL));
        sqlite3_close(db);
        return 0;
}

static int run_curve_history(const char *dir)
{
        char path[BENCH_DIR_MAX + 64];
        Gen g = { .agents = 1 };
        char ids[1][BENCH_ID_MAX] = { "long" };
        unsigned stored_days = MIN(arg_curve_days, 30u);
        uint64_t n = (uint64_t)stored_days * 86400, start;
        double rate, best[2] = { INFINITY, INFINITY }, total[2] = { 0, 0 };
        _cleanup_(query_freep) Query *q = NULL;
        CapacityCurves c = { 0 };
        CapacityModels m = { 0 };
        QueryAgent a;
        int64_t rows = 0, day_rows = 0;
        const int RUNS = 20;
        int r;

        g.ids = ids;
        g.t0 = now_ms() - (int64_t)stored_days * 86400 * 1000 - 3600 * 1000;
        (void)snprintf(path, sizeof(path), "%s/curve.sqlite", dir);
        r = run_store(&g, path, n, &rate);
        if (r < 0)
                return r;
        printf("curve history: %u days of one agent at 1 s = %llu samples stored at %.0f samples/s\n", stored_days,
               (unsigned long long)n, rate);
        if (arg_curve_days > stored_days) {
                r = extend_aggregates(path, g.t0 - g.t0 % (3600 * 1000), stored_days, arg_curve_days);
                if (r < 0)
                        return r;
                printf("  aggregates copied forward to cover %u days (the query reads only those rows)\n",
                       arg_curve_days);
        }

        r = query_open(path, &q);
        if (r < 0)
                return log_error_errno(r, "Cannot open '%s': %m", path);
        r = query_agent_find(q, "long", &a);
        if (r <= 0)
                return log_error_errno(r < 0 ? r : ENOENT, "Agent not found: %m");
        for (int i = 0; i < RUNS && r >= 0; i++)
                for (int k = 0; k < 2 && r >= 0; k++) {
                        double t;

                        if (k == 0)
                                capacity_curves_done(&c);
                        else
                                capacity_models_done(&m);
                        start = now_usec(CLOCK_MONOTONIC);
                        if (k == 0)
                                r = curve_query(q, &a, &c, NULL);
                        else {
                                CapacityThresholds th = { NAN, NAN, NAN, NAN };

                                capacity_thresholds_merge(&th, NULL);
                                r = query_begin(q);
                                if (r >= 0)
                                        r = capacity_models_load(q, &a, CURVE_CPU_RATIO, 0, INT64_MAX / 2, NULL, &th,
                                                                 NAN, &m);
                                query_end(q);
                        }
                        t = elapsed_s(start) * 1000;
                        best[k] = MIN(best[k], t);
                        total[k] += t;
                }
        if (r < 0)
                return log_error_errno(r, "Curve query failed: %m");
        {
                sqlite3 *db = NULL;
                sqlite3_stmt *st = NULL;

                SQLITE_CHECK(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL));
                SQLITE_CHECK(sqlite3_prepare_v2(db, "SELECT (SELECT count(*) FROM curves WHERE metric = 0) +"
                                                    " (SELECT count(*) FROM curve_mix WHERE metric = 0),"
                                                    " (SELECT count(*) FROM curves_day WHERE metric = 0) +"
                                                    " (SELECT count(*) FROM curve_mix_day WHERE metric = 0)", -1, &st, NULL));
                if (sqlite3_step(st) == SQLITE_ROW) {
                        rows = sqlite3_column_int64(st, 0);
                        day_rows = sqlite3_column_int64(st, 1);
                }
                sqlite3_finalize(st);
                sqlite3_close(db);
        }
        {
                const CapacityCurve *e = capacity_curves_newest(&c);
                const CapacityModel *me = m.n > 0 ? &m.epochs[m.n - 1] : NULL;

                printf("%u days: %lld hourly and %lld daily aggregate rows of cpu_ratio (curves + curve_mix, and their"
                       " _day tables)\n"
                       "  curve query: %zu participant counts over %llu samples, fit %.5f + %.5f/user, capacity at 0.8:"
                       " %.1f [%.1f, %.1f]\n    mean %.2f ms, best %.2f ms over %d runs\n"
                       "  model query: %zu mixes, %.5f + %.5f/listener + %.5f/voice + %.5f/video\n"
                       "    mean %.2f ms, best %.2f ms over %d runs\n",
                       arg_curve_days, (long long)rows, (long long)day_rows, e ? e->n_levels : 0,
                       e ? (unsigned long long)e->fit.samples : 0ULL, e ? e->fit.beta[0] : NAN, e ? e->fit.beta[1] : NAN,
                       e ? e->capacity.users : NAN, e ? e->capacity.lo : NAN, e ? e->capacity.hi : NAN, total[0] / RUNS,
                       best[0], RUNS, me ? me->n_levels : 0, me ? me->fit.beta[0] : NAN, me ? me->fit.beta[1] : NAN,
                       me ? me->fit.beta[2] : NAN, me ? me->fit.beta[3] : NAN, total[1] / RUNS, best[1], RUNS);
        }
        capacity_curves_done(&c);
        capacity_models_done(&m);
        return 0;
}

static int parse_argv(int argc, char **argv)
{
        static const struct option options[] = {
                { "agents", required_argument, NULL, 'a' },
                { "samples", required_argument, NULL, 'n' },
                { "commit", required_argument, NULL, 'c' },
                { "dir", required_argument, NULL, 'd' },
                { "curve-days", required_argument, NULL, 'C' },
                { "help", no_argument, NULL, 'h' },
                { NULL, 0, NULL, 0 },
        };
        uint64_t v;
        int c;

        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case 'a':
                        if (safe_atou64(optarg, &v) < 0 || v < 1 || v > BENCH_AGENTS_MAX)
                                return log_error_errno(EINVAL, "--agents must be 1..%d", BENCH_AGENTS_MAX);
                        arg_agents = (unsigned)v;
                        break;
                case 'n':
                        if (safe_atou64(optarg, &v) < 0 || v < 1 || v > BENCH_SAMPLES_MAX)
                                return log_error_errno(EINVAL, "--samples must be 1..%llu", BENCH_SAMPLES_MAX);
                        arg_samples = v;
                        break;
                case 'c':
                        if (safe_atou64(optarg, &v) < 0 || v < 1 || v > STORE_PENDING_MAX)
                                return log_error_errno(EINVAL, "--commit must be 1..%d", STORE_PENDING_MAX);
                        arg_commit = (unsigned)v;
                        break;
                case 'd':
                        if (strlen(optarg) > BENCH_DIR_MAX)
                                return log_error_errno(ENAMETOOLONG, "--dir longer than %d bytes", BENCH_DIR_MAX);
                        arg_dir = optarg;
                        break;
                case 'C':
                        if (safe_atou64(optarg, &v) < 0 || v > BENCH_CURVE_DAYS_MAX)
                                return log_error_errno(EINVAL, "--curve-days must be 0..%d", BENCH_CURVE_DAYS_MAX);
                        arg_curve_days = (unsigned)v;
                        break;
                case 'h':
                        printf("%s [--agents N] [--samples N] [--commit N] [--dir DIR] [--curve-days N]\n", argv[0]);
                        return 0;
                default:
                        return -EINVAL;
                }
        return 1;
}

int main(int argc, char **argv)
{
        char tmpl[BENCH_DIR_MAX + 32], store_path[BENCH_DIR_MAX + 64], raw_path[BENCH_DIR_MAX + 64],
                cmd[BENCH_DIR_MAX + 64];
        double store_rate = 0, raw_rate = 0;
        int64_t store_bytes, raw_bytes;
        Gen g;
        int r;

        log_open("ingest-store");
        log_set_max_level(LOG_WARNING);
        r = parse_argv(argc, argv);
        if (r <= 0)
                return r < 0 ? 1 : 0;

        (void)snprintf(tmpl, sizeof(tmpl), "%s/ingest-store-XXXXXX", arg_dir ? arg_dir : "/tmp");
        if (!mkdtemp(tmpl))
                return log_error_errno(errno, "Failed to create a folder under '%s': %m", arg_dir ? arg_dir : "/tmp"),
                       1;
        (void)snprintf(store_path, sizeof(store_path), "%s/store.sqlite", tmpl);
        (void)snprintf(raw_path, sizeof(raw_path), "%s/raw.sqlite", tmpl);

        g = (Gen){ .agents = arg_agents, .t0 = now_ms() - (int64_t)(arg_samples / arg_agents + 10) * 1000 };
        g.ids = calloc(arg_agents, sizeof(*g.ids));
        if (!g.ids)
                return log_oom(), 1;
        for (unsigned a = 0; a < arg_agents; a++)
                (void)snprintf(g.ids[a], sizeof(g.ids[a]), "agent-%u", a);

        printf("%llu samples of %u agents interleaved, commits of %u samples, WAL, synchronous=NORMAL, in %s\n",
               (unsigned long long)arg_samples, arg_agents, arg_commit, tmpl);

        r = run_store(&g, store_path, arg_samples, &store_rate);
        if (r >= 0)
                r = run_raw(&g, raw_path, arg_samples, &raw_rate);
        if (r >= 0) {
                store_bytes = db_bytes(store_path);
                raw_bytes = db_bytes(raw_path);
                printf("store (rates, trends, curves, dedup): %9.0f samples/s\n", store_rate);
                printf("raw INSERT loop, same rows and order: %9.0f rows/s\n", raw_rate);
                printf("ratio store/raw: %.2f (target >= 0.5; store target >= 100000 samples/s)\n",
                       store_rate / raw_rate);
                printf("database bytes per stored sample: %.1f (all tables), raw table alone %.1f\n",
                       (double)store_bytes / (double)arg_samples, (double)raw_bytes / (double)arg_samples);
        }
        if (r >= 0 && arg_curve_days > 0)
                r = run_curve_history(tmpl);

        (void)snprintf(cmd, sizeof(cmd), "rm -rf -- '%s'", tmpl);
        if (system(cmd) != 0)
                log_warning("Failed to remove '%s'.", tmpl);
        free(g.ids);
        return r < 0 ? 1 : 0;
}
