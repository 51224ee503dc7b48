#!/usr/bin/env python3
"""Build options a packager relies on, each configured and built from a copy of the source without
daemon/web/node_modules (so no `npm ci` and no node are involved):

* -Ddaemon=false: an agent-only build and install, with pkg-config shown only the agent's libraries
  (libsystemd, libcgroup, libprotobuf-c, inih); the same restricted setup with the daemon fails, which
  proves the restriction bites. The install holds the agent, its unit and man page, and nothing of the
  daemon's.
* -Ddashboard=false: seatmeterd builds without any dashboard asset; it answers GET / with 404 and
  serves the API as usual.
* the default build's seatmeterd (the one under test) serves the vendored, checksummed uPlot.
* -Duplot=FOLDER with a copy of the pinned uPlot in a folder of its own: the build takes it from there
  (build.ninja names the folder's files, not vendor/) and seatmeterd serves its bytes.
* a checksum mismatch: a vendored uPlot with one byte more stops `meson setup` with an error naming the
  file and both sha256 sums; the same modified copy given as -Duplot=FOLDER is only a warning (a system
  copy may be another version), naming the file too.
* -Duplot=npm: without node_modules, `meson setup` fails saying to run `npm ci`; with the uplot package
  that `npm ci` installed in the source tree (when it was run; node and the network are not used here),
  setup takes the files from node_modules/uplot/dist.

Debug builds with tests off; 38 s in all on a shared 2-core machine, of which the uPlot checks take 20 s."""

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import Daemon, Process  # noqa: E402
from test_install import MESON, listing, run  # noqa: E402

BUILD_TIMEOUT = 600
AGENT_PCS = ("libsystemd", "libcgroup", "libprotobuf-c", "inih", "systemd")
VENDOR = os.path.join(harness.SOURCE_ROOT, "daemon", "web", "vendor", "uplot")
UPLOT_FILES = ("uPlot.iife.min.js", "uPlot.min.css")


def source_copy(dest):
    """The source tree without build folders, git data and node_modules."""
    def ignore(d, names):
        skip = {".git", "node_modules"}
        if os.path.abspath(d) == os.path.abspath(harness.SOURCE_ROOT):
            skip |= {n for n in names if os.path.exists(os.path.join(d, n, "meson-private"))}
        return [n for n in names if n in skip]
    shutil.copytree(harness.SOURCE_ROOT, dest, ignore=ignore, symlinks=True)
    return dest


def agent_pkgconfig(dest):
    """A pkg-config folder holding only the .pc files of the agent's libraries."""
    os.makedirs(dest)
    for name in AGENT_PCS:
        r = run(["pkg-config", "--variable=pcfiledir", name], timeout=30)
        if r.returncode == 0:
            os.symlink(os.path.join(r.stdout.strip(), name + ".pc"), os.path.join(dest, name + ".pc"))
    return dest


