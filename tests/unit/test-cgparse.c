/* Unit tests of the pure cgroup and /proc parsers (agent/cgparse.c) and the virt decision. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "agent/cgparse.h"
#include "agent/virt.h"

static void test_mountinfo_hybrid(void **state)
{
        const char *mi = "22 27 0:21 / /proc rw,relatime - proc proc rw\n"
                         "32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime shared:5 - cgroup cgroup rw,cpu,cpuacct\n"
                         "35 31 0:32 /lxc/ct1 /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
                         "36 31 0:33 / /sys/fs/cgroup/sp\\040ace rw - cgroup cgroup rw,blkio\n"
                         "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n"
                         "garbage line\n";
        CgMounts m;

        assert_int_equal(cgparse_mountinfo(mi, &m), 0);
        assert_true(m.found[CG_CPU] && m.found[CG_CPUACCT] && m.found[CG_MEMORY] && m.found[CG_UNIFIED]);
        assert_false(m.found[CG_CPUSET]);
        assert_string_equal(m.point[CG_CPUACCT], "/sys/fs/cgroup/cpu,cpuacct");
        assert_string_equal(m.root[CG_MEMORY], "/lxc/ct1");
        assert_string_equal(m.point[CG_BLKIO], "/sys/fs/cgroup/sp ace");
        assert_string_equal(m.point[CG_UNIFIED], "/sys/fs/cgroup/unified");
}

static void test_proc_cgroup(void **state)
{
        CgPaths p;

        assert_int_equal(cgparse_proc_cgroup("4:memory:/process_api/x\n2:cpu,cpuacct:/\n0::/init.scope\n", &p), 0);
        assert_string_equal(p.path[CG_MEMORY], "/process_api/x");
        assert_string_equal(p.path[CG_CPUACCT], "/");
        assert_string_equal(p.path[CG_UNIFIED], "/init.scope");
        assert_false(p.found[CG_BLKIO]);
        assert_int_equal(cgparse_proc_cgroup("", &p), -ENODATA);
        assert_int_equal(cgparse_proc_cgroup("1:cpu:relative\n", &p), -ENODATA);
}

static void test_map_path(void **state)
{
        char buf[AGENT_PATH_MAX];

        assert_int_equal(cgparse_map_path("/", "/lxc/ct1", buf, sizeof buf), 0);
        assert_string_equal(buf, "/lxc/ct1");
        assert_int_equal(cgparse_map_path("/lxc/ct1", "/lxc/ct1", buf, sizeof buf), 0);
        assert_string_equal(buf, "/");
        assert_int_equal(cgparse_map_path("/lxc/ct1", "/lxc/ct1/init.scope", buf, sizeof buf), 0);
        assert_string_equal(buf, "/init.scope");
        assert_int_equal(cgparse_map_path("/lxc/ct1", "/lxc/ct10", buf, sizeof buf), -EXDEV);
        assert_int_equal(cgparse_map_path("/", "/../foo", buf, sizeof buf), -EXDEV);
        assert_int_equal(cgparse_map_path("/", "/abc", buf, 3), -ENAMETOOLONG);
}

static void test_cpu_list(void **state)
{
        CpuSet c;
        char buf[64];

        assert_int_equal(cgparse_cpu_list("0-3,8,10-11\n", &c), 0);
        assert_int_equal(cpu_set_count(&c), 7);
        assert_true(cpu_set_has(&c, 8));
        assert_false(cpu_set_has(&c, 9));
        assert_int_equal(cpu_set_format(&c, buf, sizeof buf), 0);
        assert_string_equal(buf, "0-3,8,10-11");
        assert_int_equal(cpu_set_format(&c, buf, 4), -ENOBUFS);
        assert_int_equal(cgparse_cpu_list("\n", &c), 0);
        assert_int_equal(cpu_set_count(&c), 0);
        assert_int_equal(cgparse_cpu_list("3-1", &c), -EINVAL);
        assert_int_equal(cgparse_cpu_list("0,", &c), -EINVAL);
        assert_int_equal(cgparse_cpu_list("0-99999", &c), -ERANGE);
        assert_int_equal(cgparse_cpu_list("a", &c), -EINVAL);
}

static void test_limits(void **state)
{
        bool has;
        uint64_t v;
        int64_t q;
        uint64_t period;

        assert_int_equal(cgparse_limit("9223372036854771712\n", &has, &v), 0);
        assert_false(has);
        assert_int_equal(cgparse_limit("max\n", &has, &v), 0);
        assert_false(has);
        assert_int_equal(cgparse_limit("4294967296\n", &has, &v), 0);
        assert_true(has);
        assert_int_equal(v, 4294967296ULL);
        assert_int_equal(cgparse_limit("-5", &has, &v), -EINVAL);
        assert_int_equal(cgparse_limit("99999999999999999999999", &has, &v), -EINVAL);

        assert_int_equal(cgparse_quota_v1("-1\n", &has, &q), 0);
        assert_false(has);
        assert_int_equal(cgparse_quota_v1("150000\n", &has, &q), 0);
        assert_true(has);
        assert_int_equal(q, 150000);
        assert_int_equal(cgparse_quota_v1("0", &has, &q), -ERANGE);

        assert_int_equal(cgparse_cpu_max("150000 100000\n", &has, &q, &period), 0);
        assert_true(has);
        assert_int_equal(q, 150000);
        assert_int_equal(period, 100000);
        assert_int_equal(cgparse_cpu_max("max 100000\n", &has, &q, &period), 0);
        assert_false(has);
        assert_int_equal(cgparse_cpu_max("fast 100000", &has, &q, &period), -EINVAL);
        assert_int_equal(cgparse_cpu_max("100 0", &has, &q, &period), -ERANGE);
        assert_int_equal(cgparse_cpu_max("100", &has, &q, &period), -EINVAL);
}

static void test_keyed(void **state)
{
        CgKey t[] = {CG_KEY("total_inactive_file"), CG_KEY("MemTotal"), CG_KEY("missing")};
        uint64_t v;

        assert_int_equal(cgparse_keyed("cache 5\ntotal_inactive_file 1234\nMemTotal:   100 kB\nbad x\n", t, 3), 2);
        assert_true(cg_key_get(t, 3, "total_inactive_file", &v));
        assert_int_equal(v, 1234);
        assert_true(cg_key_get(t, 3, "MemTotal", &v));
        assert_int_equal(v, 102400);
        assert_false(cg_key_get(t, 3, "missing", &v));
        assert_int_equal(cgparse_keyed("", t, 3), 0);
}

static void test_io(void **state)
{
        uint64_t r, w;
        CgIo io;

        assert_int_equal(cgparse_blkio_v1("8:0 Read 10\n8:0 Write 20\n8:0 Total 30\n8:16 Read 1\nTotal 31\n", &r, &w), 0);
        assert_int_equal(r, 11);
        assert_int_equal(w, 20);
        assert_int_equal(cgparse_blkio_v1("8:0 Read many\n", &r, &w), -EINVAL);
        assert_int_equal(cgparse_blkio_v1("", &r, &w), 0);

        assert_int_equal(cgparse_io_stat("8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0\n"
                                         "253:0 rbytes=10 wbytes=20 rios=30 wios=40\n", &io), 0);
        assert_int_equal(io.read_bytes, 11);
        assert_int_equal(io.write_ops, 44);
        assert_int_equal(cgparse_io_stat("sda rbytes=1\n", &io), -EINVAL);

        assert_int_equal(cgparse_diskstats("   8 0 sda 100 0 2000 0 50 0 4000 0 0 0 0\n"
                                           "   8 1 sda1 100 0 2000 0 50 0 4000 0 0 0 0\n", NULL, NULL, &io), 0);
        assert_int_equal(io.read_ops, 200);
        assert_int_equal(io.read_bytes, 4000 * 512);
        assert_int_equal(io.write_bytes, 8000 * 512);
}

static void test_net_dev(void **state)
{
        const char *dev = "Inter-|   Receive |  Transmit\n face |bytes packets|bytes\n"
                          "    lo: 100 1 0 0 0 0 0 0 100 1 0 0 0 0 0 0\n"
                          "  eth0: 500 5 1 2 0 0 0 0 700 7 3 4 0 0 0 0\n";
        AgentNetDev d[2];
        unsigned n;
        bool trunc;

        assert_int_equal(cgparse_net_dev(dev, false, d, 2, &n, &trunc), 0);
        assert_int_equal(n, 1);
        assert_false(trunc);
        assert_string_equal(d[0].name, "eth0");
        assert_int_equal(d[0].rx_bytes, 500);
        assert_int_equal(d[0].tx_bytes, 700);
        assert_int_equal(d[0].rx_dropped, 2);
        assert_int_equal(d[0].tx_errors, 3);
        assert_int_equal(cgparse_net_dev(dev, true, d, 1, &n, &trunc), 0);
        assert_int_equal(n, 1);
        assert_true(trunc);
        assert_int_equal(cgparse_net_dev("a\nb\n  eth0: 1 2 3\n", false, d, 2, &n, &trunc), -EINVAL);
}

static void test_net_dev_pick(void **state)
{
        const char *dev = "Inter-|   Receive |  Transmit\n face |bytes packets|bytes\n"
                          "    lo: 100 1 0 0 0 0 0 0 100 1 0 0 0 0 0 0\n"
                          "tap101i0: 500 5 1 2 0 0 0 0 700 7 3 4 0 0 0 0\n"
                          " vmbr0: 9 9 0 0 0 0 0 0 9 9 0 0 0 0 0 0\n"
                          "tap102i0: 10 1 0 0 0 0 0 0 20 2 0 0 0 0 0 0\n";
        const char names[3][AGENT_IFNAME_MAX] = {"tap102i0", "tap101i0", "tap9i0"};
        AgentNetDev d[3];
        bool found[3];

        (void)state;
        assert_int_equal(cgparse_net_dev_pick(dev, names, 3, d, found), 0);
        assert_true(found[0] && found[1]);
        assert_false(found[2]);
        assert_string_equal(d[0].name, "tap102i0");
        assert_int_equal(d[0].tx_bytes, 20);
        assert_string_equal(d[1].name, "tap101i0");
        assert_int_equal(d[1].rx_bytes, 500);
        assert_int_equal(d[1].tx_dropped, 4);
        assert_int_equal(cgparse_net_dev_pick("only one line\n", names, 3, d, found), -EINVAL);
        assert_int_equal(cgparse_net_dev_pick("a\nb\ntap101i0: 1 2\n", names, 3, d, found), -EINVAL);
}

static void test_first_pid(void **state)
{
        unsigned pid = 0;

        (void)state;
        assert_int_equal(cgparse_first_pid("4242\n4300\n", &pid), 0);
        assert_int_equal(pid, 4242);
        assert_int_equal(cgparse_first_pid("\n  17  \n", &pid), 0);
        assert_int_equal(pid, 17);
        assert_int_equal(cgparse_first_pid("", &pid), -ENOENT);
        assert_int_equal(cgparse_first_pid("\n\n", &pid), -ENOENT);
        assert_int_equal(cgparse_first_pid("0\n", &pid), -EINVAL);
        assert_int_equal(cgparse_first_pid("12 13\n", &pid), -EINVAL);
        assert_int_equal(cgparse_first_pid("x1\n", &pid), -EINVAL);
        assert_int_equal(cgparse_first_pid("99999999999\n", &pid), -EINVAL);
}

static void test_virt_from_path(void **state)
{
        static const struct {
                const char *path;
                AgentVirt virt;
        } cases[] = {
                {"/lxc/101", AGENT_VIRT_LXC},
                {"/lxc/101/ns", AGENT_VIRT_LXC},
                {"/lxc.payload.ct1", AGENT_VIRT_LXC},
                {"/lxc.payload/ct1/init.scope", AGENT_VIRT_LXC},
                {"/qemu.slice/105.scope", AGENT_VIRT_KVM},
                {"/machine.slice/machine-qemu\\x2d3\\x2dbbb.scope", AGENT_VIRT_KVM},
                {"/machine.slice/machine-qemu\\x2d3\\x2dbbb.scope/libvirt/emulator", AGENT_VIRT_KVM},
                {"/machine.slice/machine-lxc\\x2d4\\x2dct.scope", AGENT_VIRT_LXC},
                {"/machine/vm1.libvirt-qemu", AGENT_VIRT_KVM},
                {"/machine/ct1.libvirt-lxc", AGENT_VIRT_LXC},
                {"/machine.slice/systemd-nspawn@bbb.service", AGENT_VIRT_CONTAINER_OTHER},
                {"/docker/0123abcd", AGENT_VIRT_DOCKER},
                {"/system.slice/docker-0123abcd.scope", AGENT_VIRT_DOCKER},
                {"/machine.slice/libpod-0123abcd.scope", AGENT_VIRT_PODMAN},
                /* the deepest guest wins: docker inside a Proxmox container */
                {"/lxc/101/ns/system.slice/docker-0123abcd.scope", AGENT_VIRT_DOCKER},
                {"/lxc", AGENT_VIRT_UNKNOWN},
                {"/qemu.slice", AGENT_VIRT_UNKNOWN},
                {"/machine.slice", AGENT_VIRT_UNKNOWN},
                {"/system.slice/docker.service", AGENT_VIRT_UNKNOWN},
                {"/user.slice/user-1000.slice", AGENT_VIRT_UNKNOWN},
                {"/", AGENT_VIRT_UNKNOWN},
                {"", AGENT_VIRT_UNKNOWN},
        };

        (void)state;
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                if (virt_from_cgroup_path(cases[i].path) != cases[i].virt)
                        fail_msg("%s: got %s, want %s", cases[i].path,
                                 agent_virt_to_string(virt_from_cgroup_path(cases[i].path)),
                                 agent_virt_to_string(cases[i].virt));
        }
        assert_int_equal(virt_from_cgroup_path(NULL), AGENT_VIRT_UNKNOWN);
}

