#!/usr/bin/env python3
"""Sockets passed by systemd outlive the daemon: the test plays systemd's socket units. It owns a
listening TCP socket (named "http") and a unix socket ("ingest"), passes both to seatmeterd the way
systemd does (LISTEN_FDS, LISTEN_PID, LISTEN_FDNAMES), stops the daemon with SIGTERM, and then checks
that both sockets still listen (SO_ACCEPTCONN, no POLLHUP: systemd would otherwise fail the socket unit
with 'resources') and that a second daemon started on the very same sockets serves HTTP on them
without binding an address of its own."""

import os
import select
import socket
import subprocess
import sys
import unittest
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import tempdir, wait_until  # noqa: E402

# Puts the passed sockets at 3 and 4 and sets LISTEN_PID to its own pid before it becomes seatmeterd.
LAUNCHER = r"""
import os, sys
a, b = os.dup(int(sys.argv[1])), os.dup(int(sys.argv[2]))
os.dup2(a, 3); os.dup2(b, 4)
os.environ.update(LISTEN_PID=str(os.getpid()), LISTEN_FDS="2", LISTEN_FDNAMES="ingest:http")
os.execv(sys.argv[3], sys.argv[3:])
"""


def listening(sock):
    return sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN) == 1


def hung_up(sock):
    p = select.poll()
    p.register(sock.fileno(), select.POLLIN | select.POLLHUP | select.POLLERR)
    return any(ev & (select.POLLHUP | select.POLLERR) for _, ev in p.poll(0))


def http_status(port, path):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as r:
        return r.status


class InheritedSockets(unittest.TestCase):
    def setUp(self):
        self.dir = tempdir(self)
        self.db = os.path.join(self.dir, "seatmeter.db")
        self.http = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.http.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.http.bind(("127.0.0.1", 0))
        self.http.listen(16)
        self.port = self.http.getsockname()[1]
        self.ingest = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.ingest.bind(os.path.join(self.dir, "ingest.sock"))
        self.ingest.listen(16)
        self.addCleanup(self.http.close)
        self.addCleanup(self.ingest.close)

    def start(self, n):
        log = os.path.join(self.dir, f"daemon{n}.log")
        out = open(log, "w")
        self.addCleanup(out.close)
        p = subprocess.Popen([sys.executable, "-c", LAUNCHER, str(self.ingest.fileno()), str(self.http.fileno()),
                              harness.SEATMETERD, "--db", self.db],
                             pass_fds=(self.ingest.fileno(), self.http.fileno()), stdin=subprocess.DEVNULL,
                             stdout=out, stderr=subprocess.STDOUT, cwd=self.dir)
        self.addCleanup(lambda: p.poll() is None and (p.kill(), p.wait()))

        def ready():
            with open(log) as f:
                text = f.read()
            if p.poll() is not None:
                raise AssertionError(f"seatmeterd exited ({p.returncode}):\n{text}")
            return text if " ready " in f" {text}" else None
        text = wait_until(ready, timeout=20, what="the daemon's ready line")
        return p, log, text

    def test_stop_keeps_inherited_sockets_listening(self):
        for n in (1, 2):
            p, log, text = self.start(n)
            self.assertIn(f"http=127.0.0.1:{self.port}", text)
            self.assertNotIn("Ignoring socket", text)
            self.assertEqual(http_status(self.port, "/healthz"), 200)
            p.terminate()
            rc = p.wait(20)
            with open(log) as f:
                self.assertEqual(rc, 0, f.read())
            # What systemd checks after the service stopped: its sockets still listen, no POLLHUP.
            self.assertTrue(listening(self.http), "the http socket no longer listens after the daemon stopped")
            self.assertFalse(hung_up(self.http), "POLLHUP on the http socket after the daemon stopped")
            self.assertTrue(listening(self.ingest), "the ingest socket no longer listens")
            self.assertFalse(hung_up(self.ingest), "POLLHUP on the ingest socket")
        # A connection made while no daemon runs waits in the backlog for the next start.
        c = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        c.close()


if __name__ == "__main__":
    sys.exit(harness.main())
