#!/usr/bin/env python3
"""Nothing lost, nothing duplicated: a real seatmeter-agent streams every 20 ms while seatmeterd is
SIGKILLed and restarted, stopped for a while, or while the agent itself is restarted with the daemon
down. Afterwards the agent's samples in the database, by sequence number, run from 1 without a gap or
a duplicate, and the ones still in the agent's spool follow right after."""

import os
import random
import re
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import Agent, Daemon, tempdir, wait_until  # noqa: E402
from test_ingest import seqs  # noqa: E402

INTERVAL_MS = 20


class Durability(unittest.TestCase):
    def setUp(self):
        self.dir = tempdir(self)
        self.sock = os.path.join(self.dir, "ingest.sock")
        self.uri = f"unix:{self.sock}"
        self.spool = os.path.join(self.dir, "spool")
        self.daemon = None
        self.agent = None
        self.addCleanup(self._stop_all)

    def _stop_all(self):
        for p in (self.agent, self.daemon):
            if p:
                p.stop()

    def start_daemon(self):
        self.daemon = Daemon(self.dir)
        return self.daemon

    def start_agent(self, agent_id="dur"):
        self.agent = Agent(self.uri, agent_id, self.dir, interval_ms=INTERVAL_MS, spool=self.spool)
        return self.agent

    def stop_agent(self):
        """SIGTERM the agent; returns how many samples it kept in its spool."""
        rc = self.agent.stop()
        self.assertEqual(rc, 0, self.agent.output()[-2000:])
        m = re.findall(r"Stopped; (\d+) samples spooled", self.agent.output())
        self.assertTrue(m, "the agent did not report its spool:\n" + self.agent.output()[-2000:])
        self.agent = None
        return int(m[-1])

    def assert_contiguous(self, agent_id="dur"):
        s = seqs(self.daemon, agent_id)
        self.assertTrue(s, "no sample stored")
        self.assertEqual(s[0], 1, "the first sample is missing")
        if s != list(range(1, len(s) + 1)):
            missing = sorted(set(range(1, s[-1] + 1)) - set(s))
            dups = len(s) - len(set(s))
            self.fail(f"{len(s)} samples, up to seq {s[-1]}: missing {missing[:20]}, {dups} duplicates")
        return s[-1]

    def wait_stored(self, at_least, agent_id="dur", timeout=30):
        wait_until(lambda: len(seqs(self.daemon, agent_id)) >= at_least, timeout=timeout,
                   what=f"{at_least} samples of {agent_id} in the database")

    def finish(self, agent_id="dur"):
        """Stops the agent with the daemon up, checks the db, then lets a new agent process deliver what the
        old one spooled and checks again: every sample produced is stored once."""
        n = len(seqs(self.daemon, agent_id))
        self.wait_stored(n + 10, agent_id)  # caught up and streaming
        spooled = self.stop_agent()
        top = self.assert_contiguous(agent_id)
        self.start_agent(agent_id)
        self.wait_stored(top + spooled + 5, agent_id)
        self.stop_agent()
        top2 = self.assert_contiguous(agent_id)
        self.assertGreaterEqual(top2, top + spooled)
        return top2

    def test_sigkill_daemon_repeatedly(self):
        rng = random.Random(1234)
        self.start_daemon()
        self.start_agent()
        self.wait_stored(10)
        for _ in range(4):
            time.sleep(rng.uniform(0.3, 1.0))
            self.daemon.kill()
            time.sleep(rng.uniform(0.05, 0.5))
            self.start_daemon()
        top = self.finish()
        self.assertGreater(top, 50)

    def test_daemon_down_agent_backfills(self):
        self.start_daemon()
        self.start_agent()
        self.wait_stored(10)
        self.assertEqual(self.daemon.stop(), 0)
        before = len(seqs(self.daemon, "dur"))
        time.sleep(2.0)  # about 100 samples go to the spool
        self.start_daemon()
        self.wait_stored(before + 80)  # the backfill arrived
        self.finish()

    def test_agent_restarted_while_daemon_down(self):
        self.start_daemon()
        self.start_agent()
        self.wait_stored(10)
        self.daemon.kill()
        time.sleep(0.7)
        spooled = self.stop_agent()
        self.assertGreater(spooled, 10, "the agent kept nothing while the daemon was down")
        self.start_agent()  # same spool folder: the file spool survives
        time.sleep(0.5)
        self.start_daemon()
        before = len(seqs(self.daemon, "dur"))
        self.wait_stored(before + spooled)
        self.finish()


if __name__ == "__main__":
    harness.main()
