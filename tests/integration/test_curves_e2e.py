#!/usr/bin/env python3
"""End-to-end per-user curve: a real agent watching a real cgroup under a load that grows with the number of
participants, the test BBB server stepping that number up one participant at a time, and the curve coming
back from the real seatmeterd's HTTP API.

The scene, as in the published macro benchmark (users 0, 1, 2, ... joining one at a time):

* bbbserver.py (in this process) serves one meeting; the daemon polls it every second (sha256 checksums).
* A cgroup v1 pair cpu + cpuacct with a CPU quota of 1.5 CPUs holds a load generator (a small Python
  program) that burns BASE_CORES + PER_USER_CORES * users of CPU time, the users read from a file. It
  meters its own CPU time (time.process_time()), not the wall clock, so a busy machine delays it without
  making it burn more; it owes CPU by the wall clock and catches up on what a preemption held back (at
  most 0.5 s of CPU), and reports every time it fell behind by more than STALL_MS. The cgroup gets
  cpu.shares 8192 so that other work on the machine does not starve it (shares are never a limit: the
  agent must still report 1.5 CPUs).
* seatmeter-agent runs on the host side with --cgroup and samples every 200 ms.
* Each step tells the BBB server first and changes the load at the moment the daemon has seen the new
  count (/api/v1/bbb), so the samples of a level are those its load produced (to within ~20 ms).
* At the end the BBB server stops answering (polls time out) while one more participant "joins": no new
  level may appear, and what is sampled while the count is unknown stays out of every curve.

Checked exactly, whatever the machine does: the points, fit (over the level means) and capacity of
/api/v1/curves against the same numbers recomputed here from the raw rows of the database; every sample's
participant count against the stored polls (the 2-interval freshness rule); the agent's counter against
cpuacct.usage read here; cpu_ratio = cpu_cores / 1.5; the CSV form; a threshold given in the query;
/api/v1/bbb; the failed polls and the unknown counts of the outage.

Checked against the load's known cost, when the load ran as told: one point per level 0..N on
BASE + PER_USER * users, slope, intercept, R^2 and capacity within tolerances measured on this machine
(docs/curves.md). A departure fails the test, unless there is evidence, independent of seatmeter, that the
machine held the load back (the load reported falling behind, or its cgroup's CPU counter read here shows a
level off target): then the whole scene runs once more, and when that happens in every attempt the
comparison is skipped with the reason (exit 77). The measured figures are printed.

Needs root and writable cgroup v1 cpu and cpuacct hierarchies; skipped (77) with the reason otherwise,
or with --skip (meson -Dlive_cgroup_tests=false)."""

import bisect
import contextlib
import csv
import io
import math
import os
import signal
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bbbserver  # noqa: E402
import harness  # noqa: E402
from harness import Agent, Daemon, Process, wait_until  # noqa: E402

CGROUP_ROOT = "/sys/fs/cgroup"
CONTROLLERS = ("cpu", "cpuacct")
CGROUP_PREFIX = "seatmeter-e2e-"

AGENT_ID = "e2e-bbb"
BBB_NAME = "bbb-e2e"
SECRET = "seatmeter-e2e-secret"

QUOTA_CPUS = 1.5          # cpu.cfs_quota_us / cpu.cfs_period_us
BASE_CORES = 0.04         # the load with nobody connected
PER_USER_CORES = 0.06     # what one more participant costs
MAX_USERS = 8             # levels 0..MAX_USERS
HOLD_S = 2.7              # each level lasts this plus the wait for the next poll: ~3 s, ~15 samples
SAMPLE_MS = 200
POLL_S = 1
FRESH_MS = 2 * POLL_S * 1000  # a poll's count holds for 2 intervals
OUTAGE_S = 4.5            # the BBB server does not answer for this long at the end
POLL_TIMEOUT_MS = 500     # SEATMETER_BBB_TIMEOUT_MS: a poll that hangs fails after this
LOAD_PERIOD_MS = 100
STALL_MS = 30             # the load reports falling behind by more than this
ATTEMPTS = 2
SKIP_REQUESTED = False    # --skip on the command line

