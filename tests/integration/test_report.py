#!/usr/bin/env python3
"""The capacity report for two guests: /api/v1/report as JSON, CSV and a printable HTML page, the page
rendered in headless Chromium (screenshot kept as $SEATMETER_BUILD_ROOT/test-artifacts/report.png).

Two guests (an LXC and a KVM one) with known per-stream costs are fed through the real ingest path in
simulated time (capacity_data.py), a third agent has no points. Checks: both guests' curves (points, fit
band, threshold, capacity with its interval) are drawn for CPU and memory, with the capacities the JSON
answers; the binding resource is CPU for both; the CSV has units in its column names, one row per guest
and a row saying "no_points" for the empty one. Skipped (exit 77) without chromium and chromedriver for the
page part only: the JSON and CSV checks always run."""

import csv
import io
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import capacity_data as cd  # noqa: E402
from test_dashboard import ARTIFACTS, Browser, missing_browser  # noqa: E402

GUESTS = [  # id, Virt number, cost in cores: base, per listener, per voice user, per video stream
    ("bbb-lxc", 2, (0.06, 0.003, 0.012, 0.05)),
    ("bbb-kvm", 6, (0.09, 0.004, 0.016, 0.07)),
]


class Report(cd.CapacityCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        tmp = cls.tmp
        now = int(time.time() * 1000)
        cls.polls, cls.end = cd.phase_times(now - now % cd.HOUR_MS - 2 * cd.DAY_MS)
        config = cd.bbb_config(os.path.join(tmp, "bbb1.secret"))
        config += "".join(f"[agent {g[0]}]\nbbb = bbb1\n" for g in GUESTS) + "[agent idle]\nbbb = bbb1\n"
        cls.d = cd.daemon_with_polls(tmp, config, [cls.polls])
        for i, (aid, virt, costs) in enumerate(GUESTS):
            f = cd.Feeder(f"unix:{cls.d.unix_path}", aid, seed=7 + i, virt=virt)
            f.feed(cls.polls, costs)
            f.close()
        f = cd.Feeder(f"unix:{cls.d.unix_path}", "idle", seed=1)
        f.close()
        cd.wait_aggregated(cls.d, [g[0] for g in GUESTS], cls.polls[-1][0])
        cls.args = "agent=bbb-lxc&agent=bbb-kvm&agent=idle&mix=0.7,0.25,0.05"

    def test_json(self):
        doc = self.d.get_json(f"/api/v1/report?{self.args}")
        agents = {a["agent"]: a for a in doc["agents"]}
        self.assertEqual(list(agents), ["bbb-lxc", "bbb-kvm", "idle"])
        self.assertEqual(agents["idle"]["status"], "no_points")
        self.assertIsNone(agents["idle"]["binding"])
        for aid, virt, costs in GUESTS:
            a = agents[aid]
            self.assertEqual(a["status"], "ok")
            self.assertEqual(a["virt"], {2: "lxc", 6: "kvm"}[virt])
            cpu = a["resources"]["cpu"]
            self.assertEqual(cpu["unit"], "share of effective CPUs")
            per_user = (0.7 * costs[1] + 0.25 * costs[2] + 0.05 * costs[3]) / 2
            truth = (0.8 - costs[0] / 2) / per_user
            m = cpu["model"]
            self.assertLess(abs(m["coefficients"]["video"]["value"] / (costs[3] / 2) - 1), 0.05)
            lo, hi = m["capacity"]["ci95"]
            self.assertTrue(lo <= truth <= hi, (truth, m["capacity"]))
            self.assertEqual(a["binding"]["resource"], "cpu")
            self.assertAlmostEqual(a["binding"]["users"], cpu["capacity"]["users"])
            self.assertIsNotNone(a["resources"]["memory"]["capacity"]["users"])
            self.assertIsNone(a["resources"]["net_tx"])  # nothing sent: no curve, not a made-up one

    def test_csv(self):
        status, headers, body = self.d.http(f"/api/v1/report?{self.args}&format=csv")
        self.assertEqual(status, 200)
        self.assertTrue(headers["content-type"].startswith("text/csv"))
        table = list(csv.reader(io.StringIO(body.decode())))
        head = table[0]
        self.assertIn("cpu_per_user_share", head)
        self.assertIn("memory_per_user_bytes", head)
        self.assertIn("net_tx_per_user_bytes_per_s", head)
        self.assertIn("cpu_sample_stddev_share", head)
        self.assertIn("binding_capacity_users", head)
        # every numeric column says its unit (or is a count, a flag or a name)
        unitless = {"agent", "virt", "hostname", "labels", "status", "epoch", "effective_cpus", "binding_resource"}
        for h in head:
            if h in unitless or h.endswith(("_r2", "_levels", "_samples", "_quality", "_extrapolated")):
                continue
            self.assertRegex(h, r"_(share|bytes|bytes_per_s|users|ms)$", h)
        rows = [dict(zip(head, r)) for r in table[1:]]
        self.assertEqual([r["agent"] for r in rows], ["bbb-lxc", "bbb-kvm", "idle"])
        self.assertEqual(rows[2]["status"], "no_points")
        self.assertEqual(rows[0]["labels"], "{}")
        self.assertEqual(rows[2]["cpu_per_user_share"], "")
        self.assertEqual(rows[0]["binding_resource"], "cpu")
        self.assertGreater(float(rows[0]["cpu_sample_stddev_share"]), 0)

    @unittest.skipIf(missing_browser(), missing_browser())
    def test_page_in_chromium(self):
        b = Browser(self.tmpdir.name, width=1400, height=1800)
        try:
            b.get(f"{self.d.base_url}/api/v1/report?{self.args}&format=html")
            charts = b.wait_js("""(() => { const c = [...document.querySelectorAll('svg.chart')];
                return c.length ? c.map(s => ({agent: s.dataset.agent, resource: s.dataset.resource,
                    points: Number(s.dataset.points), capacity: Number(s.dataset.capacity),
                    circles: s.querySelectorAll('circle.point').length, fit: s.querySelectorAll('line.fit').length,
                    band: s.querySelectorAll('path.band').length, cap: s.querySelectorAll('line.cap').length,
                    threshold: s.querySelectorAll('line.threshold').length,
                    far: (s.querySelector('text.far') || {}).textContent || '',
                    w: s.getBoundingClientRect().width})) : null; })()""", what="report charts")
            png = b.screenshot(os.path.join(ARTIFACTS, "report.png"))
            doc = self.d.get_json(f"/api/v1/report?{self.args}")
            by = {(c["agent"], c["resource"]): c for c in charts}
            for aid, _, _ in GUESTS:
                for res in ("cpu", "memory"):
                    c = by[(aid, res)]
                    self.assertEqual(c["points"], len({ls + v for ls, v, _ in cd.MIXES}))
                    self.assertEqual(c["circles"], c["points"])
                    self.assertEqual((c["fit"], c["band"]), (1, 1), c)
                    self.assertGreater(c["w"], 100)
                cpu = by[(aid, "cpu")]
                want = [a for a in doc["agents"] if a["agent"] == aid][0]["resources"]["cpu"]["capacity"]
                self.assertAlmostEqual(cpu["capacity"], want["users"], delta=1e-3 * want["users"])
                # the capacity line with its interval, or (far beyond the levels seen) an arrow saying where
                if cpu["cap"] == 0:
                    self.assertEqual(cpu["far"], f"capacity {want['users']:.0f} \u2192")
                self.assertEqual(cpu["threshold"], 1)
            self.assertNotIn(("idle", "cpu"), by)
            text = b.js("return document.body.innerText;")
            self.assertIn("Runs out of cpu first", text)
            self.assertIn("This guest has no points in the window.", text)
            self.assertGreater(len(png), 20000)
        finally:
            b.close()


if __name__ == "__main__":
    harness.main()
