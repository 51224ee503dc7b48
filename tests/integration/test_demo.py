#!/usr/bin/env python3
"""bash .ci/demo as a new user runs it, on a temporary state folder and a free port, with its steps sped up
(SEATMETER_DEMO_STEP_S=3, SEATMETER_DEMO_MAX_USERS=4):

* it starts and serves the dashboard; a second run while the first one is up says that a demo is already
  running (with its URL), exits non-zero and starts or stops nothing: the first one's daemon keeps running
  and, once stopped, its trends still count each raw sample exactly once;
* Ctrl-C (SIGINT to the demo's process group) stops it with exit status 0, leaving no process of the demo
  and no cgroup behind;
* as root with a writable cgroup (the demo's load runs there): within a minute /api/v1/curves shows the
  demo agent's per-participant curve with at least four participant levels, rising, with a fit and a
  projected capacity, and headless Chromium draws it on the dashboard: the chart's uPlot instance holds
  the levels, and the canvas has the agent's colour at each level's point and along the fitted line (not
  just an empty plot area). The screenshot is kept as <build>/test-artifacts/demo.png.

Without root or a writable cgroup, or without Chromium or chromedriver, the parts that can run still run
(a failure there fails the test), and the test then reports a skip (exit 77) naming what it could not check.

About 40 s."""

import glob
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import unittest
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import Process, wait_until  # noqa: E402
from test_dashboard import ARTIFACTS, Browser, missing_browser  # noqa: E402

DEMO = os.path.join(harness.SOURCE_ROOT, ".ci", "demo")
LEVELS_MIN = 4

