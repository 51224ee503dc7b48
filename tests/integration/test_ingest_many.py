#!/usr/bin/env python3
"""Many agents at once: 50 real seatmeter-agent processes over the unix socket and 50 over tcp with their
own tokens, each stored under its own id."""

import hashlib
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import Agent, Daemon, tempdir, wait_until  # noqa: E402

N = 50


def per_agent_counts(daemon):
    return dict(daemon.query("SELECT agents.id, count(samples.time_ms) FROM agents "
                             "LEFT JOIN samples ON samples.agent = agents.num GROUP BY agents.id"))


class ManyAgents(unittest.TestCase):
    def test_fifty_unix_and_fifty_tcp(self):
        d_dir = tempdir(self)
        tokens = {f"tcp-{i:02d}": f"token-{i}-{os.urandom(8).hex()}" for i in range(N)}
        config = "".join(f"[agent {aid}]\ntoken_sha256 = {hashlib.sha256(t.encode()).hexdigest()}\n"
                         for aid, t in tokens.items())
        d = Daemon(d_dir, config=config, listen=[f"unix:{os.path.join(d_dir, 'ingest.sock')}", "tcp:127.0.0.1:0"])
        self.addCleanup(d.stop)
        agents = []
        try:
            for i in range(N):
                agents.append(Agent(f"unix:{d.unix_path}", f"unix-{i:02d}", d_dir, interval_ms=200))
            for aid, tok in tokens.items():
                tf = os.path.join(d_dir, f"{aid}.token")
                with open(tf, "w") as f:
                    f.write(tok + "\n")
                os.chmod(tf, 0o600)
                agents.append(Agent(f"tcp:127.0.0.1:{d.tcp_port}", aid, d_dir, interval_ms=200, token_file=tf))
            want = {f"unix-{i:02d}" for i in range(N)} | set(tokens)

            def all_stored():
                c = per_agent_counts(d)
                return all(c.get(a, 0) >= 3 for a in want)

            wait_until(all_stored, timeout=60, interval=0.5, what="3 samples from each of the 100 agents")
            counts = per_agent_counts(d)
            self.assertEqual(set(counts), want)  # every id under its own name, and nothing else
            rows = d.query("SELECT id, transport, connected FROM agents")
            for aid, transport, connected in rows:
                self.assertEqual(transport, "tcp" if aid.startswith("tcp-") else "unix", aid)
                self.assertEqual(connected, 1, aid)
            self.assertEqual(d.output().count("Refused Hello"), 0, d.output()[-3000:])
        finally:
            for a in agents:
                self.assertEqual(a.stop(), 0, a.output()[-1000:])


if __name__ == "__main__":
    harness.main()
