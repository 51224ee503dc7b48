#!/usr/bin/env python3
"""Details of docs/http.md that a client relies on: step=raw refuses agg= (400) instead of ignoring it, and a
raw series says so in X-Seatmeter-Source; the Zabbix routes' answers, for an agent bound to a BBB stand-in
that is up, hold only the keys docs/http.md lists for each route, strings only where it says so and numbers
everywhere else. About 6 s."""

import json
import os
import re
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bbbserver  # noqa: E402
import harness  # noqa: E402
from harness import Agent, Daemon, wait_until  # noqa: E402

PAGE = os.path.join(harness.SOURCE_ROOT, "docs", "http.md")


def zabbix_doc():
    """From the Zabbix section of docs/http.md: the names said to be strings, and per route (the bullet's
    first `name`) every `name` the bullet mentions."""
    with open(PAGE) as f:
        text = f.read()
    section = text[text.index("### Zabbix:"):]
    section = section[:section.index("\n### ", 1)]
    strings = re.search(r"except a few strings:(.*?)\.", section, re.S).group(1)
    routes = {}
    for bullet in re.findall(r"^- (.*?)(?=^- |\Z)", section, re.S | re.M):
        names = re.findall(r"`([^`]+)`", bullet)
        for part in re.split(r"; ", bullet):  # "`bbb`: ...; `bbb/{name}`: ..." lists two routes
            m = re.match(r"`([^`]+)`", part.strip())
            if m and m.group(1) not in routes:
                routes[m.group(1)] = set(names)
    return set(re.findall(r"`([a-z_]+)`", strings)), routes


class HttpContract(unittest.TestCase):
    def test_series_raw(self):
        d = Daemon(harness.tempdir(self))
        agent = Agent(f"unix:{d.unix_path}", "c1", d.workdir, interval_ms=100)
        wait_until(lambda: d.query("SELECT count(*) FROM samples")[0][0] >= 2, timeout=20, what="samples")
        status, _, body = d.http("/api/v1/agents/c1/series?step=raw&agg=max")
        self.assertEqual(status, 400, body)
        self.assertIn("step=raw", json.loads(body)["error"])
        status, headers, body = d.http("/api/v1/agents/c1/series?step=raw")
        self.assertEqual(status, 200, body)
        self.assertEqual(headers["x-seatmeter-source"], "raw")
        self.assertGreaterEqual(len(json.loads(body)), 2)
        agent.stop()
        self.assertEqual(d.stop(), 0)

    def test_zabbix_routes_as_documented(self):
        strings, routes = zabbix_doc()
        self.assertEqual(strings, {"agent", "virt", "bbb", "name", "error", "version"})
        self.assertTrue({"agents/{id}", "bbb/{name}", "daemon"} <= routes.keys(), routes.keys())
        srv = bbbserver.start("contract-secret", algorithms=("sha256",))
        self.addCleanup(srv.server_close)
        self.addCleanup(srv.shutdown)
        with srv.state.lock:
            srv.state.participants = [3]
        work = harness.tempdir(self)
        secret = os.path.join(work, "bbb1.secret")
        with open(os.open(secret, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
            f.write("contract-secret\n")
        d = Daemon(work, config=f"[bbb bbb1]\nurl = http://127.0.0.1:{srv.server_port}/bigbluebutton/\n"
                                f"secret_file = {secret}\nchecksum = sha256\ninterval_s = 1\n\n"
                                "[agent z1]\nbbb = bbb1\n")
        agent = Agent(f"unix:{d.unix_path}", "z1", d.workdir, interval_ms=200)

        def answer(route, ready):
            status, _, body = d.http("/api/v1/zabbix/" + route)
            o = json.loads(body) if status == 200 else {}
            return o if ready(o) else None
        answers = {
            "agents/{id}": wait_until(lambda: answer("agents/z1", lambda a: "users" in a), timeout=20,
                                      what="a fresh sample of z1 with its BBB server's users"),
            "bbb/{name}": wait_until(lambda: answer("bbb/bbb1", lambda b: b.get("up") == 1), timeout=20,
                                     what="the BBB server up"),
            "daemon": d.get_json("/api/v1/zabbix/daemon"),
        }
        for route, answer in answers.items():
            self.assertEqual(set(answer) - routes[route], set(), f"{route}: keys docs/http.md does not list")
            for key, value in answer.items():
                if key in strings:
                    self.assertIsInstance(value, str, f"{route}: {key}")
                else:
                    self.assertIsInstance(value, (int, float), f"{route}: {key}")
                    self.assertNotIsInstance(value, bool, f"{route}: {key}")
        self.assertEqual(answers["agents/{id}"]["users"], 3)
        agent.stop()
        self.assertEqual(d.stop(), 0)


if __name__ == "__main__":
    harness.main()