# Tolerances against the known load, from 12 undisturbed runs on the 2-core shared build machine (the figures
# are in docs/curves.md). They hold when the load ran as told; see the module docstring.
LEVEL_TOL_CORES = 0.012   # a level's mean against BASE + PER_USER * users (measured |error| <= 0.0064)
TRUTH_TOL_CORES = 0.015   # a level's CPU from cpuacct.usage here, beyond which the load was held back (<= 0.0078)
SLOPE_TOL = 0.04          # relative, fit slope against PER_USER_CORES (measured -0.42% .. -0.95%)
INTERCEPT_TOL = 0.01      # cores (measured 0.0387 .. 0.0398 for 0.04)
CAPACITY_TOL = 0.05       # relative, against the known load's capacity (measured +0.48% .. +0.99%)
R2_SAMPLES_MIN = 0.95     # R^2 the API reports (of the level means since the level-weighted fit; >= 0.99984)
R2_MEANS_MIN = 0.999      # R^2 of the per-level means (measured >= 0.99984)
EXACT = 1e-9              # relative: the API against the same numbers recomputed from the raw rows

LOAD_PROGRAM = r'''
import sys, time
users_file, base, per_user, period_ms, stall_ms, max_s = sys.argv[1:7]
base, per_user, period = float(base), float(per_user), float(period_ms) / 1000.0
stall, max_s = float(stall_ms) / 1000.0, float(max_s)
users, missing = 0, 0
t0 = accrued = time.monotonic()
target = time.process_time()                  # CPU time owed so far
while time.monotonic() - t0 < max_s:          # bounded, and ends when its folder is gone
    try:
        with open(users_file) as f:
            users = int(f.read().strip() or 0)
        missing = 0
    except (OSError, ValueError):
        missing += 1
        if missing * period > 1.0:
            break
    rate = base + per_user * users
    end = time.monotonic() + period
    target += rate * (end - accrued)          # by the wall clock: a stall is owed, not forgotten
    accrued = end
    behind = target - time.process_time() - rate * period
    if behind > stall:
        print("behind %d %.0f" % (time.time() * 1000, behind * 1000), flush=True)
    if behind > 5 * period:                   # starved: catch up at most half a second
        target -= behind - 5 * period
    while time.process_time() < target and time.monotonic() < end:
        pass
    left = end - time.monotonic()
    if left > 0:
        time.sleep(left)
'''


class Terminated(Exception):
    """SIGTERM (a meson timeout) as an error, so the cleanups (cgroups, children) still run."""


def _on_sigterm(signum, frame):
    raise Terminated("terminated by SIGTERM")


def cgroup_dir(ctrl, name):
    return os.path.join(CGROUP_ROOT, ctrl, name)


def unavailable():
    """Why this machine cannot run the test, or None."""
    if SKIP_REQUESTED:
        return "live cgroup tests disabled (-Dlive_cgroup_tests=false)"
    if not os.access(harness.SEATMETERD, os.X_OK) or not os.access(harness.AGENT, os.X_OK):
        return "seatmeterd or seatmeter-agent not built (run through meson test)"
    if os.geteuid() != 0:
        return "not root: cannot create a cgroup for the load"
    for c in CONTROLLERS:
        d = os.path.join(CGROUP_ROOT, c)
        if not os.path.isfile(os.path.join(d, "cgroup.procs")) or not os.access(d, os.W_OK):
            return f"no writable cgroup v1 '{c}' hierarchy at {d}"
    return None


def remove_stale_cgroups():
    """Removes seatmeter-e2e-<pid>-<n> cgroups left by a run that was killed (its pid gone, no tasks)."""
    for c in CONTROLLERS:
        base = os.path.join(CGROUP_ROOT, c)
        try:
            names = os.listdir(base)
        except OSError:
            continue
        for name in names:
            pid = name[len(CGROUP_PREFIX):].split("-")[0]
            if not name.startswith(CGROUP_PREFIX) or not pid.isdigit():
                continue
            if int(pid) == os.getpid() or os.path.exists(f"/proc/{pid}"):
                continue
            try:
                with open(os.path.join(base, name, "cgroup.procs")) as f:
                    if f.read().strip():
                        continue
                os.rmdir(os.path.join(base, name))
            except OSError:
                pass