# In the page: the curve chart's uPlot instance (#curve-chart's _uplot), the agent's mean series in it, and its
# canvas pixels. A probe is a 7x7 square of canvas pixels; it sees the curve when one of them is close to the
# agent's colour (the grid and axes are grey, the canvas is transparent elsewhere). Probed: each level's
# mean point, the fitted line midway between neighbouring levels, and, as a control, the top left of the plot
# area, which the demo's rising curve never reaches.
DRAWN_JS = """
const agent = arguments[0];
const el = document.querySelector('#curve-chart');
const u = el && el._uplot;
if (!u) return {error: 'no uPlot instance on #curve-chart'};
const find = (kind) => u.series.findIndex((s) => s._agent === agent && s._kind === kind);
const im = find('mean'), ifit = find('fit');
if (im < 0 || ifit < 0) return {error: 'no mean or fit series for ' + agent, series: u.series.map((s) => s.label)};
const c = document.createElement('canvas').getContext('2d');
const stroke = u.series[ifit].stroke;
c.fillStyle = typeof stroke === 'function' ? stroke(u, ifit) : stroke;
c.fillRect(0, 0, 1, 1);
const want = c.getImageData(0, 0, 1, 1).data;
const probe = (px, py) => {
  const d = u.ctx.getImageData(Math.round(px) - 3, Math.round(py) - 3, 7, 7).data;
  for (let k = 0; k < d.length; k += 4)
    if (d[k + 3] > 128 &&
        Math.abs(d[k] - want[0]) + Math.abs(d[k + 1] - want[1]) + Math.abs(d[k + 2] - want[2]) < 60) return true;
  return false;
};
const xs = u.data[0], means = [], blank = [];
xs.forEach((x, i) => {
  const y = u.data[im][i];
  if (y === null || y === undefined) return;
  means.push([x, y]);
  if (!probe(u.valToPos(x, 'x', true), u.valToPos(y, 'y', true))) blank.push(x);
});
let fitHits = 0, fitProbes = 0;
for (let k = 1; k < means.length; k++) {
  const i0 = xs.indexOf(means[k - 1][0]), i1 = xs.indexOf(means[k][0]);
  const f0 = u.data[ifit][i0], f1 = u.data[ifit][i1];
  if (f0 === null || f1 === null) continue;
  fitProbes++;
  const x = (means[k - 1][0] + means[k][0]) / 2, y = (f0 + f1) / 2;
  if (probe(u.valToPos(x, 'x', true), u.valToPos(y, 'y', true))) fitHits++;
}
const b = u.bbox;
let corner = 0;
for (let k = 0; k < 5; k++) if (probe(b.left + 6 + 8 * k, b.top + 6)) corner++;
return {color: Array.from(want), means: means, blank_points: blank, fit_probes: fitProbes, fit_hits: fitHits,
        corner_hits: corner};
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def read(path, mode="r"):
    with open(path, mode) as f:
        return f.read()


def cmdline(pid):
    try:
        return read(f"/proc/{pid}/cmdline", "rb")
    except OSError:  # gone meanwhile
        return b""


def query(db, sql):
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


class Demo(unittest.TestCase):
    def setUp(self):
        if os.geteuid() != 0 and subprocess.run(["bash", os.path.join(harness.SOURCE_ROOT, ".ci", "deps")],
                                                capture_output=True).returncode != 0:
            self.skipTest(".ci/demo installs missing packages and needs root for that")
        self.state = harness.tempdir(self)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.env = {"SEATMETER_BUILD": harness.BUILD_ROOT, "SEATMETER_DEMO_STATE": self.state,
                    "SEATMETER_HTTP": f"127.0.0.1:{self.port}", "SEATMETER_DEMO_SECONDS": "300",
                    "SEATMETER_DEMO_STEP_S": "3", "SEATMETER_DEMO_MAX_USERS": str(LEVELS_MIN)}

    def get_json(self, path):
        with urllib.request.urlopen(self.url + path.lstrip("/"), timeout=10) as r:
            return json.loads(r.read())

    def test_demo(self):
        first = Process(["bash", DEMO], env=self.env, name="demo-1")
        self.addCleanup(first.stop)
        first.wait_line(r"seatmeter is running: dashboard at " + re.escape(self.url), timeout=120)
        db = os.path.join(self.state, "seatmeter.db")
        wait_until(lambda: query(db, "SELECT count(*) FROM samples")[0][0] >= 2, timeout=30,
                   what="samples from the demo's agent")
        pids = self.daemon_pids()
        self.assertEqual(len(pids), 1, pids)
        self.assertEqual(self.get_json("/api/v1/status")["config_file"], os.path.join(self.state, "seatmeterd.conf"))

        # A second run: refused, touching nothing.
        second = subprocess.run(["bash", DEMO], env=dict(os.environ, **self.env), capture_output=True, text=True,
                                timeout=120)
        self.assertNotEqual(second.returncode, 0, second.stdout + second.stderr)
        self.assertIn("already running", second.stderr)
        self.assertIn(self.url, second.stderr)
        self.assertNotIn("seatmeter is running", second.stdout)
        self.assertTrue(first.running(), first.output())
        self.assertEqual(self.daemon_pids(), pids, "the second run started or stopped a daemon")

        with_load = re.search(r"CPU load in cgroup (/seatmeter-demo-\d+)", first.output())
        unchecked = None
        if not with_load:
            unchecked = "not root or no writable cgroup: the demo ran without its load, no curve to check"
        elif missing_browser():
            self.check_curve()
            unchecked = "the curve on the dashboard is not checked: " + missing_browser()
        else:
            self.check_curve()
            self.check_dashboard()
        self.stop_like_ctrl_c(first, with_load.group(1) if with_load else None)
        raw = query(db, "SELECT count(*) FROM samples")[0][0]
        trend = query(db, "SELECT coalesce(sum(n), 0) FROM trends")[0][0]
        self.assertEqual(trend, raw, "trends count other samples than the raw table holds")
        if unchecked:
            print("passed: the demo, its second run, Ctrl-C, trends = raw samples" +
                  (", the curve in the API" if with_load else ""))
            self.skipTest(unchecked)

    def check_curve(self):
        def curve():
            c = self.get_json("/api/v1/curves?agent=demo-bbb")["agents"][0]
            levels = [p for p in c["points"] if p["samples"] >= 3]
            if len(levels) >= LEVELS_MIN + 1 and c["fit"] and c["capacity"]["users"]:
                return c
            return None
        c = wait_until(curve, timeout=90, interval=1, what=f"a curve with {LEVELS_MIN + 1} levels and a capacity")
        means = [p["mean"] for p in sorted(c["points"], key=lambda p: p["users"])]
        self.assertEqual(means, sorted(means), f"the curve does not rise: {means}")
        self.assertGreater(c["fit"]["slope"], 0)
        self.assertGreater(c["capacity"]["users"], LEVELS_MIN)
        # The load's cgroup is a group of this host's processes, not a guest: its kind says so.
        self.assertEqual(c["virt"], "none")
        print(f"demo curve: means {[round(m, 3) for m in means]}, fit {c['fit']}, capacity {c['capacity']}")

    def check_dashboard(self):
        b = Browser(self.state)
        self.addCleanup(b.close)
        b.get(self.url)
        b.wait_js(f"Number(document.documentElement.dataset.curveFits) >= 1 && "
                  f"Number(document.documentElement.dataset.curvePoints) >= {LEVELS_MIN + 1}",
                  timeout=30, what="the demo curve drawn")
        fits = b.js("""return [...document.querySelectorAll('#curve-fits tbody tr')].map(r =>
            [r.dataset.agent, [...r.cells].map(c => c.innerText)]);""")
        row = [cells for agent, cells in fits if agent == "demo-bbb"]
        self.assertTrue(row, fits)
        self.assertRegex(row[0][-1], r"^\d[\d,]* users$")
        drawn = b.js(DRAWN_JS, "demo-bbb")
        print(f"dashboard canvas: {drawn}")
        self.assertIsNone(drawn.get("error"), drawn)
        levels = [x for x, y in drawn["means"]]
        self.assertGreaterEqual(len(levels), LEVELS_MIN + 1, drawn)
        self.assertEqual(levels, sorted(levels), drawn)
        means = [y for x, y in drawn["means"]]
        self.assertEqual(means, sorted(means), f"the chart's means do not rise: {drawn}")
        self.assertEqual(drawn["blank_points"], [], f"levels without the agent's colour at their point: {drawn}")
        self.assertGreaterEqual(drawn["fit_hits"], drawn["fit_probes"] - 1, f"the fitted line is not drawn: {drawn}")
        # The probes see something only where the curve is: the same probes in an empty corner see nothing.
        self.assertEqual(drawn["corner_hits"], 0, f"the plot's empty corner has the agent's colour: {drawn}")
        height = b.js("return document.documentElement.scrollHeight;")
        b.set_size(1366, min(max(900, height + 140), 6000))
        time.sleep(0.6)  # the charts redraw at the new width
        b.screenshot(os.path.join(ARTIFACTS, "demo.png"))
        b.close()  # its profile is in the state folder: no process of it must count as the demo's below

    def stop_like_ctrl_c(self, demo, cgroup):
        """Ctrl-C in the demo's terminal (SIGINT to its process group) stops every process of the demo and
        removes the load's cgroup."""
        dirs = [os.path.join(root, cgroup.lstrip("/")) for root in glob.glob("/sys/fs/cgroup/*/") +
                ["/sys/fs/cgroup/"]] if cgroup else []
        dirs = [d for d in dirs if os.path.isdir(d)]
        self.assertTrue(dirs or not cgroup, f"the demo's cgroup {cgroup} is not there while it runs")
        os.killpg(demo.proc.pid, signal.SIGINT)
        wait_until(lambda: not demo.running(), timeout=30, what="the demo stopping on Ctrl-C")
        self.assertEqual(demo.stop(), 0, demo.output())
        left = [d for d in dirs if os.path.isdir(d)]
        for d in left:  # so that a failure here leaves nothing running
            for pid in read(os.path.join(d, "cgroup.procs")).split():
                os.kill(int(pid), signal.SIGKILL)
            wait_until(lambda: not read(os.path.join(d, "cgroup.procs")), timeout=10, what=f"{d} empty")
            os.rmdir(d)
        self.assertEqual(left, [], "the demo's cgroup outlived Ctrl-C:\n" + demo.output()[-2000:])
        self.assertNotIn("Traceback", demo.output())
        pids, deadline = self.state_pids(), time.monotonic() + 10
        while pids and time.monotonic() < deadline:  # an exited child may take a moment to be reaped
            time.sleep(0.1)
            pids = self.state_pids()
        self.assertEqual(pids, [], "processes of the demo outlived Ctrl-C: " +
                         "; ".join(cmdline(p).replace(b"\0", b" ")[:200].decode() for p in pids))

    def state_pids(self):
        """Processes whose working directory or command line names this demo's state folder."""
        pids = []
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                if os.readlink(f"/proc/{pid}/cwd") == self.state or \
                        self.state.encode() in cmdline(pid):
                    pids.append(int(pid))
            except OSError:
                pass
        return sorted(pids)

    def daemon_pids(self):
        """The seatmeterd processes whose working directory is this demo's state folder."""
        pids = []
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                if os.readlink(f"/proc/{pid}/cwd") == self.state and \
                        b"seatmeterd" in cmdline(pid):
                    pids.append(int(pid))
            except OSError:
                pass
        return sorted(pids)


if __name__ == "__main__":
    harness.main()
