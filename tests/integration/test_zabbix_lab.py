#!/usr/bin/env python3
"""The shipped Zabbix template in a real Zabbix 6.0 server (zabbixlab.py: PostgreSQL, zabbix_server and the
PHP frontend's API, all on 127.0.0.1 in a scratch folder), polling a real seatmeterd with four agents that
watch real cgroup v1 groups:

* busy: a CPU loop under a quota of 0.5 CPUs, no BBB server; stopped half-way;
* idle: an empty cgroup (no CFS period ever runs: it is never throttled, its throttled share is 0);
* noio: no blkio group (disk I/O unknown); a process in it is killed by the OOM killer half-way;
* bbb:  serves the stand-in BBB server bbb1 (tests/integration/bbbserver.py, 2 meetings, 5 participants).

The template is imported through the API and linked to a host whose macros point at the daemon and make
Zabbix poll every 5 s. The test asserts, in this order:

1. every item discovered (guests, the BBB server, the daemon's own) is supported, and none ever became
   unsupported (zabbix_server's log), the BBB participants item exists only for the guest with a server;
2. values equal the daemon's: the gauges of each poll against the sample the daemon stored, the agents'
   limits, the BBB server's counts, the daemon's health;
3. the busy guest's CPU trigger fires; the OOM kill opens a problem;
4. the busy agent stops: its CPU trigger resolves, its no-data trigger fires, and no other trigger of it
   does; the OOM problem is still open several polls later;
5. the daemon stops: exactly one new problem ('Daemon is not answering'), not one per guest;
6. a re-export of the template through the API equals the shipped file (apart from the export date).

Needs root, writable cgroup v1 hierarchies and Debian's zabbix-server-pgsql, zabbix-frontend-php,
postgresql, php-cli and php-pgsql (.ci/deps --lab); skipped (77) with the reason otherwise. About 4 minutes,
most of it waiting for Zabbix's 30 s minimum no-data periods."""

import contextlib
import os
import re
import signal
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bbbserver  # noqa: E402
import harness  # noqa: E402
import zabbixlab  # noqa: E402
from harness import Agent, CgroupsV1, Daemon, Process, wait_until  # noqa: E402

TEMPLATE_FILE = os.path.join(harness.SOURCE_ROOT, "contrib", "zabbix", "seatmeter_by_http.yaml")
TEMPLATE = "seatmeter by HTTP"
HOST = "seatmeter-lab"
SECRET = "zabbix-lab-secret"
BBB = "bbb1"
MAX_AGE_S = 10           # zabbix_max_age_s: a stopped agent's figures vanish after this
POLL_S = 5               # {$SEATMETER.INTERVAL}
NODATA_S = 60            # {$SEATMETER.NODATA}
DAEMON_NODATA_S = 30     # {$SEATMETER.DAEMON.NODATA} (Zabbix's minimum for nodata())
CPU_PERIOD_S = 20
CGROUP_PREFIX = "seatmeter-zbx-"
ALL_CTRLS = ("cpu", "cpuacct", "cpuset", "memory", "blkio")
NO_BLKIO = ("cpu", "cpuacct", "cpuset", "memory")
T0 = time.monotonic()


def log(msg):
    print(f"[{time.monotonic() - T0:6.1f}s] {msg}", flush=True)


def _on_sigterm(signum, frame):
    raise KeyboardInterrupt("SIGTERM")


def unavailable():
    if "--skip" in sys.argv:
        return "live cgroup tests disabled (-Dlive_cgroup_tests=false)"
    why = zabbixlab.unavailable()
    if why:
        return why
    try:
        import yaml  # noqa: F401
    except ImportError:
        return "python3-yaml not installed (the template's re-export is compared as YAML)"
    for c in ALL_CTRLS:
        d = os.path.join(harness.CGROUP_V1_BASE, c)
        if not os.path.isfile(os.path.join(d, "cgroup.procs")) or not os.access(d, os.W_OK):
            return f"no writable cgroup v1 '{c}' hierarchy at {d}"
    return None


