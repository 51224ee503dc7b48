/* See sampler.h. Every file the sampler reads is described once by an SFile (directory fd, name, size
 * limit) and opened on first use; later samples pread() the same fd at offset 0, which makes the kernel
 * render the file afresh. A file that is missing, unreadable or holds garbage gives an absent value and
 * one warning for the life of the sampler; the sampler itself never fails after sampler_new().
 *
 * Why one file of about 1,350 lines: it is the agent's only I/O layer over the file table (SFile), and
 * every reader (v1, v2, whole-machine, block I/O, network, limits walk) shares that table, its warn-once
 * state and one read buffer; what can be pure is already in cgparse.c (parsing) and cgroup.c (layout). */

#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <sched.h>
#include <sys/stat.h>

#include "cgparse.h"
#include "cgroup.h"
#include "log.h"
#include "sampler.h"
#include "util.h"
#include "virt.h"

#define SAMPLER_DISKS_MAX 64     /* whole disks counted in whole-system mode */
#define SAMPLER_DISKNAME_MAX 32
#define SAMPLER_MEMSTAT_KEYS 18
/* The loadavg view's walk of the cgroup's subtree (not the hot path of "run"): levels below the cgroup,
 * cgroups visited, and threads whose /proc/TID/stat is read for their state. What lies beyond is left
 * out of the counts. */
#define SAMPLER_SUBTREE_DEPTH_MAX CGROUP_DEPTH_MAX
#define SAMPLER_SUBTREE_CGROUPS_MAX 4096U
#define SAMPLER_SUBTREE_STATES_MAX 16384U
#define SAMPLER_PID_STAT_MAX 1024U /* /proc/TID/stat: ~52 numbers and a comm of at most 64 bytes */
#define USER_HZ 100 /* the kernel's ABI for /proc/stat and cpuacct.stat ticks */
/* Finding a task of a watched cgroup for its network namespace: how deep below it and how many cgroups
 * are looked at (Proxmox keeps a container's tasks in /lxc/<vmid>/ns/..., not in /lxc/<vmid>). */
#define SAMPLER_TASK_DEPTH_MAX 4U
#define SAMPLER_TASK_CGROUPS_MAX 256U
#define SAMPLER_PROCS_HEAD 64U /* bytes of cgroup.procs read: the first id is all we need */

typedef struct SFile {
        const int *dirfd;   /* points into the layout or at the root fd, so it follows them */
        const char *name;   /* relative to *dirfd */
        const char *where;  /* for messages: the directory */
        size_t max;         /* size limit */
        int fd;
        int error;          /* <0 once opening failed */
        bool tried, warned;
        bool quiet_missing; /* absent is normal here (root cgroup, ancestors) */
} SFile;

typedef enum SFileId {
        /* v1, own cgroup */
        F_V1_QUOTA,
        F_V1_PERIOD,
        F_V1_CPU_STAT,
        F_V1_USAGE,
        F_V1_ACCT_STAT,
        F_V1_CPUSET_EFF,
        F_V1_CPUSET,
        F_V1_MEM_LIMIT,
        F_V1_MEM_USAGE,
        F_V1_MEM_STAT,
        F_V1_MEMSW_LIMIT,
        F_V1_MEMSW_USAGE,
        F_V1_OOM,
        F_V1_BLKIO_BYTES,
        F_V1_BLKIO_OPS,
        /* v2, own cgroup */
        F_V2_CPU_MAX,
        F_V2_CPU_STAT,
        F_V2_CPUSET_EFF,
        F_V2_MEM_MAX,
        F_V2_MEM_CURRENT,
        F_V2_MEM_STAT,
        F_V2_SWAP_MAX,
        F_V2_SWAP_CURRENT,
        F_V2_MEM_EVENTS,
        F_V2_IO_STAT,
        F_V2_CPU_PRESSURE,
        F_V2_MEM_PRESSURE,
        F_V2_IO_PRESSURE,
        /* whole system, under the root */
        F_MEMINFO,
        F_STAT,
        F_DISKSTATS,
        F_VMSTAT,
        F_NET_DEV,
        F_CPU_ONLINE,
        F_CPU_PRESSURE,
        F_MEM_PRESSURE,
        F_IO_PRESSURE,
        _F_MAX,
} SFileId;

/* Files read in every visible ancestor. */
typedef enum SParentId {
        P_V1_QUOTA,
        P_V1_PERIOD,
        P_V1_MEM_LIMIT,
        P_V1_MEMSW_LIMIT,
        P_V2_CPU_MAX,
        P_V2_MEM_MAX,
        P_V2_SWAP_MAX,
        _P_MAX,
} SParentId;

struct Sampler {
        int root_fd;
        bool live_own; /* the real root and our own cgroup: sched_getaffinity() applies */
        bool named;    /* --cgroup */
        bool include_lo;
        AgentVirt virt;
        CgroupLayout layout;

        AgentNetSource net_source;
        unsigned n_ifaces;
        char ifaces[AGENT_NET_MAX][AGENT_IFNAME_MAX];
        uint64_t iface_warned; /* bit i: names ifaces[i] that could not be found, said once */
        bool net_task_warned;

        SFile files[_F_MAX];
        SFile parents[_P_MAX][CGROUP_DEPTH_MAX];

        CpuSet online;
        bool has_online;
        unsigned host_cpus;
        bool has_mem_total, has_swap_total;
        uint64_t mem_total, swap_total;

        unsigned n_disks;
        char disks[SAMPLER_DISKS_MAX][SAMPLER_DISKNAME_MAX];

        CgKey memstat[SAMPLER_MEMSTAT_KEYS];
        size_t n_memstat;
        bool memstat_v1;
        char cpuset[AGENT_CPUSET_MAX];
        bool net_truncated_warned;
        bool cpu_uncertain, mem_uncertain; /* a limit file exists but could not be used this time */

        char buf[CGPARSE_TABLE_MAX + 1]; /* the one read buffer */
};

static void sfile_init(SFile *f, const int *dirfd, const char *where, const char *name, size_t max, bool quiet)
{
        *f = (SFile){.dirfd = dirfd, .name = name, .where = where, .max = max, .fd = -EBADF, .quiet_missing = quiet};
}

/* Reads f into s->buf; returns the length or -errno (and warns once, unless the file is absent where
 * absence is normal). */
