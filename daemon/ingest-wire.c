/* Wire types to the daemon's own, at ingest. See ingest-wire.h. */

#include <math.h>

#include "ingest-wire.h"
#include "util.h"

static const char *const virt_names[] = {
        [SEATMETER__VIRT__VIRT_UNKNOWN] = "unknown",
        [SEATMETER__VIRT__VIRT_NONE] = "none",
        [SEATMETER__VIRT__VIRT_LXC] = "lxc",
        [SEATMETER__VIRT__VIRT_OPENVZ] = "openvz",
        [SEATMETER__VIRT__VIRT_DOCKER] = "docker",
        [SEATMETER__VIRT__VIRT_PODMAN] = "podman",
        [SEATMETER__VIRT__VIRT_KVM] = "kvm",
        [SEATMETER__VIRT__VIRT_VM_OTHER] = "vm-other",
        [SEATMETER__VIRT__VIRT_CONTAINER_OTHER] = "container-other",
        [SEATMETER__VIRT__VIRT_QEMU] = "qemu",
};

/* The names of Seatmeter__Virt as the agent's JSON spells them. */
static const char *virt_to_string(int virt)
{
        if (virt < 0 || (size_t)virt >= ELEMENTSOF(virt_names))
                return "unknown";
        return virt_names[virt];
}

static int64_t u64_or_none(bool has, uint64_t v)
{
        return has ? (int64_t)v : -1; /* validated: v <= INT64_MAX */
}

static void limits_from_wire(const Seatmeter__Limits *l, SampleLimits *ret)
{
        *ret = (SampleLimits){
                .effective_cpus = l && l->has_effective_cpus ? l->effective_cpus : NAN,
                .cpu_count = l ? u64_or_none(l->has_cpu_count, l->cpu_count) : -1,
                .quota_us = l && l->has_quota_us ? l->quota_us : -1,
                .period_us = l ? u64_or_none(l->has_period_us, l->period_us) : -1,
                .memory_limit_bytes = l ? u64_or_none(l->has_memory_limit_bytes, l->memory_limit_bytes) : -1,
                .swap_limit_bytes = l ? u64_or_none(l->has_swap_limit_bytes, l->swap_limit_bytes) : -1,
                .host_cpus = l ? u64_or_none(l->has_host_cpus, l->host_cpus) : -1,
                .host_memory_bytes = l ? u64_or_none(l->has_host_memory_bytes, l->host_memory_bytes) : -1,
                .cpuset = l ? l->cpuset : NULL,
        };
}

void sample_from_wire(const Seatmeter__Sample *w, SampleBuf *buf)
{
        assert(w);
        assert(buf);
        assert(w->n_net <= STORE_NETDEV_MAX);

        for (size_t i = 0; i < w->n_net; i++) {
                const Seatmeter__NetDev *d = w->net[i];

                buf->net[i] = (SampleNetDev){
                        .name = d->name,
                        .v = { u64_or_none(d->has_rx_bytes, d->rx_bytes), u64_or_none(d->has_tx_bytes, d->tx_bytes),
                               u64_or_none(d->has_rx_packets, d->rx_packets),
                               u64_or_none(d->has_tx_packets, d->tx_packets),
                               u64_or_none(d->has_rx_errors, d->rx_errors), u64_or_none(d->has_tx_errors, d->tx_errors),
                               u64_or_none(d->has_rx_dropped, d->rx_dropped),
                               u64_or_none(d->has_tx_dropped, d->tx_dropped) },
                };
        }
        if (w->limits)
                limits_from_wire(w->limits, &buf->limits);
        buf->sample = (Sample){
                .time_ms = w->time_ms,
                .seq = w->seq,
                .memory_usage_bytes = u64_or_none(w->has_memory_usage_bytes, w->memory_usage_bytes),
                .memory_working_set_bytes = u64_or_none(w->has_memory_working_set_bytes, w->memory_working_set_bytes),
                .memory_cache_bytes = u64_or_none(w->has_memory_cache_bytes, w->memory_cache_bytes),
                .memory_anon_bytes = u64_or_none(w->has_memory_anon_bytes, w->memory_anon_bytes),
                .memory_swap_bytes = u64_or_none(w->has_memory_swap_bytes, w->memory_swap_bytes),
                .memory_oom_kills = u64_or_none(w->has_memory_oom_kills, w->memory_oom_kills),
                .cpu_usage_usec = u64_or_none(w->has_cpu_usage_usec, w->cpu_usage_usec),
                .cpu_throttled_usec = u64_or_none(w->has_cpu_throttled_usec, w->cpu_throttled_usec),
                .cpu_nr_periods = u64_or_none(w->has_cpu_nr_periods, w->cpu_nr_periods),
                .cpu_nr_throttled = u64_or_none(w->has_cpu_nr_throttled, w->cpu_nr_throttled),
                .cpu_steal_usec = u64_or_none(w->has_cpu_steal_usec, w->cpu_steal_usec),
                .io_read_bytes = u64_or_none(w->has_io_read_bytes, w->io_read_bytes),
                .io_write_bytes = u64_or_none(w->has_io_write_bytes, w->io_write_bytes),
                .net = buf->net,
                .n_net = w->n_net,
                .limits = w->limits ? &buf->limits : NULL,
        };
}

void hello_from_wire(const Seatmeter__Hello *h, AgentHello *ret)
{
        assert(h);
        assert(ret);

        *ret = (AgentHello){
                .virt = virt_to_string(h->has_virt ? (int)h->virt : 0),
                .hostname = h->hostname,
                .machine_id = h->machine_id,
                .agent_version = h->agent_version,
                .cgroup_mode = h->cgroup_mode,
                .cgroup_path = h->cgroup_path,
                .cgroup_version = h->has_cgroup_version ? (int)h->cgroup_version : -1,
        };
        limits_from_wire(h->limits, &ret->limits);
        for (size_t i = 0; i < h->n_labels && i < LABELS_MAX; i++) {
                Label *l = &ret->labels.l[ret->labels.n++];

                (void)snprintf(l->key, sizeof(l->key), "%s", h->labels[i]->key);
                (void)snprintf(l->value, sizeof(l->value), "%s", h->labels[i]->value ? h->labels[i]->value : "");
        }
}
