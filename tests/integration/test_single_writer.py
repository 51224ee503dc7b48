#!/usr/bin/env python3
"""One writer per database: a second seatmeterd on a database that a running one writes exits at once with
exit code 6 and a clear message, whether it names the file by the same path, a relative path, a symlink or a
hard link, and it changes nothing: when the first daemon has stopped, the hourly trends and the per-user
curves hold exactly the raw samples (a second daemon that got as far as opening the database would fold the
first one's newest samples into them once more).

The first daemon polls a test BBB server (in this process) so that samples carry participant counts and
curves fill; one agent samples every 100 ms, so there are always samples newer than the last aggregate
flush (every 2 s) for a second daemon to fold in."""

import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bbbserver  # noqa: E402
import harness  # noqa: E402
from harness import Agent, Daemon, Process, wait_until  # noqa: E402

SECRET = "single-writer-secret"
EXIT_LOCKED = 6
CURVE_COLUMNS = ("cpu_ratio", "cpu_cores", "working_set_bytes", "net_rx_bps", "net_tx_bps")  # metric 0..4


class SingleWriter(unittest.TestCase):
    def setUp(self):
        self.dir = harness.tempdir(self)
        self.srv = bbbserver.start(SECRET, algorithms=("sha256",))
        self.addCleanup(self.srv.server_close)
        self.addCleanup(self.srv.shutdown)
        with self.srv.state.lock:
            self.srv.state.participants = [3]
        secret_file = os.path.join(self.dir, "bbb.secret")
        with open(secret_file, "w") as f:
            f.write(SECRET + "\n")
        self.config = (f"[bbb b1]\nurl = http://127.0.0.1:{self.srv.server_port}/bigbluebutton/\n"
                       f"secret_file = {secret_file}\nchecksum = sha256\ninterval_s = 1\n\n"
                       "[agent w1]\nbbb = b1\n")

    def second_daemon(self, db, cwd, n):
        """Starts another seatmeterd on db (as named) and returns (exit code or None if still running after
        10 s, its output, whether it created its ingest socket)."""
        sock = os.path.join(self.dir, f"second-{n}.sock")
        conf = os.path.join(self.dir, "seatmeterd.conf")
        p = Process([harness.SEATMETERD, "--config", conf, "--db", db, "--http", "127.0.0.1:0",
                     "--listen", f"unix:{sock}"], cwd=cwd, name=f"second-{n}")
        try:
            wait_until(lambda: not p.running(), timeout=10, what="the second daemon to exit")
        except AssertionError:
            pass
        code = p.proc.poll()
        p.stop()
        return code, p.output(), os.path.exists(sock)

    def test_second_daemon_refused(self):
        d = Daemon(self.dir, config=self.config)
        agent = Agent(f"unix:{d.unix_path}", "w1", self.dir, interval_ms=100)
        wait_until(lambda: d.query("SELECT count(*) FROM samples WHERE users = 3")[0][0] >= 20, timeout=30,
                   what="samples with 3 participants")

        os.symlink(d.db_path, os.path.join(self.dir, "symlink.db"))
        os.link(d.db_path, os.path.join(self.dir, "hardlink.db"))
        sub = os.path.join(self.dir, "sub")
        os.mkdir(sub)
        attempts = [(d.db_path, self.dir), ("seatmeter.db", self.dir), ("../seatmeter.db", sub),
                    (os.path.join(self.dir, "symlink.db"), self.dir), ("hardlink.db", self.dir)]
        results = []
        for n, (db, cwd) in enumerate(attempts):
            # Each attempt lands at a different point of the first daemon's 2 s aggregate cycle.
            time.sleep(0.7)
            results.append((db,) + self.second_daemon(db, cwd, n))

        time.sleep(1)
        agent.stop()
        self.assertEqual(d.stop(), 0, d.output())

        # Trends and curves hold each raw sample exactly once.
        raw = d.query("SELECT count(*) FROM samples")[0][0]
        trend = d.query("SELECT coalesce(sum(n), 0) FROM trends")[0][0]
        self.assertGreater(raw, 0)
        self.assertEqual(trend, raw, "hourly trends count other samples than the raw table holds")
        for metric, col in enumerate(CURVE_COLUMNS):
            want = dict(d.query(f"SELECT users, count(*) FROM samples WHERE users IS NOT NULL AND {col} IS NOT NULL "
                                "GROUP BY users"))
            got = dict(d.query("SELECT users, n FROM curves WHERE metric = ?", (metric,)))
            self.assertEqual(got, want, f"curve of {col}: n per participant count against the raw samples")
        self.assertGreaterEqual(dict(d.query("SELECT users, n FROM curves WHERE metric = 1")).get(3, 0), 20)

        for db, code, out, made_socket in results:
            with self.subTest(db=db):
                self.assertEqual(code, EXIT_LOCKED, f"second daemon on {db}: exit {code}\n{out}")
                self.assertRegex(out, r"is in use by another seatmeterd \(pid \d+\)")
                self.assertFalse(made_socket, "the second daemon set up its ingest socket")


if __name__ == "__main__":
    harness.main()
