#!/usr/bin/env python3
"""seatmeter-agent run against a scripted fake daemon (a unix socket served by this test, speaking the
wire protocol with the hand-made codec of protowire.py): backlog after a late daemon, resume after
Welcome.last_seq (never its time), acks, restarts and SIGKILL without loss, sequence numbers across restarts,
refusals, garbage from the daemon."""

import os
import signal
import socket
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import AGENT, Agent, Process  # noqa: E402
from protowire import FRAME_MAX, field_bytes, field_varint, frame, parse_fields, read_varint, varint  # noqa: E402


def run_agent(sock, workdir, agent_id="t1", interval_ms=20, token_file=None, args=(), env=None):
    return Agent("unix:" + sock, agent_id, workdir, interval_ms=interval_ms, token_file=token_file, args=args,
                 env=env, spool=os.path.join(workdir, "spool"))


def welcome(accepted=True, reason=None, last_time_ms=0, last_seq=None):
    b = field_varint(1, 1 if accepted else 0)
    if reason:
        b += field_bytes(2, reason.encode())
    b += field_varint(3, last_time_ms) + field_varint(4, int(time.time() * 1000)) + field_varint(5, 1)
    if last_seq is not None:
        b += field_varint(6, last_seq)
    return frame(4, b)


def ack(up_to_time_ms, up_to_seq):
    return frame(5, field_varint(1, up_to_time_ms) + field_varint(2, up_to_seq))


def sample_of(raw):
    m = parse_fields(raw)
    return {"seq": m[1][0], "time_ms": m[2][0], "has_limits": 3 in m, "has_cpu": 10 in m}


# --- the fake daemon ------------------------------------------------------------------------------

class FakeDaemon:
    """Serves one agent connection at a time on a unix socket. Policy knobs: accept, reason, ack,
    last_time_ms/last_seq for Welcome, garbage (sent instead of Welcome)."""

    def __init__(self, path, accept=True, reason=None, do_ack=True, last_time_ms=0, last_seq=None,
                 garbage=None):
        self.path = path
        self.accept, self.reason, self.do_ack = accept, reason, do_ack
        self.last_time_ms, self.last_seq, self.garbage = last_time_ms, last_seq, garbage
        self.lock = threading.Condition()
        self.connections = []  # per connection: {"hello": {...}, "kinds": [...], "samples": [...]}
        self.stopping = False
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def close(self):
        self.stopping = True
        self.thread.join(10)
        self.sock.close()
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass

    def _serve(self):
        while not self.stopping:
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with conn:
                conn.settimeout(0.2)
                self._session(conn)

    def _session(self, conn):
        rec = {"hello": None, "kinds": [], "samples": [], "closed": False}
        with self.lock:
            self.connections.append(rec)
        buf = b""
        while not self.stopping:
            try:
                chunk = conn.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                break
            if not chunk:
                break
            buf += chunk
            while True:
                try:
                    n, i = read_varint(buf, 0)
                except ValueError:
                    break
                assert n <= FRAME_MAX
                if len(buf) < i + n:
                    break
                body, buf = buf[i:i + n], buf[i + n:]
                f = parse_fields(body)
                reply = self._handle(rec, f)
                if reply:
                    conn.sendall(reply)
                if rec["closed"]:
                    return
        with self.lock:
            rec["closed"] = True
            self.lock.notify_all()

    def _handle(self, rec, f):
        with self.lock:
            try:
                if 1 in f:
                    h = parse_fields(f[1][0])
                    rec["hello"] = {
                        "protocol_version": h.get(1, [None])[0],
                        "agent_id": h.get(2, [b""])[0].decode(),
                        "token": h.get(3, [b""])[0].decode() if 3 in h else None,
                        "has_limits": 11 in h,
                        "cgroup_mode": h.get(8, [b""])[0].decode(),
                    }
                    rec["kinds"].append("hello")
                    if self.garbage is not None:
                        return self.garbage
                    if not self.accept:
                        rec["closed"] = True
                        return welcome(False, self.reason)
                    return welcome(True, None, self.last_time_ms, self.last_seq)
                if 2 in f:
                    rec["kinds"].append("sample")
                    new = [sample_of(f[2][0])]
                elif 3 in f:
                    rec["kinds"].append("batch")
                    new = [sample_of(s) for s in parse_fields(f[3][0]).get(1, [])]
                else:
                    rec["kinds"].append("other")
                    return None
                rec["samples"].extend(new)
                if self.do_ack:
                    return ack(new[-1]["time_ms"], new[-1]["seq"])
                return None
            finally:
                self.lock.notify_all()

    def wait(self, predicate, timeout=15.0, what="condition"):
        deadline = time.monotonic() + timeout
        with self.lock:
            while not predicate(self):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("timed out waiting for " + what)
                self.lock.wait(min(left, 0.2))

    def seqs(self, conn=None):
        with self.lock:
            cs = self.connections if conn is None else [self.connections[conn]]
            return [s["seq"] for c in cs for s in c["samples"]]


