#!/usr/bin/env python3
"""A KVM guest's CPU capacity counts its steal time, against a known truth, through the real ingest path.

Two guests with the same per-stream CPU costs (capacity_data.py) are fed in simulated time: a KVM guest whose
hypervisor steals a known share of its vCPUs (10% of 2 CPUs, then, after its limits grow to 4 CPUs, 5%),
and an LXC guest with no steal counter at all. The vCPU time stolen is not the guest's to use, so the CPU
threshold of the KVM guest must be lowered by the steal share (0.8 - 0.10 = 0.70 of its CPUs, then 0.75),
each limits epoch by its own steal, and its CPU capacity must be the truth at that threshold; the LXC
guest's stays at 0.8 and says it saw no steal. Checks /api/v1/curves (cpu_ratio and cpu_cores),
/api/v1/model and /api/v1/report (JSON and CSV); threshold= in a request is used as given.

Steal is also a per-participant curve of its own (metric steal_ratio): a third KVM guest whose host steals
more as the participants grow (2% plus 0.1% per participant) must show that line, the constant-steal guest
a flat one per epoch, and the LXC guest none."""

import csv
import io
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import capacity_data as cd  # noqa: E402

COSTS = (0.05, 0.002, 0.01, 0.04)   # cores: base, per listener, per voice user, per video stream
MIX = (0.7, 0.25, 0.05)
STEAL = (0.10, 0.05)                # share of the effective CPUs stolen in each epoch
BUSY_STEAL = (0.02, 0.001)          # the third guest's steal share: base, per participant
CPUS = (2, 4)


def truth_users(threshold_share, cpus, steal=0.0):
    """The participants of MIX at which the CPU use reaches threshold_share - steal of cpus."""
    per_user = sum(c * m for c, m in zip(COSTS[1:], MIX))
    return ((threshold_share - steal) * cpus - COSTS[0]) / per_user


