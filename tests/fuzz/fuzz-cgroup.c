/* libFuzzer target for the agent's cgroup and /proc parsers (agent/cgparse.c, virt_decide): every
 * parser gets the same input, which must never crash, hang or read out of bounds. virt_from_cgroup_path()
 * reads --cgroup paths, which come from operators and their scripts. */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/cgparse.h"
#include "agent/virt.h"

#define FUZZ_INPUT_MAX (256U * 1024U) /* larger inputs are cut: the readers refuse them anyway */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        char *buf, path[AGENT_PATH_MAX], val[64];
        CgMounts m;
        CgPaths p;
        CpuSet c;
        CgKey keys[] = {CG_KEY("total_inactive_file"), CG_KEY("usage_usec"), CG_KEY("MemTotal")};
        CgIo io;
        CgProcStatCpu st;
        AgentNetDev devs[4];
        AgentPressure pr;
        bool has, trunc;
        uint64_t u;
        int64_t q;
        unsigned n;
        double d1, d2;
        char state;

        if (size > FUZZ_INPUT_MAX)
                size = FUZZ_INPUT_MAX;
        buf = malloc(size + 1);
        if (!buf)
                return 0;
        memcpy(buf, data, size);
        buf[size] = 0;

        (void)cgparse_environ_get(buf, size, "container", val, sizeof val);
        if (cgparse_mountinfo(buf, &m) >= 0)
                for (CgController i = 0; i < _CG_MAX; i++)
                        if (m.found[i])
                                (void)cgparse_map_path(m.root[i], "/lxc/ct1/init.scope", path, sizeof path);
        if (cgparse_proc_cgroup(buf, &p) >= 0)
                for (CgController i = 0; i < _CG_MAX; i++)
                        if (p.found[i])
                                (void)cgparse_map_path("/lxc", p.path[i], path, sizeof path);
        if (cgparse_cpu_list(buf, &c) >= 0) {
                char out[AGENT_CPUSET_MAX];
                (void)cpu_set_format(&c, out, sizeof out);
        }
        (void)cgparse_limit(buf, &has, &u);
        (void)cgparse_quota_v1(buf, &has, &q);
        (void)cgparse_cpu_max(buf, &has, &q, &u);
        (void)cgparse_keyed(buf, keys, ELEMENTSOF(keys));
        (void)cgparse_blkio_v1(buf, &u, &u);
        (void)cgparse_io_stat(buf, &io);
        (void)cgparse_diskstats(buf, NULL, NULL, &io);
        (void)cgparse_net_dev(buf, size & 1, devs, ELEMENTSOF(devs), &n, &trunc);
        {
                static const char names[2][AGENT_IFNAME_MAX] = {"tap101i0", "eth0"};
                bool found[2];
                (void)cgparse_net_dev_pick(buf, names, 2, devs, found);
        }
        (void)cgparse_first_pid(buf, &n);
        (void)virt_from_cgroup_path(buf);
        (void)cgparse_pressure(buf, &pr);
        (void)cgparse_proc_stat_cpu(buf, &st);
        (void)cgparse_uptime(buf, &d1, &d2);
        (void)cgparse_pid_starttime(buf, &u);
        (void)cgparse_pid_state(buf, &state);
        (void)cgparse_count_lines(buf);
        {
                VirtEvidence e = {.container = buf, .sys_vendor = buf, .product_name = buf,
                                  .proc_vz = size & 2, .dockerenv = size & 4};
                (void)virt_decide(&e);
        }
        free(buf);
        return 0;
}
