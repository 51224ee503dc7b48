/* AgentSample -> protobuf. See convert.h. */

#include <math.h>

#include "convert.h"
#include "proto/frame.h"

/* protobuf-c wants char * for strings it never writes to when packing. Empty means absent. */
static char *wire_string(const char *s)
{
        return isempty(s) ? NULL : (char *)s;
}

/* The same for a fixed array of the sample, which a reader bug could leave unterminated: then the
 * field is left out rather than read past. */
static char *wire_array_string(const char *s, size_t size)
{
        return strnlen(s, size) >= size ? NULL : wire_string(s);
}

bool convert_limits_equal(const AgentLimits *a, const AgentLimits *b)
{
        assert(a);
        assert(b);

        /* Field by field: the struct has padding and string tails that memcmp would see. */
        if (a->has_effective_cpus != b->has_effective_cpus ||
            (a->has_effective_cpus && !(a->effective_cpus == b->effective_cpus)))
                return false;
        if (a->cpu_count != b->cpu_count || !streq(a->cpuset, b->cpuset))
                return false;
        if (a->has_quota != b->has_quota ||
            (a->has_quota && (a->quota_us != b->quota_us || a->period_us != b->period_us)))
                return false;
        if (a->has_memory_limit != b->has_memory_limit ||
            (a->has_memory_limit && a->memory_limit_bytes != b->memory_limit_bytes))
                return false;
        if (a->has_swap_limit != b->has_swap_limit ||
            (a->has_swap_limit && a->swap_limit_bytes != b->swap_limit_bytes))
                return false;
        return a->host_cpus == b->host_cpus && a->host_memory_bytes == b->host_memory_bytes;
}

static void convert_limits(const AgentLimits *l, Seatmeter__Limits *w)
{
        seatmeter__limits__init(w);
        if (l->has_effective_cpus && isfinite(l->effective_cpus)) {
                w->has_effective_cpus = true;
                w->effective_cpus = l->effective_cpus;
        }
        if (l->cpu_count > 0) {
                w->has_cpu_count = true;
                w->cpu_count = l->cpu_count;
        }
        w->cpuset = wire_array_string(l->cpuset, sizeof(l->cpuset));
        if (l->has_quota) {
                w->has_quota_us = w->has_period_us = true;
                w->quota_us = l->quota_us;
                w->period_us = l->period_us;
        }
        if (l->has_memory_limit) {
                w->has_memory_limit_bytes = true;
                w->memory_limit_bytes = l->memory_limit_bytes;
        }
        if (l->has_swap_limit) {
                w->has_swap_limit_bytes = true;
                w->swap_limit_bytes = l->swap_limit_bytes;
        }
        if (l->host_cpus > 0) {
                w->has_host_cpus = true;
                w->host_cpus = l->host_cpus;
        }
        if (l->host_memory_bytes > 0) {
                w->has_host_memory_bytes = true;
                w->host_memory_bytes = l->host_memory_bytes;
        }
}

/* Returns w, or NULL when p holds nothing (then the field stays absent). */
static Seatmeter__Pressure *convert_pressure(const AgentPressure *p, Seatmeter__Pressure *w)
{
        if (!p->has_some && !p->has_full)
                return NULL;
        seatmeter__pressure__init(w);
        if (p->has_some) {
                w->has_some_total_usec = true;
                w->some_total_usec = p->some_total_usec;
        }
        if (p->has_full) {
                w->has_full_total_usec = true;
                w->full_total_usec = p->full_total_usec;
        }
        return w;
}

#define SET(field, value)                                                                                   \
        do {                                                                                                \
                m->has_##field = true;                                                                      \
                m->field = (value);                                                                         \
        } while (0)

