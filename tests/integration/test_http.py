#!/usr/bin/env python3
"""The HTTP API over real HTTP against the running seatmeterd, on a database made by fill_db.py: every
route, every error path, HEAD, the dashboard's files, the bearer token, TLS, the loopback rule, limits
on slow clients, and `promtool check metrics` on the real /metrics."""

import http.client
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fill_db  # noqa: E402
import harness  # noqa: E402

AGENTS = 4
HOURS = 3


def make_db(workdir, **kw):
    path = os.path.join(workdir, "seatmeter.db")
    info = fill_db.fill(path, agents=kw.pop("agents", AGENTS), seconds=kw.pop("seconds", HOURS * 3600), **kw)
    return path, info


class Api(unittest.TestCase):
    """Routes and errors against one daemon."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="seatmeter-test-")
        cls.db, cls.info = make_db(cls.tmp.name)
        cls.d = harness.Daemon(cls.tmp.name, db=cls.db, config="[daemon]\nraw_retention_days = 3650\nhttp_timeout_s = 3\n"
                                     "zabbix_max_age_s = 86400\n")

    @classmethod
    def tearDownClass(cls):
        cls.d.stop()
        cls.tmp.cleanup()

    def get(self, path, expect=200, **kw):
        status, headers, body = self.d.http(path, **kw)
        self.assertEqual(status, expect, f"GET {path}: {body[:300]!r}")
        return headers, body

    def error(self, path, expect, contains=None, method="GET"):
        status, headers, body = self.d.http(path, method=method)
        self.assertEqual(status, expect, f"{method} {path}: {body[:300]!r}")
        self.assertTrue(headers["content-type"].startswith("application/json"))
        doc = json.loads(body)
        self.assertIsInstance(doc.get("error"), str)
        if contains:
            self.assertIn(contains, doc["error"])
        return headers, doc

    # ---- routes ----

    def test_healthz(self):
        h, body = self.get("/healthz")
        self.assertEqual(json.loads(body), {"status": "ok"})
        self.assertEqual(h["content-type"], "application/json")

    def test_agents(self):
        agents = self.d.get_json("/api/v1/agents")
        self.assertEqual([a["id"] for a in agents], self.info["agents"])
        a = agents[0]
        for key in ("id", "virt", "hostname", "connected", "last_seen_ms", "effective_cpus", "cpu_count",
                    "memory_limit_bytes", "clock_offset_ms", "bbb"):
            self.assertIn(key, a)
        self.assertEqual(a["virt"], "lxc")
        self.assertEqual(agents[1]["virt"], "kvm")
        self.assertEqual(a["effective_cpus"], 2.0)
        self.assertEqual(a["memory_limit_bytes"], fill_db.MEMORY_LIMIT)
        self.assertEqual(a["bbb"], "bbb1")
        self.assertIsNone(agents[1]["bbb"])
        self.assertEqual(a["last_sample_ms"], self.info["end_ms"])
        one = self.d.get_json("/api/v1/agents/agent-000")
        self.assertEqual(one["id"], "agent-000")

    def test_latest(self):
        doc = self.d.get_json("/api/v1/agents/agent-000/latest")
        t_s = (self.info["end_ms"] - self.info["start_ms"]) // 1000
        want = fill_db.value_at(0, t_s)
        self.assertEqual(doc["time_ms"], self.info["end_ms"])
        self.assertEqual(doc["users"], want["users"])
        self.assertAlmostEqual(doc["cpu_ratio"], want["cpu_ratio"], places=9)
        self.assertAlmostEqual(doc["cpu_cores"], want["cpu_cores"], places=9)
        self.assertEqual(doc["working_set_bytes"], want["working_set_bytes"])
        self.assertEqual(doc["memory_bytes"], want["memory_bytes"])
        for key in ("throttled_ratio", "io_read_bps", "io_write_bps", "net_rx_bps", "net_tx_bps"):
            self.assertAlmostEqual(doc[key], want[key], places=6)
        # An agent without a BBB server: users unknown is null, not zero.
        self.assertIsNone(self.d.get_json("/api/v1/agents/agent-001/latest")["users"])

    def test_series_raw(self):
        start, end = self.info["start_ms"], self.info["end_ms"]
        h, body = self.get(f"/api/v1/agents/agent-000/series?from={start}&to={start + 9999}&step=raw"
                           f"&metrics=cpu_ratio,users")
        rows = json.loads(body)
        self.assertEqual(h["x-seatmeter-source"], "raw")
        self.assertEqual(len(rows), 10)
        self.assertEqual([r["time_ms"] for r in rows], [start + i * 1000 for i in range(10)])
        for i, r in enumerate(rows):
            self.assertEqual(set(r), {"time_ms", "cpu_ratio", "users"})
            self.assertAlmostEqual(r["cpu_ratio"], fill_db.value_at(0, i)["cpu_ratio"], places=9)
            self.assertEqual(r["users"], fill_db.value_at(0, i)["users"])
        # The limit cuts, and says where the next page starts.
        h, body = self.get(f"/api/v1/agents/agent-000/series?from={start}&to={end}&step=raw&limit=5")
        rows = json.loads(body)
        self.assertEqual(len(rows), 5)
        self.assertEqual(int(h["x-seatmeter-next-from"]), rows[-1]["time_ms"] + 1)
        self.assertEqual(len(rows[0]), 1 + 11)  # every series metric by default (steal_ratio included)

    def test_series_aggregated(self):
        start = self.info["start_ms"]
        step = 60_000
        frm = (start // step + 1) * step
        to = frm + 10 * step - 1
        h, body = self.get(f"/api/v1/agents/agent-000/series?from={frm}&to={to}&step=1m&metrics=cpu_ratio")
        rows = json.loads(body)
        self.assertEqual(h["x-seatmeter-source"], "samples")
        self.assertEqual(int(h["x-seatmeter-step-ms"]), step)
        self.assertEqual(len(rows), 10)
        for r in rows:
            t0 = (r["time_ms"] - start) // 1000
            vals = [fill_db.value_at(0, t0 + i)["cpu_ratio"] for i in range(60)]
            self.assertAlmostEqual(r["cpu_ratio"], sum(vals) / len(vals), places=9)
        # min and max aggregation
        rows = self.d.get_json(f"/api/v1/agents/agent-000/series?from={frm}&to={to}&step=1m&metrics=users&agg=max")
        self.assertEqual(rows[0]["users"], fill_db.value_at(0, (rows[0]["time_ms"] - start) // 1000 + 59)["users"])

    def test_series_trends(self):
        end = self.info["end_ms"]
        h, body = self.get(f"/api/v1/agents/agent-000/series?from={end - 3 * 86400_000}&to={end}"
                           f"&metrics=cpu_ratio,working_set_bytes")
        rows = json.loads(body)
        self.assertEqual(h["x-seatmeter-source"], "trends")
        self.assertEqual(int(h["x-seatmeter-step-ms"]) % 3600_000, 0)
        self.assertGreaterEqual(len(rows), HOURS)
        self.assertLessEqual(len(rows), HOURS + 1)
        trend = self.d.query("SELECT hour_ms, cpu_ratio_sum / cpu_ratio_n FROM trends WHERE agent = 1 "
                             "ORDER BY hour_ms")
        self.assertEqual([r["time_ms"] for r in rows], [t[0] for t in trend])
        for r, t in zip(rows, trend):
            self.assertAlmostEqual(r["cpu_ratio"], t[1], places=9)
        # step=1h on a short range also reads trends
        h, _ = self.get(f"/api/v1/agents/agent-000/series?from={end - 7200_000}&to={end}&step=1h")
        self.assertEqual(h["x-seatmeter-source"], "trends")

    def test_series_bounded_points(self):
        end = self.info["end_ms"]
        # A year at a 1 s step asks for 31 million points: the step grows so that at most limit come out.
        h, body = self.get(f"/api/v1/agents/agent-000/series?from={end - 365 * 86400_000}&to={end}&step=1s"
                           f"&limit=100&metrics=cpu_ratio")
        self.assertLessEqual(len(json.loads(body)), 100)
        self.assertGreaterEqual(int(h["x-seatmeter-step-ms"]), 365 * 86400_000 // 100)
        # No step: about API_SERIES_POINTS_DEFAULT (1000) points at most.
        start = self.info["start_ms"]
        rows = self.d.get_json(f"/api/v1/agents/agent-000/series?from={start}&to={end}&metrics=users")
        self.assertLessEqual(len(rows), 1001)
        self.assertGreater(len(rows), 100)
        self.assertEqual(rows, sorted(rows, key=lambda r: r["time_ms"]))

    def test_curves_json(self):
        doc = self.d.get_json("/api/v1/curves?agent=agent-000&agent=agent-001&metric=cpu_ratio")
        self.assertEqual(doc["metric"], "cpu_ratio")
        self.assertEqual([a["agent"] for a in doc["agents"]], ["agent-000", "agent-001"])
        a0, a1 = doc["agents"]
        self.assertEqual(a0["virt"], "lxc")
        self.assertEqual(a1["virt"], "kvm")
        self.assertEqual(a1["points"], [])  # no BBB: no curve
        self.assertIsNone(a1["fit"])
        pts = a0["points"]
        self.assertEqual([p["users"] for p in pts], list(range(fill_db.USERS_LEVELS)))
        rows = self.d.query("SELECT users, count(*), avg(cpu_ratio), max(cpu_ratio) FROM samples "
                            "WHERE agent = 1 GROUP BY users ORDER BY users")
        for p, (users, n, mean, mx) in zip(pts, rows):
            self.assertEqual(p["samples"], n)
            self.assertAlmostEqual(p["mean"], mean, places=9)
            self.assertAlmostEqual(p["max"], mx, places=9)
            vals = sorted(r[0] for r in self.d.query(
                "SELECT cpu_ratio FROM samples WHERE agent = 1 AND users = ?", (users,)))
            exact_p95 = vals[int(0.95 * (len(vals) - 1))]
            self.assertLess(abs(p["p95"] - exact_p95) / exact_p95, 0.02, f"users={users}")
        intercept, slope = fill_db.expected_curve("cpu_ratio")
        self.assertAlmostEqual(a0["fit"]["slope"], slope, delta=slope * 0.01)
        self.assertAlmostEqual(a0["fit"]["intercept"], intercept, delta=0.002)
        self.assertGreater(a0["fit"]["r2"], 0.99)
        self.assertEqual(a0["capacity"]["threshold"], 0.8)
        self.assertAlmostEqual(a0["capacity"]["users"], (0.8 - intercept) / slope, delta=0.5)
        # threshold override and the per-metric defaults
        doc = self.d.get_json("/api/v1/curves?agent=agent-000&metric=cpu_ratio&threshold=0.5")
        self.assertEqual(doc["agents"][0]["capacity"]["threshold"], 0.5)
        doc = self.d.get_json("/api/v1/curves?agent=agent-000&metric=cpu_cores")
        self.assertAlmostEqual(doc["agents"][0]["capacity"]["threshold"], 0.8 * 2.0)
        doc = self.d.get_json("/api/v1/curves?agent=agent-000&metric=working_set_bytes")
        self.assertEqual(doc["agents"][0]["capacity"]["threshold"], fill_db.MEMORY_LIMIT)
        doc = self.d.get_json("/api/v1/curves?agent=agent-000&metric=net_rx_bps")
        self.assertIsNone(doc["agents"][0]["capacity"]["users"])
        # No agent named: every agent.
        doc = self.d.get_json("/api/v1/curves")
        self.assertEqual(len(doc["agents"]), AGENTS)

    def test_curves_csv(self):
        h, body = self.get("/api/v1/curves?agent=agent-000&agent=agent-002&metric=working_set_bytes&format=csv")
        self.assertTrue(h["content-type"].startswith("text/csv"))
        lines = body.decode().splitlines()
        self.assertEqual(lines[0].split(","), ["agent", "virt", "metric", "users", "samples", "mean", "p95", "max",
                                               "fit_intercept", "fit_slope", "fit_r2", "capacity_threshold",
                                               "capacity_users", "stddev", "epoch", "effective_cpus",
                                               "memory_limit_bytes", "fit_slope_ci95_lo", "fit_slope_ci95_hi",
                                               "capacity_ci95_lo", "capacity_ci95_hi", "capacity_extrapolated",
                                               "fit_quality", "unit", "labels"])
        self.assertEqual(len(lines), 1 + 2 * fill_db.USERS_LEVELS)
        first = lines[1].split(",")
        self.assertEqual(first[:4], ["agent-000", "lxc", "working_set_bytes", "0"])
        self.assertEqual(first[-1], "{}")  # no labels: the empty object
        self.assertEqual(lines[1 + fill_db.USERS_LEVELS].split(",")[:2], ["agent-002", "openvz"])

    def test_bbb(self):
        servers = self.d.get_json("/api/v1/bbb")
        by = {s["name"]: s for s in servers}
        self.assertEqual(set(by), {"bbb1", "bbb2"})
        b1, b2 = by["bbb1"], by["bbb2"]
        self.assertIs(b1["up"], True)
        self.assertEqual(b1["participants"], 1202)
        self.assertEqual((b1["meetings"], b1["listeners"], b1["voice"], b1["video"], b1["moderators"],
                          b1["breakouts"]), (3, 800, 300, 100, 6, 2))
        self.assertIsNone(b1["error"])
        self.assertIs(b2["up"], False)
        self.assertIsNone(b2["participants"])  # unknown, never zero
        self.assertIn("timeout", b2["error"])
        self.assertEqual(b2["last_poll_ms"], self.info["end_ms"])

    def test_zabbix(self):
        disc = self.d.get_json("/api/v1/zabbix/discovery")
        self.assertEqual(disc[0], {"{#AGENT}": "agent-000", "{#VIRT}": "lxc", "{#BBB}": "bbb1"})
        self.assertEqual(disc[1]["{#BBB}"], "")
        flat = self.d.get_json("/api/v1/zabbix/agents/agent-000")
        for v in flat.values():
            self.assertNotIsInstance(v, (dict, list))
            self.assertIsNotNone(v)  # Zabbix stores null as the text "null": unknown is left out
        self.assertEqual(flat["fresh"], 1)
        self.assertIn(flat["connected"], (0, 1))
        self.assertGreater(flat["cpu_usage_seconds"], 0)
        self.assertGreater(flat["net_rx_bytes"], 0)
        self.assertEqual(flat["time_ms"], self.info["end_ms"])

    def test_zabbix_template_matches_api(self):
        """Every JSONPath of the shipped Zabbix template names a field its master item's route serves, every
        URL answers, and every LLD macro is served by its discovery."""
        import re
        path = os.path.join(harness.SOURCE_ROOT, "contrib", "zabbix", "seatmeter_by_http.yaml")
        with open(path) as f:
            text = f.read()
        self.assertIn("version: '6.0'", text)
        agents = [a["{#AGENT}"] for a in self.d.get_json("/api/v1/zabbix/discovery")]
        bbbs = [b["{#BBB}"] for b in self.d.get_json("/api/v1/zabbix/bbb")]
        served = {"agent": set(), "bbb": set(), "daemon": set(self.d.get_json("/api/v1/zabbix/daemon"))}
        for a in agents:
            served["agent"] |= set(self.d.get_json(f"/api/v1/zabbix/agents/{a}"))
        for b in bbbs:
            served["bbb"] |= set(self.d.get_json(f"/api/v1/zabbix/bbb/{b}"))
        # A dependent item's JSONPath, then its master's key (seatmeter.<route>.get...).
        pairs = re.findall(r"- \$\.(\w+)(?:(?!master_item).)*?master_item:\s*key: '?seatmeter\.(\w+)\.get", text,
                           re.S)
        self.assertGreater(len(pairs), 40)
        for field, route in pairs:
            self.assertIn(field, served[route], f"{route}: {field}")
        urls = re.findall(r"url: '\{\$SEATMETER\.URL\}([^']*)'", text)
        self.assertEqual(len(urls), 5)
        for url in urls:
            url = url.replace("{#AGENT}", agents[0]).replace("{#BBB}", bbbs[0])
            self.assertEqual(self.d.http(url)[0], 200, url)
        disc = self.d.get_json("/api/v1/zabbix/discovery")[0]
        disc.update(self.d.get_json("/api/v1/zabbix/bbb")[0])
        for macro in re.findall(r"\{#[A-Z]+\}", text):
            self.assertIn(macro, disc)

    def test_metrics(self):
        h, body = self.get("/metrics")
        self.assertEqual(h["content-type"], "text/plain; version=0.0.4; charset=utf-8")
        text = body.decode()
        for name in ("seatmeter_cpu_usage_seconds_total", "seatmeter_spec_cpu_effective_cpus",
                     "seatmeter_cpu_cfs_throttled_seconds_total", "seatmeter_memory_usage_bytes",
                     "seatmeter_memory_working_set_bytes", "seatmeter_spec_memory_limit_bytes",
                     "seatmeter_fs_reads_bytes_total", "seatmeter_fs_writes_bytes_total",
                     "seatmeter_network_receive_bytes_total", "seatmeter_network_transmit_bytes_total",
                     "seatmeter_agent_connected", "seatmeter_last_seen", "seatmeter_bbb_up",
                     "seatmeter_bbb_participants", "seatmeter_bbb_meetings", "seatmeter_bbb_listeners",
                     "seatmeter_bbb_voice_participants", "seatmeter_bbb_video_streams",
                     "seatmeter_ingest_samples_stored_total", "seatmeter_bbb_polls_total",
                     "seatmeter_http_requests_total"):
            self.assertIn(f"# TYPE {name} ", text)
        self.assertIn('seatmeter_network_receive_bytes_total{agent="agent-000",interface="eth0"}', text)
        self.assertIn('seatmeter_bbb_participants{bbb="bbb1"} 1202\n', text)
        self.assertNotIn('seatmeter_bbb_participants{bbb="bbb2"}', text)  # unknown: absent
        self.assertIn('seatmeter_bbb_up{bbb="bbb2"} 0\n', text)
        usage = self.d.query("SELECT cpu_usage_usec FROM samples WHERE agent = 1 ORDER BY time_ms DESC LIMIT 1")
        line = [ln for ln in text.splitlines() if ln.startswith('seatmeter_cpu_usage_seconds_total{agent="agent-000"}')]
        self.assertAlmostEqual(float(line[0].split()[-1]), usage[0][0] / 1e6, places=6)
        promtool = shutil.which("promtool")
        if not promtool:
            self.skipTest("promtool not installed (Debian package prometheus)")
        p = subprocess.run([promtool, "check", "metrics"], input=body, capture_output=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stdout.decode() + p.stderr.decode())

    def test_head(self):
        for path in ("/healthz", "/api/v1/agents", "/metrics", "/"):
            status, h, body = self.d.http(path, method="HEAD")
            self.assertEqual(status, 200, path)
            self.assertEqual(body, b"")
            self.assertGreater(int(h["content-length"]), 0)

    def test_dashboard_files(self):
        h, body = self.get("/")
        self.assertTrue(h["content-type"].startswith("text/html"))
        self.assertIn(b"<html", body.lower())
        self.assertIn("etag", h)
        status, h2, body2 = self.d.http("/", headers={"If-None-Match": h["etag"]})
        self.assertEqual(status, 304)
        self.assertEqual(body2, b"")
        names = {"app.js": "text/javascript", "style.css": "text/css"}
        for name, ctype in names.items():
            path = os.path.join(harness.SOURCE_ROOT, "daemon", "web", name)
            if not os.path.exists(path):
                continue
            h, body = self.get(f"/assets/{name}")
            self.assertTrue(h["content-type"].startswith(ctype), h["content-type"])
            self.assertIn("max-age", h["cache-control"])
            with open(path, "rb") as f:
                self.assertEqual(body, f.read())
        self.error("/assets/nope.js", 404)
        self.error("/assets/../http.c", 404)

    # ---- errors ----

    def test_errors(self):
        end = self.info["end_ms"]
        self.error("/api/v1/agents/nobody/latest", 404, "unknown agent")
        self.error("/api/v1/agents/nobody/series", 404, "unknown agent")
        self.error("/api/v1/zabbix/agents/nobody", 404, "unknown agent")
        self.error("/api/v1/agents/bad%20id/latest", 400, "invalid agent id")
        self.error("/api/v1/agents/" + "x" * 65 + "/latest", 400)
        self.error("/api/v1/agents/agent-000/nothing", 404)
        self.error("/api/v1/nothing", 404)
        self.error("/nothing", 404)
        s = "/api/v1/agents/agent-000/series"
        self.error(f"{s}?from={end}&to={end - 1}", 400, "after")
        self.error(f"{s}?from=yesterday", 400, "from")
        self.error(f"{s}?from=-5", 400, "from")
        self.error(f"{s}?to=99999999999999999999", 400, "to")
        self.error(f"{s}?from=0&to={end}", 400, "range")
        self.error(f"{s}?step=fast", 400, "step")
        self.error(f"{s}?step=0", 400, "step")
        self.error(f"{s}?step=-1s", 400, "step")
        self.error(f"{s}?metrics=cpu_ratio,bogus", 400, "bogus")
        self.error(f"{s}?metrics=", 400, "metrics")
        self.error(f"{s}?limit=0", 400, "limit")
        self.error(f"{s}?limit=100001", 400, "limit")
        self.error(f"{s}?limit=ten", 400, "limit")
        self.error(f"{s}?agg=median", 400, "agg")
        self.error(f"{s}?frm=1", 400, "unknown parameter")
        self.error(f"{s}?step=1s&step=2s", 400, "twice")
        self.error("/api/v1/curves?metric=happiness", 400, "metric")
        self.error("/api/v1/curves?agent=nobody", 404, "nobody")
        self.error("/api/v1/curves?agent=", 400)
        self.error("/api/v1/curves?format=xml", 400, "format")
        self.error("/api/v1/curves?threshold=-1", 400, "threshold")
        self.error("/api/v1/curves?threshold=nan", 400, "threshold")
        self.error("/api/v1/curves?" + "&".join(["agent=agent-000"] * 33), 400, "too many agents")
        self.error("/api/v1/agents?" + "&".join(f"_{i}=1" for i in range(70)), 400, "too many")
        self.error(f"{s}?metrics=" + "a" * 2000, 400)
        h, _ = self.error("/api/v1/agents", 405, method="POST")
        self.assertEqual(h["allow"], "GET, HEAD")
        self.error("/api/v1/agents", 405, method="DELETE")
        # Bytes that are not UTF-8 in what the error quotes.
        _, doc = self.error("/api/v1/agents?%ff%fe=1", 400, "unknown parameter")
        _, doc = self.error(f"{s}?metrics=cpu_ratio,%ff%00x", 400, "unknown metric")
        # Cache busters are ignored.
        self.get("/api/v1/agents?_=12345")

    def test_garbage_requests(self):
        """Raw bytes on the socket: the daemon answers or closes, and keeps serving."""
        for raw in (b"GET /" + b"a" * 100_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
                    b"GET /api/v1/agents HTTP/1.1\r\nHost: x\r\n" + b"X-Big: " + b"b" * 100_000 + b"\r\n\r\n",
                    b"\x00\x01\x02garbage\r\n\r\n",
                    b"GET /api/v1/agents/%ff%fe/latest HTTP/1.1\r\nHost: x\r\n\r\n"):
            # Whatever is not a request is closed by the idle timeout (3 s here) at the latest.
            with socket.create_connection((self.d.http_host, self.d.http_port), timeout=10) as s:
                data = b""
                try:
                    s.sendall(raw)
                    s.shutdown(socket.SHUT_WR)
                except OSError:
                    pass  # the server may answer and close before it has read everything
                try:
                    data = s.recv(65536)
                except OSError:
                    pass
                if data:
                    self.assertTrue(data.startswith(b"HTTP/1."), data[:100])
                    self.assertNotEqual(data.split()[1][:1], b"2", data[:100])
        self.assertEqual(self.d.get_json("/healthz"), {"status": "ok"})


class SeriesCache(unittest.TestCase):
    def test_cache_and_backfill(self):
        """Finished buckets come from the cache the second time; a sample added later to an old bucket
        (a backfill, reflected in the hour's trends count) is seen at once."""
        wd = harness.tempdir(self)
        db, info = make_db(wd, agents=1, seconds=3 * 3600)
        d = harness.Daemon(wd, db=db, config="[daemon]\nraw_retention_days = 3650\n")
        try:
            start, end = info["start_ms"], info["end_ms"]
            path = f"/api/v1/agents/agent-000/series?from={start}&to={end}&step=5m&metrics=cpu_ratio"
            st, h1, b1 = d.http(path)
            self.assertEqual(st, 200)
            self.assertEqual(h1["x-seatmeter-cached-buckets"], "0")
            st, h2, b2 = d.http(path)
            self.assertGreater(int(h2["x-seatmeter-cached-buckets"]), 30)
            self.assertEqual(b1, b2)
            # Backfill one sample with a huge value into an old bucket, as the store would: row and trends.
            t = (start // 300_000 + 3) * 300_000 + 500
            con = __import__("sqlite3").connect(db, timeout=10)
            with con:
                con.execute("INSERT INTO samples (agent, time_ms, seq, cpu_ratio) VALUES (1, ?, 0, 1000.0)", (t,))
                hour = t // 3600_000 * 3600_000
                con.execute("UPDATE trends SET n = n + 1, cpu_ratio_n = cpu_ratio_n + 1, "
                            "cpu_ratio_sum = cpu_ratio_sum + 1000.0 WHERE agent = 1 AND hour_ms = ?", (hour,))
            con.close()
            st, h3, b3 = d.http(path)
            rows = json.loads(b3)
            bucket = [r for r in rows if r["time_ms"] == t - 500][0]
            want = d.query("SELECT avg(cpu_ratio) FROM samples WHERE agent = 1 AND time_ms BETWEEN ? AND ?",
                           (t - 500, t - 500 + 299_999))[0][0]
            self.assertAlmostEqual(bucket["cpu_ratio"], want, places=9)
            self.assertGreater(bucket["cpu_ratio"], 1.0)
            # Buckets of the other hours still came from the cache.
            self.assertGreater(int(h3["x-seatmeter-cached-buckets"]), 10)
        finally:
            d.stop()


def token_daemon(test, token):
    """A daemon over a small database that wants token for its API."""
    wd = harness.tempdir(test)
    db, _ = make_db(wd, agents=1, seconds=600)
    tf = os.path.join(wd, "token")
    with open(tf, "w") as f:
        f.write(token + "\n")
    os.chmod(tf, 0o600)
    return harness.Daemon(wd, db=db, config=f"[daemon]\nhttp_token_file = {tf}\n")


class Token(unittest.TestCase):
    TOKEN = "s3cret-token-for-tests"

    def test_token(self):
        d = token_daemon(self, self.TOKEN)
        try:
            for path in ("/api/v1/agents", "/metrics", "/api/v1/agents/agent-000/latest", "/api/v1/curves"):
                status, h, body = d.http(path)
                self.assertEqual(status, 401, path)
                self.assertIn("Bearer", h["www-authenticate"])
                self.assertIn("error", json.loads(body))
                status, _, _ = d.http(path, headers={"Authorization": "Bearer wrong"})
                self.assertEqual(status, 401)
                status, _, _ = d.http(path, headers={"Authorization": "Bearer " + self.TOKEN[:-1]})
                self.assertEqual(status, 401)
                status, _, _ = d.http(path, headers={"Authorization": "Basic " + self.TOKEN})
                self.assertEqual(status, 401)
                status, _, _ = d.http(path, headers={"Authorization": "Bearer " + self.TOKEN})
                self.assertEqual(status, 200, path)
            self.assertEqual(d.get_json("/healthz"), {"status": "ok"})
            status, _, _ = d.http("/")  # the page loads, then asks for the token
            self.assertEqual(status, 200)
        finally:
            d.stop()

    def test_beyond_loopback_needs_token(self):
        wd = harness.tempdir(self)
        db, _ = make_db(wd, agents=1, seconds=60)
        conf = os.path.join(wd, "seatmeterd.conf")
        with open(conf, "w") as f:
            f.write("")
        p = harness.Process([harness.SEATMETERD, "--config", conf, "--db", db, "--http", "0.0.0.0:0",
                             "--listen", f"unix:{wd}/ingest.sock"], cwd=wd)
        try:
            p.proc.wait(15)
        except subprocess.TimeoutExpired:
            p.kill()
            self.fail("seatmeterd served 0.0.0.0 without a token")
        rc = p.stop()
        self.assertNotEqual(rc, 0)
        self.assertIn("token", p.output())


class HostileRequests(unittest.TestCase):
    """Requests that must not be read as something else: a NUL in the path or a parameter, blanks
    around a number, two Authorization headers."""
    TOKEN = "s3cret-token-for-tests"

    def raw(self, d, request):
        with socket.create_connection((d.http_host, d.http_port), timeout=10) as s:
            s.sendall(request.encode())
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        return int(data.split(b" ", 2)[1])

    def test_hostile_requests(self):
        d = token_daemon(self, self.TOKEN)
        self.addCleanup(d.stop)
        auth = f"Authorization: Bearer {self.TOKEN}\r\n"
        get = "GET {} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{}\r\n"
        self.assertEqual(self.raw(d, get.format("/api/v1/agents/agent-000/latest", auth)), 200)
        self.assertNotEqual(self.raw(d, get.format("/api/v1/agents/agent-000%00x/latest", auth)), 200)
        self.assertNotEqual(self.raw(d, get.format("/healthz%00x", "")), 200)
        path = "/api/v1/agents/agent-000/series?from={}&to=" + str(int(time.time() * 1000)) + "&step=raw&limit=5"
        frm = str(int(time.time() * 1000) - 86400 * 1000)
        self.assertEqual(self.raw(d, get.format(path.format(frm), auth)), 200)
        self.assertEqual(self.raw(d, get.format(path.format("%20" + frm), auth)), 400)
        self.assertEqual(self.raw(d, get.format(path.format(frm + "%00"), auth)), 400)
        wrong = "Authorization: Bearer wrong\r\n"
        for headers in (auth + wrong, wrong + auth, auth + auth):
            self.assertEqual(self.raw(d, get.format("/api/v1/agents", headers)), 400, headers)


class Tls(unittest.TestCase):
    def test_https(self):
        openssl = shutil.which("openssl")
        if not openssl:
            self.skipTest("openssl not installed")
        wd = harness.tempdir(self)
        cert, key = os.path.join(wd, "cert.pem"), os.path.join(wd, "key.pem")
        subprocess.run([openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                        "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=127.0.0.1",
                        "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True, timeout=60)
        db, _ = make_db(wd, agents=1, seconds=60)
        d = harness.Daemon(wd, db=db, config=f"[daemon]\ntls_cert = {cert}\ntls_key = {key}\n")
        try:
            ctx = ssl.create_default_context(cafile=cert)
            c = http.client.HTTPSConnection(d.http_host, d.http_port, context=ctx, timeout=10)
            c.request("GET", "/api/v1/agents")
            r = c.getresponse()
            self.assertEqual(r.status, 200)
            self.assertEqual(json.loads(r.read())[0]["id"], "agent-000")
            # keep-alive over TLS
            c.request("GET", "/healthz")
            r = c.getresponse()
            self.assertEqual(json.loads(r.read()), {"status": "ok"})
            c.close()
            # Plain HTTP on the TLS port gets no answer.
            status = None
            try:
                status, _, _ = d.http("/healthz", timeout=5)
            except Exception:
                pass
            self.assertNotEqual(status, 200)
            # A client that does not trust the certificate fails the handshake.
            c = http.client.HTTPSConnection(d.http_host, d.http_port, context=ssl.create_default_context(),
                                            timeout=10)
            with self.assertRaises(ssl.SSLError):
                c.request("GET", "/healthz")
            c.close()
        finally:
            d.stop()


class SlowClients(unittest.TestCase):
    def test_slow_client_does_not_starve_others(self):
        wd = harness.tempdir(self)
        db, _ = make_db(wd, agents=2, seconds=600)
        d = harness.Daemon(wd, db=db, config="[daemon]\nhttp_timeout_s = 2\nhttp_threads = 2\n")
        slow = []
        try:
            # Several clients that send half a request and then nothing.
            for _ in range(8):
                s = socket.create_connection((d.http_host, d.http_port), timeout=10)
                s.sendall(b"GET /api/v1/agents HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
                slow.append(s)
            results, errors = [], []

            def worker():
                try:
                    for _ in range(20):
                        c = http.client.HTTPConnection(d.http_host, d.http_port, timeout=10)
                        t0 = time.monotonic()
                        c.request("GET", "/api/v1/agents/agent-000/latest")
                        r = c.getresponse()
                        body = r.read()
                        results.append((r.status, time.monotonic() - t0, len(body)))
                        c.close()
                except Exception as e:  # noqa: BLE001
                    errors.append(repr(e))

            threads = [threading.Thread(target=worker) for _ in range(16)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(60)
            self.assertEqual(errors, [])
            self.assertEqual(len(results), 16 * 20)
            self.assertTrue(all(st == 200 for st, _, _ in results))
            self.assertLess(max(dt for _, dt, _ in results), 5.0)
            # The idle timeout closes the slow clients.
            for s in slow:
                s.settimeout(10)
                t0 = time.monotonic()
                try:
                    data = s.recv(4096)
                except ConnectionResetError:
                    data = b""
                self.assertEqual(data, b"")
                self.assertLess(time.monotonic() - t0, 8)
        finally:
            for s in slow:
                s.close()
            d.stop()

    def test_connection_limit(self):
        wd = harness.tempdir(self)
        db, _ = make_db(wd, agents=1, seconds=60)
        d = harness.Daemon(wd, db=db, config="[daemon]\nhttp_max_connections = 8\nhttp_timeout_s = 30\n")
        held = []
        try:
            # One address may hold at most half of the connections.
            for _ in range(10):
                s = socket.create_connection((d.http_host, d.http_port), timeout=5)
                held.append(s)
            time.sleep(0.5)
            closed = 0
            for s in held:
                s.settimeout(0.5)
                try:
                    if s.recv(1) == b"":
                        closed += 1
                except socket.timeout:
                    pass
                except ConnectionResetError:
                    closed += 1
            self.assertGreaterEqual(closed, 6)
        finally:
            for s in held:
                s.close()
        # After they are gone (once the server has seen them close), it serves again.

        def healthy():
            try:
                return d.get_json("/healthz") == {"status": "ok"}
            except (ConnectionError, OSError):
                return False

        harness.wait_until(healthy, timeout=10, what="service after the held connections closed")
        d.stop()


if __name__ == "__main__":
    harness.main()