class BuildOptions(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not MESON:
            raise unittest.SkipTest("meson is not installed")
        cls.tmp = tempfile.TemporaryDirectory(prefix="seatmeter-buildopts-")
        cls.src = source_copy(os.path.join(cls.tmp.name, "src"))

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def setup_build(self, name, options, env=None):
        build = os.path.join(self.tmp.name, name)
        r = run([MESON, "setup", build, self.src, "--buildtype=debug"] + options, timeout=BUILD_TIMEOUT,
                env=dict(os.environ, **(env or {})))
        return build, r

    def test_agent_only(self):
        env = {"PKG_CONFIG_LIBDIR": agent_pkgconfig(os.path.join(self.tmp.name, "pc")), "PKG_CONFIG_PATH": ""}
        _, r = self.setup_build("with-daemon", [], env)
        self.assertNotEqual(r.returncode, 0, "the daemon configured without its libraries")
        self.assertRegex(r.stdout + r.stderr, r"libmicrohttpd|sqlite3")

        build, r = self.setup_build("agent-only", ["-Ddaemon=false"], env)
        self.assertEqual(r.returncode, 0, r.stdout[-3000:] + r.stderr[-3000:])
        r = run(["ninja", "-C", build], timeout=BUILD_TIMEOUT, env=dict(os.environ, **env))
        self.assertEqual(r.returncode, 0, r.stdout[-3000:] + r.stderr[-3000:])
        dest = os.path.join(self.tmp.name, "agent-dest")
        r = run([MESON, "install", "-C", build, "--destdir", dest, "--no-rebuild", "--quiet"], timeout=120)
        self.assertEqual(r.returncode, 0, r.stdout[-3000:] + r.stderr[-3000:])
        got = listing(dest)
        names = {os.path.basename(p) for p in got}
        for want in ("seatmeter-agent", "seatmeter-agent.service", "seatmeter-agent.8"):
            self.assertIn(want, names)
        daemon_files = [p for p in got if "seatmeterd" in os.path.basename(p)]
        self.assertEqual(daemon_files, [], "an agent-only install holds daemon files")
        agent = [p for p in got if p.endswith("/bin/seatmeter-agent")][0]
        r = run([os.path.join(dest, agent.lstrip("/")), "--version"], timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_no_dashboard(self):
        build, r = self.setup_build("no-dashboard", ["-Ddashboard=false", "-Dtests=false"])
        self.assertEqual(r.returncode, 0, r.stdout[-3000:] + r.stderr[-3000:])
        r = run(["ninja", "-C", build, "daemon/seatmeterd"], timeout=BUILD_TIMEOUT)
        self.assertEqual(r.returncode, 0, r.stdout[-3000:] + r.stderr[-3000:])
        p, d = self.serve(build)
        self.assertEqual(d.http("/")[0], 404)
        self.assertEqual(d.http("/assets/uPlot.iife.min.js")[0], 404)
        self.assertEqual(d.http("/api/v1/status")[0], 200)
        self.assertEqual(p.stop(), 0)

    def test_vendored_uplot_served(self):
        d = Daemon(harness.tempdir(self))
        for name in ("uPlot.iife.min.js", "uPlot.min.css"):
            status, _, body = d.http("/assets/" + name)
            self.assertEqual(status, 200, name)
            with open(os.path.join(VENDOR, name), "rb") as f:
                self.assertEqual(body, f.read(), name)
        self.assertEqual(d.stop(), 0)

    def serve(self, build):
        """Starts the build's seatmeterd on a temporary folder; returns (process, Daemon to call http() on)."""
        work = harness.tempdir(self)
        p = Process([os.path.join(build, "daemon", "seatmeterd"), "--db", os.path.join(work, "s.db"),
                     "--http", "127.0.0.1:0", "--listen", f"unix:{work}/i.sock"], cwd=work)
        self.addCleanup(p.stop)
        m = p.wait_line(r"\bready\b.*\bhttp=([0-9.]+):(\d+)", timeout=15)
        d = Daemon.__new__(Daemon)
        d.http_host, d.http_port = m.group(1), int(m.group(2))
        return p, d

    def test_uplot_folder(self):
        folder = os.path.join(self.tmp.name, "system-uplot")
        os.makedirs(folder)
        for name in UPLOT_FILES:
            shutil.copy(os.path.join(VENDOR, name), folder)
        build, r = self.setup_build("uplot-folder", [f"-Duplot={folder}", "-Dtests=false"])
        self.assertEqual(r.returncode, 0, r.stdout[-3000:] + r.stderr[-3000:])
        self.assertNotIn("is not uPlot", r.stdout + r.stderr, "the pinned copy was taken for another version")
        ninja = read(os.path.join(build, "build.ninja"))
        for name in UPLOT_FILES:
            self.assertTrue(os.path.join(folder, name) in ninja, f"build.ninja does not read {folder}/{name}")
        self.assertFalse("vendor/uplot" in ninja, "the build still reads the vendored copy")
        r = run(["ninja", "-C", build, "daemon/seatmeterd"], timeout=BUILD_TIMEOUT)
        self.assertEqual(r.returncode, 0, r.stdout[-3000:] + r.stderr[-3000:])
        p, d = self.serve(build)
        for name in UPLOT_FILES:
            status, _, body = d.http("/assets/" + name)
            self.assertEqual(status, 200, name)
            self.assertEqual(body, read(os.path.join(folder, name), "rb"), name)
        self.assertEqual(p.stop(), 0)

    def test_uplot_checksum_mismatch(self):
        vendored = os.path.join(self.src, "daemon", "web", "vendor", "uplot", "uPlot.min.css")
        pinned = read(vendored, "rb")
        self.addCleanup(write, vendored, pinned)
        write(vendored, pinned + b"\n")
        got = hashlib.sha256(pinned + b"\n").hexdigest()
        want = hashlib.sha256(pinned).hexdigest()
        _, r = self.setup_build("uplot-mismatch", ["-Dtests=false"])
        out = r.stdout + r.stderr
        self.assertNotEqual(r.returncode, 0, "meson setup took a modified vendored uPlot")
        self.assertRegex(out, r"ERROR: .*" + re.escape(f"{vendored} is not uPlot 1.6.32: its sha256 is {got}, "
                                                       f"the pinned one is {want}"))

        folder = os.path.join(self.tmp.name, "modified-uplot")
        os.makedirs(folder)
        shutil.copy(os.path.join(VENDOR, "uPlot.iife.min.js"), folder)
        shutil.copy(vendored, folder)
        write(vendored, pinned)
        _, r = self.setup_build("uplot-folder-modified", [f"-Duplot={folder}", "-Dtests=false"])
        out = r.stdout + r.stderr
        self.assertEqual(r.returncode, 0, out[-3000:])
        self.assertRegex(out, r"WARNING: .*" + re.escape(f"{folder}/uPlot.min.css is not uPlot 1.6.32: its sha256 is "
                                                         f"{got}, the pinned one is {want}; the dashboard may"))
        self.assertNotIn("uPlot.iife.min.js is not uPlot", out)

    def test_uplot_npm(self):
        _, r = self.setup_build("uplot-npm-missing", ["-Duplot=npm", "-Dtests=false"])
        self.assertNotEqual(r.returncode, 0, "-Duplot=npm configured without node_modules")
        self.assertIn("node_modules/uplot/dist/uPlot", r.stdout + r.stderr)
        self.assertIn("run `npm ci` in daemon/web", r.stdout + r.stderr)

        installed = os.path.join(harness.SOURCE_ROOT, "daemon", "web", "node_modules", "uplot", "dist")
        if not os.path.isdir(installed):
            self.skipTest("daemon/web/node_modules/uplot is not there (`npm ci` was not run in the source tree): "
                          "-Duplot=npm with the installed package not checked")
        dist = os.path.join(self.src, "daemon", "web", "node_modules", "uplot", "dist")
        self.addCleanup(shutil.rmtree, os.path.join(self.src, "daemon", "web", "node_modules"))
        shutil.copytree(installed, dist)
        build, r = self.setup_build("uplot-npm", ["-Duplot=npm", "-Dtests=false"])
        self.assertEqual(r.returncode, 0, r.stdout[-3000:] + r.stderr[-3000:])
        ninja = read(os.path.join(build, "build.ninja"))  # the source tree's files by relative paths
        for name in UPLOT_FILES:
            self.assertTrue(f"daemon/web/node_modules/uplot/dist/{name}" in ninja,
                            f"build.ninja does not read node_modules/uplot/dist/{name}")
        self.assertFalse("vendor/uplot" in ninja, "the build still reads the vendored copy")


def read(path, mode="r"):
    with open(path, mode) as f:
        return f.read()


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)


if __name__ == "__main__":
    harness.main()
