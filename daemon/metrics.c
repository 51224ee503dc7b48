/* Prometheus text exposition of the agents' newest samples, the BBB servers and the daemon's counters. */
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio_ext.h>
#include <string.h>

#include "log.h"
#include "metrics.h"
#include "stats.h"
#include "util.h"

#define PREFIX "seatmeter_"

typedef struct MetricsAgent {
        QueryAgent a;
        QuerySample s;
        bool has_sample;
} MetricsAgent;

typedef struct MetricsData {
        MetricsAgent *agents;
        size_t n_agents, allocated_agents;
        bool agents_cut;
        QueryNetdev *netdev;
        size_t n_netdev, allocated_netdev;
        QueryBbb *bbb;
        size_t n_bbb, allocated_bbb;
        size_t *by_num; /* indices into agents, sorted by agent num */
} MetricsData;

void metrics_write_label_value(FILE *f, const char *s)
{
        /* Plain runs in one write; only backslash, double quote and line feed need escaping. */
        while (*s) {
                size_t n = strcspn(s, "\\\"\n");

                fwrite(s, 1, n, f);
                s += n;
                if (!*s)
                        break;
                fputs(*s == '\n' ? "\\n" : *s == '"' ? "\\\"" : "\\\\", f);
                s++;
        }
}

void metrics_write_value(FILE *f, double v)
{
        if (isnan(v))
                fputs("NaN", f);
        else if (isinf(v))
                fputs(v > 0 ? "+Inf" : "-Inf", f);
        else if (v == floor(v) && fabs(v) < 9007199254740992.0)
                fprintf(f, "%lld", (long long)v); /* integer formatting is much cheaper than %.0f */
        else {
                /* The shortest of 15, 16 or 17 digits that reads back as the same double. */
                char buf[32];

                for (int prec = 15; prec <= 17; prec++) {
                        snprintf(buf, sizeof(buf), "%.*g", prec, v);
                        if (strtod(buf, NULL) == v)
                                break;
                }
                fputs(buf, f);
        }
}

static void write_family(FILE *f, const char *name, const char *type, const char *help)
{
        fprintf(f, "# HELP " PREFIX "%s %s\n# TYPE " PREFIX "%s %s\n", name, help, name, type);
}

/* One sample line with one label; nothing for an unknown (NaN) value: absent, not a made-up number. */
static void write_sample1(FILE *f, const char *name, const char *label, const char *value, double v)
{
        if (isnan(v))
                return;
        fprintf(f, PREFIX "%s{%s=\"", name, label);
        metrics_write_label_value(f, value);
        fputs("\"} ", f);
        metrics_write_value(f, v);
        fputc('\n', f);
}

/* ---- collection ---- */

static int collect_agent(const QueryAgent *a, const QuerySample *latest, void *userdata)
{
        MetricsData *d = userdata;
        int r;

        if (d->n_agents >= METRICS_AGENTS_MAX) {
                d->agents_cut = true;
                return 0;
        }
        r = GREEDY_REALLOC(d->agents, d->allocated_agents, d->n_agents + 1);
        if (r < 0)
                return r;
        d->agents[d->n_agents] = (MetricsAgent){.a = *a, .has_sample = latest != NULL};
        if (latest)
                d->agents[d->n_agents].s = *latest;
        d->n_agents++;
        return 0;
}

static int collect_netdev(const QueryNetdev *nd, void *userdata)
{
        MetricsData *d = userdata;
        int r;

        if (d->n_netdev >= METRICS_NETDEV_MAX)
                return 0;
        r = GREEDY_REALLOC(d->netdev, d->allocated_netdev, d->n_netdev + 1);
        if (r < 0)
                return r;
        d->netdev[d->n_netdev++] = *nd;
        return 0;
}

static int collect_bbb(const QueryBbb *b, void *userdata)
{
        MetricsData *d = userdata;
        int r;

        if (d->n_bbb >= METRICS_AGENTS_MAX)
                return 0;
        r = GREEDY_REALLOC(d->bbb, d->allocated_bbb, d->n_bbb + 1);
        if (r < 0)
                return r;
        d->bbb[d->n_bbb++] = *b;
        return 0;
}

static _Thread_local const MetricsAgent *by_num_base;

static int cmp_by_num(const void *x, const void *y)
{
        int64_t a = by_num_base[*(const size_t *)x].a.num, b = by_num_base[*(const size_t *)y].a.num;
        return (a > b) - (a < b);
}

