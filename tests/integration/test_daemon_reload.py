#!/usr/bin/env python3
"""SIGHUP reloads the configuration without dropping connections: a new agent token admits a new tcp
agent, a new BBB server is polled, an agent connected before stays on the same connection (no second
Hello in the log); a broken new file is reported and the running configuration kept. Also --verify."""

import hashlib
import os
import re
import signal
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import Agent, Daemon, tempdir, wait_until  # noqa: E402
from test_ingest import WireClient, count_samples  # noqa: E402


def sha(t):
    return hashlib.sha256(t.encode()).hexdigest()


class Reload(unittest.TestCase):
    def test_sighup(self):
        d_dir = tempdir(self)
        secret = os.path.join(d_dir, "b2.secret")
        with open(secret, "w") as f:
            f.write("bbbsecret\n")
        os.chmod(secret, 0o600)
        d = Daemon(d_dir, config="[agent keep]\nbbb =\n",
                   listen=[f"unix:{os.path.join(d_dir, 'ingest.sock')}", "tcp:127.0.0.1:0"])
        self.addCleanup(d.stop)
        tcp = f"tcp:127.0.0.1:{d.tcp_port}"
        keep = Agent(f"unix:{d.unix_path}", "keep", d_dir, interval_ms=50)
        self.addCleanup(keep.stop)
        wait_until(lambda: count_samples(d, "keep") >= 5, timeout=20, what="samples of 'keep'")

        # before the reload the newcomer's token is unknown
        c = WireClient(tcp)
        w = c.welcome("newcomer", token="fresh-token")
        c.close()
        self.assertFalse(w.accepted)

        with open(d.config_path, "w") as f:
            f.write("[agent keep]\nbbb =\n"
                    f"[agent newcomer]\ntoken_sha256 = {sha('fresh-token')}\n"
                    f"[bbb b2]\nurl = http://127.0.0.1:9/bigbluebutton/\nsecret_file = {secret}\n")
        n_lines = len(d.lines)
        d.signal(signal.SIGHUP)
        d.wait_line(r"Configuration reloaded: 2 agents, 1 BBB servers", start=n_lines)

        tf = os.path.join(d_dir, "newcomer.token")
        with open(tf, "w") as f:
            f.write("fresh-token\n")
        os.chmod(tf, 0o600)
        newcomer = Agent(tcp, "newcomer", d_dir, interval_ms=50, token_file=tf)
        self.addCleanup(newcomer.stop)
        wait_until(lambda: count_samples(d, "newcomer") >= 3, timeout=20, what="samples of the new tcp agent")

        # the new BBB server is polled (it is down: nothing listens on port 9) and served by the API
        def b2_listed():
            status, _, body = d.http("/api/v1/bbb")
            return status == 200 and b'"b2"' in body
        wait_until(b2_listed, timeout=30, interval=0.2, what="BBB server b2 in /api/v1/bbb")

        # a broken file is refused, the running configuration stays
        before = count_samples(d, "keep")
        with open(d.config_path, "w") as f:
            f.write("[agent keep]\nno_such_key = 1\n")
        n_lines = len(d.lines)
        d.signal(signal.SIGHUP)
        d.wait_line(r"Keeping the running configuration", start=n_lines)
        self.assertTrue(d.running())
        c = WireClient(tcp)
        w = c.welcome("probe-" + "x", token="nothing")
        c.close()
        self.assertFalse(w.accepted)
        wait_until(lambda: count_samples(d, "keep") > before + 5, timeout=20, what="'keep' to go on streaming")

        # 'keep' kept its one connection through both reloads
        out = d.output()
        self.assertEqual(len(re.findall(r"Agent 'keep' connected", out)), 1, out[-3000:])
        self.assertNotIn("Agent 'keep' disconnected", out)
        self.assertEqual(len(re.findall(r"Agent 'newcomer' connected", out)), 1, out[-3000:])
        self.assertEqual(keep.stop(), 0)
        self.assertEqual(newcomer.stop(), 0)

    def test_verify(self):
        d_dir = tempdir(self)
        conf = os.path.join(d_dir, "good.conf")
        with open(conf, "w") as f:
            f.write(f"[daemon]\nlisten = tcp:127.0.0.1:8481\n[agent a]\ntoken_sha256 = {sha('t')}\n")
        r = subprocess.run([harness.SEATMETERD, "--config", conf, "--verify", "--db", "/nonexistent/x.db"],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("listen = tcp:127.0.0.1:8481", r.stdout)
        self.assertIn("db = /nonexistent/x.db", r.stdout)
        self.assertIn("token_sha256 = (redacted)", r.stdout)
        self.assertNotIn(sha("t"), r.stdout)

        with open(conf, "w") as f:
            f.write("[daemon]\nhttp_threads = 0\nfoo = bar\n")
        r = subprocess.run([harness.SEATMETERD, "--config", conf, "--verify"], capture_output=True, text=True,
                           timeout=30)
        self.assertEqual(r.returncode, 1)
        self.assertIn(f"{conf}:2:", r.stderr)
        self.assertIn(f"{conf}:3:", r.stderr)

        r = subprocess.run([harness.SEATMETERD, "--bogus"], capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 2)


if __name__ == "__main__":
    harness.main()
