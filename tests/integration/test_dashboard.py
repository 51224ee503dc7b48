#!/usr/bin/env python3
"""The live dashboard at / in headless Chromium, against the real seatmeterd.

The daemon runs on a database filled with 15 minutes of synthetic samples and per-user curve aggregates
for two agents (an LXC and a KVM guest), two BBB servers polled from a local stub, and one real
seatmeter-agent streaming live. Chromium is driven through chromedriver's W3C WebDriver HTTP API with
urllib. Checks: no console errors, the agents table lists every agent, every live chart drew points (the
page's data-points counters), the KVM guest's card shows its steal time and the LXC guest's its labels,
the curves section shows the fits and projected capacities for two metrics, the thresholds of the
config ([capacity] for the site, [agent NAME] for one guest, the KVM guest's CPU one lowered by its steal)
drawn as threshold lines and listed with the resource that runs out first (checked against the fit the test
recomputes from the curve rows it wrote),
the CSV link answers CSV, the phone layout has no horizontal overflow, and the token prompt works when
the API requires a bearer token. Screenshots are kept under $SEATMETER_BUILD_ROOT/test-artifacts/
(dashboard.png, dashboard-phone.png).

Skipped (exit 77) when chromium or chromedriver is not installed."""

import base64
import glob
import http.server
import json
import math
import os
import random
import shutil
import sqlite3
import sys
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
CHROMEDRIVER = shutil.which("chromedriver")
ARTIFACTS = os.path.join(harness.BUILD_ROOT, "test-artifacts")

LIVE_MINUTES = 15
STEP_MS = 5000
SYNTH = [  # id, virt, hostname, effective_cpus, cpu_count, memory limit, bbb, cpu base and per user
    ("bbb1-lxc", "lxc", "ct-bbb1", 2.0, 2, 4 << 30, "bbb1", 0.06, 0.0105, 900e6, 14e6),
    ("bbb2-kvm", "kvm", "vm-bbb2", 4.0, 4, 8 << 30, "bbb2", 0.04, 0.0052, 1.3e9, 16e6),
]
CURVE_METRICS = ["cpu_ratio", "cpu_cores", "working_set_bytes", "net_rx_bps", "net_tx_bps", "steal_ratio"]
KVM_STEAL_PER_USER = 0.0004  # the KVM guest's steal curve: KVM_STEAL + this per participant
KVM_STEAL = 0.031      # the KVM guest's steal share, in its samples and its hourly trends
# Thresholds: the site's in [capacity], the KVM guest's own CPU and memory ones in [agent bbb2-kvm].
SITE_CPU, LINK_MBPS, KVM_CPU, KVM_MEMORY = 0.6, 100, 0.5, 0.25
CAPACITY_CONFIG = (f"[capacity]\ncpu_threshold = {SITE_CPU}\nlink_mbps = {LINK_MBPS}\n\n"
                   f"[agent bbb2-kvm]\ncpu_threshold = {KVM_CPU}\nmemory_threshold = {KVM_MEMORY}\n")


# ---------------------------------------------------------------- synthetic data

def users_at(t_ms, phase):
    """A participant count that rises and falls over the window, like a class starting and ending."""
    return max(0, int(round(28 + 24 * math.sin(t_ms / 170000.0 + phase))))


