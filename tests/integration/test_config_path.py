#!/usr/bin/env python3
"""The configuration the daemon reads is the one the units, man pages, example and docs name.

* The installed tree of this build (meson install --destdir): the installed seatmeterd, started without
  --config, looks for /etc/seatmeter/seatmeterd.conf (for the /usr and /usr/local prefixes), says so in its
  log and in --help; the installed units pass no other path (seatmeterd.service) or that directory
  (seatmeter-agent.service) and name it as their ConfigurationDirectory; the man pages and the example
  agree.
* meson setup with --prefix=/usr and --prefix=/usr/local (configure only): the compiled-in default and the
  generated units both say /etc.
* The running daemon says which file it read, or that it runs on built-in defaults, at startup and in
  GET /api/v1/status (with its database and version)."""

import json
import os
import re
import sys
import tempfile
import unittest
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import Daemon, Process  # noqa: E402
from test_install import MESON, install_tree, roff_text, run  # noqa: E402

CONF = "/etc/seatmeter/seatmeterd.conf"


class InstalledTree(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not MESON:
            raise unittest.SkipTest("meson is not installed")
        cls.tmp = tempfile.TemporaryDirectory(prefix="seatmeter-confpath-")
        cls.lay = install_tree(harness.BUILD_ROOT, os.path.join(cls.tmp.name, "dest"))
        if cls.lay.prefix not in ("/usr", "/usr/local"):
            raise unittest.SkipTest(f"this build's prefix is {cls.lay.prefix}, not /usr or /usr/local")

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def read(self, path):
        with open(self.lay.d(path)) as f:
            return f.read()

    def test_daemon_default(self):
        if os.path.exists(CONF):
            self.skipTest(f"{CONF} exists on this machine")
        work = harness.tempdir(self)
        r = run([self.lay.d(self.lay.daemon), "--verify"], timeout=30, cwd=work)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(f"No configuration file ('{CONF}' does not exist): running on built-in defaults.", r.stderr)
        self.assertIn("# no configuration file read: built-in defaults", r.stdout)
        r = run([self.lay.d(self.lay.daemon), "--help"], timeout=30)
        self.assertIn(CONF, r.stdout)

    def test_units(self):
        unit = self.read(os.path.join(self.lay.unitdir, "seatmeterd.service"))
        exec_start = re.search(r"^ExecStart=(.*)$", unit, re.M).group(1)
        self.assertNotIn("--config", exec_start, "the daemon's unit must read the default the binary reads")
        self.assertIn("ConfigurationDirectory=seatmeter\n", unit)
        self.assertIn("# /etc/seatmeter: seatmeterd.conf", unit)
        agent = self.read(os.path.join(self.lay.unitdir, "seatmeter-agent.service"))
        self.assertIn("--config /etc/seatmeter/agent.conf", agent)
        self.assertIn("ConditionPathExists=/etc/seatmeter/agent.conf", agent)
        self.assertIn("ConfigurationDirectory=seatmeter\n", agent)

    def test_man_pages_and_example(self):
        for page in ("man8/seatmeterd.8", "man5/seatmeterd.conf.5"):
            self.assertIn(CONF, roff_text(self.lay.d(os.path.join(self.lay.mandir, page))), page)
        self.assertIn(f"Copy this file to {CONF}.", self.read(self.lay.example))
        with open(os.path.join(harness.SOURCE_ROOT, "docs", "systemd.md")) as f:
            self.assertIn(f"The daemon reads `{CONF}`", f.read())


class Prefixes(unittest.TestCase):
    def test_usr_and_usr_local(self):
        if not MESON:
            self.skipTest("meson is not installed")
        for prefix in ("/usr", "/usr/local"):
            with self.subTest(prefix=prefix):
                build = os.path.join(harness.tempdir(self), "build")
                r = run([MESON, "setup", build, harness.SOURCE_ROOT, f"--prefix={prefix}", "-Dtests=false"],
                        timeout=300)
                self.assertEqual(r.returncode, 0, r.stdout[-2000:] + r.stderr[-2000:])
                with open(os.path.join(build, "config-build.h")) as f:
                    self.assertIn('#define SYSCONFDIR "/etc"', f.read())
                with open(os.path.join(build, "systemd", "seatmeter-agent.service")) as f:
                    self.assertIn("--config /etc/seatmeter/agent.conf", f.read())
                with open(os.path.join(build, "systemd", "seatmeterd.service")) as f:
                    self.assertIn("ConfigurationDirectory=seatmeter\n", f.read())


class Status(unittest.TestCase):
    def test_file_read(self):
        work = harness.tempdir(self)
        d = Daemon(work, config="[daemon]\nraw_retention_days = 9\n")
        self.assertRegex(d.output(), re.escape(f"Configuration read from '{os.path.realpath(d.config_path)}'."))
        s = d.get_json("/api/v1/status")
        self.assertEqual(s["config_file"], os.path.realpath(d.config_path))
        self.assertEqual(s["config_source"], "file")
        self.assertEqual(s["db"], os.path.realpath(d.db_path))
        self.assertRegex(s["version"], r"^\d+\.\d+\.\d+")
        self.assertEqual(d.stop(), 0)

    def test_built_in_defaults(self):
        if os.path.exists(CONF):
            self.skipTest(f"{CONF} exists on this machine")
        work = harness.tempdir(self)
        p = Process([harness.SEATMETERD, "--http", "127.0.0.1:0", "--listen", f"unix:{work}/i.sock"], cwd=work)
        m = p.wait_line(r"\bready\b.*\bhttp=([0-9.]+):(\d+)", timeout=15)
        self.assertIn("running on built-in defaults", p.output())
        with urllib.request.urlopen(f"http://{m.group(1)}:{m.group(2)}/api/v1/status", timeout=10) as r:
            s = json.loads(r.read())
        self.assertIsNone(s["config_file"])
        self.assertEqual(s["config_source"], "built-in defaults")
        self.assertEqual(s["db"], os.path.join(os.path.realpath(work), "seatmeter.db"))
        self.assertEqual(p.stop(), 0)


if __name__ == "__main__":
    harness.main()