def import_rules():
    every = {"createMissing": True, "updateExisting": True}
    full = dict(every, deleteMissing=True)
    return {"groups": {"createMissing": True}, "templates": every, "items": full, "triggers": full,
            "discoveryRules": full, "graphs": full, "valueMaps": full, "templateDashboards": full,
            "templateLinkage": {"createMissing": True}}


def without_date(doc):
    doc["zabbix_export"].pop("date", None)
    return doc


class ZabbixLab(unittest.TestCase):
    def setUp(self):
        why = unavailable()
        if why:
            self.skipTest(why)
        signal.signal(signal.SIGTERM, _on_sigterm)
        self.stack = contextlib.ExitStack()
        self.addCleanup(self.stack.close)

    # --- helpers ---

    def api(self, method, params):
        return self.lab.api(method, params)

    def items(self):
        """The host's items by key: state, error, lastvalue, lastclock, value_type."""
        rows = self.api("item.get", {"hostids": self.hostid, "output": ["key_", "state", "error", "lastvalue",
                                                                         "lastclock", "value_type", "flags"]})
        return {r["key_"]: r for r in rows}

    def triggers(self):
        """The host's triggers by expanded name: value (0 OK, 1 PROBLEM), state, error."""
        rows = self.api("trigger.get", {"hostids": self.hostid, "output": ["description", "value", "state",
                                                                            "error", "lastchange"],
                                        "expandDescription": True})
        return {r["description"]: r for r in rows}

    def problems_since(self, clock):
        return self.api("event.get", {"hostids": self.hostid, "source": 0, "object": 0, "value": 1,
                                      "time_from": int(clock), "output": ["eventid", "name", "clock",
                                                                          "r_eventid", "objectid"]})

    def open_problems(self):
        return self.api("problem.get", {"hostids": self.hostid, "output": ["eventid", "name", "objectid",
                                                                           "r_eventid"]})

    def history(self, item, limit=20):
        return self.api("history.get", {"itemids": item["itemid"],
                                        "history": int(item["value_type"]), "sortfield": "clock",
                                        "sortorder": "DESC", "limit": limit, "output": "extend"})

    def trigger_named(self, name, value=None, timeout=120):
        def ok():
            t = self.triggers().get(name)
            return t if t and (value is None or t["value"] == str(value)) else None
        return wait_until(ok, timeout=timeout, interval=1, what=f"trigger '{name}' value {value}")

    # --- the scene ---

    def start_scene(self):
        tmp = self.stack.enter_context(tempfile.TemporaryDirectory(prefix="seatmeter-zbx-"))
        os.chmod(tmp, 0o755)
        self.tmp = tmp

        zdir = os.path.join(tmp, "zabbix")
        os.mkdir(zdir)
        t = time.monotonic()
        self.lab = zabbixlab.Lab(zdir, log=log)
        self.stack.callback(self.lab.stop)
        log(f"Zabbix {self.lab.version} ready in {time.monotonic() - t:.1f}s")

        self.srv = bbbserver.start(SECRET, algorithms=("sha256",))
        self.stack.callback(self.srv.server_close)
        self.stack.callback(self.srv.shutdown)
        with self.srv.state.lock:
            self.srv.state.participants = [3, 2]
        secret_file = os.path.join(tmp, "bbb.secret")
        with open(secret_file, "w") as f:
            f.write(SECRET + "\n")
        config = ("[daemon]\n"
                  f"zabbix_max_age_s = {MAX_AGE_S}\n\n"
                  f"[bbb {BBB}]\n"
                  f"url = http://127.0.0.1:{self.srv.server_port}/bigbluebutton/\n"
                  f"secret_file = {secret_file}\n"
                  "checksum = sha256\n"
                  "interval_s = 1\n\n"
                  "[agent bbb]\n"
                  f"bbb = {BBB}\n")
        self.d = Daemon(tmp, config=config)
        self.stack.callback(self.d.stop)

        self.cg = CgroupsV1(f"{CGROUP_PREFIX}{os.getpid()}-")
        self.stack.callback(self.cg.remove)
        try:
            for name in ("busy", "idle", "bbb"):
                self.cg.make(name, ALL_CTRLS)
            self.cg.make("noio", NO_BLKIO)
        except OSError as e:
            self.skipTest(f"cannot create cgroup v1 groups here: {e}")
        for name in ("busy", "idle", "noio", "bbb"):
            self.cg.write("cpu", name, "cpu.cfs_period_us", 100000)
            self.cg.write("cpu", name, "cpu.cfs_quota_us", 50000)
        self.cg.write("memory", "noio", "memory.limit_in_bytes", 64 << 20)

        self.load = Process(self.enter("busy") + [sys.executable, "-c", "while True: pass"], name="load")
        self.stack.callback(self.load.stop)
        self.agents = {}
        for name in ("busy", "idle", "noio", "bbb"):
            a = Agent(f"unix:{self.d.unix_path}", name, tmp, interval_ms=1000,
                      args=["--cgroup", "/" + self.cg.prefix + name])
            self.stack.callback(a.stop)
            self.agents[name] = a
        wait_until(lambda: len(self.d.get_json("/api/v1/zabbix/discovery")) == 4, timeout=20,
                   what="four agents known to the daemon")

    def enter(self, name, ctrls=ALL_CTRLS):
        """sh that moves itself into cgroup name of every controller, then execs its arguments."""
        moves = " && ".join(f"echo $$ > {os.path.join(self.cg.path(c, name), 'cgroup.procs')}" for c in ctrls)
        return ["sh", "-c", moves + ' && exec "$@"', "sh"]

    def setup_zabbix(self):
        with open(TEMPLATE_FILE) as f:
            self.template_text = f.read()
        t = time.monotonic()
        self.assertTrue(self.api("configuration.import", {"format": "yaml", "rules": import_rules(),
                                                          "source": self.template_text}))
        self.templateid = self.api("template.get", {"filter": {"host": TEMPLATE},
                                                    "output": ["templateid"]})[0]["templateid"]
        log(f"template imported in {time.monotonic() - t:.1f}s")
        groupid = self.api("hostgroup.create", {"name": "seatmeter lab"})["groupids"][0]
        macros = {"{$SEATMETER.URL}": self.d.base_url, "{$SEATMETER.INTERVAL}": f"{POLL_S}s",
                  "{$SEATMETER.LLD.INTERVAL}": "10s", "{$SEATMETER.NODATA}": f"{NODATA_S}s",
                  "{$SEATMETER.DAEMON.NODATA}": f"{DAEMON_NODATA_S}s", "{$SEATMETER.CPU.UTIL.MAX}": "50",
                  "{$SEATMETER.CPU.PERIOD}": f"{CPU_PERIOD_S}s", "{$SEATMETER.OOM.WINDOW}": "1h"}
        self.hostid = self.api("host.create", {
            "host": HOST, "groups": [{"groupid": groupid}], "templates": [{"templateid": self.templateid}],
            "macros": [{"macro": k, "value": v} for k, v in macros.items()]})["hostids"][0]

    # --- checks ---

    def wait_discovered(self):
        want = set()
        for g in ("busy", "idle", "noio", "bbb"):
            want |= {f"seatmeter.agent.get[{g}]", f"seatmeter.agent.time[{g}]", f"seatmeter.agent.oom_kills[{g}]"}
        want |= {f"seatmeter.bbb.get[{BBB}]", f"seatmeter.bbb.participants[{BBB}]", "seatmeter.agent.users[bbb]"}
        wait_until(lambda: want <= set(self.items()), timeout=90, interval=1, what="discovered items")
        log(f"discovered {len(self.items())} items")

        # Every guest's and the BBB server's items have had their first poll; then a few more.
        firsts = [f"seatmeter.agent.time[{g}]" for g in self.agents] + [f"seatmeter.bbb.up[{BBB}]",
                                                                       "seatmeter.daemon.db_ok"]
        wait_until(lambda: all(int(self.items()[k]["lastclock"]) > 0 for k in firsts), timeout=60, interval=1,
                   what="first polls")
        time.sleep(3 * POLL_S)

    def check_supported(self):
        its = self.items()
        bad = {k: i["error"] for k, i in its.items() if i["state"] != "0"}
        self.assertEqual(bad, {}, "unsupported items")
        log_text = self.lab.server_log_text()
        flips = [l for l in log_text.splitlines() if "became not supported" in l and HOST in l]
        self.assertEqual(flips, [], "items that became not supported at some poll")
        # The BBB participants item only where the guest has a server.
        users = sorted(k for k in its if k.startswith("seatmeter.agent.users["))
        self.assertEqual(users, ["seatmeter.agent.users[bbb]"])
        # An item has a value exactly when the daemon serves its figure.
        empty = sorted(k for k, i in its.items() if int(i["lastclock"]) == 0 and ".get" not in k)
        log(f"{len(its)} items supported; without a value (unknown to the daemon): {empty}")
        flat = {g: self.d.get_json(f"/api/v1/zabbix/agents/{g}") for g in self.agents}
        fields = self.guest_fields()
        for g in self.agents:
            for proto, field in fields.items():
                key = proto.replace("{#AGENT}", g)
                if key in its:
                    self.assertEqual(int(its[key]["lastclock"]) == 0, field not in flat[g], f"{key} ({field})")
        self.assertNotIn("seatmeter.agent.throttled[idle]", empty)
        self.assertEqual(float(its["seatmeter.agent.throttled[idle]"]["lastvalue"]), 0)
        for k in ("io_read.rate", "io_write.rate"):
            self.assertIn(f"seatmeter.agent.{k}[noio]", empty)
            self.assertNotIn(f"seatmeter.agent.{k}[busy]", empty)
        for g in ("busy", "bbb"):
            self.assertNotIn(f"seatmeter.agent.cpu_util[{g}]", empty)
        return its

    def guest_fields(self):
        """Item prototype key -> the field of /api/v1/zabbix/agents/{id} its JSONPath picks."""
        import yaml
        tpl = yaml.safe_load(self.template_text)["zabbix_export"]["templates"][0]
        rule = next(r for r in tpl["discovery_rules"] if r["key"] == "seatmeter.agents.discovery")
        out = {}
        for it in rule["item_prototypes"]:
            for step in it.get("preprocessing", []):
                if step["type"] == "JSONPATH":
                    out[it["key"]] = step["parameters"][0].removeprefix("$.")
        return out

    def check_values(self, its):
        """Each poll's gauges against the sample the daemon stored for that poll's newest-sample time."""
        gauges = {"cpu_util": ("cpu_ratio", 100), "cpu_cores": ("cpu_cores", 1),
                  "memory_usage": ("memory_bytes", 1), "working_set": ("working_set_bytes", 1),
                  "memory_cache": ("cache_bytes", 1), "memory_rss": ("anon_bytes", 1),
                  "users": ("users", 1), "throttled": ("throttled_ratio", 100), "oom_kills": ("oom_kills", 1)}
        compared = 0
        for g in self.agents:
            num = self.d.query("SELECT num FROM agents WHERE id = ?", (g,))[0][0]
            times = {(h["clock"], h["ns"]): float(h["value"]) for h in self.history(its[f"seatmeter.agent.time[{g}]"])}
            for k, (col, scale) in gauges.items():
                item = its.get(f"seatmeter.agent.{k}[{g}]")
                if not item:
                    continue
                for h in self.history(item):
                    t = times.get((h["clock"], h["ns"]))
                    if t is None:
                        continue
                    rows = self.d.query(f"SELECT {col} FROM samples WHERE agent = ? AND time_ms = ?",
                                        (num, round(t * 1000)))
                    self.assertEqual(len(rows), 1, f"{g} {k} at {t}")
                    self.assertIsNotNone(rows[0][0], f"{g} {k}: Zabbix has a value the daemon does not know")
                    self.assertAlmostEqual(float(h["value"]), rows[0][0] * scale, places=4, msg=f"{g} {k} at {t}")
                    compared += 1
            a = next(x for x in self.d.get_json("/api/v1/agents") if x["id"] == g)
            self.assertAlmostEqual(float(its[f"seatmeter.agent.effective_cpus[{g}]"]["lastvalue"]),
                                   a["effective_cpus"], places=6)
            self.assertAlmostEqual(a["effective_cpus"], 0.5, places=6)
            self.assertEqual(int(its[f"seatmeter.agent.memory_limit[{g}]"]["lastvalue"]), a["memory_limit_bytes"])
            self.assertEqual(int(its[f"seatmeter.agent.cpu_count[{g}]"]["lastvalue"]), a["cpu_count"])
            self.assertEqual(its[f"seatmeter.agent.connected[{g}]"]["lastvalue"], "1")
            self.assertEqual(its[f"seatmeter.agent.fresh[{g}]"]["lastvalue"], "1")
        self.assertEqual(int(its["seatmeter.agent.memory_limit[noio]"]["lastvalue"]), 64 << 20)
        self.assertGreater(compared, 40)
        log(f"{compared} gauge values equal to the daemon's stored samples")

        b = self.d.get_json(f"/api/v1/zabbix/bbb/{BBB}")
        self.assertEqual((b["meetings"], b["participants"]), (2, 5))
        for k in ("up", "meetings", "participants", "listeners", "voice", "video", "moderators", "breakouts",
                  "poll_error"):
            self.assertEqual(its[f"seatmeter.bbb.{k}[{BBB}]"]["lastvalue"], str(b[k]), k)
        health = self.d.get_json("/api/v1/zabbix/daemon")
        self.assertEqual(its["seatmeter.daemon.db_ok"]["lastvalue"], "1")
        self.assertEqual(its["seatmeter.daemon.agents"]["lastvalue"], "4")
        self.assertEqual(its["seatmeter.daemon.version"]["lastvalue"], health["version"])
        for k, i in its.items():
            if k.endswith(".rate") or ".rate[" in k:
                if int(i["lastclock"]):
                    self.assertGreaterEqual(float(i["lastvalue"]), 0, k)

    def screenshots(self):
        """The template dashboard in the real frontend, in headless Chromium (kiosk mode, the last 5
        minutes: the busy guest's load, its stop, the OOM kill): a PNG in <build>/test-artifacts/ (docs/zabbix-dashboard.png is such a shot). Without
        chromium the test says so and goes on."""
        import test_dashboard
        why = test_dashboard.missing_browser()
        if why:
            log(f"no dashboard screenshot: {why}")
            return
        b = test_dashboard.Browser(self.tmp, width=1400, height=1460)
        self.stack.callback(b.close)
        b.get(self.lab.url + "/index.php")
        b.wait_js("document.getElementById('name')", what="the login form")
        b.js("document.getElementById('name').value = 'Admin';"
             "document.getElementById('password').value = 'zabbix';"
             "document.getElementById('enter').click();")
        b.wait_js("location.href.includes('action=dashboard')", what="the login")
        b.get(f"{self.lab.url}/zabbix.php?action=host.dashboard.view&hostid={self.hostid}&kiosk=1"
              "&from=now-5m&to=now")
        # Every graph prototype widget has drawn its graphs. The shot documents, it does not judge: taken
        # (and the page's state logged) even when that wait runs out.
        drawn = ("Array.from(document.querySelectorAll('.dashboard-grid-iterator-content img'))"
                 ".filter(i => i.complete && i.naturalWidth > 0).length")
        try:  # 10 graphs: 1 guest with BBB, 4 guests twice, 1 BBB server
            b.wait_js(f"{drawn} >= 10 && !document.querySelector('.is-loading')", timeout=60,
                      what="the graphs drawn")
        except AssertionError as e:
            log(f"{e}; graphs drawn: {b.js('return ' + drawn)}")
        time.sleep(2)
        path = os.path.join(harness.BUILD_ROOT, "test-artifacts", "zabbix-dashboard.png")
        b.screenshot(path)
        log(f"screenshot of the template dashboard: {path}")

    def oom(self):
        prog = "x = b'x' * (512 << 20)"
        p = Process(self.enter("noio", NO_BLKIO) + [sys.executable, "-c", prog], name="oom")
        self.stack.callback(p.stop)
        wait_until(lambda: not p.running(), timeout=30, what="the OOM killer")
        self.assertEqual(p.proc.returncode, -signal.SIGKILL)
        name = "seatmeter noio: OOM kill"
        t = self.trigger_named(name, value=1, timeout=60)
        log(f"OOM kill: trigger '{name}' in PROBLEM")
        return t

    # --- the test ---

    def test_template_in_real_zabbix(self):
        t_all = time.monotonic()
        self.start_scene()
        self.setup_zabbix()
        self.wait_discovered()
        its = self.check_supported()
        self.check_values(its)

        cpu_busy = "seatmeter busy: High CPU utilization"
        self.trigger_named(cpu_busy, value=1, timeout=CPU_PERIOD_S + 60)
        log("busy guest: High CPU utilization in PROBLEM")
        oom_trigger = self.oom()

        # The busy agent stops: its figures become stale, the CPU trigger resolves, then no-data fires.
        t_stop = time.time()
        self.agents["busy"].stop()
        self.load.stop()
        self.trigger_named(cpu_busy, value=0, timeout=MAX_AGE_S + 4 * POLL_S + 30)
        log("busy guest stopped: High CPU utilization resolved")
        nodata_busy = "seatmeter busy: No new sample"
        self.trigger_named(nodata_busy, value=1, timeout=NODATA_S + 60)
        log(f"busy guest: No new sample in PROBLEM {time.time() - t_stop:.0f}s after the stop")
        self.screenshots()
        trig = self.triggers()
        firing = sorted(n for n, t in trig.items() if t["value"] == "1")
        self.assertEqual(firing, sorted([nodata_busy, "seatmeter noio: OOM kill"]))
        self.assertEqual(self.items()["seatmeter.agent.fresh[busy]"]["lastvalue"], "0")
        # Several polls after the kill, its problem is still open.
        open_ids = {p["objectid"] for p in self.open_problems()}
        self.assertIn(oom_trigger["triggerid"], open_ids)
        self.assertEqual(self.check_supported_after_stop(), {})

        # The daemon stops: one problem, not one per guest.
        t_stop = time.time()
        self.d.stop()
        daemon_down = "seatmeter: Daemon is not answering"
        self.trigger_named(daemon_down, value=1, timeout=DAEMON_NODATA_S + 60)
        log(f"daemon stopped: '{daemon_down}' in PROBLEM {time.time() - t_stop:.0f}s after the stop")
        # Past the guests' no-data period (and one timer pass) nothing else has fired.
        time.sleep(max(0.0, t_stop + NODATA_S + 35 - time.time()))
        new = sorted(p["name"] for p in self.problems_since(t_stop))
        log(f"problems since the daemon stopped: {new}")
        self.assertEqual(len(new), 1, new)
        self.assertTrue(new[0].startswith(daemon_down), new)
        open_ids = {p["objectid"] for p in self.open_problems()}
        self.assertIn(oom_trigger["triggerid"], open_ids)

        self.check_export()
        log(f"done in {time.monotonic() - t_all:.0f}s")

    def check_supported_after_stop(self):
        """Items of the running guests stay supported after the busy agent stopped."""
        return {k: i["error"] for k, i in self.items().items() if i["state"] != "0"}

    def check_export(self):
        import yaml
        out = self.api("configuration.export", {"format": "yaml", "options": {"templates": [self.templateid]}})
        self.assertEqual(without_date(yaml.safe_load(out)), without_date(yaml.safe_load(self.template_text)),
                         "the template re-exported by Zabbix differs from contrib/zabbix/seatmeter_by_http.yaml")
        log("re-export equals the shipped template")


if __name__ == "__main__":
    harness.main()