def fill_db(path, now_ms):
    """Creates the database with every schema/NNN_*.sql migration and fills it with the synthetic agents:
    raw samples for the last LIVE_MINUTES minutes, curve aggregates (hist left NULL: the page must cope
    with an unknown p95) and an hourly trends row with the KVM guest's steal two days ago."""
    con = sqlite3.connect(path)
    migrations = sorted(glob.glob(os.path.join(harness.SOURCE_ROOT, "schema", "[0-9]*.sql")))
    for m in migrations:
        with open(m) as f:
            con.executescript(f.read())
    version = int(os.path.basename(migrations[-1]).split("_")[0])
    con.execute(f"PRAGMA user_version = {version}")
    rnd = random.Random(5)
    first = now_ms - LIVE_MINUTES * 60 * 1000 + STEP_MS
    for num, (aid, virt, host, ecpu, ncpu, mem, bbb, c0, c1, w0, w1) in enumerate(SYNTH, start=1):
        con.execute("INSERT INTO agents (num, id, virt, hostname, effective_cpus, cpu_count, memory_limit_bytes,"
                    " bbb, transport, connected, first_seen_ms, last_seen_ms, clock_offset_ms, last_time_ms,"
                    " cgroup_version, cgroup_mode, host_cpus, labels) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (num, aid, virt, host, ecpu, ncpu, mem, bbb, "tcp", 0, first, now_ms, 40 * num, now_ms,
                     1 if virt == "lxc" else 2, "hybrid" if virt == "lxc" else "unified", 24,
                     '{"site":"fra1"}' if virt == "lxc" else "{}"))
        seq = 0
        for t in range(first, now_ms + 1, STEP_MS):
            seq += 1
            u = users_at(t, num)
            ratio = max(0.0, c0 + c1 * u + rnd.uniform(-0.03, 0.03))
            ws = int(w0 + w1 * u + rnd.uniform(-2e7, 2e7))
            rx, tx = u * 62000 + rnd.uniform(0, 2e4), u * 41000 + rnd.uniform(0, 2e4)
            con.execute("INSERT INTO samples (agent, time_ms, seq, users, cpu_cores, cpu_ratio, throttled_ratio,"
                        " memory_bytes, working_set_bytes, cache_bytes, anon_bytes, swap_bytes, io_read_bps,"
                        " io_write_bps, net_rx_bps, net_tx_bps, steal_ratio) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                        (num, t, seq, u, ratio * ecpu, ratio, 0.02 if virt == "lxc" else 0.0, int(ws * 1.4), ws,
                         int(ws * 0.4), int(ws * 0.9), 0, 2000.0, 12000.0, rx, tx,
                         KVM_STEAL if virt == "kvm" else None))
        con.execute("UPDATE agents SET last_seq = ? WHERE num = ?", (seq, num))
        for metric, name in enumerate(CURVE_METRICS):
            if name == "steal_ratio" and virt != "kvm":
                continue  # a container has no steal counter
            for u in range(0, 61, 2):
                base = {"cpu_ratio": c0 + c1 * u, "cpu_cores": (c0 + c1 * u) * ecpu,
                        "working_set_bytes": w0 + w1 * u, "net_rx_bps": u * 62000.0 + 1e4,
                        "net_tx_bps": u * 41000.0 + 1e4, "steal_ratio": KVM_STEAL + KVM_STEAL_PER_USER * u}[name]
                vals = [max(0.0, base * rnd.uniform(0.9, 1.1)) for _ in range(20 + u)]
                con.execute("INSERT INTO curves (agent, metric, users, n, sum, sumsq, max, hist)"
                            " VALUES (?,?,?,?,?,?,?,NULL)",
                            (num, metric, u, len(vals), sum(vals), sum(v * v for v in vals), max(vals)))
        # The daily roll-up of those rows, as the daemon writes it beside them (no histograms here).
        con.execute("INSERT INTO curves_day (agent, metric, day_ms, epoch, users, n, sum, sumsq, max, hist)"
                    " SELECT agent, metric, hour_ms - hour_ms % 86400000, epoch, users, sum(n), sum(sum), sum(sumsq),"
                    " max(max), NULL FROM curves WHERE agent = ? GROUP BY 1, 2, 3, 4, 5", (num,))
        if virt == "kvm":
            hour = now_ms - now_ms % 3600_000 - 2 * 86400_000
            con.execute("INSERT INTO trends (agent, hour_ms, n, steal_ratio_n, steal_ratio_min, steal_ratio_sum,"
                        " steal_ratio_max) VALUES (?, ?, 720, 720, ?, ?, ?)",
                        (num, hour, KVM_STEAL, KVM_STEAL * 720, KVM_STEAL))
    con.commit()
    con.close()


def line_truth(daemon, agent, metric):
    """The fit of agent and metric's curve, (intercept, slope): least squares over the level means of its
    newest epoch, each level of 3 samples or more once (as daemon/fit.c), from the curves rows stored (those
    fill_db wrote and those the daemon aggregated from the raw samples)."""
    rows = daemon.query("SELECT c.epoch, c.users, sum(c.n), sum(c.sum) FROM curves c JOIN agents a ON a.num = c.agent"
                        " WHERE a.id = ? AND c.metric = ? GROUP BY c.epoch, c.users",
                        (agent, CURVE_METRICS.index(metric)))
    newest = max(r[0] for r in rows)
    levels = [(u, total / n) for e, u, n, total in rows if e == newest and n >= 3]
    n = len(levels)
    mx = sum(u for u, _ in levels) / n
    my = sum(m for _, m in levels) / n
    slope = sum((u - mx) * (m - my) for u, m in levels) / sum((u - mx) ** 2 for u, _ in levels)
    return my - slope * mx, slope