class CpuCgroup:
    """/NAME in the cpu and cpuacct hierarchies, removed by remove() (bounded retries)."""

    def __init__(self, name):
        self.name = name
        self.path = "/" + name
        self.created = []

    def create(self, quota_cpus, shares):
        for c in CONTROLLERS:
            os.mkdir(cgroup_dir(c, self.name))
            self.created.append(c)
        period = 100000
        self.write("cpu", "cpu.cfs_period_us", period)
        self.write("cpu", "cpu.cfs_quota_us", int(round(quota_cpus * period)))
        self.write("cpu", "cpu.shares", shares)

    def write(self, ctrl, f, value):
        with open(os.path.join(cgroup_dir(ctrl, self.name), f), "w") as fh:
            fh.write(str(value))

    def usage_ns(self):
        with open(os.path.join(cgroup_dir("cpuacct", self.name), "cpuacct.usage")) as f:
            return int(f.read())

    def mark(self):
        """(epoch ms before, cpuacct.usage ns, epoch ms after, monotonic s)."""
        before = time.time() * 1000
        u = self.usage_ns()
        return before, u, time.time() * 1000, time.monotonic()

    def enter_command(self):
        """sh that moves itself into every controller's cgroup, then execs its arguments."""
        moves = " && ".join(f"echo $$ > {os.path.join(cgroup_dir(c, self.name), 'cgroup.procs')}"
                            for c in CONTROLLERS)
        return ["sh", "-c", moves + ' && exec "$@"', "sh"]

    def remove(self):
        left = []
        for c in reversed(self.created):
            d = cgroup_dir(c, self.name)
            for _ in range(100):  # a killed task may take a moment to leave
                try:
                    os.rmdir(d)
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.05)
            else:
                left.append(d)
        self.created = []
        if left:
            raise AssertionError("could not remove cgroups: " + ", ".join(left))


def ols(xs, ys):
    """Least squares y = a + b x: (a, b, r2), computed directly (centred sums)."""
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys))
    syy = sum((y - my) ** 2 for y in ys)
    b = sxy / sxx
    return my - b * mx, b, (sxy * sxy) / (sxx * syy) if syy > 0 else 1.0


def nearest_rank(values, q):
    v = sorted(values)
    return v[max(1, math.ceil(q * len(v))) - 1]


def close(a, b, rel=EXACT, abs_=1e-12):
    return abs(a - b) <= max(abs_, rel * max(abs(a), abs(b)))


def known(users):
    return BASE_CORES + PER_USER_CORES * users


class PollHistory:
    """The stored polls of one server, answering what the daemon should have attributed at a moment:
    the newest successful poll at or before it, when the server was up then (down after 2 failures in
    a row) and that poll is at most FRESH_MS old; else None."""

    def __init__(self, rows):
        self.times, self.state = [], []
        failures, up, last_ok = 0, False, None
        for t, ok, n in rows:
            if ok:
                failures, up, last_ok = 0, True, (t, n)
            else:
                failures += 1
                if failures >= 2:
                    up = False
            self.times.append(t)
            self.state.append((up, last_ok))

    def users_at(self, t):
        i = bisect.bisect_right(self.times, t) - 1
        if i < 0:
            return None
        up, last_ok = self.state[i]
        if not up or last_ok is None or t - last_ok[0] > FRESH_MS:
            return None
        return last_ok[1]


