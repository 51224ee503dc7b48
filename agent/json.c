/* See json.h. */

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>

#include "json.h"

typedef struct JBuf {
        char *p;
        size_t size, len;
        bool overflow;
} JBuf;

_printf_(2, 3) static void jb_printf(JBuf *b, const char *fmt, ...)
{
        va_list ap;
        int n;

        if (b->overflow)
                return;
        va_start(ap, fmt);
        n = vsnprintf(b->p + b->len, b->size - b->len, fmt, ap);
        va_end(ap);
        if (n < 0 || (size_t)n >= b->size - b->len) {
                b->overflow = true;
                return;
        }
        b->len += (size_t)n;
}

/* A JSON string; control characters and quotes are escaped. */
static void jb_str(JBuf *b, const char *s)
{
        jb_printf(b, "\"");
        for (; *s && !b->overflow; s++) {
                unsigned char c = (unsigned char)*s;
                if (c == '"' || c == '\\')
                        jb_printf(b, "\\%c", c);
                else if (c < 0x20)
                        jb_printf(b, "\\u%04x", c);
                else
                        jb_printf(b, "%c", c);
        }
        jb_printf(b, "\"");
}

static void jb_key_u64(JBuf *b, const char *key, bool has, uint64_t v)
{
        if (has)
                jb_printf(b, ",\"%s\":%" PRIu64, key, v);
        else
                jb_printf(b, ",\"%s\":null", key);
}

/* Numbers with a fraction: at most 6 significant digits, and never "nan" or "inf". */
static void jb_key_double(JBuf *b, const char *key, bool has, double v)
{
        if (has && isfinite(v))
                jb_printf(b, ",\"%s\":%.6g", key, v);
        else
                jb_printf(b, ",\"%s\":null", key);
}

static void jb_pressure(JBuf *b, const char *name, const AgentPressure *p, bool first)
{
        jb_printf(b, "%s\"%s\":", first ? "" : ",", name);
        if (!p->has_some) {
                jb_printf(b, "null");
                return;
        }
        jb_printf(b, "{\"some_avg10\":%.2f,\"some_avg60\":%.2f,\"some_total_usec\":%" PRIu64, p->some_avg10,
                  p->some_avg60, p->some_total_usec);
        if (p->has_full)
                jb_printf(b, ",\"full_avg10\":%.2f,\"full_avg60\":%.2f,\"full_total_usec\":%" PRIu64, p->full_avg10,
                          p->full_avg60, p->full_total_usec);
        else
                jb_printf(b, ",\"full_avg10\":null,\"full_avg60\":null,\"full_total_usec\":null");
        jb_printf(b, "}");
}

