"""Shared pieces of the integration tests: start the real seatmeterd and seatmeter-agent on temporary state,
wait for readiness with a deadline, talk HTTP, read the database, and always reap the children.

The daemon announces readiness with one log line on stderr:
    ready http=127.0.0.1:PORT listen=unix:/path/ingest.sock listen=tcp:127.0.0.1:PORT
(ports as actually bound, so tests can ask for port 0).

Environment (set by meson): SEATMETERD, SEATMETER_AGENT, SEATMETER_FIXTURES, SEATMETER_SOURCE_ROOT,
SEATMETER_BUILD_ROOT."""

import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.request

SEATMETERD = os.environ.get("SEATMETERD", "seatmeterd")
AGENT = os.environ.get("SEATMETER_AGENT", "seatmeter-agent")
FIXTURES = os.environ.get("SEATMETER_FIXTURES", "")
SOURCE_ROOT = os.environ.get("SEATMETER_SOURCE_ROOT", ".")
BUILD_ROOT = os.environ.get("SEATMETER_BUILD_ROOT", ".")

CGROUP_V1_BASE = "/sys/fs/cgroup"
CGROUP_V1_CONTROLLERS = ("cpu", "cpuacct", "cpuset", "memory")

_children = []


def vsock_available():
    """Whether this kernel can bind a vsock socket (a transport is loaded)."""
    try:
        with socket.socket(socket.AF_VSOCK, socket.SOCK_STREAM) as s:
            s.bind((socket.VMADDR_CID_ANY, socket.VMADDR_PORT_ANY))
        return True
    except (OSError, AttributeError):
        return False


def wait_until(predicate, timeout=10.0, interval=0.05, what="condition"):
    """Polls predicate() until it returns a true value, which is returned; fails the test after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        v = predicate()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


class Process:
    """A child whose stderr (and stdout) lines are collected by a thread, killed at exit if still running."""

    def __init__(self, argv, env=None, cwd=None, name=None):
        self.argv = [str(a) for a in argv]
        self.name = name or os.path.basename(self.argv[0])
        self.lines = []
        self.cond = threading.Condition()
        e = dict(os.environ)
        if env:
            e.update(env)
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, env=e, cwd=cwd, start_new_session=True)
        _children.append(self)
        self.thread = threading.Thread(target=self._pump, daemon=True)
        self.thread.start()

    def _pump(self):
        for raw in self.proc.stdout:
            line = raw.decode(errors="replace").rstrip("\n")
            if os.environ.get("SEATMETER_TEST_VERBOSE"):
                print(f"[{self.name}] {line}", file=sys.stderr)
            with self.cond:
                self.lines.append(line)
                self.cond.notify_all()
        with self.cond:
            self.cond.notify_all()

    def wait_line(self, pattern, timeout=10.0, start=0):
        """Waits for a line matching regex pattern (from line index start on); returns the match."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self.cond:
            i = start
            while True:
                while i < len(self.lines):
                    m = rx.search(self.lines[i])
                    if m:
                        return m
                    i += 1
                if self.proc.poll() is not None and not self.thread.is_alive():
                    raise AssertionError(f"{self.name} exited ({self.proc.returncode}) before printing "
                                         f"/{pattern}/; output:\n" + "\n".join(self.lines[-40:]))
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"timed out waiting for /{pattern}/ from {self.name}; output:\n"
                                         + "\n".join(self.lines[-40:]))
                self.cond.wait(min(left, 0.2))

    def output(self):
        with self.cond:
            return "\n".join(self.lines)

    def running(self):
        return self.proc.poll() is None

    def signal(self, sig):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)

    def stop(self, sig=None, timeout=15.0):
        """Sends sig (default SIGTERM) and waits; SIGKILL after timeout. Returns the exit code (negative:
        killed by signal)."""
        if sig is None:  # not a default argument: the method signal() above shadows the module in here
            sig = signal.SIGTERM
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.thread.join(5)
        if not self.thread.is_alive():
            self.proc.stdout.close()
        if self in _children:
            _children.remove(self)
        return self.proc.returncode

    def kill(self):
        return self.stop(signal.SIGKILL)