class Scene:
    """One run of the whole scene: BBB server, daemon, cgroup, load, agent (cleaned up by the ExitStack)."""

    def __init__(self, test, stack, attempt):
        self.t = test
        self.attempt = attempt
        self.dir = stack.enter_context(tempfile.TemporaryDirectory(prefix="seatmeter-e2e-"))

        self.srv = bbbserver.start(SECRET, algorithms=("sha256",))
        stack.callback(self.srv.server_close)
        stack.callback(self.srv.shutdown)
        self.set_bbb(participants=[0])
        secret_file = os.path.join(self.dir, "bbb.secret")
        with open(secret_file, "w") as f:
            f.write(SECRET + "\n")
        config = (f"[bbb {BBB_NAME}]\n"
                  f"url = http://127.0.0.1:{self.srv.server_port}/bigbluebutton/\n"
                  f"secret_file = {secret_file}\n"
                  "checksum = sha256\n"
                  f"interval_s = {POLL_S}\n"
                  "\n"
                  f"[agent {AGENT_ID}]\n"
                  f"bbb = {BBB_NAME}\n")
        self.d = Daemon(self.dir, config=config, env={"SEATMETER_BBB_TIMEOUT_MS": str(POLL_TIMEOUT_MS)})
        stack.callback(self.d.proc.stdout.close)  # after stop(), which leaves the pipe open
        stack.callback(self.d.stop)

        self.cg = CpuCgroup(f"{CGROUP_PREFIX}{os.getpid()}-{attempt}")
        stack.callback(self.cg.remove)  # after the load has stopped: an ExitStack unwinds in reverse
        try:
            self.cg.create(QUOTA_CPUS, shares=8192)
        except OSError as e:
            test.skipTest(f"cannot create a cgroup v1 cpu/cpuacct pair here: {e}")

        self.users_file = os.path.join(self.dir, "users")
        self.set_users(0)
        load_py = os.path.join(self.dir, "load.py")
        with open(load_py, "w") as f:
            f.write(LOAD_PROGRAM)
        self.load = Process(self.cg.enter_command() + [sys.executable, load_py, self.users_file, BASE_CORES,
                                                       PER_USER_CORES, LOAD_PERIOD_MS, STALL_MS, 150],
                            name="load")
        stack.callback(self.load.proc.stdout.close)
        stack.callback(self.load.stop)
        self.stack = stack

    # --- helpers ---

    def set_bbb(self, **kw):
        st = self.srv.state
        with st.lock:
            for k, v in kw.items():
                setattr(st, k, v)

    def bbb_row(self):
        rows = self.d.get_json("/api/v1/bbb")
        return next((r for r in rows if r.get("name") == BBB_NAME), None)

    def set_users(self, n):
        tmp = self.users_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(f"{n}\n")
        os.replace(tmp, self.users_file)

    def agent_num(self):
        rows = self.d.query("SELECT num FROM agents WHERE id = ?", (AGENT_ID,))
        return rows[0][0] if rows else None

    def watermark(self):
        rows = self.d.query("SELECT agg_time_ms FROM agents WHERE id = ?", (AGENT_ID,))
        return rows[0][0] if rows and rows[0][0] is not None else 0

    def wait_watermark(self, t_ms, timeout=8.0):
        wait_until(lambda: self.watermark() >= t_ms, timeout=timeout, interval=0.1,
                   what=f"aggregates up to {t_ms}")

    def snapshot(self, metrics=("cpu_cores", "cpu_ratio")):
        """The curves (JSON per metric, CSV of cpu_cores) and the raw labelled rows behind them, read at one
        aggregate watermark (again when a flush came in between)."""
        for _ in range(20):
            w = self.watermark()
            curves = {m: self.d.get_json(f"/api/v1/curves?agent={AGENT_ID}&metric={m}") for m in metrics}
            csv_answer = self.d.http(f"/api/v1/curves?agent={AGENT_ID}&metric=cpu_cores&format=csv")
            rows = self.d.query("SELECT users, cpu_cores FROM samples WHERE agent = ? AND time_ms <= ? "
                                "AND users IS NOT NULL AND cpu_cores IS NOT NULL ORDER BY time_ms", (self.num, w))
            if self.watermark() == w:
                return w, curves, csv_answer, rows
            time.sleep(0.05)
        self.t.fail("the aggregate watermark never held still for one snapshot")

    def polls(self):
        return self.d.query("SELECT p.time_ms, p.ok, p.participants FROM bbb_polls p JOIN bbb_servers s "
                            "ON s.num = p.server WHERE s.name = ? ORDER BY p.time_ms", (BBB_NAME,))

    # --- the run ---

    def run(self):
        t, d = self.t, self.d
        row = wait_until(lambda: (lambda r: r if r and r.get("up") and r.get("participants") == 0 else None)(
            self.bbb_row()), timeout=10, what="the BBB server up with 0 participants")
        t.assertEqual(row["meetings"], 1)

        wait_until(lambda: self.cg.usage_ns() > 0, timeout=5, what="the load running in the cgroup")
        time.sleep(0.3)  # the interpreter's start-up is not part of level 0
        self.agent_start_ms = time.time() * 1000
        agent = Agent(f"unix:{d.unix_path}", AGENT_ID, self.dir, interval_ms=SAMPLE_MS,
                      args=["--cgroup", self.cg.path])
        self.stack.callback(agent.proc.stdout.close)
        self.stack.callback(agent.stop)
        self.num = wait_until(self.agent_num, timeout=10, what="the agent's Hello")
        wait_until(lambda: d.query("SELECT count(*) FROM samples WHERE agent = ? AND users = 0 AND "
                                   "cpu_cores IS NOT NULL", (self.num,))[0][0] > 0,
                   timeout=10, what="a first sample at 0 participants")
        self.info = next(a for a in d.get_json("/api/v1/agents") if a["id"] == AGENT_ID)
        t.assertEqual(self.info["bbb"], BBB_NAME)
        t.assertAlmostEqual(self.info["effective_cpus"], QUOTA_CPUS, places=6)  # shares are not a limit
        t.assertEqual(self.info["cgroup_path"], self.cg.path)

        self.sweep()
        self.check_exact()
        self.outage()
        return self

    def sweep(self):
        """0, 1, ..., MAX_USERS participants, one joining at a time; marks[k] is the cgroup's counter when
        the load of level k began (and at the end), lags the ms from the daemon's poll to the load change."""
        self.marks = [self.cg.mark()]
        self.lags = []
        level_start = time.monotonic()
        for users in range(1, MAX_USERS + 1):
            time.sleep(max(0.0, level_start + HOLD_S - time.monotonic()))
            self.set_bbb(participants=[users])
            row = wait_until(lambda: (lambda r: r if r and r.get("participants") == users else None)(
                self.bbb_row()), timeout=5, interval=0.02, what=f"{users} participants in /api/v1/bbb")
            self.set_users(users)
            self.marks.append(self.cg.mark())
            level_start = time.monotonic()
            self.lags.append(time.time() * 1000 - row["last_poll_ms"])
        # what /api/v1/bbb says of the meeting at the top, as the test server shapes it
        v = MAX_USERS // 2
        self.t.assertEqual((row["meetings"], row["participants"], row["voice"], row["listeners"], row["video"],
                            row["moderators"], row["breakouts"]),
                           (1, MAX_USERS, v, MAX_USERS - v, MAX_USERS // 3, 1, 0))
        self.t.assertTrue(row["up"])
        time.sleep(max(0.0, level_start + HOLD_S - time.monotonic()))
        self.sweep_end_ms = time.time() * 1000
        self.wait_watermark(self.sweep_end_ms)
        self.w, self.curves, self.csv_answer, self.raw = self.snapshot()
        self.marks.append(self.cg.mark())  # the top level lasts until the snapshot
        self.snapshot_ms = time.time() * 1000
        self.truth = [(u1 - u0) / 1e9 / ((t1 - t0) / 1000) for (t0, u0, _, _), (t1, u1, _, _)
                      in zip(self.marks, self.marks[1:])]

    def check_exact(self):
        """What must hold exactly, however busy the machine is."""
        t, d = self.t, self.d
        c = self.curves["cpu_cores"]
        t.assertEqual(c["metric"], "cpu_cores")
        t.assertEqual(len(c["agents"]), 1)
        a = c["agents"][0]
        t.assertEqual((a["agent"], a["virt"]), (AGENT_ID, self.info["virt"]))
        self.points, self.fit, self.cap = a["points"], a["fit"], a["capacity"]
        points, fit, cap = self.points, self.fit, self.cap
        self.print_points()

        by_level = {}
        for u, v in self.raw:
            by_level.setdefault(u, []).append(v)
        t.assertEqual([p["users"] for p in points], list(range(0, MAX_USERS + 1)),
                      "one point per participant count of the sweep, and no other")
        for p in points:
            vals = by_level[p["users"]]
            with t.subTest(users=p["users"]):
                t.assertEqual(p["samples"], len(vals))  # exactly the labelled samples of the raw table
                t.assertGreaterEqual(p["samples"], HOLD_S * 1000 / SAMPLE_MS * 0.6)
                t.assertTrue(close(p["mean"], sum(vals) / len(vals)), (p["mean"], sum(vals) / len(vals)))
                t.assertTrue(close(p["max"], max(vals)))
                rank = nearest_rank(vals, 0.95)  # the histogram's bucket is within 0.54% of its values
                t.assertLessEqual(abs(p["p95"] - rank), 0.0055 * rank + 1e-9, (p["p95"], rank))
                t.assertLessEqual(p["p95"], p["max"])
                t.assertGreaterEqual(p["stddev"], 0)

        # the fit over the level means (each level with 3 samples or more counts once), recomputed from the
        # raw rows
        fitted = sorted(u for u, vals in by_level.items() if len(vals) >= 3)
        ri, rs, rr2 = ols(fitted, [sum(by_level[u]) / len(by_level[u]) for u in fitted])
        t.assertEqual(fit["samples"], sum(len(by_level[u]) for u in fitted))
        t.assertEqual(fit["levels"], len(fitted))
        t.assertLessEqual(fit["slope_ci95"][0], fit["slope"])
        t.assertLessEqual(fit["slope"], fit["slope_ci95"][1])
        t.assertTrue(close(fit["slope"], rs, 1e-7), (fit["slope"], rs))
        t.assertTrue(close(fit["intercept"], ri, 1e-7, 1e-9), (fit["intercept"], ri))
        t.assertTrue(close(fit["r2"], rr2, 1e-7), (fit["r2"], rr2))
        threshold = 0.8 * QUOTA_CPUS
        t.assertTrue(close(cap["threshold"], threshold))
        t.assertTrue(close(cap["users"], (threshold - fit["intercept"]) / fit["slope"], 1e-9))
        own = d.get_json(f"/api/v1/curves?agent={AGENT_ID}&metric=cpu_cores&threshold=0.5")["agents"][0]
        t.assertTrue(close(own["capacity"]["threshold"], 0.5))
        t.assertTrue(close(own["capacity"]["users"], (0.5 - own["fit"]["intercept"]) / own["fit"]["slope"], 1e-9))

        # cpu_ratio: the same samples over the 1.5 effective CPUs, the same capacity
        r = self.curves["cpu_ratio"]["agents"][0]
        self.ratio = r
        t.assertEqual(self.curves["cpu_ratio"]["metric"], "cpu_ratio")
        t.assertEqual([p["users"] for p in r["points"]], [p["users"] for p in points])
        for pr, pc in zip(r["points"], points):
            t.assertEqual(pr["samples"], pc["samples"])
            t.assertTrue(close(pr["mean"], pc["mean"] / QUOTA_CPUS, 1e-6), (pr["mean"], pc["mean"]))
            t.assertTrue(close(pr["max"], pc["max"] / QUOTA_CPUS, 1e-6))
        t.assertTrue(close(r["fit"]["slope"], fit["slope"] / QUOTA_CPUS, 1e-6))
        t.assertTrue(close(r["fit"]["intercept"], fit["intercept"] / QUOTA_CPUS, 1e-6, 1e-9))
        t.assertTrue(close(r["fit"]["r2"], fit["r2"], 1e-6))
        t.assertTrue(close(r["capacity"]["threshold"], 0.8))
        t.assertTrue(close(r["capacity"]["users"], cap["users"], 1e-6))

        # CSV: a header, then one row per level, the same numbers
        status, headers, body = self.csv_answer
        t.assertEqual(status, 200)
        t.assertTrue(headers.get("content-type", "").startswith("text/csv"), headers)
        table = list(csv.reader(io.StringIO(body.decode())))
        t.assertEqual(table[0][:13], ["agent", "virt", "metric", "users", "samples", "mean", "p95", "max",
                                      "fit_intercept", "fit_slope", "fit_r2", "capacity_threshold", "capacity_users"])
        t.assertEqual(len(table), 1 + len(points))
        for row, p in zip(table[1:], points):
            rec = dict(zip(table[0], row))
            t.assertEqual((rec["agent"], rec["metric"]), (AGENT_ID, "cpu_cores"))
            t.assertEqual((int(rec["users"]), int(rec["samples"])), (p["users"], p["samples"]))
            for k, v in (("mean", p["mean"]), ("p95", p["p95"]), ("max", p["max"]), ("fit_slope", fit["slope"]),
                         ("fit_intercept", fit["intercept"]), ("fit_r2", fit["r2"]),
                         ("capacity_threshold", cap["threshold"]), ("capacity_users", cap["users"])):
                t.assertTrue(close(float(rec[k]), v, 1e-12, 1e-15), (k, rec[k], v))

        # every sample's participant count is the one the stored polls give for its moment
        history = PollHistory(self.polls())
        offset = self.info["clock_offset_ms"] or 0
        rows = d.query("SELECT time_ms, users, cpu_usage_usec FROM samples WHERE agent = ? AND time_ms <= ? "
                       "ORDER BY time_ms", (self.num, self.w))
        wrong = [(ts, u) for ts, u, _ in rows
                 if u not in {history.users_at(ts + offset + dt) for dt in (-50, 0, 50)}]
        t.assertEqual(wrong, [], "samples whose participant count is not that of the poll in force")

        # the agent read this cgroup's counter: ordered with the readings of cpuacct.usage taken here
        for before_ms, ns, after_ms, _ in self.marks:
            for ts, _, usec in rows:
                if usec is None:
                    continue
                if ts < before_ms - 100:
                    t.assertLessEqual(usec, ns / 1000 + 1, (ts, usec, before_ms, ns))
                elif ts > after_ms + 100:
                    t.assertGreaterEqual(usec, ns / 1000 - 1, (ts, usec, after_ms, ns))

    def outage(self):
        """The BBB server stops answering while one more participant joins."""
        t, d = self.t, self.d
        before = {p["users"]: p["samples"] for p in self.points}
        out_ms = time.time() * 1000
        self.set_bbb(participants=[MAX_USERS + 1], delay_ms=int(OUTAGE_S * 1000 + 2000))
        self.set_users(MAX_USERS + 1)
        t_out = time.monotonic()
        down = wait_until(lambda: (lambda r: r if r and r.get("up") is False else None)(self.bbb_row()),
                          timeout=OUTAGE_S + 2, interval=0.1, what="the BBB server marked down")
        t.assertIsNone(down["participants"], "while down the count is unknown, not zero")
        t.assertTrue(down.get("error"))
        time.sleep(max(0.0, t_out + OUTAGE_S - time.monotonic()))
        latest = d.get_json(f"/api/v1/agents/{AGENT_ID}/latest")
        end_ms = time.time() * 1000
        self.wait_watermark(end_ms)
        _, after, _, raw2 = self.snapshot(metrics=("cpu_cores",))
        pts2 = after["cpu_cores"]["agents"][0]["points"]

        polls = [p for p in self.polls() if p[0] > out_ms]
        failed = [ts for ts, ok, _ in polls if not ok]
        last_ok = max(ts for ts, ok, _ in self.polls() if ok)
        during = d.query("SELECT time_ms, users FROM samples WHERE agent = ? AND time_ms > ? AND time_ms <= ?",
                         (self.num, out_ms, end_ms))
        labelled = [(ts, u) for ts, u in during if u is not None]
        down_ms = failed[1] if len(failed) > 1 else end_ms
        print(f"outage {OUTAGE_S} s: {len(polls)} polls ({len(failed)} failed, down after the 2nd), "
              f"{len(during)} samples: {len(labelled)} within {FRESH_MS} ms of the last good poll keep its count, "
              f"{len(during) - len(labelled)} unknown; latest users {latest.get('users')}")

        t.assertGreaterEqual(len(failed), 2, polls)
        t.assertTrue(all(ok or n is None for _, ok, n in polls), "a failed poll stores no counts")
        t.assertTrue(all(n == MAX_USERS for _, ok, n in polls if ok), polls)
        t.assertEqual([p["users"] for p in pts2], list(range(0, MAX_USERS + 1)),
                      "no level appears while the BBB server does not answer")
        t.assertTrue(all(u == MAX_USERS and ts <= last_ok + FRESH_MS for ts, u in labelled), (last_ok, labelled))
        t.assertLessEqual(len(labelled), FRESH_MS // SAMPLE_MS + 1, during)
        t.assertTrue(all(u is None for ts, u in during if ts > down_ms))
        t.assertGreaterEqual(len(during) - len(labelled), 5, "samples while down are stored, count unknown")
        t.assertIsNone(latest.get("users"), latest)
        for p in pts2:
            t.assertEqual(p["samples"], sum(1 for u, _ in raw2 if u == p["users"]))
            if p["users"] != MAX_USERS:
                t.assertEqual(p["samples"], before[p["users"]])

    # --- the known load ---

    def disturbances(self):
        """Evidence, independent of seatmeter, that the machine held the load back during the sweep."""
        out, behind = [], []
        for line in self.load.output().splitlines():
            f = line.split()
            if len(f) == 3 and f[0] == "behind" and self.agent_start_ms <= float(f[1]) <= self.snapshot_ms:
                behind.append(float(f[2]))
        if behind:
            out.append(f"the load was more than {STALL_MS} ms of CPU behind in {len(behind)} periods of "
                       f"{LOAD_PERIOD_MS} ms, at most {max(behind):.0f} ms")
        for users, cores in enumerate(self.truth):
            if abs(cores - known(users)) > TRUTH_TOL_CORES:
                out.append(f"level {users} got {cores:.3f} cores instead of {known(users):.3f}")
        return out

    def print_points(self):
        print(f"\nattempt {self.attempt}: agent {AGENT_ID} ({self.info['virt']}) on cgroup {self.cg.path}, quota "
              f"{QUOTA_CPUS} CPUs; load {BASE_CORES} + {PER_USER_CORES} * users cores; the load changed "
              f"{sum(self.lags) / len(self.lags):.0f} ms (max {max(self.lags):.0f} ms) after the daemon's poll")
        print(" users samples     mean      p95      max    known    error  cpuacct")
        for p in self.points:
            u = p["users"]
            print(f"{u:6d} {p['samples']:7d} {p['mean']:8.4f} {p['p95']:8.4f} {p['max']:8.4f} {known(u):8.4f} "
                  f"{p['mean'] - known(u):+8.4f} {self.truth[u]:8.4f}")
        means = [p["mean"] for p in self.points]
        _, _, self.r2_means = ols([p["users"] for p in self.points], means)
        known_cap = (0.8 * QUOTA_CPUS - BASE_CORES) / PER_USER_CORES
        print(f"fit over {self.fit['samples']} samples: intercept {self.fit['intercept']:.4f} cores, slope "
              f"{self.fit['slope']:.5f} cores/user ({100 * (self.fit['slope'] / PER_USER_CORES - 1):+.2f}% of "
              f"{PER_USER_CORES}), R^2 {self.fit['r2']:.5f}; R^2 of the level means {self.r2_means:.6f}")
        print(f"capacity at {self.cap['threshold']:.2f} cores (0.8 of {QUOTA_CPUS} CPUs): {self.cap['users']:.2f} "
              f"users (known load: {known_cap:.2f}, {100 * (self.cap['users'] / known_cap - 1):+.2f}%)")

    def known_load_problems(self):
        """Where the curve departs from the load's known cost by more than the measured tolerances."""
        fit, cap, out = self.fit, self.cap, []
        for p in self.points:
            if abs(p["mean"] - known(p["users"])) > LEVEL_TOL_CORES:
                out.append(f"level {p['users']}: mean {p['mean']:.4f} cores, known {known(p['users']):.4f}")
        means = [p["mean"] for p in self.points]
        if means != sorted(means):
            out.append(f"the means do not increase with the participant count: {means}")
        if abs(fit["slope"] / PER_USER_CORES - 1) > SLOPE_TOL:
            out.append(f"slope {fit['slope']:.5f} cores/user, known {PER_USER_CORES}")
        if abs(self.ratio["fit"]["slope"] * QUOTA_CPUS / PER_USER_CORES - 1) > SLOPE_TOL:
            out.append(f"cpu_ratio slope {self.ratio['fit']['slope']:.5f}, known {PER_USER_CORES / QUOTA_CPUS:.5f}")
        if abs(fit["intercept"] - BASE_CORES) > INTERCEPT_TOL:
            out.append(f"intercept {fit['intercept']:.4f} cores, known {BASE_CORES}")
        if not fit["r2"] >= R2_SAMPLES_MIN:
            out.append(f"R^2 over the samples {fit['r2']:.4f} < {R2_SAMPLES_MIN}")
        if not self.r2_means >= R2_MEANS_MIN:
            out.append(f"R^2 of the level means {self.r2_means:.5f} < {R2_MEANS_MIN}")
        known_cap = (0.8 * QUOTA_CPUS - BASE_CORES) / PER_USER_CORES
        if abs(cap["users"] / known_cap - 1) > CAPACITY_TOL:
            out.append(f"capacity {cap['users']:.2f} users, known {known_cap:.2f}")
        return out


class TestCurvesEndToEnd(unittest.TestCase):
    def setUp(self):
        why = unavailable()
        if why:
            self.skipTest(why)
        remove_stale_cgroups()
        old = signal.signal(signal.SIGTERM, _on_sigterm)
        self.addCleanup(signal.signal, signal.SIGTERM, old)

    def test_curve_from_stepped_load(self):
        """The exact checks must pass in every attempt. The comparison with the load's known cost must pass
        too, unless the machine demonstrably held the load back; then the scene runs again (ATTEMPTS)."""
        t0 = time.monotonic()
        held_back = []
        for attempt in range(1, ATTEMPTS + 1):
            with contextlib.ExitStack() as stack:
                scene = Scene(self, stack, attempt).run()
            problems = scene.known_load_problems()
            evidence = scene.disturbances()
            if evidence:
                print("the machine held the load back: " + "; ".join(evidence))
            print(f"run time {time.monotonic() - t0:.1f} s")
            if not problems:
                return
            if not evidence:
                self.fail("the curve departs from the known load, which ran as told:\n  " + "\n  ".join(problems))
            held_back.append(f"attempt {attempt}: {'; '.join(problems[:3])} (held back: {'; '.join(evidence[:3])})")
            print(f"the curve departs from the known load: {'; '.join(problems)}; running the scene again")
        self.skipTest("the exact checks passed, but the machine held the load back in every attempt, so the "
                      "comparison with its known cost could not be made: " + " | ".join(held_back))


if __name__ == "__main__":
    SKIP_REQUESTED = "--skip" in sys.argv[1:]
    sys.argv = [a for a in sys.argv if a != "--skip"]  # not an option of unittest's
    harness.main()
