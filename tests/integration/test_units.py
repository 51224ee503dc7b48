#!/usr/bin/env python3
"""The installed systemd units, checked without a running systemd: `systemd-analyze verify` on the units of
a `meson install --destdir` image (binaries and man pages resolved inside that image), the sysusers.d and
tmpfiles.d snippets applied to a temporary root, the contracts between the units and the binaries (socket
names, the ingest path the agent connects to by default, the HTTP address), and the installed daemon
started the way the socket units start it, with its sockets passed by systemd-socket-activate."""

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import unittest
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from test_install import MESON, UNITS, install_tree, run  # noqa: E402

ANALYZE = shutil.which("systemd-analyze")
SYSUSERS = shutil.which("systemd-sysusers")
TMPFILES = shutil.which("systemd-tmpfiles")
SOCKET_ACTIVATE = shutil.which("systemd-socket-activate")


def parse_unit(path):
    """{section: [(key, value), ...]} of a unit file (no line continuations in ours)."""
    out, sec = {}, None
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line[0] in "#;":
                continue
            if line.startswith("["):
                sec = line.strip("[]")
                out.setdefault(sec, [])
            elif "=" in line:
                k, v = line.split("=", 1)
                out[sec].append((k.strip(), v.strip()))
    return out


def values(unit, section, key):
    return [v for k, v in unit.get(section, []) if k == key]


class UnitsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not MESON:
            raise unittest.SkipTest("meson is not installed")
        cls.tmp = tempfile.TemporaryDirectory(prefix="seatmeter-units-")
        cls.lay = install_tree(harness.BUILD_ROOT, os.path.join(cls.tmp.name, "dest"))
        cls.units = {u: parse_unit(cls.lay.d(os.path.join(cls.lay.unitdir, u))) for u in UNITS}

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def verify(self, unit_texts):
        """systemd-analyze verify on the given {name: text}; returns its output (empty when clean).
        Installed paths under the prefix are pointed into the DESTDIR image, so the check that every
        Exec*= binary exists looks at what was installed; man: references resolve in the image too."""
        lay = self.lay
        vdir = tempfile.mkdtemp(prefix="seatmeter-verify-")
        self.addCleanup(shutil.rmtree, vdir, True)
        prefix = lay.prefix.rstrip("/") + "/"
        paths = []
        for name, text in unit_texts.items():
            p = os.path.join(vdir, name)
            with open(p, "w") as f:
                f.write(re.sub(rf"(?<=[=\s]){re.escape(prefix)}", lay.d(prefix) + "/", text))
            paths.append(p)
        env = dict(os.environ, MANPATH=lay.d(lay.mandir), SYSTEMD_LOG_COLOR="0", SYSTEMD_PAGER="")
        # Documentation=man: references are checked with man(1) when it is installed.
        man = "--man=yes" if shutil.which("man") else "--man=no"
        r = run([ANALYZE, "verify", man] + paths, timeout=60, env=env)
        return (r.stdout + r.stderr).strip(), r.returncode

    def installed_texts(self):
        out = {}
        for u in UNITS:
            with open(self.lay.d(os.path.join(self.lay.unitdir, u))) as f:
                out[u] = f.read()
        return out

    def test_systemd_analyze_verify(self):
        if not ANALYZE:
            self.skipTest("systemd-analyze is not installed")
        texts = self.installed_texts()
        for u in UNITS:
            m = re.search(r"(?m)^ExecStart=(\S+)", texts[u])
            if m:
                self.assertTrue(os.access(self.lay.d(m.group(1)), os.X_OK), f"{u}: {m.group(1)} not installed")
        out, rc = self.verify(texts)
        self.assertEqual((rc, out), (0, ""), "systemd-analyze verify complained")
        # The check is real: a unit with a mistake does not pass it.
        bad = dict(texts)
        bad["seatmeterd.service"] = texts["seatmeterd.service"].replace(
            "ProtectSystem=strict", "ProtectSystem=stricter\nNoSuchSetting=1")
        out, _ = self.verify(bad)
        self.assertIn("NoSuchSetting", out)
        self.assertIn("stricter", out)

    def test_security_rating(self):
        if not ANALYZE:
            self.skipTest("systemd-analyze is not installed")
        vdir = tempfile.mkdtemp(prefix="seatmeter-security-")
        self.addCleanup(shutil.rmtree, vdir, True)
        for u in ("seatmeterd.service", "seatmeter-agent.service"):
            shutil.copy(self.lay.d(os.path.join(self.lay.unitdir, u)), vdir)
            r = run([ANALYZE, "security", "--offline=true", "--no-pager", os.path.join(vdir, u)], timeout=60,
                    env=dict(os.environ, SYSTEMD_COLORS="0", LC_ALL="C.UTF-8"))
            m = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", r.stdout + r.stderr)
            if not m:
                self.skipTest(f"systemd-analyze security --offline is not available: {r.stderr.strip()[:200]}")
            self.assertLessEqual(float(m.group(1)), 2.5, f"{u}: exposure {m.group(1)}\n{r.stdout}")

    def test_socket_contracts(self):
        u = self.units
        svc, agent = u["seatmeterd.service"], u["seatmeter-agent.service"]
        ingest, http = u["seatmeterd.socket"], u["seatmeterd-http.socket"]
        self.assertEqual(values(ingest, "Socket", "FileDescriptorName"), ["ingest"])
        self.assertEqual(values(http, "Socket", "FileDescriptorName"), ["http"])
        for s in (ingest, http):
            self.assertEqual(values(s, "Socket", "Service"), ["seatmeterd.service"])
        self.assertEqual(" ".join(values(svc, "Service", "Sockets")).split(),
                         ["seatmeterd.socket", "seatmeterd-http.socket"])
        self.assertEqual(values(svc, "Service", "Type"), ["notify"])
        self.assertEqual(values(agent, "Service", "Type"), ["notify"])
        self.assertEqual(values(svc, "Service", "WatchdogSec"), ["30s"])

        # The ingest socket lives in the daemon's RuntimeDirectory, which survives the service.
        self.assertEqual(values(ingest, "Socket", "ListenStream"), ["/run/seatmeter/ingest.sock"])
        self.assertEqual(values(svc, "Service", "RuntimeDirectory"), ["seatmeter"])
        self.assertEqual(values(svc, "Service", "RuntimeDirectoryPreserve"), ["yes"])
        # Who may write to it is the agent's group.
        self.assertEqual(values(ingest, "Socket", "SocketGroup"), values(agent, "Service", "Group"))
        self.assertEqual(values(ingest, "Socket", "SocketMode"), ["0660"])

        # An agent with no --connect goes where the socket unit listens.
        r = run([self.lay.d(self.lay.agent), "run", "--help"], timeout=30)
        m = re.search(r"--connect URI.*\(default (\S+)\)", r.stdout)
        self.assertIsNotNone(m, f"agent run --help names no default URI:\n{r.stdout}{r.stderr}")
        self.assertEqual(m.group(1), "unix:/run/seatmeter/ingest.sock")
        # The HTTP socket is where the daemon listens without systemd.
        with tempfile.NamedTemporaryFile("w", suffix=".conf") as empty:
            r = run([self.lay.d(self.lay.daemon), "--verify", "--config", empty.name], timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("http = " + values(http, "Socket", "ListenStream")[0], r.stdout.splitlines())

    def test_sysusers_and_tmpfiles(self):
        if not SYSUSERS or not TMPFILES:
            self.skipTest("systemd-sysusers or systemd-tmpfiles is not installed")
        root = tempfile.mkdtemp(prefix="seatmeter-root-")
        self.addCleanup(shutil.rmtree, root, True)
        os.makedirs(os.path.join(root, "etc"))
        r = run([SYSUSERS, f"--root={root}", self.lay.d(self.lay.sysusers)], timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        users, groups = {}, {}
        with open(os.path.join(root, "etc", "passwd")) as f:
            for line in f:
                name, _, uid, gid, _, home, shell = line.rstrip("\n").split(":")
                users[name] = (int(uid), int(gid), home, shell)
        with open(os.path.join(root, "etc", "group")) as f:
            for line in f:
                name, _, gid, _ = line.rstrip("\n").split(":")
                groups[name] = int(gid)
        for user, home in (("seatmeter", "/var/lib/seatmeter"), ("seatmeter-agent", "/var/lib/seatmeter-agent")):
            self.assertIn(user, users)
            self.assertLess(users[user][0], 1000, "not a system user")
            self.assertEqual(users[user][1], groups[user])
            self.assertEqual(users[user][2], home)
            self.assertTrue(users[user][3].endswith("nologin"))
        for u in ("seatmeterd.service", "seatmeter-agent.service"):
            svc = self.units[u]
            self.assertIn(values(svc, "Service", "User")[0], users)
            self.assertIn(values(svc, "Service", "Group")[0], groups)
        self.assertIn(values(self.units["seatmeterd.socket"], "Socket", "SocketGroup")[0], groups)

        r = run([TMPFILES, "--create", f"--root={root}", self.lay.d(self.lay.tmpfiles)], timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        want = {"run/seatmeter": (0o755, "seatmeter"), "var/lib/seatmeter": (0o750, "seatmeter"),
                "var/lib/seatmeter-agent": (0o700, "seatmeter-agent")}
        for path, (mode, owner) in want.items():
            st = os.stat(os.path.join(root, path))
            self.assertEqual(st.st_mode & 0o7777, mode, path)
            self.assertEqual((st.st_uid, st.st_gid), (users[owner][0], groups[owner]), path)
        # The units agree with the snippet on the modes of the directories.
        self.assertEqual(values(self.units["seatmeterd.service"], "Service", "StateDirectoryMode"), ["0750"])
        self.assertEqual(values(self.units["seatmeter-agent.service"], "Service", "StateDirectoryMode"), ["0700"])

    def test_socket_activation_as_units_do(self):
        """The installed daemon, started with its ExecStart line and the two sockets named as the socket
        units name them, serves HTTP on the passed socket and takes an agent on the passed unix socket."""
        if not SOCKET_ACTIVATE:
            self.skipTest("systemd-socket-activate is not installed")
        work = tempfile.mkdtemp(prefix="seatmeter-activate-")
        self.addCleanup(shutil.rmtree, work, True)
        state, runtime = os.path.join(work, "state"), os.path.join(work, "run")
        os.makedirs(state)
        os.makedirs(runtime)
        with socket.socket() as s:  # a free port; systemd-socket-activate wants a number
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        ingest = os.path.join(runtime, "ingest.sock")
        exec_start = values(self.units["seatmeterd.service"], "Service", "ExecStart")[0].split()
        # systemd-socket-activate gives the child a fresh environment: -E passes what systemd would set.
        argv = [SOCKET_ACTIVATE, "-l", f"127.0.0.1:{port}", "-l", ingest, "--fdname=http:ingest",
                "-E", f"STATE_DIRECTORY={state}", "-E", f"RUNTIME_DIRECTORY={runtime}",
                self.lay.d(exec_start[0])] + exec_start[1:]
        d = harness.Process(argv, cwd=work, name="seatmeterd")
        self.addCleanup(d.stop)
        # systemd-socket-activate starts the daemon on the first connection, as systemd does.
        d.wait_line(r"Listening on .* as 4", timeout=10)
        health = f"http://127.0.0.1:{port}/healthz"

        def healthy():
            try:
                with urllib.request.urlopen(health, timeout=5) as r:
                    return r.status == 200
            except OSError:
                return False
        harness.wait_until(healthy, timeout=20, interval=0.2, what="GET /healthz on the passed socket")
        m = d.wait_line(r"\bready\b.*\bhttp=\S+:(\d+)", timeout=10)
        self.assertEqual(int(m.group(1)), port)
        self.assertIn(f"listen=unix:{ingest}", m.string)
        self.assertTrue(os.path.exists(os.path.join(state, "seatmeter.db")), "db not in $STATE_DIRECTORY")
        a = harness.Agent(f"unix:{ingest}", "units-agent", work, interval_ms=200,
                          env={"STATE_DIRECTORY": state})
        self.addCleanup(a.stop)
        url = f"http://127.0.0.1:{port}/api/v1/agents"

        def agent_listed():
            try:
                with urllib.request.urlopen(url, timeout=5) as r:
                    return r.status == 200 and b"units-agent" in r.read()
            except OSError:
                return False
        harness.wait_until(agent_listed, timeout=20, what="the agent in /api/v1/agents")
        self.assertEqual(a.stop(), 0)
        self.assertEqual(d.stop(), 0)


if __name__ == "__main__":
    harness.main()