static void test_pressure_stat_misc(void **state)
{
        AgentPressure p;
        CgProcStatCpu st;
        double up, idle;
        uint64_t start;
        char val[16], pstate = 0;
        static const char env[] = "A=1\0container=lxc\0B=2";

        assert_int_equal(cgparse_pressure("some avg10=1.50 avg60=0.75 avg300=0.20 total=123\n"
                                          "full avg10=0.00 avg60=0.00 avg300=0.00 total=7\n", &p), 0);
        assert_true(p.has_some && p.has_full);
        assert_float_equal(p.some_avg10, 1.5, 1e-9);
        assert_int_equal(p.some_total_usec, 123);
        assert_int_equal(p.full_total_usec, 7);
        assert_int_equal(cgparse_pressure("some avg10=1.00 total=5\n", &p), -EINVAL);

        assert_int_equal(cgparse_proc_stat_cpu("cpu  1 2 3 4 5 6 7 8 0 0\ncpu0 1 2 3 4\n", &st), 0);
        assert_int_equal(st.user, 1);
        assert_int_equal(st.steal, 8);
        assert_int_equal(cgparse_proc_stat_cpu("intr 1\n", &st), -ENODATA);

        assert_int_equal(cgparse_uptime("123.45 678.90\n", &up, &idle), 0);
        assert_float_equal(up, 123.45, 1e-9);
        assert_int_equal(cgparse_uptime("1.0", &up, &idle), -EINVAL);

        assert_int_equal(cgparse_pid_starttime("1 (a) b) S 0 1 1 0 -1 4 1 0 0 0 1 2 0 0 20 0 1 0 4242 17 3\n", &start),
                         0);
        assert_int_equal(start, 4242);
        assert_int_equal(cgparse_pid_starttime("1 (init) S 0\n", &start), -EINVAL);

        assert_int_equal(cgparse_pid_state("42 (a) R (b)) R 1 42 42 0 -1\n", &pstate), 0);
        assert_int_equal(pstate, 'R');
        assert_int_equal(cgparse_pid_state("7 (kworker/0:1) I 2 0 0\n", &pstate), 0);
        assert_int_equal(pstate, 'I');
        assert_int_equal(cgparse_pid_state("7 (x) \n", &pstate), -EINVAL);
        assert_int_equal(cgparse_pid_state("7 (x) RS 1\n", &pstate), -EINVAL);
        assert_int_equal(cgparse_pid_state("7 x R 1\n", &pstate), -EINVAL);

        assert_int_equal(cgparse_environ_get(env, sizeof env - 1, "container", val, sizeof val), 0);
        assert_string_equal(val, "lxc");
        assert_int_equal(cgparse_environ_get(env, sizeof env - 1, "C", val, sizeof val), -ENOENT);
}

