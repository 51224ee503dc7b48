/* See procview.h. */

#include <inttypes.h>

#include "cgparse.h"
#include "log.h"
#include "procview.h"
#include "util.h"

#define USER_HZ 100

static const char *const view_names[_PROCVIEW_MAX] = {
        [PROCVIEW_MEMINFO] = "meminfo", [PROCVIEW_CPUINFO] = "cpuinfo", [PROCVIEW_STAT] = "stat",
        [PROCVIEW_UPTIME] = "uptime",   [PROCVIEW_LOADAVG] = "loadavg", [PROCVIEW_SWAPS] = "swaps",
        [PROCVIEW_CPU_ONLINE] = "cpu-online",
};

ProcView procview_from_string(const char *s)
{
        for (int i = 0; s && i < _PROCVIEW_MAX; i++)
                if (streq(s, view_names[i]))
                        return (ProcView)i;
        return _PROCVIEW_INVALID;
}

const char *procview_to_string(ProcView v)
{
        return (unsigned)v < _PROCVIEW_MAX ? view_names[v] : NULL;
}

static int read_host(Sampler *s, const char *path, char **ret)
{
        return read_full_file_at(sampler_root_fd(s), path, PROCVIEW_FILE_MAX, ret, NULL);
}

static int print_host(Sampler *s, const char *path, FILE *out)
{
        _cleanup_free_ char *buf = NULL;
        int r = read_host(s, path, &buf);

        if (r < 0)
                return r;
        fputs(buf, out);
        return 0;
}

static uint64_t sub0(uint64_t a, uint64_t b)
{
        return a > b ? a - b : 0;
}

/* Container uptime: host uptime minus the start of our PID 1 (a container's init). */
static int container_uptime(Sampler *s, double *ret_up, double *ret_host_idle)
{
        _cleanup_free_ char *up = NULL, *stat1 = NULL;
        double host_up, host_idle;
        uint64_t start;
        int r;

        r = read_host(s, "proc/uptime", &up);
        if (r < 0)
                return r;
        r = cgparse_uptime(up, &host_up, &host_idle);
        if (r < 0)
                return r;
        if (read_host(s, "proc/1/stat", &stat1) >= 0 && cgparse_pid_starttime(stat1, &start) >= 0 &&
            (double)start / USER_HZ <= host_up)
                host_up -= (double)start / USER_HZ;
        *ret_up = host_up;
        *ret_host_idle = host_idle;
        return 0;
}

typedef struct MemRow {
        const char *name;
        bool has;
        uint64_t bytes;
} MemRow;

