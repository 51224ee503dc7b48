#!/usr/bin/env python3
"""meson install of the real build into a temporary DESTDIR: every file at its place, nothing outside the
prefix, units filled in with the prefix, man pages clean under groff and true to the key tables of
daemon/config.c and agent/run-settings.c, and the example config accepted by the installed seatmeterd with every
documented default matching the one it reports. A second case configures, builds and installs a fresh
build tree with --prefix=/opt/seatmeter and checks the same paths under that prefix.

install_tree() and the path helpers are shared with test_units.py."""

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

MESON = shutil.which("meson")
GROFF = shutil.which("groff")
INSTALL_TIMEOUT = 120
BUILD_TIMEOUT = 420

UNITS = ["seatmeterd.service", "seatmeterd.socket", "seatmeterd-http.socket", "seatmeter-agent.service"]
MAN_PAGES = ["man8/seatmeterd.8", "man8/seatmeter-agent.8", "man5/seatmeterd.conf.5"]


def run(argv, timeout, **kw):
    """Runs argv; returns the CompletedProcess (stdout and stderr as text). Raises on timeout."""
    return subprocess.run([str(a) for a in argv], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, timeout=timeout, **kw)


def build_options(build_root):
    """The directory options of a configured build tree, as absolute paths under its prefix."""
    r = run([MESON, "introspect", "--buildoptions", build_root], timeout=60)
    if r.returncode != 0:
        raise AssertionError(f"meson introspect failed: {r.stderr}")
    opts = {o["name"]: o["value"] for o in json.loads(r.stdout)}
    prefix = opts["prefix"]
    paths = {"prefix": prefix}
    for name in ("bindir", "sbindir", "datadir", "mandir", "sysconfdir"):
        paths[name] = os.path.join(prefix, opts[name])  # an absolute option value wins, as in meson
    return paths


class Layout:
    """Where the install puts things, from a build tree's options (the paths documented in docs/systemd.md)."""

    def __init__(self, build_root, destdir):
        self.paths = build_options(build_root)
        self.destdir = destdir
        p = self.paths
        self.prefix = p["prefix"]
        self.agent = os.path.join(p["bindir"], "seatmeter-agent")
        self.daemon = os.path.join(p["sbindir"], "seatmeterd")
        self.unitdir = os.path.join(self.prefix, "lib", "systemd", "system")
        self.sysusers = os.path.join(self.prefix, "lib", "sysusers.d", "seatmeter.conf")
        self.tmpfiles = os.path.join(self.prefix, "lib", "tmpfiles.d", "seatmeter.conf")
        self.mandir = p["mandir"]
        self.docdir = os.path.join(p["datadir"], "doc", "seatmeter")
        self.example = os.path.join(self.docdir, "seatmeterd.conf.example")

    def d(self, path):
        """path inside the DESTDIR image."""
        return os.path.join(self.destdir, path.lstrip("/"))

    def expected(self):
        files = [self.agent, self.daemon, self.sysusers, self.tmpfiles, self.example,
                 os.path.join(self.docdir, "systemd.md")]
        files += [os.path.join(self.unitdir, u) for u in UNITS]
        files += [os.path.join(self.mandir, m) for m in MAN_PAGES]
        return files


