#!/usr/bin/env python3
"""A real Prometheus server on loopback scrapes the daemon's /metrics (with the bearer token, every
second) and a seatmeter series is read back through Prometheus's own query API."""

import json
import os
import shutil
import socket
import sys
import unittest
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fill_db  # noqa: E402
import harness  # noqa: E402

TOKEN = "prometheus-scrape-token"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Prometheus(unittest.TestCase):
    def test_scrape(self):
        prom = shutil.which("prometheus")
        if not prom:
            self.skipTest("prometheus not installed (Debian package prometheus)")
        wd = harness.tempdir(self)
        db = os.path.join(wd, "seatmeter.db")
        info = fill_db.fill(db, agents=2, seconds=300)
        tf = os.path.join(wd, "token")
        with open(tf, "w") as f:
            f.write(TOKEN)
        os.chmod(tf, 0o600)
        d = harness.Daemon(wd, db=db, config=f"[daemon]\nhttp_token_file = {tf}\n")

        port = free_port()
        conf = os.path.join(wd, "prometheus.yml")
        with open(conf, "w") as f:
            f.write(f"""global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: seatmeter
    scrape_interval: 1s
    scrape_timeout: 1s
    authorization:
      credentials_file: {tf}
    static_configs:
      - targets: ['127.0.0.1:{d.http_port}']
""")
        p = harness.Process([prom, f"--config.file={conf}", f"--storage.tsdb.path={wd}/tsdb",
                             f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"], cwd=wd,
                            name="prometheus")
        base = f"http://127.0.0.1:{port}"

        def get(path):
            try:
                with urllib.request.urlopen(base + path, timeout=5) as r:
                    return r.status, r.read()
            except OSError:
                return None, b""

        def query(expr):
            status, body = get("/api/v1/query?" + urllib.parse.urlencode({"query": expr}))
            if status != 200:
                return None
            doc = json.loads(body)
            return doc["data"]["result"] if doc.get("status") == "success" else None

        try:
            harness.wait_until(lambda: get("/-/ready")[0] == 200, timeout=60, what="prometheus ready")
            res = harness.wait_until(lambda: query('seatmeter_cpu_usage_seconds_total{agent="agent-000"}'),
                                     timeout=60, what="a seatmeter series in prometheus")
            want = d.query("SELECT cpu_usage_usec FROM samples WHERE agent = 1 ORDER BY time_ms DESC LIMIT 1")
            self.assertEqual(res[0]["metric"]["job"], "seatmeter")
            self.assertAlmostEqual(float(res[0]["value"][1]), want[0][0] / 1e6, places=3)
            up = query('up{job="seatmeter"}')
            self.assertEqual(up[0]["value"][1], "1")
            bbb = query('seatmeter_bbb_participants{bbb="bbb1"}')
            self.assertEqual(bbb[0]["value"][1], "1202")
            nets = query('seatmeter_network_receive_bytes_total{agent="agent-000"}')
            self.assertEqual(sorted(r["metric"]["interface"] for r in nets), fill_db.INTERFACES)
            self.assertEqual(info["agents"][0], "agent-000")
        finally:
            p.stop()
            d.stop()


if __name__ == "__main__":
    harness.main()