static void test_virt(void **state)
{
        VirtEvidence e = {0};

        assert_int_equal(virt_decide(&e), AGENT_VIRT_NONE);
        e.cpuinfo_hypervisor = true;
        assert_int_equal(virt_decide(&e), AGENT_VIRT_VM_OTHER);
        /* qemu writes "QEMU" into DMI with and without KVM: CPUID, else KVM's clock, tells them apart */
        e.sys_vendor = "QEMU";
        assert_int_equal(virt_decide(&e), AGENT_VIRT_QEMU);
        e.kvm_clock = true;
        assert_int_equal(virt_decide(&e), AGENT_VIRT_KVM);
        e.cpuid_vendor = "TCGTCGTCGTCG";
        assert_int_equal(virt_decide(&e), AGENT_VIRT_QEMU);
        e.cpuid_vendor = "KVMKVMKVM";
        e.kvm_clock = false;
        assert_int_equal(virt_decide(&e), AGENT_VIRT_KVM);
        e.cpuid_vendor = NULL;
        e.product_name = "KVM";
        assert_int_equal(virt_decide(&e), AGENT_VIRT_KVM);
        e.dockerenv = true;
        assert_int_equal(virt_decide(&e), AGENT_VIRT_DOCKER);
        e.container = "lxc";
        assert_int_equal(virt_decide(&e), AGENT_VIRT_LXC);
        e.container = "podman";
        assert_int_equal(virt_decide(&e), AGENT_VIRT_PODMAN);
        e.proc_vz = true;
        assert_int_equal(virt_decide(&e), AGENT_VIRT_OPENVZ);
        e.proc_bc = true; /* the OpenVZ host itself */
        assert_int_equal(virt_decide(&e), AGENT_VIRT_PODMAN);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_mountinfo_hybrid), cmocka_unit_test(test_proc_cgroup),
                cmocka_unit_test(test_map_path),         cmocka_unit_test(test_cpu_list),
                cmocka_unit_test(test_limits),           cmocka_unit_test(test_keyed),
                cmocka_unit_test(test_io),               cmocka_unit_test(test_net_dev),
                cmocka_unit_test(test_pressure_stat_misc), cmocka_unit_test(test_virt),
                cmocka_unit_test(test_net_dev_pick),     cmocka_unit_test(test_first_pid),
                cmocka_unit_test(test_virt_from_path),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
