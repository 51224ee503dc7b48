#!/usr/bin/env python3
"""A window that cuts an hour answers exactly its own samples, against the raw samples stored.

The aggregates behind curves and models are hourly. A window (from=/to= or an experiment) whose edges fall
inside an hour must not take the whole hour: one experiment often starts minutes after another ended. An
agent is fed two experiments back to back in simulated time (capacity_data.py); the second starts 40
minutes into an hour, with half the per-stream costs of the first. Checked for windows that cut the hour at
the start, at the end, at both ends of one hour, and through a config [experiment]:

- every level of /api/v1/curves has exactly the samples and mean that the raw samples of the window give
  (computed here from the samples table), and the answer says the window is exact; also for a window of
  whole days, which the daemon reads from its daily roll-up;
- /api/v1/model over the second experiment recovers its costs, and its sample count is the raw count;
- once the raw samples of the cut hour have expired (deleted while the daemon is stopped, as retention
  does), the answer takes that whole hour from the aggregates and says so (exact false, answered_from_ms
  the hour's start), and its counts are the whole hour's."""

import os
import sqlite3
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import capacity_data as cd  # noqa: E402

TRUTH_A = (0.10, 0.004, 0.02, 0.08)
TRUTH_B = (0.05, 0.002, 0.01, 0.04)
OFFSET_MS = 40 * 60_000   # the first experiment starts 40 minutes before a whole hour ...


class WindowEdges(cd.CapacityCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        now = int(time.time() * 1000)
        # ... so that, 140 minutes long, it ends (and the second starts) 40 minutes into an hour.
        cls.polls_a, cls.end_a = cd.phase_times(now - now % cd.HOUR_MS - 3 * cd.DAY_MS - OFFSET_MS)
        cls.polls_b, cls.end_b = cd.phase_times(cls.end_a)
        assert cls.end_a % cd.HOUR_MS != 0
        cls.config = (cd.bbb_config(os.path.join(cls.tmp, "bbb1.secret")) + "[agent guest]\nbbb = bbb1\n"
                      f"[experiment second]\nstart = {cls.end_a}\nend = {cls.end_b - 1}\n")
        cls.d = cd.daemon_with_polls(cls.tmp, cls.config, [cls.polls_a, cls.polls_b])
        f = cd.Feeder(f"unix:{cls.d.unix_path}", "guest", seed=21, cpus=4)
        f.feed(cls.polls_a, TRUTH_A)
        f.feed(cls.polls_b, TRUTH_B)
        f.close()
        cd.wait_aggregated(cls.d, ["guest"], cls.polls_b[-1][0])

    def raw_levels(self, start, end, mix=False):
        """{users: (samples, mean)} of the raw cpu_cores samples in [start, end] with a count (and a mix)."""
        extra = " AND listeners >= 0 AND voice >= 0 AND video >= 0" if mix else ""
        rows = self.d.query("SELECT users, count(*), avg(cpu_cores) FROM samples s JOIN agents a ON a.num = s.agent"
                            " WHERE a.id = 'guest' AND time_ms BETWEEN ? AND ? AND users >= 0 AND cpu_cores IS NOT"
                            f" NULL{extra} GROUP BY users", (start, end))
        return {u: (n, mean) for u, n, mean in rows}

    def curves(self, query):
        return self.d.get_json(f"/api/v1/curves?agent=guest&metric=cpu_cores&{query}")["agents"][0]

    def assert_levels(self, agent, truth):
        got = {p["users"]: (p["samples"], p["mean"]) for p in agent["points"]}
        self.assertEqual(sorted(got), sorted(truth))
        for u, (n, mean) in truth.items():
            self.assertEqual(got[u][0], n, (u, got[u], truth[u]))
            self.assertAlmostEqual(got[u][1], mean, delta=1e-9 * max(1.0, abs(mean)), msg=(u, got[u], truth[u]))

    def assert_exact(self, agent, start, end):
        w = agent["window"]
        self.assertTrue(w["exact"], w)
        self.assertEqual((w["answered_from_ms"], w["answered_to_ms"]), (start, end))

    def test_1_cut_at_the_start(self):
        start, end = self.end_a, self.end_b - 1
        for query in (f"from={start}&to={end}", "experiment=second"):
            agent = self.curves(query)
            self.assert_exact(agent, start, end)
            self.assert_levels(agent, self.raw_levels(start, end))

    def test_1_cut_at_the_end(self):
        start, end = self.polls_a[0][0], self.end_a - 1
        agent = self.curves(f"from={start}&to={end}")
        self.assert_exact(agent, start, end)
        self.assert_levels(agent, self.raw_levels(start, end))

    def test_1_cut_at_both_ends_of_one_hour(self):
        start, end = self.end_a - 10 * 60_000, self.end_a + 10 * 60_000 - 1
        self.assertEqual(start // cd.HOUR_MS, end // cd.HOUR_MS)
        agent = self.curves(f"from={start}&to={end}")
        self.assert_exact(agent, start, end)
        self.assert_levels(agent, self.raw_levels(start, end))

    def test_1_model_of_the_second_experiment(self):
        doc = self.d.get_json("/api/v1/model?agent=guest&metric=cpu_cores&experiment=second")["agents"][0]
        self.assertTrue(doc["window"]["exact"], doc["window"])
        model = doc["model"]
        self.assertEqual(model["samples"], sum(n for n, _ in self.raw_levels(self.end_a, self.end_b - 1, True).values()))
        for name, truth in zip(("base", "listeners", "voice", "video"), TRUTH_B):
            got = model["coefficients"][name]["value"]
            self.assertLess(abs(got / truth - 1), 0.05, (name, got, truth))

    def test_1_whole_days(self):
        # From 23:30 the day before the first experiment to 00:30 the day after the second: its days are read
        # from the daily roll-up, the hour before them raw; the sums must still be the raw samples'.
        day = 24 * cd.HOUR_MS
        start = self.polls_a[0][0] - self.polls_a[0][0] % day - 30 * 60_000
        end = self.end_b - self.end_b % day + day + 30 * 60_000 - 1
        agent = self.curves(f"from={start}&to={end}")
        self.assert_exact(agent, start, end)
        self.assert_levels(agent, self.raw_levels(start, end))
        doc = self.d.get_json(f"/api/v1/model?agent=guest&metric=cpu_cores&from={start}&to={end}")["agents"][0]
        self.assertEqual(doc["model"]["samples"], sum(n for n, _ in self.raw_levels(start, end, True).values()))

    def test_2_expired_raw_samples_take_the_whole_hour(self):
        hour = self.end_a - self.end_a % cd.HOUR_MS
        whole = self.raw_levels(hour, self.end_b - 1)
        # Retention: the raw samples before the end of the cut hour are gone, the aggregates stay.
        self.d.stop()
        con = sqlite3.connect(self.d.db_path)
        con.execute("DELETE FROM samples WHERE time_ms < ?", (hour + cd.HOUR_MS,))
        con.commit()
        con.close()
        self.__class__.d = harness.Daemon(self.tmp, config=self.config)
        agent = self.curves(f"from={self.end_a}&to={self.end_b - 1}")
        w = agent["window"]
        self.assertFalse(w["exact"], w)
        self.assertEqual((w["answered_from_ms"], w["answered_to_ms"]), (hour, self.end_b - 1))
        got = {p["users"]: p["samples"] for p in agent["points"]}
        self.assertEqual(got, {u: n for u, (n, _) in whole.items()})


if __name__ == "__main__":
    harness.main()