static const MetricsAgent *agent_by_num(const MetricsData *d, int64_t num)
{
        size_t lo = 0, hi = d->n_agents;

        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                const MetricsAgent *m = &d->agents[d->by_num[mid]];

                if (m->a.num == num)
                        return m;
                if (m->a.num < num)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return NULL;
}

static void metrics_data_done(MetricsData *d)
{
        free(d->agents);
        free(d->netdev);
        free(d->bbb);
        free(d->by_num);
}

/* ---- per-agent families ---- */

typedef enum Source {
        SRC_SAMPLE, /* a column of the newest sample, times scale */
        SRC_AGENT,  /* a field of the agent row */
} Source;

typedef double (*AgentField)(const QueryAgent *a);

static double agent_connected(const QueryAgent *a)
{
        return a->connected;
}
static double agent_last_seen(const QueryAgent *a)
{
        return a->last_seen_ms / 1000.0;
}
static double agent_effective_cpus(const QueryAgent *a)
{
        return a->effective_cpus;
}
static double agent_cpu_count(const QueryAgent *a)
{
        return a->cpu_count >= 0 ? (double)a->cpu_count : NAN;
}
static double agent_memory_limit(const QueryAgent *a)
{
        return a->memory_limit_bytes;
}
static double agent_swap_limit(const QueryAgent *a)
{
        return a->swap_limit_bytes;
}
static double agent_clock_offset(const QueryAgent *a)
{
        return (double)a->clock_offset_ms / 1000.0;
}

static const struct {
        const char *name, *type, *help;
        Source source;
        QueryColumn column;
        double scale;
        AgentField field;
} agent_families[] = {
        {"agent_connected", "gauge", "Whether the agent is connected to the daemon (1) or not (0).",
         SRC_AGENT, 0, 0, agent_connected},
        {"last_seen", "gauge", "Last time the agent was heard from, in seconds since the epoch.", SRC_AGENT,
         0, 0, agent_last_seen},
        {"agent_clock_offset_seconds", "gauge", "Daemon clock minus agent clock at the last hello.",
         SRC_AGENT, 0, 0, agent_clock_offset},
        {"spec_cpu_effective_cpus", "gauge",
         "CPUs the guest's cgroup really grants (quota/period and cpuset).", SRC_AGENT, 0, 0,
         agent_effective_cpus},
        {"spec_cpu_nproc", "gauge", "CPUs a cgroup-aware nproc reports in the guest.", SRC_AGENT, 0, 0,
         agent_cpu_count},
        {"spec_memory_limit_bytes", "gauge", "Memory limit of the guest (cgroup limit or host memory).",
         SRC_AGENT, 0, 0, agent_memory_limit},
        {"spec_memory_swap_limit_bytes", "gauge", "Swap limit of the guest's cgroup.", SRC_AGENT, 0, 0,
         agent_swap_limit},
        {"cpu_usage_seconds_total", "counter", "Cumulative CPU time consumed by the guest in seconds.",
         SRC_SAMPLE, QUERY_CPU_USAGE_USEC, 1e-6, NULL},
        {"cpu_cfs_throttled_seconds_total", "counter",
         "Total time the guest was throttled by its CPU quota in seconds.", SRC_SAMPLE,
         QUERY_CPU_THROTTLED_USEC, 1e-6, NULL},
        {"cpu_cfs_periods_total", "counter", "Number of elapsed CPU quota enforcement periods.", SRC_SAMPLE,
         QUERY_CPU_NR_PERIODS, 1, NULL},
        {"cpu_cfs_throttled_periods_total", "counter", "Number of throttled CPU quota enforcement periods.",
         SRC_SAMPLE, QUERY_CPU_NR_THROTTLED, 1, NULL},
        {"cpu_ratio", "gauge", "CPU time per second over effective CPUs, over the last sample interval.",
         SRC_SAMPLE, QUERY_CPU_RATIO, 1, NULL},
        {"cpu_steal_seconds_total", "counter",
         "Cumulative CPU time the hypervisor gave the VM's vCPUs to others in seconds (VMs measured whole).",
         SRC_SAMPLE, QUERY_CPU_STEAL_USEC, 1e-6, NULL},
        {"steal_ratio", "gauge", "CPU steal time per second over effective CPUs, over the last sample interval.",
         SRC_SAMPLE, QUERY_STEAL_RATIO, 1, NULL},
        {"memory_usage_bytes", "gauge", "Current memory usage of the guest, including page cache.",
         SRC_SAMPLE, QUERY_MEMORY_BYTES, 1, NULL},
        {"memory_working_set_bytes", "gauge",
         "Current working set of the guest (usage minus inactive file cache).", SRC_SAMPLE,
         QUERY_WORKING_SET_BYTES, 1, NULL},
        {"memory_cache", "gauge", "Page cache of the guest in bytes.", SRC_SAMPLE, QUERY_CACHE_BYTES, 1,
         NULL},
        {"memory_rss", "gauge", "Anonymous memory of the guest in bytes.", SRC_SAMPLE, QUERY_ANON_BYTES, 1,
         NULL},
        {"memory_swap", "gauge", "Swap used by the guest in bytes.", SRC_SAMPLE, QUERY_SWAP_BYTES, 1, NULL},
        {"oom_events_total", "counter", "Count of out-of-memory kills in the guest.", SRC_SAMPLE,
         QUERY_OOM_KILLS, 1, NULL},
        {"fs_reads_bytes_total", "counter", "Cumulative bytes read from block devices by the guest.",
         SRC_SAMPLE, QUERY_IO_READ_BYTES, 1, NULL},
        {"fs_writes_bytes_total", "counter", "Cumulative bytes written to block devices by the guest.",
         SRC_SAMPLE, QUERY_IO_WRITE_BYTES, 1, NULL},
        {"users", "gauge", "BigBlueButton participants on the guest's server at its newest sample.",
         SRC_SAMPLE, QUERY_USERS, 1, NULL},
};