void convert_sample(const AgentSample *s, bool with_limits, WireSample *w)
{
        Seatmeter__Sample *m;

        assert(s);
        assert(w);

        m = &w->sample;
        seatmeter__sample__init(m);
        SET(seq, s->seq);
        SET(time_ms, s->time_ms);
        if (with_limits) {
                convert_limits(&s->limits, &w->limits);
                m->limits = &w->limits;
        }

        if (s->has_cpu_usage)
                SET(cpu_usage_usec, s->cpu_usage_usec);
        if (s->has_cpu_user_system) {
                SET(cpu_user_usec, s->cpu_user_usec);
                SET(cpu_system_usec, s->cpu_system_usec);
        }
        if (s->has_cpu_steal)
                SET(cpu_steal_usec, s->cpu_steal_usec);
        if (s->has_cpu_throttling) {
                SET(cpu_nr_periods, s->cpu_nr_periods);
                SET(cpu_nr_throttled, s->cpu_nr_throttled);
                SET(cpu_throttled_usec, s->cpu_throttled_usec);
        }

        if (s->has_memory_usage)
                SET(memory_usage_bytes, s->memory_usage_bytes);
        if (s->has_memory_working_set)
                SET(memory_working_set_bytes, s->memory_working_set_bytes);
        if (s->has_memory_cache)
                SET(memory_cache_bytes, s->memory_cache_bytes);
        if (s->has_memory_anon)
                SET(memory_anon_bytes, s->memory_anon_bytes);
        if (s->has_memory_swap)
                SET(memory_swap_bytes, s->memory_swap_bytes);
        if (s->has_memory_oom_kills)
                SET(memory_oom_kills, s->memory_oom_kills);

        if (s->has_io) {
                SET(io_read_bytes, s->io_read_bytes);
                SET(io_write_bytes, s->io_write_bytes);
                SET(io_read_ops, s->io_read_ops);
                SET(io_write_ops, s->io_write_ops);
        }

        if (s->has_net) {
                size_t n = MIN((size_t)s->n_net, (size_t)AGENT_NET_MAX);

                for (size_t i = 0; i < n; i++) {
                        const AgentNetDev *d = &s->net[i];
                        Seatmeter__NetDev *nd = &w->net[i];

                        seatmeter__net_dev__init(nd);
                        /* The name is a fixed array that may lack its NUL when the reader filled it. */
                        memcpy(w->net_names[i], d->name, sizeof(d->name));
                        w->net_names[i][sizeof(d->name)] = 0;
                        nd->name = w->net_names[i];
                        nd->has_rx_bytes = nd->has_tx_bytes = nd->has_rx_packets = nd->has_tx_packets = true;
                        nd->has_rx_errors = nd->has_tx_errors = nd->has_rx_dropped = nd->has_tx_dropped =
                                true;
                        nd->rx_bytes = d->rx_bytes;
                        nd->tx_bytes = d->tx_bytes;
                        nd->rx_packets = d->rx_packets;
                        nd->tx_packets = d->tx_packets;
                        nd->rx_errors = d->rx_errors;
                        nd->tx_errors = d->tx_errors;
                        nd->rx_dropped = d->rx_dropped;
                        nd->tx_dropped = d->tx_dropped;
                        w->net_ptrs[i] = nd;
                }
                m->n_net = n;
                m->net = n > 0 ? w->net_ptrs : NULL;
        }

        m->cpu_pressure = convert_pressure(&s->cpu_pressure, &w->cpu_pressure);
        m->memory_pressure = convert_pressure(&s->memory_pressure, &w->memory_pressure);
        m->io_pressure = convert_pressure(&s->io_pressure, &w->io_pressure);
}

#undef SET

void convert_hello(const HelloInfo *info, const AgentSample *s, WireHello *w)
{
        Seatmeter__Hello *h;

        assert(info);
        assert(s);
        assert(w);

        h = &w->hello;
        seatmeter__hello__init(h);
        h->has_protocol_version = true;
        h->protocol_version = FRAME_PROTOCOL_VERSION;
        h->agent_id = wire_string(info->agent_id);
        h->token = wire_string(info->token);
        h->hostname = wire_string(info->hostname);
        h->machine_id = wire_string(info->machine_id);
        h->agent_version = wire_string(info->agent_version);
        h->has_clock_ms = true;
        h->clock_ms = info->clock_ms;
        h->has_virt = true;
        h->virt = (Seatmeter__Virt)s->virt;
        h->has_cgroup_version = true;
        h->cgroup_version = s->cgroup_version;
        h->cgroup_mode = (char *)cgroup_mode_to_string(s->mode);
        h->cgroup_path = wire_array_string(s->cgroup_path, sizeof(s->cgroup_path));
        convert_limits(&s->limits, &w->limits);
        h->limits = &w->limits;
        if (info->labels) {
                size_t n = MIN((size_t)info->labels->n, (size_t)LABELS_MAX);

                for (size_t i = 0; i < n; i++) {
                        seatmeter__label__init(&w->labels[i]);
                        w->labels[i].key = (char *)info->labels->l[i].key;
                        w->labels[i].value = (char *)info->labels->l[i].value;
                        w->label_ptrs[i] = &w->labels[i];
                }
                h->n_labels = n;
                h->labels = n > 0 ? w->label_ptrs : NULL;
        }
}

int convert_sample_pack(const AgentSample *s, bool with_limits, uint8_t **ret, size_t *ret_size)
{
        _cleanup_free_ WireSample *w = NULL;
        _cleanup_free_ uint8_t *buf = NULL;
        size_t size;

        assert(s);
        assert(ret);
        assert(ret_size);

        w = malloc(sizeof(*w));
        if (!w)
                return -ENOMEM;
        convert_sample(s, with_limits, w);
        size = seatmeter__sample__get_packed_size(&w->sample);
        buf = malloc(MAX(size, (size_t)1));
        if (!buf)
                return -ENOMEM;
        if (seatmeter__sample__pack(&w->sample, buf) != size)
                return -EIO;
        *ret = TAKE_PTR(buf);
        *ret_size = size;
        return 0;
}