def capacity_truth(daemon, agent, metric, threshold):
    """Where the curve of agent and metric reaches threshold (line_truth())."""
    intercept, slope = line_truth(daemon, agent, metric)
    return (threshold - intercept) / slope


class BbbStub:
    """A BigBlueButton getMeetings stub on 127.0.0.1 (the checksum is not checked): one meeting whose
    participant count is the same rising and falling curve as the synthetic samples."""

    XML = ("<response><returncode>SUCCESS</returncode><meetings><meeting><meetingName>class</meetingName>"
           "<meetingID>m1</meetingID><running>true</running><participantCount>{n}</participantCount>"
           "<listenerCount>{l}</listenerCount><voiceParticipantCount>{v}</voiceParticipantCount>"
           "<videoCount>{c}</videoCount><moderatorCount>1</moderatorCount><isBreakout>false</isBreakout>"
           "</meeting></meetings></response>")

    def __init__(self):
        stub = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                n = users_at(int(time.time() * 1000), 1 if "/bbb1/" in self.path else 2)
                body = stub.XML.format(n=n, l=n // 3, v=n // 2, c=n // 5).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/xml")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


# ---------------------------------------------------------------- WebDriver

class WebDriverError(Exception):
    pass


class Browser:
    """Headless Chromium through chromedriver's W3C WebDriver HTTP API. close() ends the session (which
    quits Chromium) and stops chromedriver and anything left in its process group."""

    def __init__(self, workdir, width=1366, height=900):
        self.profile = tempfile.mkdtemp(prefix="chromium-", dir=workdir)
        self.driver = harness.Process([CHROMEDRIVER, "--port=0"], name="chromedriver")
        m = self.driver.wait_line(r"started successfully on port (\d+)", timeout=20)
        self.base = f"http://127.0.0.1:{m.group(1)}"
        self.session = None
        caps = {"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:loggingPrefs": {"browser": "ALL"},
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                         "--disable-background-networking", "--disable-component-update", "--disable-sync",
                         "--disable-dev-shm-usage", "--disable-breakpad", "--hide-scrollbars", "--force-color-profile=srgb",
                         f"--user-data-dir={self.profile}", f"--window-size={width},{height}"],
            },
        }}}
        try:
            self.session = self._call("POST", "/session", caps, timeout=60)["sessionId"]
        except BaseException:
            self.close()
            raise

    def _call(self, method, path, body=None, timeout=30):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return json.loads(r.read() or b"{}").get("value")
        except urllib.error.HTTPError as e:
            raw = e.read()
            try:
                v = json.loads(raw).get("value", {})
                msg = f"{v.get('error')}: {v.get('message', '')[:800]}"
            except ValueError:
                msg = raw[:800].decode(errors="replace")
            raise WebDriverError(f"{method} {path}: HTTP {e.code}: {msg}") from None

    def s(self, path):
        return f"/session/{self.session}{path}"

    def get(self, url):
        self._call("POST", self.s("/url"), {"url": url}, timeout=60)

    def js(self, script, *args):
        return self._call("POST", self.s("/execute/sync"), {"script": script, "args": list(args)})

    def wait_js(self, expr, timeout=30.0, what=None):
        """Polls a JS expression until it is truthy; returns its value."""
        return harness.wait_until(lambda: self.js("return (" + expr + ");"), timeout=timeout, interval=0.25,
                                  what=what or expr)

    def set_size(self, width, height):
        self._call("POST", self.s("/window/rect"), {"width": width, "height": height})

    def screenshot(self, path):
        png = base64.b64decode(self._call("GET", self.s("/screenshot")))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(png)
        return png

    def console(self):
        """Browser console entries since the last call: [{level, message, source, timestamp}]."""
        for path in ("/se/log", "/log"):
            try:
                return self._call("POST", self.s(path), {"type": "browser"}) or []
            except WebDriverError:
                continue
        raise WebDriverError("chromedriver offers no browser log")

    def close(self):
        if self.session:
            try:
                self._call("DELETE", self.s(""), timeout=30)
            except Exception:
                pass
            self.session = None
        pgid = self.driver.proc.pid
        self.driver.stop()
        try:
            os.killpg(pgid, 9)  # Chromium helpers that outlived chromedriver: its own process group
        except ProcessLookupError:
            pass


