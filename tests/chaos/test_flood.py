#!/usr/bin/env python3
"""Chaos: strangers flood the daemon's tcp ingest port while new agents connect.

HOSTILE (default 4,000) loopback tcp peers connect and never send a Hello; half of them announce a first
frame just under 1 MiB and send 64 KiB of it. Whatever the daemon closes is reconnected (at a bounded
rate), for a bounded time. Meanwhile new agents connect one after the other, over the unix socket and over
tcp with a token, and each must get its Welcome within a second; the daemon's RSS must stay under
100 MB, and /metrics must count the connections it pushed out.

SEATMETER_CHAOS_SCALE (default 1) multiplies the number of agents; SEATMETER_CHAOS_HOSTILE sets the number
of hostile peers (docs/reliability.md)."""

import os
import selectors
import socket
import sys
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from chaos import SCALE, metrics, raise_nofile  # noqa: E402
from harness import Daemon, main, tempdir, wait_until  # noqa: E402
from protowire import varint  # noqa: E402
from test_ingest import WireClient, token_config  # noqa: E402

HOSTILE = int(os.environ.get("SEATMETER_CHAOS_HOSTILE", "4000"))
AGENTS = int(15 * SCALE)
RECONNECTS_PER_S = 400  # bounded churn: the ephemeral ports of loopback are finite


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Flood:
    """HOSTILE tcp connections held open by one thread; closed ones are opened again."""

    def __init__(self, port, n):
        self.port, self.n = port, n
        self.sel = selectors.DefaultSelector()
        self.stop_flag = False
        self.opened = 0
        self.thread = threading.Thread(target=self.run, daemon=True)
        # A frame of just under 1 MiB announced, 64 KiB of it sent.
        self.big = varint((1 << 20) - 64) + b"\x12" + varint((1 << 20) - 70) + b"x" * 65536

    def open_one(self, i):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", self.port))
        self.opened += 1
        self.sel.register(s, selectors.EVENT_READ | selectors.EVENT_WRITE, [i, i % 2 == 1])

    def run(self):
        for i in range(self.n):
            self.open_one(i)
        budget, window = RECONNECTS_PER_S, time.monotonic()
        pending = []
        while not self.stop_flag:
            now = time.monotonic()
            if now - window >= 1:
                budget, window = RECONNECTS_PER_S, now
            while pending and budget > 0:
                self.open_one(pending.pop())
                budget -= 1
            for key, ev in self.sel.select(timeout=0.05):
                s, data = key.fileobj, key.data
                if ev & selectors.EVENT_WRITE:
                    if data[1]:
                        try:
                            s.send(self.big)
                        except OSError:
                            pass
                        data[1] = False
                    self.sel.modify(s, selectors.EVENT_READ, data)
                    continue
                try:
                    got = s.recv(65536)
                except BlockingIOError:
                    continue
                except OSError:
                    got = b""
                if not got:
                    self.sel.unregister(s)
                    s.close()
                    pending.append(data[0])
        for key in list(self.sel.get_map().values()):
            key.fileobj.close()

    def stop(self):
        self.stop_flag = True
        self.thread.join()


class FloodTest(unittest.TestCase):
    def setUp(self):
        raise_nofile(self, HOSTILE + 8192)
        self.dir = tempdir(self)

    def test_agents_welcome_under_flood(self):
        tokens = {f"t{i}": f"token-{i}" for i in range(AGENTS)}
        d = Daemon(self.dir, config=token_config(tokens),
                   listen=[f"unix:{os.path.join(self.dir, 'ingest.sock')}", "tcp:127.0.0.1:0"])
        self.addCleanup(d.stop)
        flood = Flood(d.tcp_port, HOSTILE)
        flood.thread.start()
        self.addCleanup(flood.stop)
        peak = [0]

        def watch():
            while not flood.stop_flag:
                peak[0] = max(peak[0], rss_kib(d.proc.pid))
                time.sleep(0.05)
        threading.Thread(target=watch, daemon=True).start()
        wait_until(lambda: flood.opened >= HOSTILE, timeout=30, what="the flood to connect")
        time.sleep(1.0)  # let the daemon read what the strangers sent

        slow, worst = [], 0.0
        for i in range(AGENTS):
            for kind, uri, kw in (("unix", f"unix:{d.unix_path}", {}),
                                  ("tcp", f"tcp:127.0.0.1:{d.tcp_port}", {"token": tokens[f"t{i}"]})):
                aid = f"u{i}" if kind == "unix" else f"t{i}"
                t0 = time.monotonic()
                try:
                    c = WireClient(uri, timeout=5)
                    w = c.welcome(aid, machine_id=f"m-{aid}", **kw)
                    ok = w.accepted
                except (AssertionError, OSError):
                    ok = False
                dt = time.monotonic() - t0
                worst = max(worst, dt)
                if not ok or dt > 1.0:
                    slow.append((aid, round(dt, 3), ok))
                try:
                    c.close()
                except Exception:
                    pass
        flood.stop()
        m = metrics(d)
        print(f"{HOSTILE} hostile peers ({flood.opened} connections opened): {2 * AGENTS - len(slow)} of "
              f"{2 * AGENTS} agents welcomed within 1 s (slowest {worst:.3f} s); daemon peak RSS "
              f"{peak[0] / 1024:.1f} MB; evicted {m.get('seatmeter_ingest_connections_evicted_total')}, "
              f"hello timeouts {m.get('seatmeter_ingest_hello_timeouts_total')}")
        self.assertEqual(slow, [], "agents not welcomed within a second")
        self.assertLess(peak[0], 100 * 1024, "daemon RSS over 100 MB")
        self.assertGreater(m.get("seatmeter_ingest_connections_evicted_total", 0), 0)


if __name__ == "__main__":
    main()
