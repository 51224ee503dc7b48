#!/usr/bin/env python3
"""seatmeterd the systemd way, without systemd: socket activation by systemd-socket-activate (an unnamed
ingest socket; and named "ingest" plus "http" sockets), and a notify socket owned by the test that
must see READY=1, then STATUS=, then WATCHDOG=1 (WATCHDOG_USEC set), then STOPPING=1 after SIGTERM, in
that order. SIGTERM while an agent streams every 20 ms loses no acknowledged sample: the database
holds sequence numbers 1..M without a gap, and what the agent still spooled follows right after."""

import os
import shutil
import socket
import sys
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import Agent, Daemon, Process, tempdir, wait_until  # noqa: E402
from test_ingest import WireClient, seqs  # noqa: E402

SOCKET_ACTIVATE = shutil.which("systemd-socket-activate")


class NotifySocket:
    """A datagram socket playing systemd's notify socket; records every message with its arrival order."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.sock.settimeout(0.2)
        self.messages = []
        self.lock = threading.Lock()
        self.running = True
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while self.running:
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            with self.lock:
                for line in data.decode(errors="replace").splitlines():
                    self.messages.append(line)

    def close(self):
        self.running = False
        self.thread.join(2)
        self.sock.close()

    def index(self, prefix, after=-1):
        """Index of the first message starting with prefix after index after, or None."""
        with self.lock:
            for i, m in enumerate(self.messages):
                if i > after and m.startswith(prefix):
                    return i
        return None

    def wait(self, prefix, after=-1, timeout=15):
        """Waits for such a message and returns its index (which may be 0: hence the list)."""
        def found():
            i = self.index(prefix, after)
            return None if i is None else [i]
        return wait_until(found, timeout=timeout, what=f"{prefix} on the notify socket")[0]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@unittest.skipUnless(SOCKET_ACTIVATE, "systemd-socket-activate (Debian systemd) is not installed")
class SocketActivation(unittest.TestCase):
    def setUp(self):
        self.dir = tempdir(self)
        self.sock = os.path.join(self.dir, "ingest.sock")
        self.db = os.path.join(self.dir, "seatmeter.db")
        self.notify = NotifySocket(os.path.join(self.dir, "notify.sock"))
        self.addCleanup(self.notify.close)

    def activate(self, listen, fdnames=None, watchdog_usec=1000000, http="127.0.0.1:0"):
        argv = [SOCKET_ACTIVATE]
        for addr in listen:
            argv += ["-l", addr]
        if fdnames:
            argv += ["--fdname=" + ":".join(fdnames)]
        argv += ["-E", f"NOTIFY_SOCKET={self.notify.path}", "-E", f"WATCHDOG_USEC={watchdog_usec}"]
        argv += [harness.SEATMETERD, "--db", self.db]
        if http:
            argv += ["--http", http]
        p = Process(argv, cwd=self.dir, name="socket-activate")
        self.addCleanup(p.stop)
        p.wait_line(r"Listening on .*ingest\.sock")
        return p

    def test_notify_order_and_sigterm_loses_nothing(self):
        p = self.activate([self.sock])
        # systemd-socket-activate starts the daemon on the first connection: the agent's.
        spool = os.path.join(self.dir, "spool")
        agent = Agent(f"unix:{self.sock}", "sa", self.dir, interval_ms=20, spool=spool)
        self.addCleanup(agent.stop)
        m = p.wait_line(r"\bready\b.*\bhttp=([0-9.]+):(\d+)(.*)", timeout=20)
        self.assertIn(f"listen=unix:{self.sock}", m.group(3))  # taken from systemd, not bound again
        ready = self.notify.wait("READY=1")
        status = self.notify.wait("STATUS=", after=ready)
        watchdog = self.notify.wait("WATCHDOG=1", after=ready, timeout=5)
        self.assertIsNone(self.notify.index("STOPPING=1"))
        self.assertRegex(self.notify.messages[status], r"STATUS=\d+ agents? connected")

        wait_until(lambda: len(seqs_db(self.db, "sa")) >= 50, timeout=30, what="50 samples stored")
        # the watchdog keeps coming, at least every half interval (1 s here)
        w2 = self.notify.wait("WATCHDOG=1", after=watchdog, timeout=3)
        self.assertGreater(w2, watchdog)

        self.assertEqual(p.stop(), 0, p.output()[-3000:])
        stopping = self.notify.index("STOPPING=1")
        self.assertIsNotNone(stopping, self.notify.messages)
        self.assertLess(ready, status)
        self.assertLess(status, watchdog)
        self.assertLess(watchdog, stopping)

        # Every sample the agent had acknowledged is in the db: 1..M without a gap ...
        s = seqs_db(self.db, "sa")
        self.assertEqual(s, list(range(1, len(s) + 1)))
        # ... and what it still holds follows right after (delivered to a daemon started normally).
        d = Daemon(self.dir, listen=[f"unix:{self.sock}"], db=self.db)
        self.addCleanup(d.stop)
        top = len(s)
        wait_until(lambda: len(seqs(d, "sa")) > top + 20, timeout=30, what="the agent to resume")
        rc = agent.stop()
        self.assertEqual(rc, 0)
        s2 = seqs(d, "sa")
        self.assertEqual(s2, list(range(1, len(s2) + 1)))

    def test_named_sockets_http_and_ingest(self):
        port = free_port()
        p = self.activate([self.sock, f"127.0.0.1:{port}"], fdnames=["ingest", "http"], http=None)
        c = WireClient(f"unix:{self.sock}")  # wakes the daemon
        try:
            w = c.welcome("named")
            self.assertTrue(w.accepted, w.reason)
        finally:
            c.close()
        m = p.wait_line(r"\bready\b.*\bhttp=([0-9.]+):(\d+)(.*)", timeout=20)
        self.assertEqual(int(m.group(2)), port)
        self.assertNotIn("8480", m.group(0))
        self.notify.wait("READY=1")
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.sendall(b"GET /healthz HTTP/1.0\r\nHost: x\r\n\r\n")
        data = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        s.close()
        self.assertRegex(data.split(b"\r\n", 1)[0].decode(), r"HTTP/1\.[01] 200")
        self.assertEqual(p.stop(), 0)


def seqs_db(db, agent_id):
    import sqlite3
    if not os.path.exists(db):
        return []
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        return [r[0] for r in con.execute(
            "SELECT seq FROM samples JOIN agents ON agents.num = samples.agent WHERE agents.id = ? ORDER BY seq",
            (agent_id,))]
    except sqlite3.OperationalError:
        return []
    finally:
        con.close()


if __name__ == "__main__":
    harness.main()
