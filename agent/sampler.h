#pragma once
/* The agent's sampler: discovers the cgroup to watch once (own cgroup, or --cgroup PATH from the host),
 * opens the directory fds it reads from, and then fills an AgentSample per call with pread()s and no
 * allocation. Used by agent/run.c and agent/main.c. */

#include "sample.h"

typedef struct Sampler Sampler;

typedef struct SamplerOptions {
        const char *root;   /* read /proc and /sys under this folder (fixtures); NULL or "/" for the real ones */
        const char *cgroup; /* watch this cgroup path (as in /proc/self/cgroup, e.g. "/lxc/ct1"); NULL: own */
        bool include_lo;    /* keep the loopback interface in net[] */
        AgentVirt virt;     /* the kind to report; AGENT_VIRT_UNKNOWN: detected (own cgroup) or read from the
                             * cgroup's path (--cgroup: the watcher's own evidence says nothing of the guest) */
        /* Host interfaces that carry a watched VM's traffic (its taps): the network figures are these, with
         * receive and transmit swapped to the guest's view. At most AGENT_NET_MAX names shorter than
         * AGENT_IFNAME_MAX. Without them, a --cgroup's figures are those of the network namespace of a
         * task in it. */
        const char *const *net_ifaces;
        unsigned n_net_ifaces;
} SamplerOptions;

/* Discovers the cgroup layout and opens what it needs. Missing or unreadable files are not errors here:
 * they give absent values (and one warning each) when read. Returns 0, or -errno when even /proc
 * cannot be used. */
int sampler_new(const SamplerOptions *o, Sampler **ret);
Sampler *sampler_free(Sampler *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(Sampler *, sampler_free)

/* Reads one sample (time_ms set from CLOCK_REALTIME, seq left 0 for the caller). Limits are re-read
 * every call (they can change while running). Returns 0 or -errno on a fatal error only. */
int sampler_read(Sampler *s, AgentSample *ret);

/* The machine's identity for Hello: hostname and /etc/machine-id (under root), empty when unknown. */
void sampler_identity(const Sampler *s, char *hostname, size_t hostname_size, char *machine_id,
                      size_t machine_id_size);

/* Extras for the /proc views (not used on the hot path of "run"). */

/* The folder /proc and /sys are read under, as an fd owned by the sampler. */
int sampler_root_fd(const Sampler *s);

/* A value of the cgroup's memory.stat from the last sampler_read(), by its v2 name ("active_anon",
 * "inactive_file", "shmem", ...); v1's hierarchical total_* counterparts are looked up for v1. Returns
 * false when unknown. */
bool sampler_memory_stat(const Sampler *s, const char *key, uint64_t *ret);

/* The CPUs the cgroup may run on (cpuset, or online CPUs), from the last sampler_read(). */
const char *sampler_cpuset(const Sampler *s);

/* The threads of the cgroup and of every cgroup below it (v1: the cpu hierarchy's tasks files, v2:
 * cgroup.threads), and how many of them are runnable (state R in /proc/TID/stat under the root). Walks
 * the subtree with bounded depth and breadth, so it is for the loadavg view, not the hot path of "run".
 * Returns 0, or -errno when the cgroup's own list cannot be read. */
int sampler_task_count(Sampler *s, unsigned *ret_running, unsigned *ret_total);