class Daemon(Process):
    """seatmeterd on a temporary folder. config is the INI text (without [daemon] db/http/listen, which are
    given on the command line); listen adds --listen URIs (default: a unix socket in the folder)."""

    def __init__(self, workdir, config="", listen=None, args=(), env=None, ready_timeout=15.0, db=None):
        self.workdir = workdir
        self.db_path = db or os.path.join(workdir, "seatmeter.db")
        self.config_path = os.path.join(workdir, "seatmeterd.conf")
        with open(self.config_path, "w") as f:
            f.write(config)
        self.unix_path = os.path.join(workdir, "ingest.sock")
        if listen is None:
            listen = [f"unix:{self.unix_path}"]
        argv = [SEATMETERD, "--config", self.config_path, "--db", self.db_path, "--http", "127.0.0.1:0"]
        for uri in listen:
            argv += ["--listen", uri]
        argv += list(args)
        super().__init__(argv, env=env, cwd=workdir, name="seatmeterd")
        m = self.wait_line(r"\bready\b.*\bhttp=([0-9.]+):(\d+)", timeout=ready_timeout)
        self.http_host, self.http_port = m.group(1), int(m.group(2))
        line = m.string
        self.listen = re.findall(r"listen=(\S+)", line)
        self.tcp_port = None
        for uri in self.listen:
            if uri.startswith("tcp:"):
                self.tcp_port = int(uri.rsplit(":", 1)[1])

    @property
    def base_url(self):
        return f"http://{self.http_host}:{self.http_port}"

    def http(self, path, method="GET", headers=None, body=None, timeout=10.0):
        """Returns (status, headers dict with lower-case names, body bytes); never raises on HTTP errors."""
        req = urllib.request.Request(self.base_url + path, method=method, headers=headers or {}, data=body)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read()
        except urllib.error.HTTPError as e:
            return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()

    def get_json(self, path, expect=200, **kw):
        status, _, body = self.http(path, **kw)
        if status != expect:
            raise AssertionError(f"GET {path}: HTTP {status} (wanted {expect}): {body[:500]!r}")
        return json.loads(body)

    def query(self, sql, params=()):
        """Runs a read-only query on the daemon's database (a separate connection, as any reader would)."""
        con = sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True, timeout=10)
        try:
            return con.execute(sql, params).fetchall()
        finally:
            con.close()


class Agent(Process):
    """seatmeter-agent run against a daemon URI, with its spool in a temporary folder."""

    def __init__(self, connect, agent_id, workdir, interval_ms=1000, token_file=None, args=(), env=None,
                 spool=None):
        self.spool = spool or os.path.join(workdir, f"spool-{agent_id}")
        os.makedirs(self.spool, exist_ok=True)
        argv = [AGENT, "run", "--connect", connect, "--id", agent_id, "--interval", str(interval_ms),
                "--spool", self.spool]
        if token_file:
            argv += ["--token-file", token_file]
        argv += list(args)
        super().__init__(argv, env=env, cwd=workdir, name=f"agent:{agent_id}")


class CgroupsV1:
    """Cgroups a test makes in the v1 hierarchies (root only), named prefix + rel under each controller and
    removed by remove(), children first."""

    def __init__(self, prefix=""):
        self.prefix = prefix
        self.created = []  # (controller, rel) in creation order

    def path(self, ctrl, rel):
        return os.path.join(CGROUP_V1_BASE, ctrl, self.prefix + rel)

    def make(self, rel, ctrls=CGROUP_V1_CONTROLLERS):
        """Creates rel under each of ctrls; a new cpuset gets its parent's cpus and mems (v1 leaves them
        empty)."""
        for c in ctrls:
            os.mkdir(self.path(c, rel))
            self.created.append((c, rel))
            if c == "cpuset":
                parent = os.path.dirname(self.path(c, rel))
                for f in ("cpuset.cpus", "cpuset.mems"):
                    with open(os.path.join(parent, f)) as src:
                        self.write(c, rel, f, src.read().strip())

    def write(self, ctrl, rel, name, value):
        with open(os.path.join(self.path(ctrl, rel), name), "w") as f:
            f.write(str(value))

    def read(self, ctrl, rel, name):
        with open(os.path.join(self.path(ctrl, rel), name)) as f:
            return f.read()

    def procs(self, rel):
        """The cgroup.procs files that move a process into rel of every controller."""
        return [os.path.join(self.path(c, rel), "cgroup.procs") for c in CGROUP_V1_CONTROLLERS]

    def remove(self):
        """Removes every cgroup made so far; returns the paths that could not be removed."""
        left = []
        for c, rel in reversed(self.created):
            p = self.path(c, rel)
            for attempt in range(50):  # members may still be exiting: bounded retries
                try:
                    os.rmdir(p)
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    if attempt == 25:  # still busy: what is left in our own cgroup was started here
                        self._kill_members(p)
                    time.sleep(0.1)
            else:
                left.append(p)
        self.created = []
        return left

    @staticmethod
    def _kill_members(p):
        try:
            with open(os.path.join(p, "cgroup.procs")) as f:
                pids = [int(x) for x in f.read().split()]
        except OSError:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def tempdir(test):
    """A temporary folder removed when the test ends."""
    d = tempfile.TemporaryDirectory(prefix="seatmeter-test-")
    test.addCleanup(d.cleanup)
    return d.name


def reap_all():
    for p in list(_children):
        try:
            p.kill()
        except Exception:
            pass


def main():
    """Runs the unittest cases of the calling module. Exit 0 when all pass, 1 on any failure, and 77
    (skipped, with the reasons as the last line) when every test was skipped."""
    try:
        prog = unittest.main(exit=False, verbosity=2)
    finally:
        reap_all()
    r = prog.result
    if r.failures or r.errors or r.unexpectedSuccesses:
        sys.exit(1)
    if r.testsRun and len(r.skipped) == r.testsRun:
        reasons = sorted({why for _, why in r.skipped})
        print("SKIP: " + "; ".join(reasons))
        sys.exit(77)
    if not r.testsRun:
        print("SKIP: no test ran")
        sys.exit(77)
    sys.exit(0)