static int view_meminfo(Sampler *s, const AgentSample *a, FILE *out)
{
        _cleanup_free_ char *host = NULL;
        const AgentLimits *l = &a->limits;
        uint64_t total, usage, swap_total, aa = 0, ia = 0, af = 0, inf = 0, srec = 0, sunrec = 0, slab = 0;
        bool has_aa, has_ia, has_af, has_if, has_srec, has_sunrec, has_slab;
        int r;

        if (a->whole_system)
                return print_host(s, "proc/meminfo", out);
        r = read_host(s, "proc/meminfo", &host);
        if (r < 0)
                return r;
        if (!l->has_memory_limit || !a->has_memory_usage)
                return -ENODATA;
        total = l->memory_limit_bytes;
        usage = MIN(a->memory_usage_bytes, total);
        swap_total = l->has_swap_limit ? l->swap_limit_bytes : a->has_host_swap ? a->host_swap_bytes : 0;
        has_aa = sampler_memory_stat(s, "active_anon", &aa);
        has_ia = sampler_memory_stat(s, "inactive_anon", &ia);
        has_af = sampler_memory_stat(s, "active_file", &af);
        has_if = sampler_memory_stat(s, "inactive_file", &inf);
        if (a->mode == CGROUP_MODE_UNIFIED) {
                /* v2 charges slab to the cgroup and says how much; "slab" itself came with Linux 5.9. */
                has_srec = sampler_memory_stat(s, "slab_reclaimable", &srec);
                has_sunrec = sampler_memory_stat(s, "slab_unreclaimable", &sunrec);
                has_slab = sampler_memory_stat(s, "slab", &slab);
                if (!has_slab && has_srec && has_sunrec) {
                        has_slab = true;
                        slab = srec + sunrec;
                }
        } else
                /* v1's memory.stat has no slab figure: 0, as LXCFS shows, rather than the machine's
                 * (free(1) would add SReclaimable to the cgroup's buff/cache). */
                has_srec = has_sunrec = has_slab = true;

        MemRow rows[] = {
                {"MemTotal", true, total},
                {"MemFree", true, total - usage},
                {"MemAvailable", true,
                 sub0(total, a->has_memory_working_set ? a->memory_working_set_bytes : usage)},
                {"Buffers", true, 0},
                {"Cached", a->has_memory_cache, a->memory_cache_bytes},
                {"SwapCached", true, 0},
                {"Active", has_aa && has_af, aa + af},
                {"Inactive", has_ia && has_if, ia + inf},
                {"Active(anon)", has_aa, aa},
                {"Inactive(anon)", has_ia, ia},
                {"Active(file)", has_af, af},
                {"Inactive(file)", has_if, inf},
                {"Unevictable", false, 0},
                {"SwapTotal", true, swap_total},
                {"SwapFree", true, sub0(swap_total, a->has_memory_swap ? a->memory_swap_bytes : 0)},
                {"AnonPages", a->has_memory_anon, a->memory_anon_bytes},
                {"Shmem", false, 0},
                {"Mapped", false, 0},
                {"Dirty", false, 0},
                {"Writeback", false, 0},
                {"Slab", has_slab, slab},
                {"SReclaimable", has_srec, srec},
                {"SUnreclaim", has_sunrec, sunrec},
        };
        rows[16].has = sampler_memory_stat(s, "shmem", &rows[16].bytes);
        rows[17].has = sampler_memory_stat(s, "file_mapped", &rows[17].bytes);
        rows[12].has = sampler_memory_stat(s, "unevictable", &rows[12].bytes);
        /* v1's total_dirty and total_writeback under these names. */
        rows[18].has = sampler_memory_stat(s, "file_dirty", &rows[18].bytes);
        rows[19].has = sampler_memory_stat(s, "file_writeback", &rows[19].bytes);

        for (char *line = host, *next; line && *line; line = next) {
                char *colon, name[64];
                size_t n;
                bool done = false;

                next = strchr(line, '\n');
                if (next)
                        *next++ = 0;
                colon = strchr(line, ':');
                n = colon ? (size_t)(colon - line) : 0;
                if (colon && n < sizeof name && strstr(colon, " kB")) {
                        memcpy(name, line, n);
                        name[n] = 0;
                        for (size_t i = 0; i < ELEMENTSOF(rows); i++)
                                if (rows[i].has && streq(rows[i].name, name)) {
                                        char head[sizeof name + 2];
                                        snprintf(head, sizeof head, "%s:", name);
                                        fprintf(out, "%-16s%8" PRIu64 " kB\n", head, rows[i].bytes / 1024);
                                        done = true;
                                        break;
                                }
                }
                if (!done)
                        fprintf(out, "%s\n", line);
        }
        return 0;
}

static int view_cpuinfo(Sampler *s, const AgentSample *a, FILE *out)
{
        _cleanup_free_ char *host = NULL;
        CpuSet allowed = {0};
        bool use_set;
        unsigned shown = 0;
        int r;

        r = read_host(s, "proc/cpuinfo", &host);
        if (r < 0)
                return r;
        use_set = cgparse_cpu_list(sampler_cpuset(s), &allowed) >= 0 && cpu_set_count(&allowed) > 0;

        /* Blocks are separated by empty lines; a block starting with "processor" is one CPU. */
        for (char *block = host, *next; block && *block; block = next) {
                char *sep = strstr(block, "\n\n");
                uint64_t num;
                char *colon;

                if (sep) {
                        sep[1] = 0;
                        next = sep + 2;
                } else
                        next = NULL;
                if (!strneq(block, "processor", 9) || !(colon = strchr(block, ':'))) {
                        fprintf(out, "%s%s", block, next ? "\n" : "");
                        continue;
                }
                {
                        char *nl = strchr(colon, '\n');
                        char numbuf[32];
                        size_t len = nl ? (size_t)(nl - colon - 1) : strlen(colon + 1);
                        if (len >= sizeof numbuf)
                                continue;
                        memcpy(numbuf, colon + 1, len);
                        numbuf[len] = 0;
                        if (safe_atou64(numbuf, &num) < 0)
                                continue;
                        if ((use_set && !cpu_set_has(&allowed, (unsigned)MIN(num, (uint64_t)UINT32_MAX))) ||
                            shown >= a->limits.cpu_count)
                                continue;
                        /* Renumber: "processor\t: N" becomes the shown index. */
                        fprintf(out, "%.*s: %u%s\n", (int)(colon - block), block, shown, nl ? nl : "\n");
                        shown++;
                }
        }
        return shown > 0 ? 0 : -ENODATA;
}

