#pragma once
/* The daemon's own types for what an agent sends: a sample and a Hello, as the store takes them. They are
 * converted from the wire types (proto/seatmeter.proto) at ingest, once ingest-validate.h has checked
 * them (ingest-wire.h), so that nothing below the ingest depends on protobuf. -1 (NAN for doubles, NULL
 * for texts) stands for "not sent"; texts point into the message they came from. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "label.h"

/* An agent's limits, from a Hello or a sample that carries new ones. */
typedef struct SampleLimits {
        double effective_cpus;
        int64_t cpu_count, quota_us, period_us, memory_limit_bytes, swap_limit_bytes, host_cpus, host_memory_bytes;
        const char *cpuset;
} SampleLimits;

/* One interface's counters: rx/tx bytes, rx/tx packets, rx/tx errors, rx/tx dropped. */
typedef struct SampleNetDev {
        const char *name;
        int64_t v[8];
} SampleNetDev;

typedef struct Sample {
        int64_t time_ms;
        uint64_t seq;
        int64_t memory_usage_bytes, memory_working_set_bytes, memory_cache_bytes, memory_anon_bytes,
                memory_swap_bytes, memory_oom_kills;
        int64_t cpu_usage_usec, cpu_throttled_usec, cpu_nr_periods, cpu_nr_throttled, cpu_steal_usec;
        int64_t io_read_bytes, io_write_bytes;
        const SampleNetDev *net;
        size_t n_net;
        const SampleLimits *limits; /* NULL: none came with this sample */
} Sample;

/* What a Hello says about the agent. */
typedef struct AgentHello {
        const char *virt; /* "lxc", "kvm", "vm-other", ... as the agent's JSON spells it */
        const char *hostname, *machine_id, *agent_version, *cgroup_mode, *cgroup_path;
        int cgroup_version; /* -1 */
        SampleLimits limits;
        Labels labels;
} AgentHello;