static ssize_t sfile_read(Sampler *s, SFile *f)
{
        ssize_t n;

        if (!f->name || *f->dirfd < 0)
                return -ENOENT;
        if (!f->tried) {
                f->tried = true;
                f->fd = openat(*f->dirfd, f->name, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
                if (f->fd < 0)
                        f->error = negative_errno();
        }
        if (f->fd < 0) {
                if (!f->warned && !(f->quiet_missing && f->error == -ENOENT)) {
                        f->warned = true;
                        log_warning_errno(f->error, "Cannot open %s/%s: %m", f->where, f->name);
                }
                return f->error;
        }
        n = pread_full(f->fd, s->buf, MIN(f->max + 1, sizeof s->buf));
        if (n < 0 && !f->warned) {
                f->warned = true;
                log_warning_errno((int)n, "Cannot read %s/%s: %m", f->where, f->name);
        }
        return n;
}

/* Warns once that f holds something we do not understand. */
static void sfile_garbage(SFile *f, int r)
{
        if (f->warned)
                return;
        f->warned = true;
        log_warning_errno(r, "Ignoring unexpected contents of %s/%s: %m", f->where, f->name);
}

static bool read_u64(Sampler *s, SFile *f, uint64_t *ret)
{
        int r;

        if (sfile_read(s, f) < 0)
                return false;
        r = safe_atou64(s->buf, ret);
        if (r < 0) {
                sfile_garbage(f, r);
                return false;
        }
        return true;
}

/* A limit file: returns <0 when unreadable, else *has says whether a limit is set. */
static int read_limit(Sampler *s, SFile *f, bool *has, uint64_t *ret)
{
        int r;

        r = (int)sfile_read(s, f);
        if (r < 0)
                return r;
        r = cgparse_limit(s->buf, has, ret);
        if (r < 0)
                sfile_garbage(f, r);
        return r;
}

static int read_keyed(Sampler *s, SFile *f, CgKey *table, size_t n)
{
        int r;

        r = (int)sfile_read(s, f);
        if (r < 0) {
                for (size_t i = 0; i < n; i++)
                        table[i].found = false;
                return r;
        }
        r = cgparse_keyed(s->buf, table, n);
        if (r == 0)
                sfile_garbage(f, -EINVAL);
        return r;
}

static bool is_container(AgentVirt v)
{
        return v == AGENT_VIRT_LXC || v == AGENT_VIRT_OPENVZ || v == AGENT_VIRT_DOCKER || v == AGENT_VIRT_PODMAN ||
               v == AGENT_VIRT_CONTAINER_OTHER;
}

/* Whole disks in /sys/block, minus loop, ram and zram devices, for the whole-system I/O figures. */
static void find_disks(Sampler *s)
{
        _cleanup_close_ int fd = openat(s->root_fd, "sys/block", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        DIR *d;
        struct dirent *de;

        if (fd < 0)
                return;
        d = fdopendir(fd);
        if (!d)
                return;
        fd = -EBADF;
        while ((de = readdir(d)) && s->n_disks < SAMPLER_DISKS_MAX) {
                if (de->d_name[0] == '.' || strneq(de->d_name, "loop", 4) || strneq(de->d_name, "ram", 3) ||
                    strneq(de->d_name, "zram", 4) || strlen(de->d_name) >= SAMPLER_DISKNAME_MAX)
                        continue;
                strcpy(s->disks[s->n_disks++], de->d_name);
        }
        closedir(d);
}

static bool accept_disk(const char *name, void *userdata)
{
        const Sampler *s = userdata;

        for (unsigned i = 0; i < s->n_disks; i++)
                if (streq(s->disks[i], name))
                        return true;
        return false;
}

static void setup_files(Sampler *s)
{
        CgroupLayout *l = &s->layout;
        static const char *const v1_parent_names[] = {
                [P_V1_QUOTA] = "cpu.cfs_quota_us",
                [P_V1_PERIOD] = "cpu.cfs_period_us",
                [P_V1_MEM_LIMIT] = "memory.limit_in_bytes",
                [P_V1_MEMSW_LIMIT] = "memory.memsw.limit_in_bytes",
                [P_V2_CPU_MAX] = "cpu.max",
                [P_V2_MEM_MAX] = "memory.max",
                [P_V2_SWAP_MAX] = "memory.swap.max",
        };
        static const CgController parent_ctrl[] = {
                [P_V1_QUOTA] = CG_CPU,         [P_V1_PERIOD] = CG_CPU,        [P_V1_MEM_LIMIT] = CG_MEMORY,
                [P_V1_MEMSW_LIMIT] = CG_MEMORY, [P_V2_CPU_MAX] = CG_UNIFIED, [P_V2_MEM_MAX] = CG_UNIFIED,
                [P_V2_SWAP_MAX] = CG_UNIFIED,
        };
        struct {
                SFileId id;
                CgController c;
                const char *name;
                size_t max;
                bool quiet;
        } table[] = {
                {F_V1_QUOTA, CG_CPU, "cpu.cfs_quota_us", CGPARSE_SMALL_MAX, false},
                {F_V1_PERIOD, CG_CPU, "cpu.cfs_period_us", CGPARSE_SMALL_MAX, false},
                {F_V1_CPU_STAT, CG_CPU, "cpu.stat", CGPARSE_STAT_MAX, false},
                {F_V1_USAGE, CG_CPUACCT, "cpuacct.usage", CGPARSE_SMALL_MAX, false},
                {F_V1_ACCT_STAT, CG_CPUACCT, "cpuacct.stat", CGPARSE_STAT_MAX, false},
                {F_V1_CPUSET_EFF, CG_CPUSET, "cpuset.effective_cpus", AGENT_CPUSET_MAX * 4, true},
                {F_V1_CPUSET, CG_CPUSET, "cpuset.cpus", AGENT_CPUSET_MAX * 4, false},
                {F_V1_MEM_LIMIT, CG_MEMORY, "memory.limit_in_bytes", CGPARSE_SMALL_MAX, false},
                {F_V1_MEM_USAGE, CG_MEMORY, "memory.usage_in_bytes", CGPARSE_SMALL_MAX, false},
                {F_V1_MEM_STAT, CG_MEMORY, "memory.stat", CGPARSE_STAT_MAX, false},
                /* memsw files exist only with swap accounting: absent is normal */
                {F_V1_MEMSW_LIMIT, CG_MEMORY, "memory.memsw.limit_in_bytes", CGPARSE_SMALL_MAX, true},
                {F_V1_MEMSW_USAGE, CG_MEMORY, "memory.memsw.usage_in_bytes", CGPARSE_SMALL_MAX, true},
                {F_V1_OOM, CG_MEMORY, "memory.oom_control", CGPARSE_SMALL_MAX, false},
                {F_V1_BLKIO_BYTES, CG_BLKIO, "blkio.throttle.io_service_bytes_recursive", CGPARSE_TABLE_MAX, false},
                {F_V1_BLKIO_OPS, CG_BLKIO, "blkio.throttle.io_serviced_recursive", CGPARSE_TABLE_MAX, false},
                {F_V2_CPU_MAX, CG_UNIFIED, "cpu.max", CGPARSE_SMALL_MAX, true},
                {F_V2_CPU_STAT, CG_UNIFIED, "cpu.stat", CGPARSE_STAT_MAX, false},
                {F_V2_CPUSET_EFF, CG_UNIFIED, "cpuset.cpus.effective", AGENT_CPUSET_MAX * 4, true},
                {F_V2_MEM_MAX, CG_UNIFIED, "memory.max", CGPARSE_SMALL_MAX, true},
                {F_V2_MEM_CURRENT, CG_UNIFIED, "memory.current", CGPARSE_SMALL_MAX, false},
                {F_V2_MEM_STAT, CG_UNIFIED, "memory.stat", CGPARSE_STAT_MAX, false},
                {F_V2_SWAP_MAX, CG_UNIFIED, "memory.swap.max", CGPARSE_SMALL_MAX, true},
                {F_V2_SWAP_CURRENT, CG_UNIFIED, "memory.swap.current", CGPARSE_SMALL_MAX, true},
                {F_V2_MEM_EVENTS, CG_UNIFIED, "memory.events", CGPARSE_SMALL_MAX, false},
                {F_V2_IO_STAT, CG_UNIFIED, "io.stat", CGPARSE_TABLE_MAX, false},
                {F_V2_CPU_PRESSURE, CG_UNIFIED, "cpu.pressure", CGPARSE_SMALL_MAX, true},
                {F_V2_MEM_PRESSURE, CG_UNIFIED, "memory.pressure", CGPARSE_SMALL_MAX, true},
                {F_V2_IO_PRESSURE, CG_UNIFIED, "io.pressure", CGPARSE_SMALL_MAX, true},
        };

        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                CgController c = table[i].c;
                /* At a hierarchy's root the per-cgroup files may be missing (v2 has no memory.current
                 * there): the whole-system readers answer then. */
                bool quiet = table[i].quiet || (c == CG_UNIFIED && l->at_root[c]);
                sfile_init(&s->files[table[i].id], &l->fd[c], l->dir[c], table[i].name, table[i].max, quiet);
        }
        for (SParentId p = 0; p < _P_MAX; p++)
                for (unsigned i = 0; i < CGROUP_DEPTH_MAX; i++)
                        sfile_init(&s->parents[p][i], &l->parent_fd[parent_ctrl[p]][i], "(ancestor)",
                                   v1_parent_names[p], CGPARSE_SMALL_MAX, true);

        sfile_init(&s->files[F_MEMINFO], &s->root_fd, "", "proc/meminfo", CGPARSE_STAT_MAX, false);
        sfile_init(&s->files[F_STAT], &s->root_fd, "", "proc/stat", CGPARSE_TABLE_MAX, false);
        sfile_init(&s->files[F_DISKSTATS], &s->root_fd, "", "proc/diskstats", CGPARSE_TABLE_MAX, false);
        sfile_init(&s->files[F_VMSTAT], &s->root_fd, "", "proc/vmstat", CGPARSE_TABLE_MAX, true);
        sfile_init(&s->files[F_NET_DEV], &s->root_fd, "", "proc/net/dev", CGPARSE_TABLE_MAX, false);
        sfile_init(&s->files[F_CPU_ONLINE], &s->root_fd, "", "sys/devices/system/cpu/online",
                   AGENT_CPUSET_MAX * 4, false);
        sfile_init(&s->files[F_CPU_PRESSURE], &s->root_fd, "", "proc/pressure/cpu", CGPARSE_SMALL_MAX, true);
        sfile_init(&s->files[F_MEM_PRESSURE], &s->root_fd, "", "proc/pressure/memory", CGPARSE_SMALL_MAX,
                   true);
        sfile_init(&s->files[F_IO_PRESSURE], &s->root_fd, "", "proc/pressure/io", CGPARSE_SMALL_MAX, true);
}

/* The host's CPUs and memory, read once: they change only with hotplug. */
static void read_host(Sampler *s)
{
        CgKey mi[] = {CG_KEY("MemTotal"), CG_KEY("SwapTotal")};

        if (sfile_read(s, &s->files[F_CPU_ONLINE]) >= 0) {
                int r = cgparse_cpu_list(s->buf, &s->online);
                if (r < 0)
                        sfile_garbage(&s->files[F_CPU_ONLINE], r);
                else if (cpu_set_count(&s->online) > 0) {
                        s->has_online = true;
                        s->host_cpus = cpu_set_count(&s->online);
                }
        }
        if (!s->has_online) {
                long n = s->live_own ? sysconf(_SC_NPROCESSORS_ONLN) : 0;
                if (n > 0 && n <= (long)CGPARSE_CPU_MAX) {
                        for (long i = 0; i < n; i++)
                                cpu_set_add(&s->online, (unsigned)i);
                        s->has_online = true;
                        s->host_cpus = (unsigned)n;
                }
        }
        if (read_keyed(s, &s->files[F_MEMINFO], mi, ELEMENTSOF(mi)) >= 0) {
                s->has_mem_total = mi[0].found && mi[0].value > 0;
                s->mem_total = mi[0].value;
                s->has_swap_total = mi[1].found;
                s->swap_total = mi[1].value;
        }
}

int sampler_new(const SamplerOptions *o, Sampler **ret)
{
        _cleanup_(sampler_freep) Sampler *s = NULL;
        const char *root = o && !isempty(o->root) ? o->root : "/";
        int r;

        assert(ret);
        s = calloc(1, sizeof *s);
        if (!s)
                return -ENOMEM;
        s->root_fd = -EBADF;
        for (CgController c = 0; c < _CG_MAX; c++)
                s->layout.fd[c] = -EBADF;
        for (CgController c = 0; c < _CG_MAX; c++)
                for (unsigned i = 0; i < CGROUP_DEPTH_MAX; i++)
                        s->layout.parent_fd[c][i] = -EBADF;

        s->root_fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (s->root_fd < 0)
                return log_error_errno(errno, "Cannot open root '%s': %m", root);
        {
                struct stat st;
                if (fstatat(s->root_fd, "proc", &st, 0) < 0 || !S_ISDIR(st.st_mode))
                        return log_error_errno(ENOENT, "No proc folder under '%s'.", root);
        }
        s->named = o && o->cgroup;
        s->include_lo = o && o->include_lo;
        s->live_own = streq(root, "/") && !s->named;

        r = cgroup_layout_open(s->root_fd, streq(root, "/"), o ? o->cgroup : NULL, &s->layout);
        if (r < 0)
                return r;
        if (o && o->virt != AGENT_VIRT_UNKNOWN)
                s->virt = o->virt;
        else if (s->named)
                s->virt = virt_from_cgroup_path(cgroup_layout_path(&s->layout));
        else
                s->virt = virt_detect(s->root_fd);
        if (o && o->n_net_ifaces > 0) {
                if (o->n_net_ifaces > AGENT_NET_MAX)
                        return log_error_errno(E2BIG, "At most %u interfaces can be named.", AGENT_NET_MAX);
                s->net_source = AGENT_NET_INTERFACES;
                for (unsigned i = 0; i < o->n_net_ifaces; i++) {
                        if (isempty(o->net_ifaces[i]) || strlen(o->net_ifaces[i]) >= AGENT_IFNAME_MAX)
                                return log_error_errno(EINVAL, "Invalid interface name '%s'.", o->net_ifaces[i]);
                        strcpy(s->ifaces[s->n_ifaces++], o->net_ifaces[i]);
                }
        } else
                s->net_source = s->named ? AGENT_NET_TASK : AGENT_NET_OWN;
        setup_files(s);
        read_host(s);
        find_disks(s);

        *ret = TAKE_PTR(s);
        return 0;
}

Sampler *sampler_free(Sampler *s)
{
        if (!s)
                return NULL;
        for (size_t i = 0; i < _F_MAX; i++)
                safe_close(s->files[i].fd);
        for (size_t p = 0; p < _P_MAX; p++)
                for (size_t i = 0; i < CGROUP_DEPTH_MAX; i++)
                        safe_close(s->parents[p][i].fd);
        cgroup_layout_close(&s->layout);
        safe_close(s->root_fd);
        free(s);
        return NULL;
}

int sampler_root_fd(const Sampler *s)
{
        return s->root_fd;
}

const char *sampler_cpuset(const Sampler *s)
{
        return s->cpuset;
}

/* The CPUs we may run on: our affinity on the live system, else the cgroup's cpuset, else the online
 * CPUs. Fills the set and the printed list. */
static bool read_cpus(Sampler *s, CpuSet *ret)
{
        CgroupLayout *l = &s->layout;
        CpuSet set = {0};
        bool have = false;
        SFileId ids[3];
        size_t n = 0;

        if (l->mode == CGROUP_MODE_UNIFIED)
                ids[n++] = F_V2_CPUSET_EFF;
        else if (l->fd[CG_CPUSET] >= 0) {
                ids[n++] = F_V1_CPUSET_EFF;
                ids[n++] = F_V1_CPUSET;
        }
        for (size_t i = 0; i < n && !have; i++) {
                SFile *f = &s->files[ids[i]];
                ssize_t len;
                int r;
                len = sfile_read(s, f);
                if (len < 0) {
                        if (len != -ENOENT)
                                s->cpu_uncertain = true;
                        continue;
                }
                r = cgparse_cpu_list(s->buf, &set);
                if (r < 0) {
                        sfile_garbage(f, r);
                        s->cpu_uncertain = true;
                } else
                        have = cpu_set_count(&set) > 0; /* an empty v2 effective set means "not set up" */
        }
        if (!have && s->has_online) {
                set = s->online;
                have = true;
        }
        if (s->live_own) {
                cpu_set_t aff;
                CpuSet a = {0};
                if (sched_getaffinity(0, sizeof aff, &aff) >= 0) {
                        for (unsigned i = 0; i < CPU_SETSIZE && i < CGPARSE_CPU_MAX; i++)
                                if (CPU_ISSET(i, &aff))
                                        cpu_set_add(&a, i);
                        if (cpu_set_count(&a) > 0) {
                                set = a;
                                have = true;
                        }
                }
        }
        if (!have || s->cpu_uncertain || cpu_set_format(&set, s->cpuset, sizeof s->cpuset) < 0)
                s->cpuset[0] = 0;
        if (have)
                *ret = set;
        return have;
}

/* Smallest quota/period over the cgroup and its visible ancestors. */
static void read_quota(Sampler *s, AgentLimits *lim, double *ret_ratio)
{
        CgroupLayout *l = &s->layout;
        double best = INFINITY;
        bool v2 = l->mode == CGROUP_MODE_UNIFIED;
        CgController c = v2 ? CG_UNIFIED : CG_CPU;

        if (l->fd[c] < 0) {
                *ret_ratio = INFINITY;
                return;
        }
        for (unsigned level = 0; level <= l->n_parents[c]; level++) {
                bool has = false;
                int64_t quota = 0;
                uint64_t period = 0;
                int r;

                if (v2) {
                        SFile *f = level == 0 ? &s->files[F_V2_CPU_MAX] : &s->parents[P_V2_CPU_MAX][level - 1];
                        ssize_t n = sfile_read(s, f);
                        if (n < 0) {
                                if (n != -ENOENT)
                                        s->cpu_uncertain = true;
                                continue;
                        }
                        r = cgparse_cpu_max(s->buf, &has, &quota, &period);
                        if (r < 0) {
                                sfile_garbage(f, r);
                                s->cpu_uncertain = true;
                                continue;
                        }
                } else {
                        SFile *fq = level == 0 ? &s->files[F_V1_QUOTA] : &s->parents[P_V1_QUOTA][level - 1];
                        SFile *fp = level == 0 ? &s->files[F_V1_PERIOD] : &s->parents[P_V1_PERIOD][level - 1];
                        ssize_t n = sfile_read(s, fq);
                        if (n < 0) {
                                /* v1 always has the file, even at the root: absent means damage. */
                                if (n != -ENOENT || level == 0)
                                        s->cpu_uncertain = true;
                                continue;
                        }
                        r = cgparse_quota_v1(s->buf, &has, &quota);
                        if (r < 0) {
                                sfile_garbage(fq, r);
                                s->cpu_uncertain = true;
                                continue;
                        }
                        if (!has)
                                continue;
                        if (!read_u64(s, fp, &period) || period == 0) {
                                if (period == 0 && fp->fd >= 0)
                                        sfile_garbage(fp, -ERANGE);
                                s->cpu_uncertain = true;
                                continue;
                        }
                }
                if (!has)
                        continue;
                if ((double)quota / (double)period < best) {
                        best = (double)quota / (double)period;
                        lim->has_quota = true;
                        lim->quota_us = quota;
                        lim->period_us = period;
                }
        }
        *ret_ratio = best;
}

static void keep_min(bool *has, uint64_t *acc, uint64_t v)
{
        if (!*has || v < *acc) {
                *acc = v;
                *has = true;
        }
}

/* Memory and swap limits of the cgroup and its ancestors (hierarchical values from memory.stat on v1
 * come in through hier_mem/hier_memsw). */
static void read_memory_limits(Sampler *s, AgentLimits *lim, bool has_hier_mem, uint64_t hier_mem,
                               bool has_hier_memsw, uint64_t hier_memsw)
{
        CgroupLayout *l = &s->layout;
        bool v2 = l->mode == CGROUP_MODE_UNIFIED, has_mem = false, has_swap = false;
        CgController c = v2 ? CG_UNIFIED : CG_MEMORY;
        uint64_t mem = 0, swap = 0;

        if (l->fd[c] >= 0)
                for (unsigned level = 0; level <= l->n_parents[c]; level++) {
                        bool has_m = false, has_sw = false;
                        uint64_t m = 0, sw = 0;
                        int r;

                        if (v2) {
                                SFile *fm = level == 0 ? &s->files[F_V2_MEM_MAX] : &s->parents[P_V2_MEM_MAX][level - 1];
                                SFile *fs = level == 0 ? &s->files[F_V2_SWAP_MAX]
                                                       : &s->parents[P_V2_SWAP_MAX][level - 1];
                                r = read_limit(s, fm, &has_m, &m);
                                if (r >= 0 && has_m)
                                        keep_min(&has_mem, &mem, m);
                                /* memory.max exists where the memory controller is enabled: absent, even
                                 * on the own cgroup, means no limit at that level (a container's systemd
                                 * enables the controller below its root only a moment after start). */
                                else if (r < 0 && r != -ENOENT)
                                        s->mem_uncertain = true;
                                if (read_limit(s, fs, &has_sw, &sw) >= 0 && has_sw)
                                        keep_min(&has_swap, &swap, sw);
                        } else {
                                SFile *fm = level == 0 ? &s->files[F_V1_MEM_LIMIT]
                                                       : &s->parents[P_V1_MEM_LIMIT][level - 1];
                                SFile *fs = level == 0 ? &s->files[F_V1_MEMSW_LIMIT]
                                                       : &s->parents[P_V1_MEMSW_LIMIT][level - 1];
                                r = read_limit(s, fm, &has_m, &m);
                                if (r >= 0 && has_m)
                                        keep_min(&has_mem, &mem, m);
                                else if (r < 0 && (r != -ENOENT || level == 0))
                                        s->mem_uncertain = true;
                                /* memsw limits memory plus swap: what is left for swap is the
                                 * difference to the memory limit of the same level. */
                                if (read_limit(s, fs, &has_sw, &sw) >= 0 && has_sw)
                                        keep_min(&has_swap, &swap, has_m && sw > m ? sw - m : has_m ? 0 : sw);
                        }
                }
        if (has_hier_mem)
                keep_min(&has_mem, &mem, hier_mem);
        if (has_hier_memsw) {
                uint64_t left = has_hier_mem ? (hier_memsw > hier_mem ? hier_memsw - hier_mem : 0) : hier_memsw;
                keep_min(&has_swap, &swap, left);
        }

        lim->has_cgroup_memory_limit = has_mem && (!s->has_mem_total || mem < s->mem_total);
        if (s->has_mem_total)
                keep_min(&has_mem, &mem, s->mem_total);
        /* An unreadable limit file leaves the limit unknown: null, not MemTotal. */
        lim->has_memory_limit = has_mem && !s->mem_uncertain;
        lim->memory_limit_bytes = mem;
        lim->host_memory_bytes = s->has_mem_total ? s->mem_total : 0;
        if (has_swap && s->has_swap_total)
                swap = MIN(swap, s->swap_total);
        lim->has_swap_limit = has_swap;
        lim->swap_limit_bytes = swap;
}

/* v1 memory.stat keys, hierarchical (total_*) first; v2 names. The same order in both, so the view
 * helpers can look a v2 name up in either. */
static const char *const memstat_v2_names[SAMPLER_MEMSTAT_KEYS] = {
        "inactive_file", "active_file", "inactive_anon", "active_anon", "file",  "anon",
        "shmem",         "file_mapped", "unevictable",   "swap",        "slab_reclaimable",
        "hierarchical_memory_limit", "hierarchical_memsw_limit", "pgmajfault", "file_dirty", "file_writeback",
        "slab_unreclaimable", "slab",
};
/* v1 has no slab figures in memory.stat: those names are v2's and never match there. */
static const char *const memstat_v1_names[SAMPLER_MEMSTAT_KEYS] = {
        "total_inactive_file", "total_active_file", "total_inactive_anon", "total_active_anon", "total_cache",
        "total_rss",           "total_shmem",       "total_mapped_file",   "total_unevictable", "total_swap",
        "slab_reclaimable",    "hierarchical_memory_limit", "hierarchical_memsw_limit", "total_pgmajfault",
        "total_dirty", "total_writeback", "slab_unreclaimable", "slab",
};

bool sampler_memory_stat(const Sampler *s, const char *key, uint64_t *ret)
{
        for (size_t i = 0; i < s->n_memstat; i++)
                if (streq(memstat_v2_names[i], key)) {
                        if (!s->memstat[i].found)
                                return false;
                        *ret = s->memstat[i].value;
                        return true;
                }
        return false;
}

static void read_memory_stat(Sampler *s, bool v2)
{
        const char *const *names = v2 ? memstat_v2_names : memstat_v1_names;

        s->n_memstat = SAMPLER_MEMSTAT_KEYS;
        s->memstat_v1 = !v2;
        for (size_t i = 0; i < SAMPLER_MEMSTAT_KEYS; i++)
                s->memstat[i] = (CgKey){.name = names[i]};
        (void)read_keyed(s, &s->files[v2 ? F_V2_MEM_STAT : F_V1_MEM_STAT], s->memstat, SAMPLER_MEMSTAT_KEYS);
}

static void read_pressure(Sampler *s, SFile *f, AgentPressure *ret)
{
        int r;

        if (sfile_read(s, f) < 0)
                return;
        r = cgparse_pressure(s->buf, ret);
        if (r < 0) {
                *ret = (AgentPressure){0};
                sfile_garbage(f, r);
        }
}

/* Parses the /proc/net/dev text in s->buf into a->net; f is the file for the warning (NULL: said once
 * through net_task_warned). */
static void parse_net(Sampler *s, SFile *f, AgentSample *a)
{
        bool truncated = false;
        int r;

        r = cgparse_net_dev(s->buf, s->include_lo, a->net, AGENT_NET_MAX, &a->n_net, &truncated);
        if (r < 0) {
                a->n_net = 0;
                if (f)
                        sfile_garbage(f, r);
                else if (!s->net_task_warned) {
                        s->net_task_warned = true;
                        log_warning_errno(r, "Ignoring unexpected contents of proc/%u/net/dev: %m", a->net_pid);
                }
                return;
        }
        a->has_net = true;
        if (truncated && !s->net_truncated_warned) {
                s->net_truncated_warned = true;
                log_warning("More than %u network interfaces; the rest are left out.", AGENT_NET_MAX);
        }
}

/* The first task id in the cgroup.procs of the cgroup open at dir_fd, or of the cgroups below it (depth
 * levels further down), depth first; *budget bounds the cgroups looked at. Returns 0 with *ret, or
 * -ENOENT when no task is there. */
static int find_task(Sampler *s, int dir_fd, unsigned depth, unsigned *budget, unsigned *ret)
{
        _cleanup_close_ int fd = -EBADF;
        char head[SAMPLER_PROCS_HEAD + 1];
        struct dirent *de;
        ssize_t n;
        DIR *d;
        int r = -ENOENT;

        if (*budget == 0)
                return -ENOENT;
        (*budget)--;
        fd = openat(dir_fd, "cgroup.procs", O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0 && errno == ENOENT)
                fd = openat(dir_fd, "tasks", O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd >= 0) {
                n = pread(fd, head, SAMPLER_PROCS_HEAD, 0);
                if (n > 0) {
                        char *nl;

                        head[n] = 0;
                        /* Only whole lines: a cut one could read as a different id. */
                        nl = strrchr(head, '\n');
                        if (nl)
                                nl[1] = 0;
                        else if ((size_t)n == SAMPLER_PROCS_HEAD)
                                head[0] = 0;
                        if (cgparse_first_pid(head, ret) >= 0)
                                return 0;
                }
                fd = safe_close(fd);
        }
        if (depth >= SAMPLER_TASK_DEPTH_MAX)
                return -ENOENT;
        fd = openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return -ENOENT;
        d = fdopendir(fd);
        if (!d)
                return -ENOENT;
        fd = -EBADF;
        while (r < 0 && (de = readdir(d))) {
                _cleanup_close_ int sub = -EBADF;

                if (de->d_name[0] == '.' || (de->d_type != DT_DIR && de->d_type != DT_UNKNOWN))
                        continue;
                sub = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
                if (sub >= 0)
                        r = find_task(s, sub, depth + 1, budget, ret);
        }
        closedir(d);
        return r;
}

/* The network of the watched cgroup: /proc/PID/net/dev of a task in it, opened afresh each time (an fd
 * kept open would keep a stopped container's namespace, and its veth, alive). */
static void read_net_task(Sampler *s, AgentSample *a)
{
        static const CgController order[] = {CG_UNIFIED, CG_CPU, CG_MEMORY, CG_CPUACCT, CG_CPUSET, CG_BLKIO};
        int top = -EBADF;

        for (size_t i = 0; i < ELEMENTSOF(order) && top < 0; i++)
                if (s->layout.fd[order[i]] >= 0 && (order[i] != CG_UNIFIED || s->layout.mode == CGROUP_MODE_UNIFIED))
                        top = s->layout.fd[order[i]];
        /* Twice: the task found may exit between reading its id and opening its file. */
        for (int attempt = 0; attempt < 2 && top >= 0; attempt++) {
                _cleanup_close_ int fd = -EBADF;
                unsigned budget = SAMPLER_TASK_CGROUPS_MAX, pid;
                char path[48];
                ssize_t n;

                if (find_task(s, top, 0, &budget, &pid) < 0)
                        break;
                (void)snprintf(path, sizeof path, "proc/%u/net/dev", pid);
                fd = openat(s->root_fd, path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
                if (fd < 0)
                        continue;
                n = pread_full(fd, s->buf, MIN((size_t)CGPARSE_TABLE_MAX + 1, sizeof s->buf));
                if (n < 0)
                        continue;
                a->net_pid = pid;
                parse_net(s, NULL, a);
                return;
        }
        if (!s->net_task_warned) {
                s->net_task_warned = true;
                log_warning("No task found in cgroup %s: its network is unknown until one runs.", a->cgroup_path);
        }
}

/* The interfaces named by --net-iface, in the host's namespace. A tap or veth on the host receives what
 * the guest sends: receive and transmit are swapped so the figures are the guest's, like those of an
 * agent inside it. */
static void read_net_interfaces(Sampler *s, AgentSample *a)
{
        SFile *f = &s->files[F_NET_DEV];
        AgentNetDev devs[AGENT_NET_MAX];
        bool found[AGENT_NET_MAX];
        int r;

        if (sfile_read(s, f) < 0)
                return;
        r = cgparse_net_dev_pick(s->buf, (const char (*)[AGENT_IFNAME_MAX])s->ifaces, s->n_ifaces, devs, found);
        if (r < 0) {
                sfile_garbage(f, r);
                return;
        }
        a->n_net = 0;
        for (unsigned i = 0; i < s->n_ifaces; i++) {
                AgentNetDev *d = &a->net[a->n_net];

                if (!found[i]) {
                        if (!(s->iface_warned & (UINT64_C(1) << i))) {
                                s->iface_warned |= UINT64_C(1) << i;
                                log_warning("Interface '%s' not found; left out until it appears.", s->ifaces[i]);
                        }
                        continue;
                }
                *d = (AgentNetDev){
                        .rx_bytes = devs[i].tx_bytes, .tx_bytes = devs[i].rx_bytes,
                        .rx_packets = devs[i].tx_packets, .tx_packets = devs[i].rx_packets,
                        .rx_errors = devs[i].tx_errors, .tx_errors = devs[i].rx_errors,
                        .rx_dropped = devs[i].tx_dropped, .tx_dropped = devs[i].rx_dropped,
                };
                memcpy(d->name, devs[i].name, sizeof d->name);
                a->n_net++;
        }
        a->has_net = true;
}

static void read_net(Sampler *s, AgentSample *a)
{
        SFile *f = &s->files[F_NET_DEV];

        a->net_source = s->net_source;
        switch (s->net_source) {
        case AGENT_NET_TASK:
                read_net_task(s, a);
                return;
        case AGENT_NET_INTERFACES:
                read_net_interfaces(s, a);
                return;
        case AGENT_NET_OWN:
                break;
        }
        if (sfile_read(s, f) < 0)
                return;
        parse_net(s, f, a);
}

/* The whole system's usage from /proc (a VM or a bare host without cgroup limits). */
static void read_system(Sampler *s, AgentSample *a)
{
        CgKey mi[] = {CG_KEY("MemTotal"), CG_KEY("MemFree"), CG_KEY("Buffers"), CG_KEY("Cached"), CG_KEY("Inactive(file)"),
                      CG_KEY("AnonPages"), CG_KEY("SwapTotal"), CG_KEY("SwapFree")};
        CgKey vm[] = {CG_KEY("oom_kill")};
        CgProcStatCpu st;
        CgIo io;
        int r;

        if (sfile_read(s, &s->files[F_STAT]) >= 0) {
                r = cgparse_proc_stat_cpu(s->buf, &st);
                if (r < 0)
                        sfile_garbage(&s->files[F_STAT], r);
                else {
                        uint64_t tick = USEC_PER_SEC / USER_HZ;
                        a->has_cpu_usage = a->has_cpu_user_system = true;
                        a->cpu_user_usec = (st.user + st.nice) * tick;
                        a->cpu_system_usec = (st.system + st.irq + st.softirq) * tick;
                        /* Steal is time our vCPUs wanted and did not get: not usage, its own figure. */
                        a->cpu_usage_usec = a->cpu_user_usec + a->cpu_system_usec;
                        a->has_cpu_steal = true;
                        a->cpu_steal_usec = st.steal * tick;
                }
        }
        if (read_keyed(s, &s->files[F_MEMINFO], mi, ELEMENTSOF(mi)) > 0 && mi[0].found && mi[1].found &&
            mi[0].value >= mi[1].value) {
                uint64_t usage = mi[0].value - mi[1].value;
                a->has_memory_usage = true;
                a->memory_usage_bytes = usage;
                if (mi[4].found) {
                        a->has_memory_working_set = true;
                        a->memory_working_set_bytes = usage > mi[4].value ? usage - mi[4].value : 0;
                }
                if (mi[2].found && mi[3].found) {
                        a->has_memory_cache = true;
                        a->memory_cache_bytes = mi[2].value + mi[3].value;
                }
                if (mi[5].found) {
                        a->has_memory_anon = true;
                        a->memory_anon_bytes = mi[5].value;
                }
                if (mi[6].found && mi[7].found && mi[6].value >= mi[7].value) {
                        a->has_memory_swap = true;
                        a->memory_swap_bytes = mi[6].value - mi[7].value;
                }
        }
        if (read_keyed(s, &s->files[F_VMSTAT], vm, ELEMENTSOF(vm)) > 0) {
                a->has_memory_oom_kills = true;
                a->memory_oom_kills = vm[0].value;
        }
        if (sfile_read(s, &s->files[F_DISKSTATS]) >= 0) {
                r = cgparse_diskstats(s->buf, accept_disk, s, &io);
                if (r < 0)
                        sfile_garbage(&s->files[F_DISKSTATS], r);
                else {
                        a->has_io = true;
                        a->io_read_bytes = io.read_bytes;
                        a->io_write_bytes = io.write_bytes;
                        a->io_read_ops = io.read_ops;
                        a->io_write_ops = io.write_ops;
                }
        }
        read_pressure(s, &s->files[F_CPU_PRESSURE], &a->cpu_pressure);
        read_pressure(s, &s->files[F_MEM_PRESSURE], &a->memory_pressure);
        read_pressure(s, &s->files[F_IO_PRESSURE], &a->io_pressure);
}

static void set_working_set(AgentSample *a, bool has_inactive, uint64_t inactive)
{
        if (!a->has_memory_usage || !has_inactive)
                return;
        a->has_memory_working_set = true;
        a->memory_working_set_bytes = a->memory_usage_bytes > inactive ? a->memory_usage_bytes - inactive : 0;
}

/* What memory.stat gives alike in v1 and v2, once the usage is read: the working set (usage less
 * inactive file pages), the page cache and the anonymous memory. */
static void read_memory_split(const Sampler *s, AgentSample *a)
{
        uint64_t v;

        if (sampler_memory_stat(s, "inactive_file", &v))
                set_working_set(a, true, v);
        if (sampler_memory_stat(s, "file", &v)) {
                a->has_memory_cache = true;
                a->memory_cache_bytes = v;
        }
        if (sampler_memory_stat(s, "anon", &v)) {
                a->has_memory_anon = true;
                a->memory_anon_bytes = v;
        }
}

static void read_v1(Sampler *s, AgentSample *a)
{
        CgroupLayout *l = &s->layout;
        CgKey acct[] = {CG_KEY("user"), CG_KEY("system")};
        CgKey cpustat[] = {CG_KEY("nr_periods"), CG_KEY("nr_throttled"), CG_KEY("throttled_time")};
        CgKey oom[] = {CG_KEY("oom_kill")};
        uint64_t v, v2;

        if (read_u64(s, &s->files[F_V1_USAGE], &v)) {
                a->has_cpu_usage = true;
                a->cpu_usage_usec = v / NSEC_PER_USEC;
        }
        if (read_keyed(s, &s->files[F_V1_ACCT_STAT], acct, ELEMENTSOF(acct)) == 2) {
                a->has_cpu_user_system = true;
                a->cpu_user_usec = acct[0].value * (USEC_PER_SEC / USER_HZ);
                a->cpu_system_usec = acct[1].value * (USEC_PER_SEC / USER_HZ);
        }
        if (read_keyed(s, &s->files[F_V1_CPU_STAT], cpustat, ELEMENTSOF(cpustat)) == 3) {
                a->has_cpu_throttling = true;
                a->cpu_nr_periods = cpustat[0].value;
                a->cpu_nr_throttled = cpustat[1].value;
                a->cpu_throttled_usec = cpustat[2].value / NSEC_PER_USEC;
        }

        if (l->fd[CG_MEMORY] >= 0) {
                if (read_u64(s, &s->files[F_V1_MEM_USAGE], &v)) {
                        a->has_memory_usage = true;
                        a->memory_usage_bytes = v;
                }
                read_memory_split(s, a);
                if (sampler_memory_stat(s, "swap", &v)) {
                        a->has_memory_swap = true;
                        a->memory_swap_bytes = v;
                } else if (a->has_memory_usage && read_u64(s, &s->files[F_V1_MEMSW_USAGE], &v2)) {
                        a->has_memory_swap = true;
                        a->memory_swap_bytes = v2 > a->memory_usage_bytes ? v2 - a->memory_usage_bytes : 0;
                }
                if (read_keyed(s, &s->files[F_V1_OOM], oom, ELEMENTSOF(oom)) > 0) {
                        a->has_memory_oom_kills = true;
                        a->memory_oom_kills = oom[0].value;
                }
        }

        if (l->fd[CG_BLKIO] >= 0) {
                SFile *fb = &s->files[F_V1_BLKIO_BYTES], *fo = &s->files[F_V1_BLKIO_OPS];
                uint64_t rb, wb, ro, wo;
                int r1 = -ENOENT, r2 = -ENOENT;

                if (sfile_read(s, fb) >= 0 && (r1 = cgparse_blkio_v1(s->buf, &rb, &wb)) < 0)
                        sfile_garbage(fb, r1);
                if (sfile_read(s, fo) >= 0 && (r2 = cgparse_blkio_v1(s->buf, &ro, &wo)) < 0)
                        sfile_garbage(fo, r2);
                if (r1 >= 0 && r2 >= 0) {
                        a->has_io = true;
                        a->io_read_bytes = rb;
                        a->io_write_bytes = wb;
                        a->io_read_ops = ro;
                        a->io_write_ops = wo;
                }
        }
}

static void read_v2(Sampler *s, AgentSample *a)
{
        CgKey cpustat[] = {CG_KEY("usage_usec"), CG_KEY("user_usec"),    CG_KEY("system_usec"),
                           CG_KEY("nr_periods"), CG_KEY("nr_throttled"), CG_KEY("throttled_usec")};
        CgKey events[] = {CG_KEY("oom_kill")};
        uint64_t v;
        CgIo io;
        int r;

        if (read_keyed(s, &s->files[F_V2_CPU_STAT], cpustat, ELEMENTSOF(cpustat)) > 0) {
                a->has_cpu_usage = cpustat[0].found;
                a->cpu_usage_usec = cpustat[0].value;
                a->has_cpu_user_system = cpustat[1].found && cpustat[2].found;
                a->cpu_user_usec = cpustat[1].value;
                a->cpu_system_usec = cpustat[2].value;
                a->has_cpu_throttling = cpustat[3].found && cpustat[4].found && cpustat[5].found;
                a->cpu_nr_periods = cpustat[3].value;
                a->cpu_nr_throttled = cpustat[4].value;
                a->cpu_throttled_usec = cpustat[5].value;
        }
        if (read_u64(s, &s->files[F_V2_MEM_CURRENT], &v)) {
                a->has_memory_usage = true;
                a->memory_usage_bytes = v;
        }
        read_memory_split(s, a);
        if (read_u64(s, &s->files[F_V2_SWAP_CURRENT], &v)) {
                a->has_memory_swap = true;
                a->memory_swap_bytes = v;
        }
        if (read_keyed(s, &s->files[F_V2_MEM_EVENTS], events, ELEMENTSOF(events)) > 0) {
                a->has_memory_oom_kills = true;
                a->memory_oom_kills = events[0].value;
        }
        if (sfile_read(s, &s->files[F_V2_IO_STAT]) >= 0) {
                r = cgparse_io_stat(s->buf, &io);
                if (r < 0)
                        sfile_garbage(&s->files[F_V2_IO_STAT], r);
                else {
                        a->has_io = true;
                        a->io_read_bytes = io.read_bytes;
                        a->io_write_bytes = io.write_bytes;
                        a->io_read_ops = io.read_ops;
                        a->io_write_ops = io.write_ops;
                }
        }
}

int sampler_read(Sampler *s, AgentSample *ret)
{
        CgroupLayout *l = &s->layout;
        AgentSample *a = ret;
        AgentLimits *lim = &a->limits;
        CpuSet cpus;
        double ratio = INFINITY;
        unsigned ncpu = 0;
        uint64_t hm = 0, hms = 0;
        bool has_hm, has_hms, v2 = l->mode == CGROUP_MODE_UNIFIED;

        assert(s && ret);
        *a = (AgentSample){0};
        a->time_ms = now_ms();
        a->virt = s->virt;
        a->mode = l->mode;
        a->cgroup_version = l->version;
        snprintf(a->cgroup_path, sizeof a->cgroup_path, "%s", cgroup_layout_path(l));
        a->has_host_swap = s->has_swap_total;
        a->host_swap_bytes = s->swap_total;

        /* Limits. */
        s->cpu_uncertain = s->mem_uncertain = false;
        if (read_cpus(s, &cpus)) {
                ncpu = cpu_set_count(&cpus);
                snprintf(lim->cpuset, sizeof lim->cpuset, "%s", s->cpuset);
        }
        lim->host_cpus = s->host_cpus;
        if (l->mode != CGROUP_MODE_NONE)
                read_quota(s, lim, &ratio);
        if (ncpu > 0) {
                lim->has_effective_cpus = true;
                lim->effective_cpus = MIN((double)ncpu, ratio);
                lim->cpu_count = (unsigned)MAX(1.0, MIN((double)ncpu, ceil(ratio - 1e-9)));
        } else if (isfinite(ratio)) {
                lim->has_effective_cpus = true;
                lim->effective_cpus = ratio;
                lim->cpu_count = (unsigned)MAX(1.0, ceil(ratio - 1e-9));
        } else
                lim->cpu_count = 1;
        if (s->cpu_uncertain) {
                /* Some limit could not be read: cpu_count stays an upper bound, the rest is unknown. */
                lim->has_effective_cpus = false;
                lim->has_quota = false;
                lim->cpuset[0] = 0;
        }

        if (l->mode != CGROUP_MODE_NONE && l->fd[v2 ? CG_UNIFIED : CG_MEMORY] >= 0)
                read_memory_stat(s, v2);
        else
                s->n_memstat = 0;
        has_hm = !v2 && sampler_memory_stat(s, "hierarchical_memory_limit", &hm) &&
                 cgparse_limit_value_is_set(hm);
        has_hms = !v2 && sampler_memory_stat(s, "hierarchical_memsw_limit", &hms) &&
                  cgparse_limit_value_is_set(hms);
        read_memory_limits(s, lim, has_hm, hm, has_hms, hms);

        /* Without any limit outside a container, the agent's own cgroup is just the service it runs in:
         * report the machine. A named cgroup is always reported as itself. */
        a->whole_system = l->mode == CGROUP_MODE_NONE ||
                          (!s->named && !is_container(s->virt) && !lim->has_quota &&
                           !lim->has_cgroup_memory_limit && !s->cpu_uncertain && !s->mem_uncertain &&
                           (ncpu == 0 || ncpu >= s->host_cpus));

        if (a->whole_system) {
                s->n_memstat = 0;
                read_system(s, a);
        } else {
                if (v2)
                        read_v2(s, a);
                else
                        read_v1(s, a);
                if (l->fd[CG_UNIFIED] >= 0) {
                        read_pressure(s, &s->files[F_V2_CPU_PRESSURE], &a->cpu_pressure);
                        read_pressure(s, &s->files[F_V2_MEM_PRESSURE], &a->memory_pressure);
                        read_pressure(s, &s->files[F_V2_IO_PRESSURE], &a->io_pressure);
                }
        }
        read_net(s, a);
        return 0;
}

typedef struct TaskCount {
        unsigned total, running;
        unsigned cgroups, states; /* cgroups visited, thread states read: bounded */
        bool truncated;
} TaskCount;

/* Whether thread tid is runnable, from its /proc/TID/stat under the root (the tasks files list thread
 * ids, which /proc resolves although it does not list them). A thread gone meanwhile is not. */
static bool task_is_running(Sampler *s, const char *tid)
{
        _cleanup_close_ int fd = -EBADF;
        char path[32], buf[SAMPLER_PID_STAT_MAX];
        char state;

        if (snprintf(path, sizeof path, "proc/%s/stat", tid) >= (int)sizeof path)
                return false;
        fd = openat(s->root_fd, path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return false;
        /* -EFBIG (a comm longer than the kernel writes) reads as garbage: not counted. */
        if (pread_full(fd, buf, sizeof buf) < 0)
                return false;
        return cgparse_pid_state(buf, &state) >= 0 && state == 'R';
}

/* One line of a tasks file, NUL-terminated in place. */
static void count_task(Sampler *s, char *line, TaskCount *c)
{
        line = strstrip(line);
        if (!*line)
                return;
        c->total++;
        if (strspn(line, "0123456789") != strlen(line))
                return;
        if (c->states >= SAMPLER_SUBTREE_STATES_MAX) {
                c->truncated = true;
                return;
        }
        c->states++;
        if (task_is_running(s, line))
                c->running++;
}

/* Counts the lines of the tasks file name in dir_fd, reading it in pieces through s->buf (a busy
 * cgroup's file can be larger than the buffer). Returns 0 or -errno. */
static int count_tasks_file(Sampler *s, int dir_fd, const char *name, TaskCount *c)
{
        _cleanup_close_ int fd = openat(dir_fd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        const size_t size = sizeof s->buf - 1; /* one byte left for a last line's NUL */
        size_t have = 0;

        if (fd < 0)
                return negative_errno();
        for (;;) {
                ssize_t n = read(fd, s->buf + have, size - have);
                size_t end, start = 0;

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return negative_errno();
                }
                end = have + (size_t)n;
                for (size_t i = have; i < end; i++)
                        if (s->buf[i] == '\n') {
                                s->buf[i] = 0;
                                count_task(s, s->buf + start, c);
                                start = i + 1;
                        }
                if (n == 0) {
                        if (start < end) {
                                s->buf[end] = 0;
                                count_task(s, s->buf + start, c);
                        }
                        return 0;
                }
                have = end - start;
                if (have == size)
                        return -EBADMSG; /* a line longer than the buffer: not a tasks file */
                memmove(s->buf, s->buf + start, have);
        }
}

/* Adds the threads of the cgroup open at cg_fd (owned by this call) and of its sub-cgroups, depth levels
 * below the watched one. Sub-cgroups that vanish or cannot be read meanwhile are left out; only the
 * watched cgroup's own file (depth 0) must be readable. Returns 0 or -errno. */
static int count_subtree(Sampler *s, int cg_fd, const char *name, unsigned depth, TaskCount *c)
{
        _cleanup_close_ int fd = cg_fd;
        struct dirent *de;
        DIR *d;
        int r;

        c->cgroups++;
        r = count_tasks_file(s, fd, name, c);
        if (r < 0)
                return depth == 0 ? r : 0;
        if (depth >= SAMPLER_SUBTREE_DEPTH_MAX) {
                c->truncated = true;
                return 0;
        }
        d = fdopendir(fd);
        if (!d)
                return depth == 0 ? negative_errno() : 0;
        fd = -EBADF; /* the DIR owns it now */
        while ((de = readdir(d))) {
                int sub;

                if (de->d_name[0] == '.' || (de->d_type != DT_DIR && de->d_type != DT_UNKNOWN))
                        continue;
                if (c->cgroups >= SAMPLER_SUBTREE_CGROUPS_MAX) {
                        c->truncated = true;
                        break;
                }
                /* O_NOFOLLOW: a symlink (DT_UNKNOWN on some file systems) is no cgroup and could loop. */
                sub = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
                if (sub < 0)
                        continue;
                (void)count_subtree(s, sub, name, depth + 1, c);
        }
        closedir(d);
        return 0;
}

int sampler_task_count(Sampler *s, unsigned *ret_running, unsigned *ret_total)
{
        bool v2 = s->layout.mode == CGROUP_MODE_UNIFIED;
        int top = s->layout.fd[v2 ? CG_UNIFIED : CG_CPU];
        TaskCount c = {0};
        int fd, r;

        if (top < 0)
                return -ENOENT;
        fd = openat(top, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return negative_errno();
        r = count_subtree(s, fd, v2 ? "cgroup.threads" : "tasks", 0, &c);
        if (r < 0)
                return r;
        if (c.truncated)
                log_debug("Counted the tasks of %u cgroups and the states of %u threads; the rest left out.",
                          c.cgroups, c.states);
        *ret_running = c.running;
        *ret_total = c.total;
        return 0;
}

void sampler_identity(const Sampler *s, char *hostname, size_t hostname_size, char *machine_id,
                      size_t machine_id_size)
{
        static const char *const files[2] = {"proc/sys/kernel/hostname", "etc/machine-id"};
        char *out[2] = {hostname, machine_id};
        size_t sizes[2] = {hostname_size, machine_id_size};

        for (size_t i = 0; i < 2; i++) {
                _cleanup_close_ int fd = -EBADF;
                char buf[256];
                ssize_t n;

                if (!out[i] || sizes[i] == 0)
                        continue;
                out[i][0] = 0;
                fd = openat(s->root_fd, files[i], O_RDONLY | O_CLOEXEC | O_NOCTTY);
                if (fd < 0)
                        continue;
                n = pread_full(fd, buf, sizeof buf);
                if (n <= 0)
                        continue;
                snprintf(out[i], sizes[i], "%s", strstrip(buf));
        }
}