def contiguous(seqs):
    return sorted(set(seqs)) == list(range(min(seqs), max(seqs) + 1))


class AgentRunTest(unittest.TestCase):
    def setUp(self):
        d = tempfile.TemporaryDirectory(prefix="seatmeter-test-")
        self.addCleanup(d.cleanup)
        self.dir = d.name
        self.sock = os.path.join(self.dir, "ingest.sock")
        self.daemons = []

    def tearDown(self):
        for d in self.daemons:
            d.close()

    def daemon(self, **kw):
        d = FakeDaemon(self.sock, **kw)
        self.daemons.append(d)
        return d

    def drop_daemon(self, d):
        d.close()
        self.daemons.remove(d)

    def agent(self, interval=20, args=()):
        return run_agent(self.sock, self.dir, interval_ms=interval, args=args)

    def test_backlog_then_stream(self):
        tok = os.path.join(self.dir, "token")
        with open(tok, "w") as f:
            f.write("  s3cret \n")
        a = run_agent(self.sock, self.dir, token_file=tok)
        a.wait_line(r"Cannot reach", timeout=10)
        time.sleep(0.5)  # a backlog builds up while nobody listens
        d = self.daemon()
        # The backlog comes first; how much of it there is depends on how fast this machine is, so wait
        # for a live sample after it as well.
        d.wait(lambda d: len(d.seqs()) >= 60 and "sample" in d.connections[0]["kinds"][2:],
               what="60 samples, the newest sent alone")
        with d.lock:
            c = d.connections[0]
            self.assertEqual(c["hello"]["agent_id"], "t1")
            self.assertEqual(c["hello"]["protocol_version"], 1)
            self.assertEqual(c["hello"]["token"], "s3cret")
            self.assertTrue(c["hello"]["has_limits"])
            self.assertEqual(c["kinds"][0], "hello")
            self.assertEqual(c["kinds"][1], "batch", "the backlog comes as a batch")
            self.assertIn("sample", c["kinds"][2:], "new samples come one by one")
            samples = list(c["samples"])
        seqs = [s["seq"] for s in samples]
        self.assertEqual(seqs, list(range(1, len(seqs) + 1)))
        times = [s["time_ms"] for s in samples]
        self.assertEqual(times, sorted(times))
        self.assertTrue(samples[0]["has_limits"], "the first sample carries the limits")
        self.assertFalse(all(s["has_limits"] for s in samples[1:]), "limits only when they change")
        self.assertTrue(all(s["has_cpu"] for s in samples))
        a.wait_line(r"Connected to unix:", timeout=5)
        self.assertEqual(a.stop(signal.SIGTERM), 0)

    def test_cadence_does_not_drift(self):
        d = self.daemon()
        a = self.agent(interval=50)
        d.wait(lambda d: len(d.seqs()) >= 41, what="41 samples")
        with d.lock:
            times = [s["time_ms"] for s in d.connections[0]["samples"]]
        self.assertEqual(a.stop(), 0)
        # A timer re-armed from "now" would slip by the sampling time at every tick. Ticks the machine
        # was too busy for may be skipped (gaps of whole intervals); the phase must hold all the same.
        phase = [((t - times[0] + 25) % 50) - 25 for t in times]
        early, late = sorted(phase[1:11])[5], sorted(phase[-10:])[5]
        self.assertLess(abs(late - early), 12, "phase moved from %d to %d ms" % (early, late))

    def test_restart_and_kill_lose_nothing(self):
        d = self.daemon(do_ack=False)
        a = self.agent()
        d.wait(lambda d: len(d.seqs()) >= 30, what="30 samples")
        self.assertEqual(a.stop(signal.SIGTERM), 0)
        first = d.seqs()
        # Nothing was acknowledged: the restarted agent sends it all again, then goes on.
        a = self.agent()
        d.wait(lambda d: len(d.connections) >= 2 and len(d.seqs(1)) > len(first) + 10, what="resend")
        s1 = d.seqs(1)
        self.assertEqual(s1[:len(first)], first)
        self.assertTrue(contiguous(s1) and s1[0] == 1)
        # SIGKILL: the spool file still holds everything.
        a.kill()
        high = max(d.seqs(1))
        a = self.agent()
        d.wait(lambda d: len(d.connections) >= 3 and d.seqs(2) and max(d.seqs(2)) > high + 5, what="after kill")
        s2 = d.seqs(2)
        self.assertEqual(s2[0], 1)
        self.assertTrue(contiguous(s2))
        self.assertGreaterEqual(len(set(s2)), high - 1)  # at most the sample being written is lost
        self.assertEqual(a.stop(), 0)

    def test_acks_and_sequence_across_restarts(self):
        d = self.daemon(do_ack=True)
        a = self.agent()
        d.wait(lambda d: len(d.seqs()) >= 20, what="20 samples")
        self.assertEqual(a.stop(), 0)
        high = max(d.seqs())
        a = self.agent()
        d.wait(lambda d: len(d.connections) >= 2 and len(d.seqs(1)) >= 5, what="after restart")
        s1 = d.seqs(1)
        # Acknowledged samples are not sent again; numbering goes on from where it stopped.
        self.assertGreater(s1[0], high - 2)
        self.assertTrue(contiguous(s1))
        self.assertEqual(a.stop(), 0)

    def test_welcome_resume_and_seq_bump(self):
        d = self.daemon(do_ack=False)
        a = self.agent()
        d.wait(lambda d: len(d.seqs()) >= 20, what="20 samples")
        with d.lock:
            tenth = d.connections[0]["samples"][9]
        self.drop_daemon(d)
        # The daemon has everything up to the tenth sample by sequence number. Its Welcome also carries
        # a time far ahead (what an older daemon sends after a sample from a clock running ahead): the
        # agent resumes by sequence number and drops nothing by time.
        d = self.daemon(do_ack=False, last_time_ms=int(time.time() * 1000) + 23 * 3600 * 1000,
                        last_seq=tenth["seq"])
        d.wait(lambda d: len(d.connections) >= 1 and len(d.seqs()) >= 15, what="resume")
        s = d.seqs()
        self.assertEqual(s[0], tenth["seq"] + 1)
        self.assertTrue(contiguous(s))
        self.drop_daemon(d)
        # A daemon that knows sequence numbers up to 5000 of this stream: new samples are numbered above.
        d = self.daemon(do_ack=False, last_seq=5000)
        d.wait(lambda d: len(d.connections) >= 1 and len(d.seqs()) >= 5, what="bump")
        self.assertTrue(all(x > 5000 for x in d.seqs()), "new samples numbered above the daemon's last_seq")
        self.assertEqual(a.stop(), 0)

    def test_notify(self):
        path = os.path.join(self.dir, "notify")
        ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.addCleanup(ns.close)
        ns.bind(path)
        ns.settimeout(0.5)
        a = run_agent(self.sock, self.dir, env={"NOTIFY_SOCKET": path})
        msgs = []
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not any("READY=1" in m for m in msgs):
            try:
                msgs.append(ns.recv(4096).decode())
            except socket.timeout:
                pass
        self.assertTrue(any("READY=1" in m for m in msgs), msgs)
        self.daemon()
        while time.monotonic() < deadline and not any("STATUS=connected" in m for m in msgs):
            try:
                msgs.append(ns.recv(4096).decode())
            except socket.timeout:
                pass
        status = [m for m in msgs if "STATUS=connected" in m]
        self.assertTrue(status, msgs)
        self.assertRegex(status[0], r"STATUS=connected unix:\S+, \d+ spooled, 0 dropped")
        self.assertEqual(a.stop(), 0)

    def test_refused(self):
        d = self.daemon(accept=False, reason="bad token")
        a = self.agent()
        a.wait_line(r"refused agent 't1': 'bad token'", timeout=10)
        time.sleep(0.5)
        self.assertTrue(a.running(), "a refusal does not end the agent")
        self.assertEqual(len(d.connections), 1, "no hammering after a refusal")
        self.assertEqual(a.stop(), 0)

    def test_garbage_from_daemon(self):
        d = self.daemon(garbage=b"\xff" * 11)
        a = self.agent()
        d.wait(lambda d: len(d.connections) >= 2, what="a reconnect after garbage")
        self.assertTrue(a.running())
        with d.lock:
            d.garbage = varint(FRAME_MAX + 1) + b"x" * 100
        d.wait(lambda d: len(d.connections) >= 4, what="a reconnect after an oversized frame")
        with d.lock:
            d.garbage = None
        d.wait(lambda d: len(d.seqs()) >= 5, what="streaming again")
        self.assertEqual(a.stop(), 0)

    def test_bad_options(self):
        for args in (["--interval", "0"], ["--interval", "5"], ["--connect", "udp:x"], ["--id", "a b"],
                     ["--token-file", os.path.join(self.dir, "missing")], ["--bogus"]):
            p = Process([AGENT, "run", "--spool", self.dir] + args, cwd=self.dir)
            self.assertEqual(p.proc.wait(10), 2, args)
            p.stop()
        conf = os.path.join(self.dir, "agent.conf")
        with open(conf, "w") as f:
            f.write("[agent]\ninterval_ms = 25\nnope = 1\n")
        p = Process([AGENT, "run", "--config", conf], cwd=self.dir)
        self.assertEqual(p.proc.wait(10), 2)
        p.stop()
        self.assertIn("unknown key 'nope'", p.output())

    def test_config_file(self):
        d = self.daemon()
        conf = os.path.join(self.dir, "agent.conf")
        with open(conf, "w") as f:
            f.write("[agent]\nconnect = unix:%s\nid = from-conf\ninterval_ms = 20\nspool = %s\n"
                    % (self.sock, self.dir))
        p = Process([AGENT, "run", "--config", conf, "--id", "from-cli"], cwd=self.dir)
        d.wait(lambda d: len(d.seqs()) >= 3, what="samples")
        with d.lock:
            self.assertEqual(d.connections[0]["hello"]["agent_id"], "from-cli")
        self.assertTrue(os.path.exists(os.path.join(self.dir, "from-cli.spool")))
        self.assertEqual(p.stop(), 0)


def main():
    if not os.path.exists(AGENT):
        print("skipped: seatmeter-agent not built (%s)" % AGENT)
        return 77
    try:
        prog = unittest.main(exit=False, verbosity=2)
    finally:
        harness.reap_all()
    r = prog.result
    return 1 if (r.failures or r.errors or not r.testsRun) else 0


if __name__ == "__main__":
    sys.exit(main())