static void write_agent_families(FILE *f, const MetricsData *d)
{
        /* An info series to join on: one per agent, value 1. */
        write_family(f, "agent_info", "gauge", "Agent metadata as labels; always 1.");
        for (size_t i = 0; i < d->n_agents; i++) {
                const QueryAgent *a = &d->agents[i].a;

                fputs(PREFIX "agent_info{agent=\"", f);
                metrics_write_label_value(f, a->id);
                fputs("\",virt=\"", f);
                metrics_write_label_value(f, a->virt);
                fputs("\",hostname=\"", f);
                metrics_write_label_value(f, a->hostname);
                fputs("\",bbb=\"", f);
                metrics_write_label_value(f, a->bbb);
                fputs("\"} 1\n", f);
        }

        for (size_t k = 0; k < ELEMENTSOF(agent_families); k++) {
                write_family(f, agent_families[k].name, agent_families[k].type, agent_families[k].help);
                for (size_t i = 0; i < d->n_agents; i++) {
                        const MetricsAgent *m = &d->agents[i];
                        double v;

                        if (agent_families[k].source == SRC_AGENT)
                                v = agent_families[k].field(&m->a);
                        else if (m->has_sample)
                                v = m->s.v[agent_families[k].column] * agent_families[k].scale;
                        else
                                continue;
                        write_sample1(f, agent_families[k].name, "agent", m->a.id, v);
                }
        }
}

/* ---- network families ---- */

static const struct {
        const char *name, *help;
        size_t offset;
} netdev_families[] = {
        {"network_receive_bytes_total", "Cumulative bytes received, per interface.",
         offsetof(QueryNetdev, rx_bytes)},
        {"network_transmit_bytes_total", "Cumulative bytes transmitted, per interface.",
         offsetof(QueryNetdev, tx_bytes)},
        {"network_receive_packets_total", "Cumulative packets received, per interface.",
         offsetof(QueryNetdev, rx_packets)},
        {"network_transmit_packets_total", "Cumulative packets transmitted, per interface.",
         offsetof(QueryNetdev, tx_packets)},
        {"network_receive_errors_total", "Cumulative errors while receiving, per interface.",
         offsetof(QueryNetdev, rx_errors)},
        {"network_transmit_errors_total", "Cumulative errors while transmitting, per interface.",
         offsetof(QueryNetdev, tx_errors)},
        {"network_receive_packets_dropped_total",
         "Cumulative packets dropped while receiving, per interface.", offsetof(QueryNetdev, rx_dropped)},
        {"network_transmit_packets_dropped_total",
         "Cumulative packets dropped while transmitting, per interface.", offsetof(QueryNetdev, tx_dropped)},
};

