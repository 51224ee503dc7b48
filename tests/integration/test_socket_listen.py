#!/usr/bin/env python3
"""Socket activation and listen = lines, as seatmeterd.conf(5) says: sockets passed by systemd
(systemd-socket-activate here) replace the built-in default address, and listen = lines of the file or
--listen options are bound in addition, except an address a passed socket already has. An agent streams
through each address."""

import os
import re
import shutil
import socket
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import Agent, Process, wait_until  # noqa: E402

SOCKET_ACTIVATE = shutil.which("systemd-socket-activate")


@unittest.skipUnless(SOCKET_ACTIVATE, "systemd-socket-activate (Debian systemd) is not installed")
class ListenLines(unittest.TestCase):
    def setUp(self):
        self.dir = harness.tempdir(self)
        self.passed = os.path.join(self.dir, "passed.sock")
        self.extra = os.path.join(self.dir, "extra.sock")
        self.db = os.path.join(self.dir, "s.db")

    def start(self, config, args=()):
        conf = os.path.join(self.dir, "seatmeterd.conf")
        with open(conf, "w") as f:
            f.write(config)
        p = Process([SOCKET_ACTIVATE, "-l", self.passed, "--fdname=ingest", harness.SEATMETERD, "--config", conf,
                     "--db", self.db, "--http", "127.0.0.1:0"] + list(args), cwd=self.dir, name="socket-activate")
        self.addCleanup(p.stop)
        p.wait_line(r"Listening on .*passed\.sock")
        with socket.socket(socket.AF_UNIX) as s:  # wakes the daemon
            s.connect(self.passed)
        m = p.wait_line(r"\bready\b.*", timeout=20)
        return p, re.findall(r"listen=(\S+)", m.group(0))

    def stream(self, uri, agent_id):
        agent = Agent(uri, agent_id, self.dir, interval_ms=100)
        self.addCleanup(agent.stop)
        wait_until(lambda: harness.sqlite3.connect(self.db).execute(
            "SELECT count(*) FROM samples JOIN agents ON agents.num = samples.agent WHERE agents.id = ?",
            (agent_id,)).fetchone()[0] >= 2, timeout=20, what=f"samples of {agent_id} through {uri}")

    def test_default_not_bound(self):
        p, listen = self.start("")
        self.assertEqual(listen, [f"unix:{self.passed}"])
        self.assertFalse(os.path.exists(os.path.join(self.dir, "ingest.sock")), "the default address was bound")
        self.stream(f"unix:{self.passed}", "a-passed")
        self.assertEqual(p.stop(), 0, p.output())

    def test_file_lines_bound_in_addition(self):
        p, listen = self.start(f"[daemon]\nlisten = unix:{self.passed}\nlisten = unix:{self.extra}\n")
        self.assertEqual(listen, [f"unix:{self.passed}", f"unix:{self.extra}"])
        self.assertIn("already passed by systemd, not bound again", p.output())
        self.stream(f"unix:{self.passed}", "b-passed")
        self.stream(f"unix:{self.extra}", "b-extra")
        self.assertEqual(p.stop(), 0, p.output())

    def test_command_line_bound_in_addition(self):
        p, listen = self.start("", args=["--listen", f"unix:{self.extra}"])
        self.assertEqual(listen, [f"unix:{self.passed}", f"unix:{self.extra}"])
        self.stream(f"unix:{self.extra}", "c-extra")
        self.assertEqual(p.stop(), 0, p.output())

    def test_abstract_unix_socket(self):
        # unix:@NAME is the abstract namespace at both ends: the agent connects where the daemon binds,
        # and no file named "@NAME" appears.
        name = f"@seatmeter-test-{os.getpid()}"
        p, listen = self.start("", args=["--listen", f"unix:{name}"])
        self.assertEqual(listen, [f"unix:{self.passed}", f"unix:{name}"])
        self.stream(f"unix:{name}", "d-abstract")
        self.assertFalse(os.path.exists(os.path.join(self.dir, name)), "a file was bound, not an abstract socket")
        self.assertEqual(p.stop(), 0, p.output())


if __name__ == "__main__":
    harness.main()
