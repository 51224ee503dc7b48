#pragma once
/* One sample of what the agent's cgroup is granted and uses. This struct is the contract between the
 * readers (cgroup.c, sampler.c), the JSON printer, the /proc views and the wire (run.c converts it to a
 * Seatmeter__Sample). Every value that could not be read has its has_* flag false and is printed as null
 * or left out of the frame: never a made-up number. Plain data, no pointers, so it can be copied and
 * spooled as it is. */

#include "macro.h"

#define AGENT_NET_MAX 32     /* interfaces kept per sample; more are dropped with one warning */
#define AGENT_IFNAME_MAX 16  /* IFNAMSIZ */
#define AGENT_CPUSET_MAX 256 /* "0-3,8-11,..." as the kernel prints it */
#define AGENT_PATH_MAX 512   /* a cgroup path */

typedef enum AgentVirt {
        AGENT_VIRT_UNKNOWN = 0,
        AGENT_VIRT_NONE,
        AGENT_VIRT_LXC,
        AGENT_VIRT_OPENVZ,
        AGENT_VIRT_DOCKER,
        AGENT_VIRT_PODMAN,
        AGENT_VIRT_KVM,
        AGENT_VIRT_VM_OTHER,
        AGENT_VIRT_CONTAINER_OTHER,
        AGENT_VIRT_QEMU, /* qemu emulating the CPU (TCG), no KVM */
} AgentVirt; /* same numbers as Seatmeter__Virt */

/* Where the network figures come from. */
typedef enum AgentNetSource {
        AGENT_NET_OWN = 0,    /* the reader's own namespace: /proc/net/dev */
        AGENT_NET_TASK,       /* the namespace of a task in the watched cgroup: /proc/PID/net/dev */
        AGENT_NET_INTERFACES, /* the host's interfaces named by --net-iface (a VM's taps), seen from the guest */
} AgentNetSource;

typedef enum CgroupMode {
        CGROUP_MODE_NONE = 0, /* no cgroup limits visible: the whole system */
        CGROUP_MODE_LEGACY,   /* v1 only */
        CGROUP_MODE_HYBRID,   /* v1 controllers plus a cgroup2 mount (empty "unified") */
        CGROUP_MODE_UNIFIED,  /* pure v2 */
} CgroupMode;

typedef struct AgentLimits {
        bool has_effective_cpus;
        double effective_cpus;
        unsigned cpu_count; /* always >= 1 */
        char cpuset[AGENT_CPUSET_MAX]; /* empty when unknown */
        bool has_quota;
        int64_t quota_us;   /* of the binding cgroup (smallest quota/period) */
        uint64_t period_us;
        bool has_memory_limit;
        uint64_t memory_limit_bytes; /* min(MemTotal, own and ancestor limits) */
        bool has_cgroup_memory_limit; /* a cgroup (not only MemTotal) limits memory */
        bool has_swap_limit;
        uint64_t swap_limit_bytes;
        unsigned host_cpus;
        uint64_t host_memory_bytes;
} AgentLimits;

typedef struct AgentNetDev {
        char name[AGENT_IFNAME_MAX];
        uint64_t rx_bytes, tx_bytes, rx_packets, tx_packets;
        uint64_t rx_errors, tx_errors, rx_dropped, tx_dropped;
} AgentNetDev;

typedef struct AgentPressure {
        bool has_some, has_full;
        double some_avg10, some_avg60, full_avg10, full_avg60;
        uint64_t some_total_usec, full_total_usec;
} AgentPressure;

typedef struct AgentSample {
        int64_t time_ms; /* CLOCK_REALTIME */
        uint64_t seq;

        AgentVirt virt;
        CgroupMode mode;
        unsigned cgroup_version; /* 1, 2, or 0 for none */
        char cgroup_path[AGENT_PATH_MAX];

        AgentLimits limits;

        /* CPU, cumulative microseconds */
        bool has_cpu_usage, has_cpu_user_system, has_cpu_throttling;
        uint64_t cpu_usage_usec, cpu_user_usec, cpu_system_usec;
        uint64_t cpu_nr_periods, cpu_nr_throttled, cpu_throttled_usec;
        /* Steal: time the hypervisor gave our vCPUs to others, from /proc/stat (whole system only). It is
         * not part of cpu_usage_usec. */
        bool has_cpu_steal;
        uint64_t cpu_steal_usec;

        /* memory, bytes */
        bool has_memory_usage, has_memory_working_set, has_memory_cache, has_memory_anon, has_memory_swap,
                has_memory_oom_kills;
        uint64_t memory_usage_bytes, memory_working_set_bytes, memory_cache_bytes, memory_anon_bytes,
                memory_swap_bytes, memory_oom_kills;

        /* block I/O, cumulative */
        bool has_io;
        uint64_t io_read_bytes, io_write_bytes, io_read_ops, io_write_ops;

        /* network, cumulative: of our namespace, of the watched cgroup's (net_pid's), or of the named
         * interfaces with receive and transmit as the guest sees them */
        AgentNetSource net_source;
        unsigned net_pid; /* AGENT_NET_TASK: the task whose namespace was read, 0 when none was found */
        bool has_net;
        unsigned n_net;
        AgentNetDev net[AGENT_NET_MAX];

        AgentPressure cpu_pressure, memory_pressure, io_pressure;

        /* true when no cgroup limits the agent outside a container (a VM, a bare host): the values
         * above are then the whole system's, from /proc, not the agent's own service cgroup. */
        bool whole_system;
        bool has_host_swap;
        uint64_t host_swap_bytes; /* SwapTotal */
} AgentSample;

const char *agent_virt_to_string(AgentVirt v);
AgentVirt agent_virt_from_string(const char *s);
const char *cgroup_mode_to_string(CgroupMode m);
const char *agent_net_source_to_string(AgentNetSource s);
