#!/usr/bin/env python3
"""Chaos: many real agents stream for a while; the daemon is SIGKILLed and restarted during the streams.

Every agent's stored sequence numbers must run from 1 to its newest without a gap (lost) or a repeat
(duplicated), and the daemon's RSS is sampled throughout.

Small by default (20 agents, 10 s, 2 kills). Full scale (docs/reliability.md):
SEATMETER_CHAOS_SCALE=15 SEATMETER_CHAOS_SOAK_S=600 gives 300 agents for 10 minutes."""

import os
import signal
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from chaos import SCALE, raise_nofile  # noqa: E402
from harness import Agent, Daemon, main, tempdir, wait_until  # noqa: E402
from test_flood import rss_kib  # noqa: E402

AGENTS = int(20 * SCALE)
SOAK_S = float(os.environ.get("SEATMETER_CHAOS_SOAK_S", "10"))
KILLS = 2


class Soak(unittest.TestCase):
    def test_streams_survive_sigkill(self):
        raise_nofile(self, 4 * AGENTS + 1024)
        wd = tempdir(self)
        db = os.path.join(wd, "seatmeter.db")
        d = Daemon(wd, db=db)
        agents = [Agent(f"unix:{d.unix_path}", f"soak{i:03d}", wd, interval_ms=200) for i in range(AGENTS)]
        peak, current = [0], [d]
        stop = threading.Event()

        def watch():
            while not stop.is_set():
                try:
                    peak[0] = max(peak[0], rss_kib(current[0].proc.pid))
                except OSError:
                    pass
                time.sleep(0.2)
        threading.Thread(target=watch, daemon=True).start()

        t_end = time.monotonic() + SOAK_S
        for k in range(KILLS):
            time.sleep(max(0.5, (t_end - time.monotonic()) / (KILLS + 1 - k)))
            current[0].proc.send_signal(signal.SIGKILL)
            current[0].proc.wait()
            time.sleep(0.5)
            current[0] = d = Daemon(wd, db=db)
        time.sleep(max(0.0, t_end - time.monotonic()))

        def gaps():
            rows = d.query("SELECT agents.id, seq FROM samples JOIN agents ON agents.num = samples.agent "
                           "ORDER BY agents.id, seq")
            per = {}
            for aid, seq in rows:
                per.setdefault(aid, []).append(seq)
            lost = sum(s[-1] - len(set(s)) for s in per.values())
            dup = sum(len(s) - len(set(s)) for s in per.values())
            return per, lost, dup

        # The backlog of the last restart drains; then nothing below any agent's newest may be missing.
        wait_until(lambda: len(gaps()[0]) == AGENTS and gaps()[1] == 0, timeout=60, what="backlogs stored")
        for a in agents:
            self.assertEqual(a.stop(), 0)
        stop.set()
        per, lost, dup = gaps()
        total = sum(len(s) for s in per.values())
        print(f"{AGENTS} agents for {SOAK_S:.0f} s, daemon SIGKILLed {KILLS} times: {total} samples stored, "
              f"lost {lost}, duplicated {dup}; daemon peak RSS {peak[0] / 1024:.1f} MB")
        self.assertEqual(lost, 0)
        self.assertEqual(dup, 0)
        self.assertTrue(all(s[0] == 1 for s in per.values()))
        d.stop()


if __name__ == "__main__":
    main()