class CapacitySteal(cd.CapacityCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        tmp = cls.tmp
        now = int(time.time() * 1000)
        cls.polls1, end1 = cd.phase_times(now - now % cd.HOUR_MS - 3 * cd.DAY_MS)
        # The second epoch starts on the next whole hour: its steal hours are its own.
        start2 = end1 - end1 % cd.HOUR_MS + cd.HOUR_MS
        cls.polls2, cls.end2 = cd.phase_times(start2)
        cls.start1, cls.end1, cls.start2 = cls.polls1[0][0], end1, start2
        config = cd.bbb_config(os.path.join(tmp, "bbb1.secret"))
        config += "[agent kvm]\nbbb = bbb1\n[agent lxc]\nbbb = bbb1\n[agent kvm-busy]\nbbb = bbb1\n"
        config += f"[experiment first]\nstart = {cls.start1}\nend = {cls.end1 - 1}\n"
        cls.d = cd.daemon_with_polls(tmp, config, [cls.polls1, cls.polls2])
        uri = f"unix:{cls.d.unix_path}"
        t = time.monotonic()
        kvm = cd.Feeder(uri, "kvm", seed=3, virt=6, steal=STEAL[0])
        lxc = cd.Feeder(uri, "lxc", seed=3, virt=2)
        busy = cd.Feeder(uri, "kvm-busy", seed=4, virt=6, steal=BUSY_STEAL[0])
        busy.steal_per_user = BUSY_STEAL[1]
        for f in (kvm, lxc, busy):
            f.feed(cls.polls1, COSTS)
        kvm.set_limits(CPUS[1])
        kvm.steal = STEAL[1]
        kvm.feed(cls.polls2, COSTS)
        for f in (kvm, lxc, busy):
            f.close()
        cd.wait_aggregated(cls.d, ["kvm", "lxc", "kvm-busy"], cls.polls1[-1][0])
        cd.wait_aggregated(cls.d, ["kvm"], cls.polls2[-1][0])
        cls.feed_s = time.monotonic() - t

    def curves(self, agent, metric, **args):
        q = "".join(f"&{k}={v}" for k, v in args.items())
        return self.d.get_json(f"/api/v1/curves?agent={agent}&metric={metric}{q}")["agents"][0]

    def model(self, agent, metric, **args):
        q = "".join(f"&{k}={v}" for k, v in args.items())
        return self.d.get_json(f"/api/v1/model?agent={agent}&metric={metric}&mix=0.7,0.25,0.05{q}")["agents"][0]

    def assert_capacity(self, cap, truth):
        lo, hi = cap["ci95"]
        self.assertTrue(lo <= truth <= hi, (truth, cap))
        self.assertLess(abs(cap["users"] / truth - 1), 0.05, (truth, cap))

    def test_threshold_lowered_by_each_epochs_steal(self):
        for metric, unit in (("cpu_ratio", 1), ("cpu_cores", None)):
            epochs = self.curves("kvm", metric)["epochs"]
            self.assertEqual([e["limits"]["effective_cpus"] for e in epochs], list(CPUS))
            for e, steal, cpus in zip(epochs, STEAL, CPUS):
                cap = e["capacity"]
                self.assertAlmostEqual(cap["steal_share"], steal, delta=1e-4, msg=(metric, cap))
                self.assertAlmostEqual(cap["threshold"], (0.8 - steal) * (unit or cpus), delta=1e-3,
                                       msg=(metric, cap))
            # The same guest without its steal: the LXC one, at the full 0.8.
            cap = self.curves("lxc", metric)["capacity"]
            self.assertIsNone(cap["steal_share"])
            self.assertAlmostEqual(cap["threshold"], 0.8 * (unit or 2), places=9)

    def test_model_capacity_is_the_truth_with_steal(self):
        for metric in ("cpu_ratio", "cpu_cores"):
            kvm = self.model("kvm", metric)["epochs"]
            self.assertEqual(len(kvm), 2)
            for e, steal, cpus in zip(kvm, STEAL, CPUS):
                self.assert_capacity(e["capacity"], truth_users(0.8, cpus, steal))
            lxc = self.model("lxc", metric)["model"]
            self.assert_capacity(lxc["capacity"], truth_users(0.8, 2))
            # 10% stolen of 0.8 costs an eighth of what fits above the base, and the answer shows it.
            self.assertLess(kvm[0]["capacity"]["users"], 0.9 * lxc["capacity"]["users"])
        print(f"\nfed in {self.feed_s:.1f} s; KVM guest at 10% steal: "
              f"{kvm[0]['capacity']['users']:.1f} (truth {truth_users(0.8, 2, 0.1):.1f}), the same load in LXC: "
              f"{lxc['capacity']['users']:.1f} (truth {truth_users(0.8, 2):.1f})")

    def test_window_takes_its_own_steal(self):
        cap = self.curves("kvm", "cpu_ratio", experiment="first")["capacity"]
        self.assertAlmostEqual(cap["steal_share"], STEAL[0], delta=1e-4)
        cap = self.curves("kvm", "cpu_ratio", **{"from": self.start2, "to": self.end2})["capacity"]
        self.assertAlmostEqual(cap["steal_share"], STEAL[1], delta=1e-4)

    def test_threshold_argument_is_used_as_given(self):
        for e in self.curves("kvm", "cpu_ratio", threshold=0.6)["epochs"]:
            self.assertAlmostEqual(e["capacity"]["threshold"], 0.6, places=9)
        m = self.model("kvm", "cpu_ratio", experiment="first", threshold=0.6)["model"]
        self.assert_capacity(m["capacity"], truth_users(0.6, 2))

    def test_steal_is_a_curve_of_its_own(self):
        busy = self.curves("kvm-busy", "steal_ratio")
        fit = busy["fit"]
        self.assertLess(abs(fit["slope"] / BUSY_STEAL[1] - 1), 0.05, fit)
        self.assertLess(abs(fit["intercept"] / BUSY_STEAL[0] - 1), 0.05, fit)
        users = sorted({sum(mix[:2]) for _, mix in self.polls1})
        self.assertEqual([p["users"] for p in busy["points"]], users)
        for p in busy["points"]:
            self.assertAlmostEqual(p["mean"], BUSY_STEAL[0] + BUSY_STEAL[1] * p["users"], delta=1e-3, msg=p)
        # No threshold is known for steal, so no capacity unless the request names one: then the count at
        # which the host takes that share (0.05 = 0.02 + 0.001 * 30).
        self.assertIsNone(busy["capacity"]["users"])
        cap = self.curves("kvm-busy", "steal_ratio", threshold=0.05)["capacity"]
        self.assertAlmostEqual(cap["users"], 30, delta=1.5)
        # The constant-steal guest: a flat line at each epoch's share; its CPU use is not in it.
        for e, steal in zip(self.curves("kvm", "steal_ratio")["epochs"], STEAL):
            for p in e["points"]:
                self.assertAlmostEqual(p["mean"], steal, delta=1e-3, msg=p)
            self.assertLess(abs(e["fit"]["slope"]), 1e-5, e["fit"])
        # A container has no steal counter: no points, not zeros.
        self.assertEqual(self.curves("lxc", "steal_ratio")["points"], [])
        st, _, body = self.d.http("/api/v1/curves?agent=kvm-busy&metric=steal_ratio&format=csv")
        self.assertEqual(st, 200)
        rows = list(csv.DictReader(io.StringIO(body.decode())))
        self.assertEqual({r["metric"] for r in rows}, {"steal_ratio"})
        self.assertEqual(len(rows), len(users))

    def test_report(self):
        doc = self.d.get_json("/api/v1/report?agent=kvm&agent=lxc&mix=0.7,0.25,0.05")
        kvm, lxc = doc["agents"]
        cpu = kvm["resources"]["cpu"]
        self.assertAlmostEqual(cpu["capacity"]["steal_share"], STEAL[1], delta=1e-4)
        self.assertAlmostEqual(cpu["threshold"], 0.8 - STEAL[1], delta=1e-3)
        self.assertEqual(kvm["binding"]["resource"], "cpu")
        self.assertIsNone(lxc["resources"]["cpu"]["capacity"]["steal_share"])
        st, _, body = self.d.http("/api/v1/report?agent=kvm&agent=lxc&format=csv")
        self.assertEqual(st, 200)
        rows = {r["agent"]: r for r in csv.DictReader(io.StringIO(body.decode()))}
        self.assertAlmostEqual(float(rows["kvm"]["cpu_steal_share"]), STEAL[1], delta=1e-4)
        self.assertAlmostEqual(float(rows["kvm"]["cpu_threshold_share"]), 0.8 - STEAL[1], delta=1e-3)
        self.assertEqual(rows["lxc"]["cpu_steal_share"], "")
        st, _, page = self.d.http("/api/v1/report?agent=kvm&agent=lxc&format=html")
        self.assertEqual(st, 200)
        self.assertEqual(page.decode().count("after 5.0% steal"), 1)  # the KVM guest's CPU row only


if __name__ == "__main__":
    harness.main()