# ---------------------------------------------------------------- the test

def missing_browser():
    if not CHROMIUM:
        return "chromium is not installed (apt-get install chromium chromium-driver)"
    if not CHROMEDRIVER:
        return "chromedriver is not installed (apt-get install chromium-driver)"
    return None


@unittest.skipIf(missing_browser(), missing_browser())
class Dashboard(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls._tmp = cls.stub = cls.daemon = cls.agent = cls.browser = None
        try:
            cls._start()
        except BaseException:
            cls.tearDownClass()  # unittest does not call it when setUpClass fails
            raise

    @classmethod
    def _start(cls):
        cls._tmp = tempfile.TemporaryDirectory(prefix="seatmeter-dashboard-")
        cls.dir = cls._tmp.name
        cls.stub = BbbStub()
        cls.now_ms = int(time.time() * 1000)
        db = os.path.join(cls.dir, "seatmeter.db")
        fill_db(db, cls.now_ms)
        secret = os.path.join(cls.dir, "bbb.secret")
        with open(secret, "w") as f:
            f.write("0123456789abcdef0123456789abcdef\n")
        bbb = "".join(f"[bbb {n}]\nurl = http://127.0.0.1:{cls.stub.port}/{n}/bigbluebutton/\n"
                      f"secret_file = {secret}\nchecksum = sha256\ninterval_s = 1\n\n" for n in ("bbb1", "bbb2"))
        agents = "[agent bbb1-lxc]\nbbb = bbb1\n\n[agent live-host]\nbbb = bbb1\n\n" + CAPACITY_CONFIG + "bbb = bbb2\n"
        # A window over the last two hours in the config; another, long ago, created through the API below.
        cls.recent = (cls.now_ms - 2 * 3600_000, cls.now_ms + 3600_000)
        agents += f"\n[experiment recent]\nstart = {cls.recent[0]}\nend = {cls.recent[1]}\n"
        cls.daemon = harness.Daemon(cls.dir, config=bbb + agents, db=db)
        cls.agent = harness.Agent(f"unix:{cls.daemon.unix_path}", "live-host", cls.dir, interval_ms=500)
        # The daemon folds the synthetic raw samples into the curves once at start: wait for it, so the page
        # and the truth computed from the curves rows see the same levels.
        harness.wait_until(lambda: cls.daemon.query(
            "SELECT count(*) FROM agents WHERE id IN ('bbb1-lxc', 'bbb2-kvm') AND agg_time_ms >= ?",
            (cls.now_ms,))[0][0] == 2, timeout=30, interval=0.2, what="the synthetic samples in the curves")

        # The live agent needs two samples before it has rates.
        def live_rows():
            now = int(time.time() * 1000)
            st, _, body = cls.daemon.http(f"/api/v1/agents/live-host/series?from={now - 600000}&to={now + 60000}"
                                          "&metrics=cpu_ratio,working_set_bytes")
            if st != 200:
                return None
            rows = json.loads(body)
            return len([r for r in rows if r.get("cpu_ratio") is not None]) >= 2
        try:
            harness.wait_until(live_rows, timeout=30, interval=0.25, what="two samples of the live agent")
        except AssertionError as e:
            raise AssertionError(f"{e}; agent output:\n{cls.agent.output()[-2000:]}") from None
        st, _, body = cls.daemon.http("/api/v1/experiments", method="POST", body=json.dumps(
            {"name": "long-ago", "from": cls.now_ms - 10 * 86400_000, "to": cls.now_ms - 9 * 86400_000}).encode())
        assert st == 201, body
        cls.browser = Browser(cls.dir)

    @classmethod
    def tearDownClass(cls):
        for obj, method in ((cls.browser, "close"), (cls.agent, "stop"), (cls.daemon, "stop"), (cls.stub, "close"),
                            (cls._tmp, "cleanup")):
            if obj is None:
                continue
            try:
                getattr(obj, method)()
            except Exception as e:  # keep closing the rest
                print(f"teardown: {e}", file=sys.stderr)

    def assertNoConsoleErrors(self, entries):
        bad = [e for e in entries if e.get("level") == "SEVERE"]
        self.assertEqual(bad, [], "console errors:\n" + "\n".join(e.get("message", "") for e in bad))

    def test_1_page(self):
        b, d = self.browser, self.daemon
        b.get(d.base_url + "/")
        b.wait_js("document.documentElement.dataset.state === 'ready' && "
                  "Number(document.documentElement.dataset.refreshes) >= 1", what="the first refresh")

        ids = sorted(b.js("return [...document.querySelectorAll('#agents tbody tr')].map(r => r.dataset.agent);"))
        self.assertEqual(ids, sorted(["bbb1-lxc", "bbb2-kvm", "live-host"]))
        row = b.js("return document.querySelector('#agents tr[data-agent=\"bbb1-lxc\"]').innerText;")
        self.assertIn("lxc", row.lower())
        self.assertIn("4.00 GiB", row)
        # A VM's steal time beside its CPU share, and an agent's labels on its card.
        cards = b.wait_js("""(() => { const t = Object.fromEntries([...document.querySelectorAll('#live .card')].map(c =>
            [c.dataset.agent, c.innerText])); return t['bbb2-kvm'] && /steal/.test(t['bbb2-kvm']) && t; })()""",
                          timeout=20, what="the KVM card's steal")
        self.assertIn("steal 3.1", cards["bbb2-kvm"])
        self.assertNotIn("steal", cards["bbb1-lxc"])
        self.assertIn("site=fra1", cards["bbb1-lxc"])

        # Every live chart of every agent drew points (the participants chart of the live agent too: its
        # BBB server is the stub).
        def charts_drawn():
            per = b.js("""return Object.fromEntries([...document.querySelectorAll('#live .card')].map(c =>
                [c.dataset.agent, [...c.querySelectorAll('.chart')].map(e => Number(e.dataset.points))]));""")
            ok = len(per) == 3 and all(len(v) == 4 and all(n > 0 for n in v) for v in per.values())
            return per if ok else None
        per = harness.wait_until(charts_drawn, timeout=30, interval=0.5, what="every live chart drawing data")
        for aid, _, *_ in SYNTH:  # 15 minutes of 5 s samples: well over 100 points per synthetic chart
            self.assertGreater(per[aid][0], 100, per)
        self.assertGreater(int(b.js("return document.documentElement.dataset.pointsDrawn;")), 1000)
        canvases = b.js("return document.querySelectorAll('#live .uplot canvas').length;")
        self.assertGreaterEqual(canvases, 12)

        # Live updates: the live agent's CPU chart grows.
        first = per["live-host"][0]
        b.wait_js(f"Number(document.querySelector('#live .card[data-agent=\"live-host\"] .chart').dataset.points)"
                  f" > {first}", timeout=20, what="a live update of the live agent's chart")

        # BBB servers from the stub.
        bbb = b.wait_js("document.querySelectorAll('#bbb tbody tr').length >= 2 && "
                        "[...document.querySelectorAll('#bbb tbody tr')].map(r => r.innerText)", timeout=20)
        self.assertTrue(any("bbb1" in r and "up" in r for r in bbb), bbb)

        # Curves: both synthetic agents with fits and a projected capacity drawn.
        b.wait_js("Number(document.documentElement.dataset.curveFits) >= 2 && "
                  "Number(document.documentElement.dataset.curvePoints) > 0", what="curve fits drawn")
        fits = b.js("""return Object.fromEntries([...document.querySelectorAll('#curve-fits tbody tr')].map(r =>
            [r.dataset.agent, [...r.cells].map(c => c.innerText)]));""")
        for aid, *_ in SYNTH:
            self.assertIn(aid, fits)
            self.assertRegex(fits[aid][-1], r"^\d[\d,]* users$", fits)
        # The site's 0.6 of the limit at 0.06 + 0.0105/user: about 51 users for the LXC guest; the KVM
        # guest's own 0.5, less its 3.1% steal.
        cpu_th = {"bbb1-lxc": SITE_CPU, "bbb2-kvm": KVM_CPU - KVM_STEAL}
        cpu_cap = {a: capacity_truth(self.daemon, a, "cpu_ratio", th) for a, th in cpu_th.items()}
        for aid, cap in cpu_cap.items():
            self.assertEqual(fits[aid][-1], f"{math.floor(cap):,} users", (aid, cap, fits))
        self.assertTrue(45 <= cpu_cap["bbb1-lxc"] <= 58, cpu_cap)
        self.assertGreaterEqual(b.js("return document.querySelectorAll('#curve-chart canvas').length;"), 1)
        self.check_thresholds_and_binding(b, cpu_th, cpu_cap)

        os.makedirs(ARTIFACTS, exist_ok=True)
        height = b.js("return document.documentElement.scrollHeight;")
        b.set_size(1366, min(max(900, height + 140), 6000))
        time.sleep(0.6)
        b.screenshot(os.path.join(ARTIFACTS, "dashboard.png"))
        b.set_size(1366, 900)

        # Another metric: the working set against the memory limits.
        b.js("const s = document.getElementById('curve-metric'); s.value = 'working_set_bytes';"
             "s.dispatchEvent(new Event('change'));")
        b.wait_js("[...document.querySelectorAll('#curve-fits tbody tr')].some(r => /GiB|MiB/.test(r.innerText))",
                  what="working-set curves")
        csv = b.js("return document.getElementById('curve-csv').href;")
        self.assertIn("format=csv", csv)
        self.assertIn("metric=working_set_bytes", csv)
        status, headers, body = d.http(csv[len(d.base_url):])
        self.assertEqual(status, 200, body[:300])
        self.assertIn("bbb1-lxc", body.decode())

        self.check_experiments(b)

        # Steal as its own curve: the KVM guest's line, no points for a container.
        b.js("const s = document.getElementById('curve-metric'); s.value = 'steal_ratio';"
             "s.dispatchEvent(new Event('change'));")
        b.wait_js("document.getElementById('curve-csv').href.includes('metric=steal_ratio') && "
                  "[...document.querySelectorAll('#curve-fits tbody tr')].some(r => r.dataset.agent === 'bbb2-kvm' "
                  "&& /%/.test(r.innerText))", what="steal curves")
        steal = b.js("""return Object.fromEntries([...document.querySelectorAll('#curve-fits tbody tr')].map(r =>
            [r.dataset.agent, [...r.cells].map(c => c.innerText)]));""")
        self.assertEqual(steal["bbb1-lxc"][2:6], ["0", "0", "–", "no points"], steal)
        self.assertGreater(int(steal["bbb2-kvm"][2]), 30, steal)
        # The fit shown (in %, two decimals) is the one of the stored steal rows.
        intercept, slope = line_truth(self.daemon, "bbb2-kvm", "steal_ratio")
        self.assertAlmostEqual(float(steal["bbb2-kvm"][4].rstrip(" %")) / 100, intercept, delta=6e-5, msg=steal)
        self.assertAlmostEqual(float(steal["bbb2-kvm"][5].rstrip(" %")) / 100, slope, delta=6e-5, msg=steal)
        self.assertGreater(slope, 0, steal)  # it grows with the participants

        self.assertNoConsoleErrors(b.console())
        errors = b.js("return document.getElementById('error').hidden ? '' : "
                      "document.getElementById('error').innerText;")
        self.assertEqual(errors, "", "the page shows an error")

    def check_thresholds_and_binding(self, b, cpu_th, cpu_cap):
        """The threshold lines the chart drew (one per guest: they differ), the capacity table and the
        vertical capacity lines, against the config and the fits recomputed here."""
        # The live agent: the site's threshold, less its own steal should it measure any (a VM measured whole).
        live = self.daemon.get_json("/api/v1/curves?agent=live-host&metric=cpu_ratio")["agents"][0]["capacity"]
        cpu_th = dict(cpu_th, **{"live-host": SITE_CPU - (live["steal_share"] or 0)})
        drawn = b.js("""const u = document.getElementById('curve-chart')._uplot;
            return u.series.map((s, i) => [s._kind, s.label, u.data[i][0]]).filter(x => x[0] === 'th');""")
        self.assertEqual(sorted((label, round(v, 9)) for _, label, v in drawn),
                         sorted((f"{a} threshold", round(th, 9)) for a, th in cpu_th.items()), drawn)
        marked = json.loads(b.js("return document.documentElement.dataset.curveThresholds;"))
        self.assertEqual(sorted(marked), sorted(cpu_th))
        for aid, th in cpu_th.items():
            self.assertAlmostEqual(marked[aid], th, places=9)
        # Memory: the LXC guest's whole limit (the default), the KVM guest's 25% of 8 GiB; network: 0.8 of
        # the site's link. The LXC guest runs out of CPU first, the KVM guest of memory.
        mem_cap = capacity_truth(self.daemon, "bbb2-kvm", "working_set_bytes", KVM_MEMORY * (8 << 30))
        self.assertLess(mem_cap, cpu_cap["bbb2-kvm"])
        binding = {"bbb1-lxc": ("cpu", cpu_cap["bbb1-lxc"]), "bbb2-kvm": ("memory", mem_cap)}
        rows = b.wait_js("""(() => { const r = Object.fromEntries([...document.querySelectorAll('#capacity tbody tr')]
            .map(t => [t.dataset.agent, [t.dataset.binding, ...[...t.cells].map(c => c.innerText)]]));
            return r['bbb1-lxc'] && r['bbb2-kvm'] && r; })()""", what="the capacity table")
        lxc, kvm = rows["bbb1-lxc"], rows["bbb2-kvm"]
        self.assertEqual(lxc[2:5], ["60.0 % of the CPUs", "4.00 GiB (100 % of 4.00 GiB)",
                                    "in 80.0 Mbit/s · out 80.0 Mbit/s"], lxc)
        self.assertEqual(kvm[2:5], ["46.9 % of the CPUs (after 3.10 % steal)", "2.00 GiB (25.0 % of 8.00 GiB)",
                                    "in 80.0 Mbit/s · out 80.0 Mbit/s"], kvm)
        for aid, (res, cap) in binding.items():
            self.assertEqual(rows[aid][0], res, rows[aid])
            self.assertEqual(rows[aid][5], {"cpu": "CPU", "memory": "memory"}[res])
            self.assertRegex(rows[aid][6], rf"^{math.floor(cap):,} users \[\d+–\d+\]$")
        lines = json.loads(b.js("return document.documentElement.dataset.curveBindings;"))
        # The live agent's few levels may or may not reach a capacity yet: only the synthetic ones are known.
        self.assertEqual(sorted(a for a in lines if a != "live-host"), sorted(binding))
        for aid, (res, cap) in binding.items():
            self.assertEqual(lines[aid]["resource"], res)
            self.assertAlmostEqual(lines[aid]["users"], cap, delta=1e-6 * cap)

    def select_experiment(self, b, name):
        b.js(f"const s = document.getElementById('curve-experiment'); s.value = '{name}';"
             "s.dispatchEvent(new Event('change'));")
        b.wait_js(f"document.getElementById('curve-csv').href.includes('experiment={name}') || '{name}' === ''",
                  what=f"the curves of experiment {name!r}")

    def check_experiments(self, b):
        """The window selector lists the config's experiment and the one created through the API; each
        selects its window in the curves, the CSV and the report."""
        options = b.wait_js("""(() => { const o = [...document.querySelectorAll('#curve-experiment option')]
            .map(e => e.value); return o.length === 3 && o; })()""", what="the experiments listed")
        self.assertEqual(options, ["", "recent", "long-ago"])
        # The last two hours: only the levels the daemon aggregated from the raw samples (the synthetic
        # curve rows are of hour 0); the test counts them in the database.
        self.select_experiment(b, "recent")
        first = self.recent[0] - self.recent[0] % 3600_000
        metric = CURVE_METRICS.index("working_set_bytes")
        truth = {aid: self.daemon.query("SELECT count(DISTINCT c.users) FROM curves c JOIN agents a ON a.num = c.agent"
                                        " WHERE a.id = ? AND c.metric = ? AND c.hour_ms BETWEEN ? AND ?",
                                        (aid, metric, first, self.recent[1]))[0][0] for aid, *_ in SYNTH}
        everything = {aid: self.daemon.query("SELECT count(DISTINCT c.users) FROM curves c JOIN agents a ON "
                                             "a.num = c.agent WHERE a.id = ? AND c.metric = ?", (aid, metric))[0][0]
                      for aid, *_ in SYNTH}
        self.assertTrue(all(0 < truth[a] < everything[a] for a in truth), (truth, everything))

        def counts():
            rows = b.js("""return Object.fromEntries([...document.querySelectorAll('#curve-fits tbody tr')].map(r =>
                [r.dataset.agent, Number(r.cells[2].innerText.replace(/,/g, ''))]));""")
            return rows if all(rows.get(a) == n for a, n in truth.items()) else None
        harness.wait_until(counts, timeout=20, interval=0.25, what=f"the levels of the window: {truth}")
        self.assertEqual(b.js("return document.documentElement.dataset.curveExperiment;"), "recent")
        # Long ago: nothing, and the page says so.
        self.select_experiment(b, "long-ago")
        b.wait_js("!document.getElementById('curves-empty').hidden && "
                  "/long-ago/.test(document.getElementById('curves-empty').innerText)", what="the empty window")
        self.select_experiment(b, "")
        b.wait_js("Number(document.documentElement.dataset.curvePoints) > 0", what="all history again")

    def test_2_phone(self):
        b, d = self.browser, self.daemon
        b.set_size(412, 915)
        b.get(d.base_url + "/")
        b.wait_js("document.documentElement.dataset.state === 'ready' && "
                  "Number(document.documentElement.dataset.curvePoints) > 0", what="page ready on a phone")
        overflow = b.js("return document.documentElement.scrollWidth - document.documentElement.clientWidth;")
        self.assertLessEqual(overflow, 0, "the page scrolls sideways on a phone")
        height = b.js("return document.documentElement.scrollHeight;")
        b.set_size(412, min(max(915, height + 140), 9000))
        time.sleep(0.6)
        b.screenshot(os.path.join(ARTIFACTS, "dashboard-phone.png"))
        b.set_size(1366, 900)
        self.assertNoConsoleErrors(b.console())


@unittest.skipIf(missing_browser(), missing_browser())
class EmptyAndToken(unittest.TestCase):
    """A fresh daemon with no agents and a bearer token: the page asks for the token once, keeps it, and
    shows its empty states."""

    def setUp(self):
        self.dir = harness.tempdir(self)
        tok = os.path.join(self.dir, "http.token")
        with open(tok, "w") as f:
            f.write("s3cret-token\n")
        cfg = f"[daemon]\nhttp_token_file = {tok}\n"
        self.daemon = harness.Daemon(self.dir, config=cfg)
        self.addCleanup(self.daemon.stop)
        st, _, _ = self.daemon.http("/api/v1/agents")
        if st != 401:
            self.skipTest(f"the daemon does not ask for the configured token (HTTP {st})")
        self.browser = Browser(self.dir)
        self.addCleanup(self.browser.close)

    def test_token_and_empty(self):
        b, d = self.browser, self.daemon
        b.get(d.base_url + "/")
        b.wait_js("document.documentElement.dataset.state === 'token' && "
                  "!document.getElementById('token-form').hidden", what="the token prompt")
        b.js("document.getElementById('token-input').value = 'wrong';"
             "document.getElementById('token-form').requestSubmit();")
        b.wait_js("document.documentElement.dataset.state === 'token' && "
                  "/refused/.test(document.getElementById('token-why').innerText)", what="the refusal")
        b.js("document.getElementById('token-input').value = 's3cret-token';"
             "document.getElementById('token-form').requestSubmit();")
        b.wait_js("document.documentElement.dataset.state === 'ready'", what="the page with the token")
        self.assertEqual(b.js("return sessionStorage.getItem('seatmeter.token');"), "s3cret-token")
        self.assertTrue(b.js("return !document.getElementById('agents-empty').hidden;"))
        self.assertTrue(b.wait_js("!document.getElementById('curves-empty').hidden"))
        # A reload uses the kept token without asking again.
        b.get(d.base_url + "/")
        b.wait_js("document.documentElement.dataset.state === 'ready'", what="the reloaded page")
        self.assertTrue(b.js("return document.getElementById('token-form').hidden;"))
        # The 401 answers before the token was given are the only console errors allowed.
        bad = [e for e in b.console() if e.get("level") == "SEVERE" and "401" not in e.get("message", "")]
        self.assertEqual(bad, [])


if __name__ == "__main__":
    harness.main()
