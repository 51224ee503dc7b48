#!/usr/bin/env python3
"""Chaos: a guest clock that runs 23 hours ahead, then is corrected, while the daemon is away.

A real agent (its wall clock moved by the clockshift LD_PRELOAD library) streams to a real daemon over
a unix socket. The agent's clock jumps 23 h ahead and a sample from the future is committed; the daemon
stops; the agent spools samples at +23 h, then its clock is corrected and it spools more; the daemon
comes back. Every sequence number the agent made must be stored exactly once: no gap (a backlog thrown
away because a timestamp from the future said it was stored), no duplicate.

SEATMETER_CHAOS_SCALE (default 1) multiplies the outage length (docs/reliability.md)."""

import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from chaos import SCALE  # noqa: E402
from harness import Agent, Daemon, main, tempdir, wait_until  # noqa: E402

SHIM = os.environ.get("SEATMETER_CLOCKSHIFT", "")
DAY_MS = 23 * 3600 * 1000


def stored(daemon, agent_id):
    return [r[0] for r in daemon.query(
        "SELECT seq FROM samples JOIN agents ON agents.num = samples.agent WHERE agents.id = ? ORDER BY seq",
        (agent_id,))]


class ClockJump(unittest.TestCase):
    def setUp(self):
        if not SHIM or not os.path.exists(SHIM):
            self.skipTest("the clockshift library was not built")
        self.dir = tempdir(self)
        self.shift = os.path.join(self.dir, "shift")
        self.set_shift(0)

    def set_shift(self, ms):
        tmp = self.shift + ".tmp"
        with open(tmp, "w") as f:
            f.write(str(ms))
        os.replace(tmp, self.shift)

    def run_scenario(self, correct_before_outage):
        db = os.path.join(self.dir, "seatmeter.db")
        d = Daemon(self.dir, db=db)
        env = dict(os.environ, LD_PRELOAD=SHIM, SEATMETER_CLOCK_SHIFT_FILE=self.shift,
                   ASAN_OPTIONS=os.environ.get("ASAN_OPTIONS", "") + ":verify_asan_link_order=0")
        a = Agent(f"unix:{d.unix_path}", "guest", self.dir, interval_ms=100, env=env)
        wait_until(lambda: len(stored(d, "guest")) >= 5, timeout=20, what="first samples")

        # The guest's clock runs 23 hours ahead; wait until the daemon committed a sample from the future.
        self.set_shift(DAY_MS)
        future = int(time.time() * 1000) + DAY_MS - 3600 * 1000
        wait_until(lambda: d.query("SELECT count(*) FROM samples JOIN agents ON agents.num = samples.agent "
                                   "WHERE agents.id = 'guest' AND time_ms > ?", (future,))[0][0] >= 2,
                   timeout=20, what="a sample from the future stored")
        if correct_before_outage:
            # Corrected while connected: the daemon stores (and acknowledges) samples at the right time.
            self.set_shift(0)
            mark = max(stored(d, "guest"))
            wait_until(lambda: max(stored(d, "guest")) >= mark + 3, timeout=20, what="corrected samples")

        # Outage. Without a correction yet, samples are spooled at +23 h first, then it comes.
        self.assertEqual(d.stop(), 0)
        before = max(stored(d, "guest"))
        if not correct_before_outage:
            time.sleep(1.0 * SCALE)
            self.set_shift(0)
        time.sleep(2.0 * SCALE)

        d = Daemon(self.dir, db=db)
        made = int(15 * SCALE)  # at 100 ms, at least this many were spooled during the outage
        wait_until(lambda: max(stored(d, "guest")) >= before + made, timeout=30, what="backlog sent")
        self.assertEqual(a.stop(), 0)
        seqs = stored(d, "guest")
        missing = sorted(set(range(1, seqs[-1] + 1)) - set(seqs))
        print(f"guest: {len(seqs)} samples stored, seq up to {seqs[-1]}, outage began after seq {before}; "
              f"missing {len(missing)}, duplicated {len(seqs) - len(set(seqs))}")
        self.assertEqual(len(seqs), len(set(seqs)), "a sample stored twice")
        self.assertEqual(missing, [], f"samples lost: {len(missing)}")
        t = [r[0] for r in d.query("SELECT time_ms FROM samples JOIN agents ON agents.num = samples.agent "
                                   "WHERE agents.id = 'guest' AND seq > ? ORDER BY seq", (before,))]
        now = int(time.time() * 1000)
        self.assertTrue(any(x < now for x in t), "spooled samples after the correction")
        if not correct_before_outage:
            self.assertTrue(any(x > now + 3600 * 1000 for x in t), "spooled samples from the future")
        d.stop()

    def test_corrected_then_outage(self):
        self.run_scenario(correct_before_outage=True)

    def test_corrected_during_outage(self):
        self.run_scenario(correct_before_outage=False)


if __name__ == "__main__":
    main()