static void write_netdev_families(FILE *f, const MetricsData *d)
{
        for (size_t k = 0; k < ELEMENTSOF(netdev_families); k++) {
                write_family(f, netdev_families[k].name, "counter", netdev_families[k].help);
                for (size_t i = 0; i < d->n_netdev; i++) {
                        const QueryNetdev *nd = &d->netdev[i];
                        const MetricsAgent *m = agent_by_num(d, nd->agent_num);
                        double v;

                        memcpy(&v, (const uint8_t *)nd + netdev_families[k].offset, sizeof(v));
                        if (!m || isnan(v))
                                continue;
                        fputs(PREFIX, f);
                        fputs(netdev_families[k].name, f);
                        fputs("{agent=\"", f);
                        metrics_write_label_value(f, m->a.id);
                        fputs("\",interface=\"", f);
                        metrics_write_label_value(f, nd->name);
                        fputs("\"} ", f);
                        metrics_write_value(f, v);
                        fputc('\n', f);
                }
        }
}

/* ---- BBB families ---- */

static const struct {
        const char *name, *help;
        size_t offset;
} bbb_families[] = {
        {"bbb_last_poll_timestamp_seconds", "Time of the last poll of the BigBlueButton server.",
         offsetof(QueryBbb, last_poll_ms)},
        {"bbb_meetings", "Meetings running on the BigBlueButton server.", offsetof(QueryBbb, meetings)},
        {"bbb_participants", "Participants on the BigBlueButton server.", offsetof(QueryBbb, participants)},
        {"bbb_listeners", "Listen-only participants on the BigBlueButton server.",
         offsetof(QueryBbb, listeners)},
        {"bbb_voice_participants", "Participants with a microphone on the BigBlueButton server.",
         offsetof(QueryBbb, voice)},
        {"bbb_video_streams", "Video streams on the BigBlueButton server.", offsetof(QueryBbb, video)},
        {"bbb_moderators", "Moderators on the BigBlueButton server.", offsetof(QueryBbb, moderators)},
        {"bbb_breakout_rooms", "Breakout rooms on the BigBlueButton server.", offsetof(QueryBbb, breakouts)},
};

static void write_bbb_families(FILE *f, const MetricsData *d)
{
        write_family(f, "bbb_up", "gauge",
                     "Whether the BigBlueButton server answers its API (1) or not (0).");
        for (size_t i = 0; i < d->n_bbb; i++)
                write_sample1(f, "bbb_up", "bbb", d->bbb[i].name, d->bbb[i].up < 0 ? NAN : d->bbb[i].up);

        for (size_t k = 0; k < ELEMENTSOF(bbb_families); k++) {
                write_family(f, bbb_families[k].name, "gauge", bbb_families[k].help);
                for (size_t i = 0; i < d->n_bbb; i++) {
                        double v;

                        memcpy(&v, (const uint8_t *)&d->bbb[i] + bbb_families[k].offset, sizeof(v));
                        if (k == 0)
                                v /= 1000.0;
                        write_sample1(f, bbb_families[k].name, "bbb", d->bbb[i].name, v);
                }
        }
}

/* ---- the daemon's own counters ---- */

#define COUNTER(n, z, t, field, h) {n, z, t, h, offsetof(DaemonStats, field)}

