#!/usr/bin/env python3
"""Experiments created through the API (POST /api/v1/experiments), against a known truth.

An agent is fed two experiments in simulated time (capacity_data.py): a first with twice the per-stream
costs, then a second. Named windows created by POST (with the bearer token) select each one in
/api/v1/model, /api/v1/curves and /api/v1/report exactly as a config [experiment] does, and answer that
experiment's truth; GET /api/v1/experiments lists both kinds; they survive a restart of the daemon. A name
of the config or one already stored is refused with 409, bad bodies with 400 and a reason, a POST without
the token with 401, a POST to another route with 405, a body beyond 4 KiB with 413."""

import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import capacity_data as cd  # noqa: E402

TRUTH_A = (0.10, 0.004, 0.02, 0.08)
TRUTH_B = (0.05, 0.002, 0.01, 0.04)
TOKEN = "experiments-token"


class Experiments(cd.CapacityCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        now = int(time.time() * 1000)
        cls.polls_a, cls.end_a = cd.phase_times(now - now % cd.HOUR_MS - 4 * cd.DAY_MS)
        cls.polls_b, cls.end_b = cd.phase_times(now - now % cd.HOUR_MS - 2 * cd.DAY_MS)
        token_file = os.path.join(cls.tmp, "http.token")
        with open(token_file, "w") as f:
            f.write(TOKEN + "\n")
        cls.config = (cd.bbb_config(os.path.join(cls.tmp, "bbb1.secret")) +
                      f"[daemon]\nhttp_token_file = {token_file}\n[agent guest]\nbbb = bbb1\n"
                      f"[experiment from-config]\nstart = {cls.polls_b[0][0]}\nend = {cls.end_b - 1}\n")
        cls.d = cd.daemon_with_polls(cls.tmp, cls.config, [cls.polls_a, cls.polls_b])
        f = cd.Feeder(f"unix:{cls.d.unix_path}", "guest", seed=11, cpus=4)
        f.feed(cls.polls_a, TRUTH_A)
        f.feed(cls.polls_b, TRUTH_B)
        f.close()
        cd.wait_aggregated(cls.d, ["guest"], cls.polls_b[-1][0])

    def call(self, path, method="GET", body=None, token=TOKEN, raw=None):
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        st, _, out = self.d.http(path, method=method, headers=headers, body=data)
        return st, json.loads(out) if out else None

    def create(self, name, start, end, expect=201):
        st, doc = self.call("/api/v1/experiments", "POST", {"name": name, "from": start, "to": end})
        self.assertEqual(st, expect, doc)
        return doc

    def assert_costs(self, experiment, costs):
        st, doc = self.call(f"/api/v1/model?agent=guest&metric=cpu_cores&experiment={experiment}")
        self.assertEqual(st, 200, doc)
        self.assertEqual(doc["window"]["experiment"], experiment)
        coef = doc["agents"][0]["model"]["coefficients"]
        for name, truth in zip(("listeners", "voice", "video"), costs[1:]):
            self.assertLess(abs(coef[name]["value"] / truth - 1), 0.05, (experiment, name, coef[name], truth))
        return doc

    def test_1_created_experiments_select_their_truth(self):
        doc = self.create("load-a", self.polls_a[0][0], self.end_a - 1)
        self.assertEqual(doc, {"name": "load-a", "from_ms": self.polls_a[0][0], "to_ms": self.end_a - 1,
                               "source": "api", "created_ms": doc["created_ms"]})
        self.create("load-b", self.polls_b[0][0], self.end_b - 1)
        self.assert_costs("load-a", TRUTH_A)
        self.assert_costs("load-b", TRUTH_B)
        self.assert_costs("from-config", TRUTH_B)
        # All history mixes both: neither truth.
        st, whole = self.call("/api/v1/model?agent=guest&metric=cpu_cores")
        video = whole["agents"][0]["model"]["coefficients"]["video"]["value"]
        self.assertGreater(abs(video / TRUTH_B[3] - 1), 0.2, video)
        # Curves and the report select it too, with the window it names.
        for route in ("curves?metric=cpu_ratio&", "report?"):
            st, doc = self.call(f"/api/v1/{route}agent=guest&experiment=load-a")
            self.assertEqual(st, 200, doc)
            w = doc["window"] if "window" in doc else doc["agents"][0]["window"]
            self.assertEqual((w["experiment"], w["from_ms"], w["to_ms"]), ("load-a", self.polls_a[0][0], self.end_a - 1))
        st, _, page = self.d.http("/api/v1/report?agent=guest&experiment=load-b&format=html",
                                  headers={"Authorization": f"Bearer {TOKEN}"})
        self.assertEqual(st, 200)
        self.assertIn(b"load-b", page)

    def test_2_list_and_restart(self):
        st, _ = self.call("/api/v1/experiments", "POST", {"name": "kept", "from": 1000, "to": 2000})
        self.assertEqual(st, 201)
        st, items = self.call("/api/v1/experiments")
        self.assertEqual(st, 200)
        by_name = {e["name"]: e for e in items}
        self.assertEqual(by_name["from-config"]["source"], "config")
        self.assertIsNone(by_name["from-config"]["created_ms"])
        self.assertEqual((by_name["kept"]["source"], by_name["kept"]["from_ms"], by_name["kept"]["to_ms"]),
                         ("api", 1000, 2000))
        type(self).d.stop()
        type(self).d = harness.Daemon(self.tmp, config=self.config)
        st, again = self.call("/api/v1/experiments")
        self.assertEqual(again, items)

    def test_3_refusals(self):
        # Names: the config's, and one already stored.
        self.assertIn("config", self.create("from-config", 0, 1, expect=409)["error"])
        self.create("twice", 0, 1)
        self.assertIn("exists", self.create("twice", 0, 1, expect=409)["error"])
        bad = [
            (None, b"", "JSON object"),
            (None, b"{\"name\": \"x\", ", "not valid JSON"),
            (None, b"[1, 2]", "JSON object"),
            (None, b"{\"name\": \"x\", \"name\": \"y\", \"from\": 0, \"to\": 1}", "repeats a key"),
            ({"name": "x", "from": 0}, None, "'from' and 'to'"),
            ({"name": "x", "from": "2026-12-05", "to": 1}, None, "'from' and 'to'"),
            ({"name": "x", "from": 1.5, "to": 2}, None, "'from' and 'to'"),
            ({"name": "x", "from": -1, "to": 2}, None, "'from' and 'to'"),
            ({"name": "x", "from": 5, "to": 4}, None, "before"),
            ({"name": "x", "from": 5, "to": 5}, None, "before"),
            ({"name": "a b", "from": 0, "to": 1}, None, "'name'"),
            ({"name": "x" * 65, "from": 0, "to": 1}, None, "'name'"),
            ({"name": "x\u0000y", "from": 0, "to": 1}, None, "not valid JSON"),  # NUL: refused by the parser
            ({"from": 0, "to": 1}, None, "'name'"),
            ({"name": "x", "from": 0, "to": 1, "owner": "me"}, None, "unknown key"),
        ]
        for body, raw, reason in bad:
            st, doc = self.call("/api/v1/experiments", "POST", body, raw=raw)
            self.assertEqual(st, 400, (body, raw, doc))
            self.assertIn(reason, doc["error"], (body, raw))
        st, doc = self.call("/api/v1/experiments", "POST", raw=b"{\"name\": \"" + b"x" * 5000 + b"\"}")
        self.assertEqual(st, 413, doc)
        st, _ = self.call("/api/v1/experiments", "POST", {"name": "no-token", "from": 0, "to": 1}, token=None)
        self.assertEqual(st, 401)
        st, _ = self.call("/api/v1/experiments", "POST", {"name": "bad-token", "from": 0, "to": 1}, token="nope")
        self.assertEqual(st, 401)
        st, _ = self.call("/api/v1/curves", "POST", {"name": "elsewhere", "from": 0, "to": 1})
        self.assertEqual(st, 405)
        st, doc = self.call("/api/v1/experiments?x=1")
        self.assertEqual(st, 400, doc)
        # Nothing refused was stored.
        names = [r[0] for r in self.d.query("SELECT name FROM experiments ORDER BY name")]
        self.assertNotIn("no-token", names)
        self.assertNotIn("x", names)
        self.assertEqual(self.call("/api/v1/model?agent=guest&experiment=no-token")[0], 404)


if __name__ == "__main__":
    harness.main()