static int view_stat(Sampler *s, const AgentSample *a, FILE *out)
{
        _cleanup_free_ char *host = NULL;
        unsigned n = a->limits.cpu_count;
        uint64_t user, system, idle, tick = USEC_PER_SEC / USER_HZ;
        double up, host_idle;
        int r;

        if (a->whole_system)
                return print_host(s, "proc/stat", out);
        if (!a->has_cpu_usage)
                return -ENODATA;
        r = read_host(s, "proc/stat", &host);
        if (r < 0)
                return r;
        r = container_uptime(s, &up, &host_idle);
        if (r < 0)
                return r;
        if (a->has_cpu_user_system) {
                user = a->cpu_user_usec / tick;
                system = a->cpu_system_usec / tick;
        } else {
                user = a->cpu_usage_usec / tick;
                system = 0;
        }
        idle = sub0((uint64_t)(up * USER_HZ) * n, user + system);

        fprintf(out, "cpu  %" PRIu64 " 0 %" PRIu64 " %" PRIu64 " 0 0 0 0 0 0\n", user, system, idle);
        for (unsigned i = 0; i < n; i++)
                fprintf(out, "cpu%u %" PRIu64 " 0 %" PRIu64 " %" PRIu64 " 0 0 0 0 0 0\n", i, user / n, system / n,
                        idle / n);
        for (char *line = host, *next; line && *line; line = next) {
                next = strchr(line, '\n');
                if (next)
                        *next++ = 0;
                if (strneq(line, "cpu", 3))
                        continue;
                fprintf(out, "%s\n", line);
        }
        return 0;
}

static int view_uptime(Sampler *s, const AgentSample *a, FILE *out)
{
        double up, host_idle, idle;
        int r;

        r = container_uptime(s, &up, &host_idle);
        if (r < 0)
                return r;
        if (a->whole_system || !a->has_cpu_usage)
                idle = host_idle;
        else {
                idle = up * a->limits.cpu_count - (double)a->cpu_usage_usec / USEC_PER_SEC;
                if (idle < 0)
                        idle = 0;
        }
        fprintf(out, "%.2f %.2f\n", up, idle);
        return 0;
}

static int view_loadavg(Sampler *s, const AgentSample *a, FILE *out)
{
        _cleanup_free_ char *host = NULL;
        char avg[3][32], last[32];
        unsigned running, total, cg_running, cg_total;
        int r;

        if (a->whole_system)
                return print_host(s, "proc/loadavg", out);
        r = read_host(s, "proc/loadavg", &host);
        if (r < 0)
                return r;
        if (sscanf(host, "%31s %31s %31s %u/%u %31s", avg[0], avg[1], avg[2], &running, &total, last) != 6)
                return -EINVAL;
        /* The averages need history a one-shot reader does not have: they stay the host's. The task
         * counts are the cgroup's, sub-cgroups included (where a container's processes usually are). */
        r = sampler_task_count(s, &cg_running, &cg_total);
        if (r >= 0) {
                running = cg_running;
                total = cg_total;
        } else
                log_warning_errno(r, "Cannot count the cgroup's tasks, showing the machine's: %m");
        fprintf(out, "%s %s %s %u/%u %s\n", avg[0], avg[1], avg[2], running, total, last);
        return 0;
}

static int view_swaps(Sampler *s, const AgentSample *a, FILE *out)
{
        uint64_t total;

        if (a->whole_system)
                return print_host(s, "proc/swaps", out);
        total = a->limits.has_swap_limit ? a->limits.swap_limit_bytes : a->has_host_swap ? a->host_swap_bytes : 0;
        fprintf(out, "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n");
        if (total > 0)
                fprintf(out, "none%*svirtual\t\t%" PRIu64 "\t%" PRIu64 "\t0\n", 36, "", total / 1024,
                        MIN(a->has_memory_swap ? a->memory_swap_bytes : 0, total) / 1024);
        return 0;
}

int procview_render(Sampler *s, ProcView v, FILE *out)
{
        AgentSample a;
        int r;

        r = sampler_read(s, &a);
        if (r < 0)
                return r;
        switch (v) {
        case PROCVIEW_MEMINFO:
                return view_meminfo(s, &a, out);
        case PROCVIEW_CPUINFO:
                return view_cpuinfo(s, &a, out);
        case PROCVIEW_STAT:
                return view_stat(s, &a, out);
        case PROCVIEW_UPTIME:
                return view_uptime(s, &a, out);
        case PROCVIEW_LOADAVG:
                return view_loadavg(s, &a, out);
        case PROCVIEW_SWAPS:
                return view_swaps(s, &a, out);
        case PROCVIEW_CPU_ONLINE:
                if (a.limits.cpu_count <= 1)
                        fprintf(out, "0\n");
                else
                        fprintf(out, "0-%u\n", a.limits.cpu_count - 1);
                return 0;
        default:
                return -EINVAL;
        }
}
