#!/usr/bin/env python3
"""An agent over vsock, the natural channel from a KVM guest to its host, here over the loopback CID 1.
Where the kernel offers no vsock loopback (no vsock_loopback module), the daemon must refuse the listen
address with a clear reason, and the test skips with that reason."""

import hashlib
import os
import socket
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import Agent, Daemon, Process, tempdir, wait_until  # noqa: E402
from test_ingest import count_samples  # noqa: E402


class Vsock(unittest.TestCase):
    def test_vsock_loopback(self):
        d_dir = tempdir(self)
        port = 40000 + os.getpid() % 20000
        try:
            s = socket.socket(socket.AF_VSOCK, socket.SOCK_STREAM)
            s.close()
        except (OSError, AttributeError) as e:
            self.skipTest(f"no AF_VSOCK on this kernel: {e}")
        # The daemon itself must say clearly why, when it cannot listen on vsock.
        p = Process([harness.SEATMETERD, "--db", os.path.join(d_dir, "x.db"), "--http", "127.0.0.1:0",
                     "--listen", f"vsock:1:{port}"], cwd=d_dir)
        try:
            m = p.wait_line(r"\bready\b|vsock", timeout=15)
        except AssertionError:
            m = None
        if m is None or "ready" not in m.group(0):
            rc = p.stop()
            out = p.output()
            self.assertNotEqual(rc, 0)
            reason = [ln for ln in out.splitlines() if "vsock" in ln]
            self.assertTrue(reason, out)
            self.skipTest("vsock loopback (CID 1) unavailable: " + reason[-1].split(": ", 1)[-1])
        p.stop()
        d = Daemon(d_dir, listen=[f"vsock:1:{port}"], config="[agent vs]\ntoken_sha256 = "
                   + hashlib.sha256(b"vtok").hexdigest() + "\n")
        self.addCleanup(d.stop)
        tf = os.path.join(d_dir, "vs.token")
        with open(tf, "w") as f:
            f.write("vtok")
        a = Agent(f"vsock:1:{port}", "vs", d_dir, interval_ms=100, token_file=tf)
        self.addCleanup(a.stop)
        wait_until(lambda: count_samples(d, "vs") >= 3, timeout=20, what="samples over vsock")
        self.assertEqual(d.query("SELECT transport FROM agents WHERE id = 'vs'")[0][0], "vsock")



if __name__ == "__main__":
    harness.main()
