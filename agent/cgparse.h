#pragma once
/* Pure parsers for the kernel files the agent reads: /proc/self/cgroup, /proc/self/mountinfo, cgroup
 * control files (v1 and v2), /proc/meminfo, /proc/stat, /proc/net/dev, /proc/diskstats, PSI and a few
 * more. They take NUL-terminated buffers and fill structs; no file or socket is touched, so they run the
 * same over the live system, fixture trees and fuzz inputs. Every parser accepts garbage and returns
 * -EINVAL (or -ERANGE, -E2BIG) rather than guessing a number. */

#include "sample.h"

/* Size limits of the files we read. A file larger than its limit is refused with -EFBIG. */
#define CGPARSE_MOUNTINFO_MAX (1024U * 1024U) /* mountinfo of a busy host: thousands of mounts */
#define CGPARSE_PROC_CGROUP_MAX (64U * 1024U)
#define CGPARSE_SMALL_MAX 512U       /* one-value control files: cpu.max, memory.limit_in_bytes */
#define CGPARSE_STAT_MAX 8192U       /* memory.stat, cpu.stat, /proc/meminfo, PSI */
#define CGPARSE_TABLE_MAX 65536U     /* blkio, io.stat, net/dev, diskstats, /proc/stat, /proc/vmstat */
#define CGPARSE_CPUINFO_MAX (4U * 1024U * 1024U) /* /proc/cpuinfo of a 512-CPU host */
#define CGPARSE_CPU_MAX 8192U        /* highest CPU number + 1 we represent */
#define CGPARSE_LINES_MAX 100000U    /* lines looked at in any one file */
#define CGPARSE_PID_MAX 4194304U     /* PID_MAX_LIMIT on 64-bit */

typedef enum CgController {
        CG_CPU,
        CG_CPUACCT,
        CG_CPUSET,
        CG_MEMORY,
        CG_BLKIO,
        CG_UNIFIED, /* the cgroup2 hierarchy */
        _CG_MAX,
} CgController;

const char *cg_controller_name(CgController c);

/* Where each hierarchy is mounted (mount point in the reader's mount namespace, and the cgroup path of
 * the mount's root, the 4th mountinfo field: not "/" for a bind mount or a foreign cgroup namespace). */
typedef struct CgMounts {
        bool found[_CG_MAX];
        char point[_CG_MAX][AGENT_PATH_MAX];
        char root[_CG_MAX][AGENT_PATH_MAX];
} CgMounts;

/* The agent's own cgroup per hierarchy, as /proc/self/cgroup lists it. */
typedef struct CgPaths {
        bool found[_CG_MAX];
        char path[_CG_MAX][AGENT_PATH_MAX];
} CgPaths;

int cgparse_mountinfo(const char *buf, CgMounts *ret);
int cgparse_proc_cgroup(const char *buf, CgPaths *ret);

/* Maps a cgroup path (as in /proc/self/cgroup) onto the mount whose root is mount_root: writes the path
 * below the mount point ("/" for the mount root itself). -EXDEV when the cgroup is not visible through
 * that mount (outside it, or "/.." paths of a foreign namespace). */
int cgparse_map_path(const char *mount_root, const char *cgroup_path, char *ret, size_t size);

/* A set of CPU numbers below CGPARSE_CPU_MAX. */
typedef struct CpuSet {
        uint64_t bits[CGPARSE_CPU_MAX / 64];
} CpuSet;

static inline bool cpu_set_has(const CpuSet *c, unsigned cpu)
{
        return cpu < CGPARSE_CPU_MAX && (c->bits[cpu / 64] >> (cpu % 64)) & 1;
}
static inline void cpu_set_add(CpuSet *c, unsigned cpu)
{
        if (cpu < CGPARSE_CPU_MAX)
                c->bits[cpu / 64] |= UINT64_C(1) << (cpu % 64);
}
unsigned cpu_set_count(const CpuSet *c);

/* Parses a kernel CPU list ("0-3,8,10-11"); empty is a valid empty set. */
int cgparse_cpu_list(const char *s, CpuSet *ret);
/* Formats a set as the kernel does; -ENOBUFS when it does not fit. */
int cpu_set_format(const CpuSet *c, char *buf, size_t size);

