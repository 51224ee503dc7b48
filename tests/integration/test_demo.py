#!/usr/bin/env python3
"""bash .ci/demo as a new user runs it, on a temporary state folder and a free port: it starts, serves the
dashboard, and a second run while the first one is up says that a demo is already running, exits non-zero
and leaves the first one's daemon and database alone (trends still count each raw sample once)."""

import os
import re
import socket
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import Process, wait_until  # noqa: E402

DEMO = os.path.join(harness.SOURCE_ROOT, ".ci", "demo")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Demo(unittest.TestCase):
    def setUp(self):
        if os.geteuid() != 0 and subprocess.run(["bash", os.path.join(harness.SOURCE_ROOT, ".ci", "deps")],
                                                capture_output=True).returncode != 0:
            self.skipTest(".ci/demo installs missing packages and needs root for that")
        self.state = harness.tempdir(self)
        self.port = free_port()
        self.env = {"SEATMETER_BUILD": harness.BUILD_ROOT, "SEATMETER_DEMO_STATE": self.state,
                    "SEATMETER_HTTP": f"127.0.0.1:{self.port}", "SEATMETER_DEMO_SECONDS": "120"}

    def test_run_twice(self):
        first = Process(["bash", DEMO], env=self.env, name="demo-1")
        self.addCleanup(first.stop)
        first.wait_line(r"seatmeter is running: dashboard at http://127\.0\.0\.1:%d/" % self.port, timeout=120)
        db = os.path.join(self.state, "seatmeter.db")
        wait_until(lambda: self.query(db, "SELECT count(*) FROM samples")[0][0] >= 2, timeout=30,
                   what="samples from the demo's agent")
        pids = self.daemon_pids()
        self.assertEqual(len(pids), 1, pids)

        env = dict(os.environ, **self.env)
        second = subprocess.run(["bash", DEMO], env=env, capture_output=True, text=True, timeout=120)
        self.assertNotEqual(second.returncode, 0, second.stdout + second.stderr)
        self.assertIn("already running", second.stderr)
        self.assertIn(f"http://127.0.0.1:{self.port}/", second.stderr)
        self.assertNotIn("seatmeter is running", second.stdout)
        self.assertTrue(first.running(), first.output())
        self.assertEqual(self.daemon_pids(), pids, "the second run started or stopped a daemon")

        first.stop()
        raw = self.query(db, "SELECT count(*) FROM samples")[0][0]
        trend = self.query(db, "SELECT coalesce(sum(n), 0) FROM trends")[0][0]
        self.assertEqual(trend, raw, "trends count other samples than the raw table holds")

    def daemon_pids(self):
        """The seatmeterd processes whose working directory is this demo's state folder."""
        pids = []
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                if os.readlink(f"/proc/{pid}/cwd") == self.state and \
                        re.search(rb"seatmeterd", open(f"/proc/{pid}/cmdline", "rb").read()):
                    pids.append(int(pid))
            except OSError:
                pass
        return sorted(pids)

    @staticmethod
    def query(db, sql):
        import sqlite3
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
        try:
            return con.execute(sql).fetchall()
        finally:
            con.close()


if __name__ == "__main__":
    harness.main()
