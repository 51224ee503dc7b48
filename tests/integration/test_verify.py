#!/usr/bin/env python3
"""seatmeterd --verify refuses exactly the configurations that startup refuses, with the same exit code,
and every exit code startup gives a bad configuration (or a database it cannot use) is one the shipped unit
does not restart after (RestartPreventExitStatus=): a clear stop instead of a restart loop."""

import os
import re
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

STARTUP_TIMEOUT = 15

BAD = {
    "syntax": "[daemon\n",
    "unknown key": "[daemon]\nno_such_key = 1\n",
    "retention out of bounds": "[daemon]\nraw_retention_days = 0\n",
    "unix socket in a missing folder": "[daemon]\nlisten = unix:/nonexistent-seatmeter/ingest.sock\n",
    "tcp listen name that does not resolve": "[daemon]\nlisten = tcp:no-such-host.invalid:8481\n",
    "http name that does not resolve": "[daemon]\nhttp = no-such-host.invalid:8480\n",
    "http address not of this machine": "[daemon]\nhttp = 192.0.2.1:8480\n",
    "vsock CID without a transport": "[daemon]\nlisten = vsock:1:8482\n",
    "TLS files missing": "[daemon]\ntls_cert = /nonexistent-seatmeter.pem\ntls_key = /nonexistent-seatmeter.key\n",
    "BBB secret file missing": "[bbb b1]\nurl = http://127.0.0.1:1/bigbluebutton/\nsecret_file = /nonexistent-seatmeter\n",
    "token file missing": "[daemon]\nhttp_token_file = /nonexistent-seatmeter-token\n",
    "http beyond loopback without a token": "[daemon]\nhttp = 0.0.0.0:0\n",
}


def unit_restart_prevent():
    with open(os.path.join(harness.SOURCE_ROOT, "systemd", "seatmeterd.service.in")) as f:
        m = re.search(r"^RestartPreventExitStatus=(.*)$", f.read(), re.M)
    return {int(x) for x in m.group(1).split()}


class Verify(unittest.TestCase):
    def run_both(self, text):
        """(--verify exit code, startup exit code or 'ready', startup output) for the config text."""
        work = harness.tempdir(self)
        conf = os.path.join(work, "seatmeterd.conf")
        with open(conf, "w") as f:
            f.write(text)
        v = subprocess.run([harness.SEATMETERD, "--verify", "--config", conf], cwd=work, capture_output=True,
                           text=True, timeout=30)
        p = harness.Process([harness.SEATMETERD, "--config", conf, "--db", os.path.join(work, "s.db")]
                            + ([] if re.search(r"^http\s*=", text, re.M) else ["--http", "127.0.0.1:0"]), cwd=work)
        try:
            p.wait_line(r"\bready\b", timeout=STARTUP_TIMEOUT)
            p.stop()
            return v.returncode, "ready", p.output()
        except AssertionError:
            harness.wait_until(lambda: not p.running(), timeout=STARTUP_TIMEOUT, what="startup to give up")
            code = p.proc.returncode
            p.stop()
            return v.returncode, code, p.output()

    def test_bad_configs(self):
        prevent = unit_restart_prevent()
        for name, text in BAD.items():
            with self.subTest(name):
                vcode, start, out = self.run_both(text)
                self.assertNotEqual(vcode, 0, f"--verify accepted it; startup: {start}\n{out}")
                self.assertNotEqual(start, "ready", f"startup accepted what --verify refused\n{out}")
                self.assertEqual(start, vcode, f"--verify and startup disagree\n{out}")
                self.assertIn(start, prevent, f"exit {start} would restart the unit in a loop")

    def test_good_config(self):
        vcode, start, out = self.run_both("[daemon]\nraw_retention_days = 3\nlisten = tcp:127.0.0.1:0\n")
        self.assertEqual((vcode, start), (0, "ready"), out)

    def test_errors_name_file_and_line(self):
        work = harness.tempdir(self)
        conf = os.path.join(work, "s.conf")
        with open(conf, "w") as f:
            f.write("[daemon]\nraw_retention_days = 3\n\n[bbb b1]\nchecksum = sha256\n\n[agent a1]\nbbb = nope\n")
        r = subprocess.run([harness.SEATMETERD, "--verify", "--config", conf], capture_output=True, text=True,
                           timeout=30)
        self.assertEqual(r.returncode, 1)
        self.assertIn(f"{conf}:4: [bbb b1]: url= is required.", r.stderr)
        self.assertIn(f"{conf}:4: [bbb b1]: secret_file= is required.", r.stderr)
        self.assertIn(f"{conf}:7: [agent a1]: bbb = nope names no [bbb nope] section.", r.stderr)

    def test_line_length_limit(self):
        """The limit the message, the man page and the example state is the one enforced."""
        work = harness.tempdir(self)
        conf = os.path.join(work, "s.conf")
        with open(os.path.join(harness.SOURCE_ROOT, "systemd", "seatmeterd.conf.example.in")) as f:
            limit = int(re.search(r"Lines are at most (\d+) bytes", f.read()).group(1))
        with open(os.path.join(harness.SOURCE_ROOT, "docs", "man", "seatmeterd.conf.5")) as f:
            self.assertIn(f"A line holds at most {limit} bytes", f.read())
        for n, code in ((limit, 0), (limit + 1, 1)):
            with open(conf, "w") as f:
                f.write("[daemon]\n#" + "x" * (n - 1) + "\nraw_retention_days = 3\n")
            r = subprocess.run([harness.SEATMETERD, "--verify", "--config", conf], capture_output=True, text=True,
                               timeout=30)
            self.assertEqual(r.returncode, code, f"{n} bytes: {r.stderr}")
        self.assertIn(f"{conf}:2: line too long (at most {limit} bytes).", r.stderr)

    def test_database_and_lock_codes_stop_the_unit(self):
        work = harness.tempdir(self)
        r = subprocess.run([harness.SEATMETERD, "--db", "/nonexistent-seatmeter/s.db", "--http", "127.0.0.1:0",
                            "--listen", f"unix:{work}/i.sock"], cwd=work, capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 3, r.stderr)
        self.assertEqual(len(re.findall("nonexistent-seatmeter", r.stderr)), 1, "logged once: " + r.stderr)
        self.assertIn("No such file or directory", r.stderr)
        self.assertTrue({3, 6} <= unit_restart_prevent())


if __name__ == "__main__":
    harness.main()