/* A v1 limit ("9223372036854771712" and larger, or "-1", mean none) or a v2 limit ("max" = none). */
int cgparse_limit(const char *s, bool *ret_has, uint64_t *ret);
/* A number read from a v1 file such as hierarchical_memory_limit: is it a real limit? */
bool cgparse_limit_value_is_set(uint64_t v);
/* v1 cpu.cfs_quota_us: "-1" is none. */
int cgparse_quota_v1(const char *s, bool *ret_has, int64_t *ret);
/* v2 cpu.max: "max 100000" or "150000 100000". */
int cgparse_cpu_max(const char *s, bool *ret_has, int64_t *ret_quota, uint64_t *ret_period);

/* Flat keyed files ("key value" per line, as memory.stat and cpu.stat; also "Key:   123 kB" as
 * /proc/meminfo, the kB multiplied out). Fills the entries of table whose name matches; returns the
 * number of entries found. Lines that do not parse are skipped. */
typedef struct CgKey {
        const char *name;
        uint64_t value;
        bool found;
} CgKey;
#define CG_KEY(n) {.name = (n)}
int cgparse_keyed(const char *buf, CgKey *table, size_t n);
/* Looks one key up in a table filled by cgparse_keyed(). */
bool cg_key_get(const CgKey *table, size_t n, const char *name, uint64_t *ret);

typedef struct CgIo {
        uint64_t read_bytes, write_bytes, read_ops, write_ops;
} CgIo;

/* v1 blkio.throttle.io_service_bytes / io_serviced ("8:0 Read 123"): sums Read and Write. */
int cgparse_blkio_v1(const char *buf, uint64_t *ret_read, uint64_t *ret_write);
/* v2 io.stat ("8:0 rbytes=1 wbytes=2 rios=3 wios=4 ..."). */
int cgparse_io_stat(const char *buf, CgIo *ret);
/* /proc/diskstats; accept(name, userdata) picks the devices to count (NULL: all). */
int cgparse_diskstats(const char *buf, bool (*accept)(const char *name, void *userdata), void *userdata,
                      CgIo *ret);

/* /proc/net/dev. Keeps at most max interfaces; *ret_truncated says whether some were dropped. */
int cgparse_net_dev(const char *buf, bool include_lo, AgentNetDev *devs, unsigned max, unsigned *ret_n,
                    bool *ret_truncated);
/* /proc/net/dev, only the interfaces named: devs[i] and ret_found[i] for names[i] (NUL-terminated). A
 * host with thousands of interfaces (one tap per guest) is read whole, never truncated. */
int cgparse_net_dev_pick(const char *buf, const char (*names)[AGENT_IFNAME_MAX], unsigned n_names,
                         AgentNetDev *devs, bool *ret_found);

/* cgroup.procs (or tasks): the first process id listed. -ENOENT when the list is empty, -EINVAL for a
 * line that is not one id in 1..CGPARSE_PID_MAX. */
int cgparse_first_pid(const char *buf, unsigned *ret);

/* PSI files (cpu.pressure, /proc/pressure/io, ...). */
int cgparse_pressure(const char *buf, AgentPressure *ret);

/* The aggregate "cpu" line of /proc/stat, in USER_HZ ticks. */
typedef struct CgProcStatCpu {
        uint64_t user, nice, system, idle, iowait, irq, softirq, steal;
} CgProcStatCpu;
int cgparse_proc_stat_cpu(const char *buf, CgProcStatCpu *ret);

/* /proc/uptime: seconds since boot and idle seconds summed over CPUs. */
int cgparse_uptime(const char *buf, double *ret_uptime, double *ret_idle);
/* /proc/PID/stat: the start time field (22nd), in clock ticks since boot. */
int cgparse_pid_starttime(const char *buf, uint64_t *ret);
/* /proc/PID/stat: the state letter (3rd field: 'R' runnable, 'S' sleeping, 'D', ...). */
int cgparse_pid_state(const char *buf, char *ret);
/* NUL-separated environment block: copies the value of key (e.g. "container") into ret. */
int cgparse_environ_get(const char *buf, size_t size, const char *key, char *ret, size_t ret_size);
/* Counts the lines of a buffer (cgroup.procs, tasks). */
unsigned cgparse_count_lines(const char *buf);
