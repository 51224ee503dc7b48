#!/usr/bin/env python3
"""Live test of seatmeter-agent against real cgroup v1 hierarchies (needs root and writable v1
controllers under /sys/fs/cgroup; otherwise skipped with exit 77).

Creates seatmeter-test-<pid>-* cgroups: CPU quotas of 0.5 and 1.5 CPUs, a one-CPU cpuset, a 256 MiB
memory limit, and a nested pair whose parent has the smaller limits. The agent runs inside each (a
small sh wrapper moves itself into the cgroups and execs it) and its reported limits are asserted;
in the quota cgroups a busy loop burns CPU for about a second while the agent takes two samples one
second apart, and the usage delta and its ratio to the limit are checked. Every cgroup is removed
afterwards, also on failure."""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

BASE = harness.CGROUP_V1_BASE
CONTROLLERS = harness.CGROUP_V1_CONTROLLERS
MIB = 1024 * 1024
TIMEOUT = 30


def skip(reason):
    print(reason)
    sys.exit(77)


def run_inside(cg, rel, agent_args, burn_s=0.0):
    """Runs the agent in cgroup rel of every controller; returns the parsed JSON lines."""
    moves = " && ".join("echo $$ > %s" % os.path.join(cg.path(c, rel), "cgroup.procs") for c in CONTROLLERS)
    burn = ""
    if burn_s:
        burn = "timeout %.1f sh -c 'while :; do :; done' & " % burn_s
    # The moves must finish before the burner is forked, so it starts inside the cgroups too.
    script = "%s || exit 1; %s exec \"$0\" \"$@\"" % (moves, burn)
    agent = os.environ["SEATMETER_AGENT"]
    p = subprocess.run(["sh", "-c", script, agent] + agent_args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=TIMEOUT)
    if p.returncode != 0:
        raise AssertionError("agent failed (%d): %s" % (p.returncode, p.stderr.decode()))
    return [json.loads(line) for line in p.stdout.decode().splitlines() if line.strip()]


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)
    print("ok: " + msg)


