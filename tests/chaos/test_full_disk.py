#!/usr/bin/env python3
"""Chaos: the daemon's database cannot grow (a full disk, here a file size limit set on the running
daemon with prlimit) while an agent streams.

While commits fail, nothing is acknowledged, /healthz answers 503 with the reason and /metrics says why;
ingest_samples_stored_total never counts more than the rows in the database. Once there is room again,
every sample sent is stored exactly once and /healthz is ok.

SEATMETER_CHAOS_SCALE (default 1) multiplies the samples sent (docs/reliability.md)."""

import json
import os
import resource
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from chaos import SCALE, metrics  # noqa: E402
from harness import Daemon, main, tempdir, wait_until  # noqa: E402
from test_ingest import WireClient, batch, count_samples, seqs  # noqa: E402

BATCH = 200


class FullDisk(unittest.TestCase):
    def test_commits_fail_then_recover(self):
        if not hasattr(resource, "prlimit"):
            self.skipTest("resource.prlimit is not available")
        self.dir = tempdir(self)
        d = Daemon(self.dir)
        self.addCleanup(d.stop)
        c = WireClient(f"unix:{d.unix_path}")
        self.assertTrue(c.welcome("filler").accepted)
        t0 = int(time.time() * 1000) - 3600 * 1000
        seq = 0

        def send_batch():
            nonlocal seq
            c.send(batch([(seq + i, t0 + (seq + i) * 10) for i in range(1, BATCH + 1)]))
            seq += BATCH

        send_batch()
        c.wait_ack()
        self.assertEqual(d.http("/healthz")[0], 200)

        # No room: files may not grow past what they are now.
        sizes = [os.path.getsize(p) for p in (d.db_path, d.db_path + "-wal") if os.path.exists(p)]
        resource.prlimit(d.proc.pid, resource.RLIMIT_FSIZE, (max(sizes), resource.RLIM_INFINITY))
        deadline = time.monotonic() + 30
        while d.http("/healthz")[0] == 200 and time.monotonic() < deadline and seq < 200000 * SCALE:
            send_batch()
            time.sleep(0.05)
        status, _, body = d.http("/healthz")
        self.assertEqual(status, 503, "/healthz stayed ok while commits failed")
        self.assertIn("database commits fail", json.loads(body)["reason"])
        m = metrics(d)
        failing = [k for k in m if k.startswith("seatmeter_store_commit_failing")]
        self.assertEqual(m[failing[0]], 1)
        self.assertNotEqual(failing[0], 'seatmeter_store_commit_failing{reason=""}')
        stored, rows = m["seatmeter_ingest_samples_stored_total"], count_samples(d, "filler")
        print(f"commits failing after {seq} samples sent: stored_total {stored:.0f}, rows {rows}, "
              f"{failing[0]}")
        self.assertEqual(stored, rows, "samples_stored_total counts what is not in the database")

        # Room again: everything arrives once, and the daemon says it is healthy.
        resource.prlimit(d.proc.pid, resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
        wait_until(lambda: d.http("/healthz")[0] == 200, timeout=30, what="/healthz ok again")
        wait_until(lambda: count_samples(d, "filler") == seq, timeout=30, what="every sample stored")
        self.assertEqual(seqs(d, "filler"), list(range(1, seq + 1)))
        self.assertEqual(metrics(d)["seatmeter_ingest_samples_stored_total"], seq)
        c.close()


if __name__ == "__main__":
    main()