int json_format_sample(const AgentSample *s, const Labels *labels, char *buf, size_t size)
{
        JBuf b = {.p = buf, .size = size};
        const AgentLimits *l = &s->limits;
        char lj[LABELS_JSON_MAX + 1];

        assert(size > 0);
        jb_printf(&b, "{\"time_ms\":%" PRId64 ",\"virt\":", s->time_ms);
        jb_str(&b, agent_virt_to_string(s->virt));
        if (labels_to_json(labels ? labels : &(Labels){0}, lj, sizeof lj) < 0)
                return -ENOBUFS;
        jb_printf(&b, ",\"labels\":%s", lj);
        jb_printf(&b, ",\"scope\":\"%s\"", s->whole_system ? "system" : "cgroup");

        jb_printf(&b, ",\"cgroup\":{\"version\":");
        if (s->cgroup_version)
                jb_printf(&b, "%u", s->cgroup_version);
        else
                jb_printf(&b, "null");
        jb_printf(&b, ",\"mode\":");
        jb_str(&b, cgroup_mode_to_string(s->mode));
        jb_printf(&b, ",\"path\":");
        if (s->mode != CGROUP_MODE_NONE)
                jb_str(&b, s->cgroup_path);
        else
                jb_printf(&b, "null");
        jb_printf(&b, "}");

        jb_printf(&b, ",\"cpu\":{");
        jb_printf(&b, "\"cpu_count\":%u", l->cpu_count);
        jb_key_double(&b, "effective_cpus", l->has_effective_cpus, l->effective_cpus);
        jb_printf(&b, ",\"cpuset\":");
        if (*l->cpuset)
                jb_str(&b, l->cpuset);
        else
                jb_printf(&b, "null");
        if (l->has_quota)
                jb_printf(&b, ",\"quota_us\":%" PRId64 ",\"period_us\":%" PRIu64, l->quota_us, l->period_us);
        else
                jb_printf(&b, ",\"quota_us\":null,\"period_us\":null");
        jb_key_u64(&b, "host_cpus", l->host_cpus > 0, l->host_cpus);
        jb_key_u64(&b, "usage_usec", s->has_cpu_usage, s->cpu_usage_usec);
        jb_key_u64(&b, "user_usec", s->has_cpu_user_system, s->cpu_user_usec);
        jb_key_u64(&b, "system_usec", s->has_cpu_user_system, s->cpu_system_usec);
        jb_key_u64(&b, "nr_periods", s->has_cpu_throttling, s->cpu_nr_periods);
        jb_key_u64(&b, "nr_throttled", s->has_cpu_throttling, s->cpu_nr_throttled);
        jb_key_u64(&b, "throttled_usec", s->has_cpu_throttling, s->cpu_throttled_usec);
        jb_key_u64(&b, "steal_usec", s->has_cpu_steal, s->cpu_steal_usec);
        jb_printf(&b, "}");

        jb_printf(&b, ",\"memory\":{");
        jb_printf(&b, "\"limit_bytes\":");
        if (l->has_memory_limit)
                jb_printf(&b, "%" PRIu64, l->memory_limit_bytes);
        else
                jb_printf(&b, "null");
        jb_printf(&b, ",\"cgroup_limited\":%s", l->has_cgroup_memory_limit ? "true" : "false");
        jb_key_u64(&b, "host_bytes", l->host_memory_bytes > 0, l->host_memory_bytes);
        jb_key_u64(&b, "usage_bytes", s->has_memory_usage, s->memory_usage_bytes);
        jb_key_u64(&b, "working_set_bytes", s->has_memory_working_set, s->memory_working_set_bytes);
        jb_key_u64(&b, "cache_bytes", s->has_memory_cache, s->memory_cache_bytes);
        jb_key_u64(&b, "anon_bytes", s->has_memory_anon, s->memory_anon_bytes);
        jb_key_u64(&b, "swap_bytes", s->has_memory_swap, s->memory_swap_bytes);
        jb_key_u64(&b, "swap_limit_bytes", l->has_swap_limit, l->swap_limit_bytes);
        jb_key_u64(&b, "oom_kills", s->has_memory_oom_kills, s->memory_oom_kills);
        jb_printf(&b, "}");

        jb_printf(&b, ",\"io\":");
        if (s->has_io)
                jb_printf(&b,
                          "{\"read_bytes\":%" PRIu64 ",\"write_bytes\":%" PRIu64 ",\"read_ops\":%" PRIu64
                          ",\"write_ops\":%" PRIu64 "}",
                          s->io_read_bytes, s->io_write_bytes, s->io_read_ops, s->io_write_ops);
        else
                jb_printf(&b, "{\"read_bytes\":null,\"write_bytes\":null,\"read_ops\":null,\"write_ops\":null}");

        jb_printf(&b, ",\"net_source\":\"%s\"", agent_net_source_to_string(s->net_source));
        jb_key_u64(&b, "net_pid", s->net_source == AGENT_NET_TASK && s->net_pid > 0, s->net_pid);
        jb_printf(&b, ",\"net\":");
        if (!s->has_net)
                jb_printf(&b, "null");
        else {
                jb_printf(&b, "[");
                for (unsigned i = 0; i < s->n_net && i < AGENT_NET_MAX; i++) {
                        const AgentNetDev *d = &s->net[i];
                        jb_printf(&b, "%s{\"name\":", i ? "," : "");
                        jb_str(&b, d->name);
                        jb_printf(&b,
                                  ",\"rx_bytes\":%" PRIu64 ",\"tx_bytes\":%" PRIu64 ",\"rx_packets\":%" PRIu64
                                  ",\"tx_packets\":%" PRIu64 ",\"rx_errors\":%" PRIu64 ",\"tx_errors\":%" PRIu64
                                  ",\"rx_dropped\":%" PRIu64 ",\"tx_dropped\":%" PRIu64 "}",
                                  d->rx_bytes, d->tx_bytes, d->rx_packets, d->tx_packets, d->rx_errors,
                                  d->tx_errors, d->rx_dropped, d->tx_dropped);
                }
                jb_printf(&b, "]");
        }

        jb_printf(&b, ",\"pressure\":{");
        jb_pressure(&b, "cpu", &s->cpu_pressure, true);
        jb_pressure(&b, "memory", &s->memory_pressure, false);
        jb_pressure(&b, "io", &s->io_pressure, false);
        jb_printf(&b, "}}");

        if (b.overflow)
                return -ENOBUFS;
        return (int)b.len;
}
