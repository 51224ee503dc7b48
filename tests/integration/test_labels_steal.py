#!/usr/bin/env python3
"""Agent labels and CPU steal through the real ingest path.

Labels: a real `seatmeter-agent run --label ...` (over a fixture tree) reaches the daemon, which stores
them (agents.labels) and serves them in /api/v1/agents and the curves (JSON, and a CSV column); a Hello with a bad or a doubled label key, or
more than 16 labels, is refused with the reason, and nothing of it is stored.

Steal: samples whose cpu_steal_usec grows by a known amount (sent by hand) give steal_ratio = steal
seconds per second / effective CPUs in /latest and in the series, and leave cpu_ratio alone."""

import csv
import io
import json
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import Agent, Daemon, tempdir, wait_until  # noqa: E402
from protowire import field_bytes, field_varint, frame, parse_fields, read_varint  # noqa: E402
from test_ingest import WireClient, agent_rows, hello  # noqa: E402


def label(key, value):
    return field_bytes(14, field_bytes(1, key) + field_bytes(2, value))


def hello_with(agent_id, labels):
    """hello() with Label fields (Hello.labels = 14) appended inside the Hello message."""
    h = hello(agent_id)  # a frame: varint length, then the envelope whose field 1 is the Hello
    n, i = read_varint(h, 0)
    body = parse_fields(h[i:i + n])[1][0]
    return frame(1, body + b"".join(label(k, v) for k, v in labels))


def steal_sample(seq, time_ms, cpu_usec, steal_usec):
    b = field_varint(1, seq) + field_varint(2, time_ms)
    b += field_varint(10, cpu_usec) + field_varint(16, steal_usec)
    b += field_varint(20, 100 << 20) + field_varint(21, 50 << 20)
    return frame(2, b)


class LabelsSteal(unittest.TestCase):
    def setUp(self):
        self.dir = tempdir(self)
        self.daemon = Daemon(self.dir)
        self.addCleanup(self.daemon.stop)
        self.unix = f"unix:{self.daemon.unix_path}"

    def test_agent_labels_stored_and_served(self):
        root = os.path.join(harness.FIXTURES, "agent", "kvm", "root")
        agent = Agent(self.unix, "vm-fra1", self.dir, interval_ms=200,
                      args=["--root", root, "--label", "site=fra1", "--label", "room=Raum \"2\" \u00fc",
                            "--virt", "kvm"])
        self.addCleanup(agent.stop)

        def served():
            for a in self.daemon.get_json("/api/v1/agents"):
                if a["id"] == "vm-fra1" and a["labels"]:
                    return a
            return None
        a = wait_until(served, timeout=15, what="the agent's labels in /api/v1/agents")
        self.assertEqual(a["labels"], {"room": "Raum \"2\" \u00fc", "site": "fra1"})
        self.assertEqual(a["virt"], "kvm")
        stored = self.daemon.query("SELECT labels FROM agents WHERE id = 'vm-fra1'")[0][0]
        self.assertEqual(json.loads(stored), a["labels"])
        one = self.daemon.get_json("/api/v1/agents/vm-fra1")
        self.assertEqual(one["labels"], a["labels"])
        # The curves carry them too, as JSON and as a CSV column (an agent without points is one row).
        curves = self.daemon.get_json("/api/v1/curves?agent=vm-fra1")
        self.assertEqual(curves["agents"][0]["labels"], a["labels"])
        status, _, body = self.daemon.http("/api/v1/curves?agent=vm-fra1&format=csv")
        self.assertEqual(status, 200)
        table = list(csv.reader(io.StringIO(body.decode())))
        self.assertEqual(len(table), 2)
        self.assertEqual(json.loads(dict(zip(table[0], table[1]))["labels"]), a["labels"])

    def test_bad_labels_refused(self):
        cases = [
            ([("9x", "v")], "label key"),
            ([("site", "a"), ("site", "b")], "twice"),
            ([("k%d" % i, "v") for i in range(17)], "labels"),
            ([("site", "tab\there")], "label value"),
            ([("site", "x" * 129)], "label value"),
        ]
        for i, (labels, why) in enumerate(cases):
            c = WireClient(self.unix)
            try:
                c.send(hello_with("bad-labels-%d" % i, labels))
                m = c.expect("welcome")
                self.assertFalse(m.accepted, labels)
                self.assertIn(why, m.reason)
            finally:
                c.close()
            self.assertEqual(agent_rows(self.daemon, "bad-labels-%d" % i), 0)
        # And a good one still gets in, with an empty value allowed.
        c = WireClient(self.unix)
        self.addCleanup(c.close)
        c.send(hello_with("good-labels", [("site", "fra1"), ("note", "")]))
        self.assertTrue(c.expect("welcome").accepted)
        got = wait_until(lambda: [a for a in self.daemon.get_json("/api/v1/agents") if a["id"] == "good-labels"],
                         what="good-labels listed")
        self.assertEqual(got[0]["labels"], {"note": "", "site": "fra1"})

    def test_steal_ratio(self):
        c = WireClient(self.unix)
        self.addCleanup(c.close)
        self.assertTrue(c.welcome("vm-steal").accepted)  # hello(): effective_cpus 2.0
        t0 = int(time.time() * 1000) - 20000
        frames = b""
        # Each second: 1 CPU-second used (cpu_ratio 0.5 of 2), 0.5 s stolen (steal_ratio 0.25).
        for i in range(10):
            frames += steal_sample(i + 1, t0 + i * 1000, cpu_usec=i * 1000000, steal_usec=i * 500000)
        c.send(frames)
        c.wait_ack(t0 + 9000)
        latest = wait_until(lambda: (lambda j: j if j.get("time_ms") == t0 + 9000 else None)(
            self.daemon.get_json("/api/v1/agents/vm-steal/latest")), what="the newest sample in /latest")
        self.assertAlmostEqual(latest["steal_ratio"], 0.25, places=6)
        self.assertAlmostEqual(latest["cpu_ratio"], 0.5, places=6)
        rows = self.daemon.get_json("/api/v1/agents/vm-steal/series?from=%d&to=%d&step=raw&metrics=steal_ratio,cpu_ratio"
                                    % (t0, t0 + 9000))
        self.assertEqual(len(rows), 10)
        self.assertIsNone(rows[0]["steal_ratio"])  # no rate before the second sample
        for r in rows[1:]:
            self.assertAlmostEqual(r["steal_ratio"], 0.25, places=6)
            self.assertAlmostEqual(r["cpu_ratio"], 0.5, places=6)
        stored = self.daemon.query("SELECT count(*) FROM samples s JOIN agents a ON a.num = s.agent "
                                   "WHERE a.id = 'vm-steal' AND s.cpu_steal_usec = 4500000")[0][0]
        self.assertEqual(stored, 1)
        # The hourly trends carry it too (a long series reads them); a stop writes the aggregates out.
        c.close()
        self.assertEqual(self.daemon.stop(), 0)
        n, total = self.daemon.query("SELECT sum(steal_ratio_n), sum(steal_ratio_sum) FROM trends t"
                                     " JOIN agents a ON a.num = t.agent WHERE a.id = 'vm-steal'")[0]
        self.assertEqual(n, 9)
        self.assertAlmostEqual(total, 9 * 0.25, places=6)


if __name__ == "__main__":
    harness.main()