def main():
    if "--skip" in sys.argv:
        skip("live cgroup tests disabled (-Dlive_cgroup_tests=false)")
    if "SEATMETER_AGENT" not in os.environ:
        skip("SEATMETER_AGENT not set (run through meson test)")
    if os.geteuid() != 0:
        skip("not root: cannot create cgroups")
    for c in CONTROLLERS:
        d = os.path.join(BASE, c)
        if not os.path.isfile(os.path.join(d, "cgroup.procs")) or not os.access(d, os.W_OK):
            skip("no writable cgroup v1 %s hierarchy at %s" % (c, d))
    with open("/sys/devices/system/cpu/online") as f:
        online = f.read().strip()
    ncpu = os.cpu_count() or 1

    cg = harness.CgroupsV1()
    pre = "seatmeter-test-%d" % os.getpid()
    try:
        try:
            cg.make(pre + "-q05")
        except OSError as e:
            skip("cannot create cgroups here: %s" % e)
        cg.write("cpu", pre + "-q05", "cpu.cfs_period_us", 100000)
        cg.write("cpu", pre + "-q05", "cpu.cfs_quota_us", 50000)
        cg.make(pre + "-q15")
        cg.write("cpu", pre + "-q15", "cpu.cfs_period_us", 100000)
        cg.write("cpu", pre + "-q15", "cpu.cfs_quota_us", 150000)
        cg.make(pre + "-set1")
        last_cpu = ncpu - 1
        cg.write("cpuset", pre + "-set1", "cpuset.cpus", last_cpu)
        cg.make(pre + "-m256")
        cg.write("memory", pre + "-m256", "memory.limit_in_bytes", 256 * MIB)
        cg.make(pre + "-parent")
        cg.write("memory", pre + "-parent", "memory.limit_in_bytes", 128 * MIB)
        cg.write("cpu", pre + "-parent", "cpu.cfs_quota_us", 50000)
        cg.make(pre + "-parent/child")
        cg.write("memory", pre + "-parent/child", "memory.limit_in_bytes", 512 * MIB)
        # v1 refuses a child quota above its parent's: the child stays unlimited (-1) and the agent
        # must find the parent's quota by walking up.

        s = run_inside(cg, pre + "-q05", ["sample"])[0]
        check(s["cpu"]["effective_cpus"] == 0.5 and s["cpu"]["cpu_count"] == 1 and s["cpu"]["quota_us"] == 50000,
              "quota 0.5: effective_cpus 0.5, cpu_count 1 (got %s)" % s["cpu"])
        check(s["scope"] == "cgroup", "quota 0.5: scope is the cgroup")

        s = run_inside(cg, pre + "-q15", ["sample"])[0]
        want = min(1.5, ncpu)
        check(abs(s["cpu"]["effective_cpus"] - want) < 1e-9 and s["cpu"]["cpu_count"] == min(2, ncpu),
              "quota 1.5: effective_cpus %s, cpu_count %d (got %s)" % (want, min(2, ncpu), s["cpu"]))

        s = run_inside(cg, pre + "-set1", ["sample"])[0]
        check(s["cpu"]["cpu_count"] == 1 and s["cpu"]["effective_cpus"] == 1 and s["cpu"]["cpuset"] == str(last_cpu),
              "cpuset %d: one CPU (got %s)" % (last_cpu, s["cpu"]))
        check(s["cpu"]["host_cpus"] == ncpu, "host_cpus %d of %s" % (ncpu, online))
        view = subprocess.run(["sh", "-c", " && ".join("echo $$ > %s" % os.path.join(cg.path(c, pre + "-set1"),
                                                                                   "cgroup.procs")
                                                        for c in CONTROLLERS) + " && exec \"$0\" view cpu-online",
                               os.environ["SEATMETER_AGENT"]], stdout=subprocess.PIPE, timeout=TIMEOUT)
        check(view.stdout.decode() == "0\n", "view cpu-online in a one-CPU cpuset says 0")

        s = run_inside(cg, pre + "-m256", ["sample"])[0]
        check(s["memory"]["limit_bytes"] == 256 * MIB and s["memory"]["cgroup_limited"],
              "memory 256 MiB: limit_bytes %d (got %s)" % (256 * MIB, s["memory"]["limit_bytes"]))
        check(0 < s["memory"]["usage_bytes"] < 256 * MIB, "memory usage inside the limit")

        s = run_inside(cg, pre + "-parent/child", ["sample"])[0]
        check(s["memory"]["limit_bytes"] == 128 * MIB, "nested: the parent's 128 MiB wins over the child's 512 MiB")
        check(s["cpu"]["effective_cpus"] == 0.5, "nested: the parent's quota 0.5 applies to the unlimited child")
        check(s["cgroup"]["path"].endswith(pre + "-parent/child"), "nested: path is the child")

        # Burn one CPU for ~1.6 s while the agent samples twice, 1 s apart. The machine may be shared, so
        # the loop can get less than a CPU: the checks are that the burn is counted, never exceeds the
        # limit, agrees with the kernel's own counter, and that the 0.5 quota throttles once reached.
        for rel, quota in ((pre + "-q15", 1.5), (pre + "-q05", 0.5)):
            a, b = run_inside(cg, rel, ["sample", "--count", "2", "--interval", "1000"], burn_s=1.6)
            with open(os.path.join(cg.path("cpuacct", rel), "cpuacct.usage")) as f:
                kernel_usec = int(f.read()) / 1000
            wall = (b["time_ms"] - a["time_ms"]) / 1000.0
            cpu = (b["cpu"]["usage_usec"] - a["cpu"]["usage_usec"]) / 1e6
            ratio = cpu / (wall * b["cpu"]["effective_cpus"])
            print("burn %s: %.3f s of CPU in %.3f s, %.3f CPUs, ratio %.3f, throttled %d periods" %
                  (quota, cpu, wall, cpu / wall, ratio, b["cpu"]["nr_throttled"] - a["cpu"]["nr_throttled"]))
            check(0.9 < wall < 1.5, "burn %s: samples %.3f s apart" % (quota, wall))
            check(cpu / wall >= 0.1, "burn %s: the busy loop is counted (%.3f CPUs)" % (quota, cpu / wall))
            # CFS enforces the quota per period, and a window of samples is not aligned with periods:
            # it may hold one period's quota more than wall * limit, plus the kernel's 5 ms slices.
            period = (b["cpu"]["period_us"] or 100000) / 1e6
            slack = 1 + period / wall + 0.05
            check(ratio <= slack, "burn %s: usage stays within the limit (ratio %.3f <= %.3f)" %
                  (quota, ratio, slack))
            check(a["cpu"]["usage_usec"] <= b["cpu"]["usage_usec"] <= kernel_usec,
                  "burn %s: usage agrees with cpuacct.usage (%d <= %d)" % (quota, b["cpu"]["usage_usec"], kernel_usec))
            check(b["cpu"]["nr_periods"] > a["cpu"]["nr_periods"], "burn %s: CFS periods counted" % quota)
            if quota < 1 and ratio >= 0.9:
                check(b["cpu"]["nr_throttled"] > a["cpu"]["nr_throttled"] and
                      b["cpu"]["throttled_usec"] > a["cpu"]["throttled_usec"],
                      "burn 0.5: throttling counted at the quota")
    except (AssertionError, OSError, subprocess.SubprocessError, ValueError, KeyError) as e:
        print("FAIL: %s" % e)
        return 1
    finally:
        left = cg.remove()
        if left:
            print("FAIL: could not remove %s" % ", ".join(left))
            return 1
    print("all live checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