def install_tree(build_root, destdir):
    """meson install of an already built tree into destdir; returns its Layout."""
    r = run([MESON, "install", "-C", build_root, "--destdir", destdir, "--no-rebuild", "--quiet"],
            timeout=INSTALL_TIMEOUT)
    if r.returncode != 0:
        raise AssertionError(f"meson install failed ({r.returncode}):\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
    return Layout(build_root, destdir)


def listing(destdir):
    """Every file and symlink below destdir, as absolute paths of the installed system."""
    out = set()
    for top, _, files in os.walk(destdir):
        for f in files:
            out.add("/" + os.path.relpath(os.path.join(top, f), destdir))
    return out


def c_table(path, start, end):
    """The text of a C initialiser between two markers of a source file."""
    with open(path) as f:
        s = f.read()
    i = s.index(start)
    return s[i:s.index(end, i)]


def daemon_keys():
    """(section, name, type, default, min, max) of every row of daemon/config.c's key table (rows of the
    settings engine of common/conf.h: {"section", "name", FIELD(...), TYPE..., .def = "..."}). type is
    "UINT" for a bounded unsigned with literal bounds."""
    table = c_table(os.path.join(harness.SOURCE_ROOT, "daemon", "config.c"), "config_keys[] = {", "};")
    out = []
    for sec, name, rest in re.findall(r'(?m)^\s*\{"(\w+)",\s*(?:\w+\()?"(\w+)"\)?,(.*)\},?\s*$', table):
        uint = re.search(r"\bUINT\((\d+),\s*(\d+)\)", rest)
        dflt = re.search(r'\.def = ("[^"]*")', rest)
        word = re.search(r"\b(CUSTOM|PATH|UINT)\b", rest)
        typ = "UINT" if uint else word.group(1) + "?" if word else "DOUBLE"  # "UINT?": bounds not literal
        lo, hi = (int(uint.group(1)), int(uint.group(2))) if uint else (0, 0)
        out.append((sec, name, typ, dflt.group(1) if dflt else "NULL", lo, hi))
    if len(out) < 10:
        raise AssertionError(f"could not read the key table of daemon/config.c ({len(out)} rows)")
    return out


def agent_keys():
    """The config keys of the [agent] settings table of agent/run-settings.c."""
    table = c_table(os.path.join(harness.SOURCE_ROOT, "agent", "run-settings.c"), "run_keys[] = {", "};")
    keys = re.findall(r'\{"agent",\s*"(\w+)"', table)
    if len(keys) < 4:
        raise AssertionError("could not read the settings table of agent/run-settings.c")
    return keys


def roff_text(path):
    """A man page's source with roff escapes for '-' and quotes undone, for plain searches."""
    with open(path) as f:
        return f.read().replace("\\-", "-").replace("\\(dq", '"').replace("\\e", "\\")


class InstallTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not MESON:
            raise unittest.SkipTest("meson is not installed")
        cls.tmp = tempfile.TemporaryDirectory(prefix="seatmeter-install-")
        cls.lay = install_tree(harness.BUILD_ROOT, os.path.join(cls.tmp.name, "dest"))

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_listing(self):
        lay = self.lay
        got = listing(lay.destdir)
        missing = [p for p in lay.expected() if p not in got]
        self.assertEqual(missing, [], "not installed (man pages and systemd.md come from docs/meson.build, "
                         "which the top-level meson.build must include); installed are:\n" + "\n".join(sorted(got)))
        for exe in (lay.agent, lay.daemon):
            self.assertTrue(os.access(lay.d(exe), os.X_OK), f"{exe} is not executable")
        for p in lay.expected():
            if p not in (lay.agent, lay.daemon):
                mode = os.stat(lay.d(p)).st_mode & 0o7777
                self.assertEqual(mode & 0o7022, 0, f"{p}: mode {mode:o} (writable by others or set-id)")
        # Nothing lands outside the prefix: an install must never write /etc or /var.
        outside = sorted(p for p in got if not p.startswith(lay.prefix.rstrip("/") + "/"))
        self.assertEqual(outside, [], "installed outside the prefix")

    def test_units_filled_in(self):
        lay = self.lay
        for u in UNITS:
            with open(lay.d(os.path.join(lay.unitdir, u))) as f:
                text = f.read()
            self.assertNotRegex(text, r"@\w+@", f"{u}: unsubstituted placeholder")
        with open(lay.d(os.path.join(lay.unitdir, "seatmeterd.service"))) as f:
            self.assertRegex(f.read(), rf"(?m)^ExecStart={re.escape(lay.daemon)}(\s|$)")
        with open(lay.d(os.path.join(lay.unitdir, "seatmeter-agent.service"))) as f:
            self.assertRegex(f.read(), rf"(?m)^ExecStart={re.escape(lay.agent)} run(\s|$)")

    def test_man_pages_render_cleanly(self):
        if not GROFF:
            self.skipTest("groff is not installed")
        for m in MAN_PAGES:
            path = self.lay.d(os.path.join(self.lay.mandir, m))
            r = run([GROFF, "-man", "-Tutf8", "-ww", "-z", path], timeout=60)
            self.assertEqual((r.returncode, r.stderr), (0, ""), f"{m}: groff warnings")
            r = run([GROFF, "-man", "-Tutf8", path], timeout=60, env=dict(os.environ, LC_ALL="C.UTF-8"))
            text = re.sub(".\b", "", r.stdout)  # overstrike bold and underline
            for heading in ("NAME", "SYNOPSIS", "DESCRIPTION", "SEE ALSO"):
                self.assertRegex(text, rf"(?m)^{heading}$", f"{m}: renders without {heading}")

    def test_conf_page_matches_key_table(self):
        """seatmeterd.conf(5) lists every key of daemon/config.c with its default and bounds."""
        page = roff_text(self.lay.d(os.path.join(self.lay.mandir, "man5", "seatmeterd.conf.5")))
        sections = {"daemon": ".SH [daemon]", "bbb": ".SH [bbb NAME]", "agent": ".SH [agent NAME]",
                    "capacity": ".SH [capacity]", "experiment": ".SH [experiment NAME]"}
        for sec, name, typ, dflt, lo, hi in daemon_keys():
            start = page.find(sections[sec])
            self.assertGreaterEqual(start, 0, f"no section {sections[sec]}")
            nxt = page.find("\n.SH ", start + 1)
            body = page[start:nxt if nxt > 0 else len(page)]
            m = re.search(rf'(?m)^\.B[IR]? {name}\b(.*)$', body)
            self.assertIsNotNone(m, f"[{sec}] {name} is not described")
            entry = body[m.start():]
            entry = entry[:entry.find("\n.TP", 1) if entry.find("\n.TP", 1) > 0 else len(entry)]
            if typ == "UINT":
                self.assertIn(f"{lo} to {hi}", entry, f"{name}: bounds {lo} to {hi} not stated")
            if dflt.startswith('"') and dflt != '""':
                self.assertRegex(entry, rf"Default\s+(\.BR?\s+)?{re.escape(dflt.strip(chr(34)))}\b",
                                 f"{name}: default {dflt} not stated")

    def test_agent_page_matches_settings(self):
        page = roff_text(self.lay.d(os.path.join(self.lay.mandir, "man8", "seatmeter-agent.8")))
        i = page.index(".SH CONFIGURATION FILE")
        body = page[i:page.index("\n.SH ", i + 1)]
        for key in agent_keys():
            self.assertRegex(body, rf"\.BR? {key}\b", f"agent config key {key} not described")

    def test_example_config(self):
        """The example is valid as installed, every default it shows is the daemon's, and with every
        setting uncommented (and the secret file present) it is still valid."""
        lay = self.lay
        work = tempfile.mkdtemp(prefix="seatmeter-example-")
        self.addCleanup(shutil.rmtree, work, True)
        # As under systemd, except that the runtime directory (which systemd creates before the start, and
        # --verify checks the ingest socket's folder exists) is a temporary one, named back in the output.
        run_dir = os.path.join(work, "run")
        os.mkdir(run_dir)
        env = dict(os.environ, STATE_DIRECTORY="/var/lib/seatmeter", RUNTIME_DIRECTORY=run_dir)
        daemon = lay.d(lay.daemon)
        with open(lay.d(lay.example)) as f:
            example = f.read()

        r = run([daemon, "--verify", "--config", lay.d(lay.example)], timeout=30, env=env, cwd=work)
        self.assertEqual(r.returncode, 0, f"example rejected:\n{r.stdout}\n{r.stderr}")
        effective = set(l.strip().replace(run_dir, "/run/seatmeter") for l in r.stdout.splitlines())
        daemon_part = example[example.index("[daemon]"):example.index("[bbb")]
        shown = re.findall(r"(?m)^;(\w+) = ?(.*)$", daemon_part)
        self.assertGreater(len(shown), 10)
        seen = set()
        for key, value in shown:
            if key in seen:  # further listen examples, not defaults
                continue
            seen.add(key)
            self.assertIn(f"{key} = {value}".rstrip(), effective | {l.rstrip() for l in effective},
                          f"the example shows '{key} = {value}' but the daemon's default differs:\n{r.stdout}")
        documented = {k for _, k, *_ in daemon_keys()}
        self.assertEqual(documented - {k for k, _ in re.findall(r"(?m)^;(\w+) = ?(.*)$", example)}, set(),
                         "keys of daemon/config.c missing from the example")

        secret = os.path.join(work, "bbb1.secret")
        with open(secret, "w") as f:
            f.write("0123456789abcdef\n")
        os.chmod(secret, 0o640)
        full = re.sub(r"(?m)^;(?=\[|\w+ =)", "", example).replace("/etc/seatmeter/bbb1.secret", secret)
        full = full.replace("/run/seatmeter/", run_dir + "/")
        if not harness.vsock_available():  # --verify checks the transport, as startup would need it
            full = re.sub(r"(?m)^listen = vsock:.*\n", "", full)
        path = os.path.join(work, "full.conf")
        with open(path, "w") as f:
            f.write(full)
        r = run([daemon, "--verify", "--config", path], timeout=30, env=env, cwd=work)
        self.assertEqual(r.returncode, 0, f"example with every line uncommented rejected:\n{r.stdout}\n{r.stderr}")
        self.assertIn("[bbb bbb1]", r.stdout)
        self.assertIn("[agent bbb1-lxc]", r.stdout)


class PrefixTest(unittest.TestCase):
    """A fresh build tree with --prefix=/opt/seatmeter: every path follows the prefix."""

    PREFIX = "/opt/seatmeter"

    def test_custom_prefix(self):
        if not MESON:
            self.skipTest("meson is not installed")
        work = tempfile.mkdtemp(prefix="seatmeter-prefix-")
        self.addCleanup(shutil.rmtree, work, True)
        build = os.path.join(work, "build")
        r = run([MESON, "setup", build, harness.SOURCE_ROOT, f"--prefix={self.PREFIX}", "-Dtests=false",
                 "--buildtype=debug"], timeout=BUILD_TIMEOUT)
        self.assertEqual(r.returncode, 0, f"meson setup failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
        r = run([MESON, "compile", "-C", build], timeout=BUILD_TIMEOUT)
        self.assertEqual(r.returncode, 0, f"build failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
        lay = install_tree(build, os.path.join(work, "dest"))
        self.assertEqual(lay.prefix, self.PREFIX)
        got = listing(lay.destdir)
        for p in lay.expected():
            self.assertTrue(p.startswith(self.PREFIX + "/"), p)
            self.assertIn(p, got, "not installed")
        self.assertIn(f"{self.PREFIX}/lib/systemd/system/seatmeterd.service", got)
        self.assertIn(f"{self.PREFIX}/sbin/seatmeterd", got)
        self.assertEqual(sorted(p for p in got if not p.startswith(self.PREFIX + "/")), [])
        with open(lay.d(os.path.join(lay.unitdir, "seatmeterd.service"))) as f:
            self.assertIn(f"ExecStart={self.PREFIX}/sbin/seatmeterd", f.read())
        with open(lay.d(os.path.join(lay.unitdir, "seatmeter-agent.service"))) as f:
            self.assertIn(f"ExecStart={self.PREFIX}/bin/seatmeter-agent run", f.read())
        with open(lay.d(lay.example)) as f:
            self.assertIn("[daemon]", f.read())
        r = run([lay.d(lay.agent), "--version"], timeout=30)
        self.assertEqual(r.returncode, 0, f"installed agent does not run: {r.stderr}")


if __name__ == "__main__":
    harness.main()
