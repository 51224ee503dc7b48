#pragma once
/* Cgroup-aware renderings of /proc and /sys files in the kernel's own format, as LXCFS serves them with
 * its CFS option: meminfo's MemTotal is the memory limit, cpuinfo and stat show cpu_count CPUs, stat's
 * CPU times come from the cgroup, uptime is the container's. When the sampler reports the whole system
 * (no limits outside a container) the host's file is printed unchanged. */

#include <stdio.h>

#include "sampler.h"

#define PROCVIEW_FILE_MAX (4U * 1024U * 1024U) /* host /proc file read for a view (cpuinfo of big hosts) */

typedef enum ProcView {
        PROCVIEW_MEMINFO,
        PROCVIEW_CPUINFO,
        PROCVIEW_STAT,
        PROCVIEW_UPTIME,
        PROCVIEW_LOADAVG,
        PROCVIEW_SWAPS,
        PROCVIEW_CPU_ONLINE,
        _PROCVIEW_MAX,
        _PROCVIEW_INVALID = -EINVAL,
} ProcView;

ProcView procview_from_string(const char *s);
const char *procview_to_string(ProcView v);

/* Takes one sample and writes the view to out. Returns 0 or -errno. */
int procview_render(Sampler *s, ProcView v, FILE *out);