const MetricsCounter metrics_counters[] = {
        COUNTER("ingest_frames_received_total", "frames_received", "counter", frames_received,
                "Frames received from agents."),
        COUNTER("ingest_samples_received_total", "samples_received", "counter", samples_received,
                "Samples received from agents."),
        COUNTER("ingest_samples_stored_total", "samples_stored", "counter", samples_stored,
                "Samples committed to the database."),
        COUNTER("ingest_samples_duplicate_total", "samples_duplicate", "counter", samples_duplicate,
                "Resent samples (sequence number already stored), not stored again."),
        COUNTER("ingest_samples_time_shifted_total", NULL, "counter", samples_time_shifted,
                "New samples whose time was taken (a clock that went back), stored at the next free ms."),
        COUNTER("ingest_samples_rejected_total", "samples_rejected", "counter", samples_rejected,
                "Samples refused for absurd values."),
        COUNTER("ingest_hellos_refused_total", "hellos_refused", "counter", hellos_refused,
                "Agent connections refused at hello."),
        COUNTER("ingest_protocol_errors_total", "protocol_errors", "counter", protocol_errors,
                "Bad, garbled or oversized frames."),
        COUNTER("ingest_connections_refused_total", NULL, "counter", connections_refused,
                "Connections refused: accept failed, or the agents' budget was full at Hello."),
        COUNTER("ingest_connections_evicted_total", NULL, "counter", connections_evicted,
                "Unauthenticated connections closed to make room for newer ones (budget or per-address limit)."),
        COUNTER("ingest_hello_timeouts_total", NULL, "counter", hello_timeouts,
                "Connections closed for sending no Hello in time."),
        COUNTER("store_commits_total", "store_commits", "counter", commits, "Database commits of sample batches."),
        COUNTER("store_commit_errors_total", "store_commit_errors", "counter", commit_errors,
                "Failed database commits."),
        COUNTER("agents_connected", "agents_connected", "gauge", agents_connected, "Agents currently connected."),
        COUNTER("bbb_polls_total", "bbb_polls", "counter", bbb_polls, "BigBlueButton API polls."),
        COUNTER("bbb_poll_errors_total", "bbb_poll_errors", "counter", bbb_poll_errors,
                "Failed BigBlueButton API polls."),
        COUNTER("http_requests_total", "http_requests", "counter", http_requests, "HTTP requests served."),
        COUNTER("http_header_timeouts_total", NULL, "counter", http_header_timeouts,
                "HTTP connections closed for not completing their request headers in time."),
        COUNTER("http_connections_shed_total", NULL, "counter", http_connections_shed,
                "HTTP connections closed to make room: the one waiting longest for its headers."),
};
const size_t metrics_n_counters = ELEMENTSOF(metrics_counters);

uint64_t metrics_counter_value(const MetricsCounter *c)
{
        assert(c);
        return atomic_load_explicit((atomic_uint_fast64_t *)((uint8_t *)&daemon_stats + c->offset),
                                    memory_order_relaxed);
}

static void write_daemon_families(FILE *f)
{
        int e = atomic_load(&daemon_stats.commit_failing_errno);

        for (size_t i = 0; i < metrics_n_counters; i++) {
                const MetricsCounter *c = &metrics_counters[i];

                write_family(f, c->name, c->type, c->help);
                fprintf(f, PREFIX "%s %llu\n", c->name, (unsigned long long)metrics_counter_value(c));
        }
        write_family(f, "store_commit_failing", "gauge",
                     "1 while database commits fail (then /healthz is not ok), with the reason.");
        fprintf(f, PREFIX "store_commit_failing{reason=\"%s\"} %d\n", e ? strerror(e) : "", e ? 1 : 0);
}

int metrics_render(Query *q, char **ret, size_t *ret_size)
{
        _cleanup_(metrics_data_done) MetricsData d = {0};
        _cleanup_free_ char *buf = NULL;
        _cleanup_fclose_ FILE *f = NULL;
        size_t size = 0;
        int r;

        assert(q);
        assert(ret);
        assert(ret_size);

        r = query_agents(q, collect_agent, &d);
        if (r >= 0)
                r = query_netdev(q, collect_netdev, &d);
        if (r >= 0)
                r = query_bbb(q, collect_bbb, &d);
        if (r < 0)
                return r;
        if (d.agents_cut)
                log_warning("More than %d agents: /metrics shows the first %d.", METRICS_AGENTS_MAX,
                            METRICS_AGENTS_MAX);

        d.by_num = calloc(MAX(d.n_agents, (size_t)1), sizeof(size_t));
        if (!d.by_num)
                return -ENOMEM;
        for (size_t i = 0; i < d.n_agents; i++)
                d.by_num[i] = i;
        by_num_base = d.agents;
        qsort(d.by_num, d.n_agents, sizeof(size_t), cmp_by_num);

        f = open_memstream(&buf, &size);
        if (!f)
                return -ENOMEM;
        (void)__fsetlocking(f, FSETLOCKING_BYCALLER); /* one thread writes it: no lock per call */
        write_agent_families(f, &d);
        write_netdev_families(f, &d);
        write_bbb_families(f, &d);
        write_daemon_families(f);
        if (fflush(f) != 0 || ferror(f))
                return -ENOMEM;
        fclose(TAKE_PTR(f));

        *ret = TAKE_PTR(buf);
        *ret_size = size;
        return 0;
}
