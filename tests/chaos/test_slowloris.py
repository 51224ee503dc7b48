#!/usr/bin/env python3
"""Chaos: slow HTTP clients (slowloris) against the daemon's HTTP server.

SLOW (default 600) connections from ten loopback addresses (127.0.1.1-10) each send a request line and
then one header line a second, never finishing; whatever the daemon closes is opened again (at a bounded
rate). An honest client on 127.0.0.1 must get an answer to every one of its requests, each on a new
connection. A lone connection that trickles a byte every half second must be closed at the total header
deadline (10 s), however it trickles.

SEATMETER_CHAOS_SCALE (default 1) multiplies the honest requests; SEATMETER_CHAOS_SLOW sets the number of
slow connections (docs/reliability.md)."""

import http.client
import os
import socket
import sys
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from chaos import SCALE, metrics, raise_nofile  # noqa: E402
from harness import Daemon, main, tempdir  # noqa: E402

SLOW = int(os.environ.get("SEATMETER_CHAOS_SLOW", "600"))
HONEST = int(8 * SCALE)
ADDRESSES = [f"127.0.1.{i}" for i in range(1, 11)]


class Slowloris:
    def __init__(self, port, n):
        self.port, self.n = port, n
        self.socks = {}
        self.stop_flag = False
        self.opened = 0
        self.thread = threading.Thread(target=self.run, daemon=True)

    def open_one(self, i):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.bind((ADDRESSES[i % len(ADDRESSES)], 0))
            s.settimeout(2)
            s.connect(("127.0.0.1", self.port))
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            s.setblocking(False)
        except OSError:
            s.close()
            return
        self.opened += 1
        self.socks[i] = s

    def run(self):
        for i in range(self.n):
            self.open_one(i)
        while not self.stop_flag:
            t0 = time.monotonic()
            for i in range(self.n):
                s = self.socks.get(i)
                if s is None:
                    continue
                try:
                    if s.recv(4096) == b"":
                        raise OSError("closed")
                except BlockingIOError:
                    pass
                except OSError:
                    s.close()
                    del self.socks[i]
                    continue
                try:
                    s.send(b"X-Slow: 1\r\n")
                except OSError:
                    s.close()
                    del self.socks[i]
            # Reopen what was closed, at most 200 a second.
            for i in [i for i in range(self.n) if i not in self.socks][:200]:
                if self.stop_flag:
                    break
                self.open_one(i)
            time.sleep(max(0.0, 1.0 - (time.monotonic() - t0)))
        for s in self.socks.values():
            s.close()

    def stop(self):
        self.stop_flag = True
        self.thread.join()


def get(port, path, timeout):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout, source_address=("127.0.0.1", 0))
    try:
        c.request("GET", path)
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


class SlowlorisTest(unittest.TestCase):
    def setUp(self):
        raise_nofile(self, SLOW + 1024)
        try:
            s = socket.socket()
            s.bind((ADDRESSES[-1], 0))
            s.close()
        except OSError:
            self.skipTest("cannot bind to 127.0.1.x (no loopback /8)")
        self.dir = tempdir(self)
        self.d = Daemon(self.dir)
        self.addCleanup(self.d.stop)

    def test_honest_client_answered_under_slowloris(self):
        slow = Slowloris(self.d.http_port, SLOW)
        slow.thread.start()
        self.addCleanup(slow.stop)
        deadline = time.monotonic() + 30
        while slow.opened < SLOW and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(1.0)
        answered, worst, errors = 0, 0.0, []
        for _ in range(HONEST):
            t0 = time.monotonic()
            try:
                status, _ = get(self.d.http_port, "/healthz", timeout=10)
                if status == 200:
                    answered += 1
                else:
                    errors.append(status)
            except OSError as e:
                errors.append(repr(e))
            worst = max(worst, time.monotonic() - t0)
            time.sleep(0.5)
        slow.stop()
        m = metrics(self.d)
        print(f"{SLOW} slow connections ({slow.opened} opened): {answered} of {HONEST} honest requests "
              f"answered (slowest {worst:.3f} s); shed "
              f"{m.get('seatmeter_http_connections_shed_total')}, header timeouts "
              f"{m.get('seatmeter_http_header_timeouts_total')}")
        self.assertEqual(answered, HONEST, f"unanswered: {errors}")

    def test_total_header_deadline(self):
        s = socket.create_connection(("127.0.0.1", self.d.http_port))
        self.addCleanup(s.close)
        s.sendall(b"GET /healthz HTTP/1.1\r\n")
        t0 = time.monotonic()
        s.settimeout(0.5)
        closed = None
        while time.monotonic() - t0 < 20:
            try:
                s.sendall(b"X")
                if s.recv(4096) == b"":
                    closed = time.monotonic() - t0
                    break
            except socket.timeout:
                continue
            except OSError:
                closed = time.monotonic() - t0
                break
        print(f"a connection trickling a byte every 0.5 s was closed after {closed} s")
        self.assertIsNotNone(closed, "still open after 20 s")
        self.assertGreater(closed, 8)


if __name__ == "__main__":
    main()
