#!/usr/bin/env python3
"""Details of docs/http.md that a client relies on: step=raw refuses agg= (400) instead of ignoring it, and a
raw series says so in X-Seatmeter-Source. About 3 s."""

import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import Agent, Daemon, wait_until  # noqa: E402


class HttpContract(unittest.TestCase):
    def test_series_raw(self):
        d = Daemon(harness.tempdir(self))
        agent = Agent(f"unix:{d.unix_path}", "c1", d.workdir, interval_ms=100)
        wait_until(lambda: d.query("SELECT count(*) FROM samples")[0][0] >= 2, timeout=20, what="samples")
        status, _, body = d.http("/api/v1/agents/c1/series?step=raw&agg=max")
        self.assertEqual(status, 400, body)
        self.assertIn("step=raw", json.loads(body)["error"])
        status, headers, body = d.http("/api/v1/agents/c1/series?step=raw")
        self.assertEqual(status, 200, body)
        self.assertEqual(headers["x-seatmeter-source"], "raw")
        self.assertGreaterEqual(len(json.loads(body)), 2)
        agent.stop()
        self.assertEqual(d.stop(), 0)


if __name__ == "__main__":
    harness.main()
