#!/usr/bin/env python3
"""Ingest protocol and trust: the real seatmeterd against a small wire client written here with the
standard library only (an independent protobuf encoder), plus frames made by `protoc --encode`.

Checks: tokens over tcp (right, wrong, missing), a Hello for an id that is connected, a reconnect from
the same machine, a Sample before Hello, truncated, oversized and garbage input, samples with absurd
values, bad protocol versions and ids. After each bad peer another agent must still be served, and the
database must hold nothing the bad peer sent.

The wire helpers (WireClient, hello(), sample(), ...) are imported by the other test_ingest_* and
test_daemon_* scripts."""

import hashlib
import math
import os
import socket
import struct
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import Daemon, tempdir  # noqa: E402
from protowire import (FRAME_MAX, field_bytes, field_double, field_varint, frame, parse_fields,  # noqa: E402
                       read_varint, varint)

MSG_NAMES = {1: "hello", 2: "sample", 3: "batch", 4: "welcome", 5: "ack"}


def hello(agent_id, token=None, machine_id="test-machine", version=1, clock_ms=None, hostname="testhost",
          stream=None):
    b = b""
    if version is not None:
        b += field_varint(1, version)
    if agent_id is not None:
        b += field_bytes(2, agent_id)
    if token is not None:
        b += field_bytes(3, token)
    b += field_bytes(4, hostname)
    if machine_id is not None:
        b += field_bytes(5, machine_id)
    b += field_varint(6, 1)  # VIRT_NONE
    b += field_varint(7, 2)
    b += field_varint(10, clock_ms if clock_ms is not None else int(time.time() * 1000))
    limits = field_double(1, 2.0) + field_varint(2, 2) + field_varint(6, 4 << 30)
    b += field_bytes(11, limits)
    if stream is not None:
        b += field_varint(13, stream)
    return frame(1, b)


def sample_body(seq, time_ms, cpu_usec=None, mem=100 << 20, pressure_avg10=None):
    b = field_varint(1, seq) + field_varint(2, time_ms)
    b += field_varint(10, cpu_usec if cpu_usec is not None else seq * 10000)
    b += field_varint(20, mem) + field_varint(21, mem // 2)
    if pressure_avg10 is not None:
        b += field_bytes(50, field_double(1, pressure_avg10))
    return b


def sample(seq, time_ms, **kw):
    return frame(2, sample_body(seq, time_ms, **kw))


def batch(samples):
    """samples: list of (seq, time_ms)."""
    return frame(3, b"".join(field_bytes(1, sample_body(s, t)) for s, t in samples))


def signed(v):
    return v - (1 << 64) if v >= 1 << 63 else v


class Message:
    """A decoded daemon -> agent frame: name ('welcome', 'ack') and fields."""

    def __init__(self, name, fields):
        self.name = name
        self.f = fields

    def get(self, no, default=None):
        return self.f.get(no, [default])[-1]

    @property
    def accepted(self):
        return bool(self.get(1, 0))

    @property
    def reason(self):
        return self.get(2, b"").decode(errors="replace")

    def __repr__(self):
        return f"Message({self.name}, {self.f})"


class WireClient:
    """One agent connection spoken by hand."""

    def __init__(self, uri, timeout=10.0):
        kind, rest = uri.split(":", 1)
        if kind == "unix":
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.settimeout(timeout)
            self.sock.connect(rest)
        elif kind == "tcp":
            host, port = rest.rsplit(":", 1)
            self.sock = socket.create_connection((host.strip("[]"), int(port)), timeout=timeout)
        else:
            raise ValueError(uri)
        self.buf = b""
        self.eof = False
        self.sent_seq = 0

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def send(self, data):
        self.note_seqs(data)
        self.sock.sendall(data)

    def note_seqs(self, data):
        """Remembers the highest sequence number of the Sample and SampleBatch frames in data, which
        wait_ack() waits for (garbage is ignored)."""
        i = 0
        try:
            while i < len(data):
                n, i = read_varint(data, i)
                env = parse_fields(data[i:i + n])
                i += n
                bodies = env.get(2, []) + [b for x in env.get(3, []) for b in parse_fields(x).get(1, [])]
                for b in bodies:
                    self.sent_seq = max(self.sent_seq, parse_fields(b).get(1, [0])[-1])
        except (ValueError, IndexError, struct.error, AttributeError, TypeError):
            pass

    def read(self, timeout=10.0):
        """The next Message, or None at EOF (or a reset)."""
        deadline = time.monotonic() + timeout
        while True:
            if self.buf:
                try:
                    n, i = read_varint(self.buf, 0)
                except ValueError:
                    n, i = None, 0
                if n is not None and len(self.buf) >= i + n:
                    env = parse_fields(self.buf[i:i + n])
                    self.buf = self.buf[i + n:]
                    no = next(iter(env))
                    return Message(MSG_NAMES.get(no, str(no)), parse_fields(env[no][0]))
            if self.eof:
                return None
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("timed out waiting for a frame from the daemon")
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(65536)
            except (ConnectionResetError, BrokenPipeError):
                data = b""
            except socket.timeout:
                raise AssertionError("timed out waiting for a frame from the daemon")
            if not data:
                self.eof = True
            self.buf += data

    def expect(self, name, timeout=10.0):
        m = self.read(timeout)
        if m is None or m.name != name:
            raise AssertionError(f"expected {name}, got {m!r}")
        return m

    def wait_closed(self, timeout=10.0):
        """True once the daemon closed the connection (frames before the EOF are skipped)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if self.read(deadline - time.monotonic()) is None:
                    return True
            except AssertionError:
                return False
        return False

    def welcome(self, agent_id, **kw):
        self.send(hello(agent_id, **kw))
        return self.expect("welcome")

    def wait_ack(self, time_hint=None, timeout=10.0):
        """The Ack covering every sample sent so far: Acks say up to which sequence number, nothing about
        time (time_hint, the newest time sent, is for the reader of the test only)."""
        deadline = time.monotonic() + timeout
        while True:
            m = self.read(max(0.01, deadline - time.monotonic()))
            if m is None:
                raise AssertionError("connection closed while waiting for an Ack")
            if m.name == "ack" and m.get(2, 0) >= self.sent_seq:
                return m


def token_config(tokens):
    """[agent ID] sections with the SHA-256 of each token."""
    return "".join(f"[agent {aid}]\ntoken_sha256 = {hashlib.sha256(tok.encode()).hexdigest()}\n"
                   for aid, tok in tokens.items())


def count_samples(daemon, agent_id):
    return daemon.query("SELECT count(*) FROM samples JOIN agents ON agents.num = samples.agent "
                        "WHERE agents.id = ?", (agent_id,))[0][0]


def agent_rows(daemon, agent_id):
    return daemon.query("SELECT count(*) FROM agents WHERE id = ?", (agent_id,))[0][0]


def seqs(daemon, agent_id):
    return [r[0] for r in daemon.query(
        "SELECT seq FROM samples JOIN agents ON agents.num = samples.agent WHERE agents.id = ? ORDER BY seq",
        (agent_id,))]


def protoc_available():
    from shutil import which
    return which("protoc") is not None


class IngestProtocolTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempdir(self)
        self.tokens = {"tcp-good": "s3cret-token-1", "victim": "victim-token"}
        self.d = Daemon(self.dir, config=token_config(self.tokens) +
                        f"[agent uid-bound]\npeer_uid = {os.getuid() + 1}\n[agent uid-ok]\npeer_uid = {os.getuid()}\n",
                        listen=[f"unix:{os.path.join(self.dir, 'ingest.sock')}", "tcp:127.0.0.1:0"])
        self.unix = f"unix:{self.d.unix_path}"
        self.tcp = f"tcp:127.0.0.1:{self.d.tcp_port}"
        self.addCleanup(self.d.stop)
        self.now = int(time.time() * 1000)

    def assert_served(self, agent_id="witness", uri=None):
        """Another agent still gets Welcome, and an Ack for a sample (which is then in the db)."""
        c = WireClient(uri or self.unix)
        try:
            w = c.welcome(agent_id, machine_id=f"m-{agent_id}")
            self.assertTrue(w.accepted, w.reason)
            t = max(int(time.time() * 1000), signed(w.get(3, 0)) + 1)
            seq = w.get(6, 0) + 1
            c.send(sample(seq, t))
            c.wait_ack(t)
        finally:
            c.close()
        self.assertGreaterEqual(count_samples(self.d, agent_id), 1)

    def refused(self, uri, data, reason_part):
        c = WireClient(uri)
        try:
            c.send(data)
            w = c.expect("welcome")
            self.assertFalse(w.accepted)
            self.assertIn(reason_part, w.reason)
            self.assertTrue(c.wait_closed(), "connection not closed after a refusal")
        finally:
            c.close()

    def test_tcp_token_good(self):
        c = WireClient(self.tcp)
        w = c.welcome("tcp-good", token=self.tokens["tcp-good"])
        self.assertTrue(w.accepted, w.reason)
        self.assertEqual(w.get(5), 1)
        self.assertLess(abs(signed(w.get(4)) - int(time.time() * 1000)), 60000)
        c.send(sample(1, self.now) + sample(2, self.now + 20))
        a = c.wait_ack(self.now + 20)
        self.assertEqual(a.get(2), 2)
        c.close()
        self.assertEqual(seqs(self.d, "tcp-good"), [1, 2])

    def test_tcp_wrong_token(self):
        # the sample sent right behind the Hello must not be stored either
        self.refused(self.tcp, hello("tcp-good", token="wrong") + sample(1, self.now), "authentication failed")
        self.refused(self.tcp, hello("unknown-id", token="whatever"), "authentication failed")
        self.assertEqual(count_samples(self.d, "tcp-good"), 0)
        self.assertEqual(agent_rows(self.d, "tcp-good"), 0)
        self.assertEqual(agent_rows(self.d, "unknown-id"), 0)
        self.d.wait_line(r"Refused Hello from 'tcp-good'.*authentication failed")
        self.assert_served()

    def test_tcp_no_token(self):
        self.refused(self.tcp, hello("tcp-good") + sample(1, self.now), "token required")
        self.assertEqual(count_samples(self.d, "tcp-good"), 0)
        self.assert_served()

    def test_unix_token_and_peer_uid(self):
        """Over unix the socket's permissions admit a peer, but an id that has a token needs it there too,
        and an id bound to a peer uid takes only that uid (SO_PEERCRED)."""
        c = WireClient(self.unix)
        self.assertTrue(c.welcome("no-token-id").accepted)  # socket permissions decide
        c.close()
        self.refused(self.unix, hello("victim", machine_id="x") + sample(1, self.now), "token required")
        self.refused(self.unix, hello("victim", token="not-the-token", machine_id="x"), "authentication failed")
        c = WireClient(self.unix)
        self.assertTrue(c.welcome("victim", token=self.tokens["victim"]).accepted)
        c.close()
        self.refused(self.unix, hello("uid-bound"), "peer uid not allowed")
        c = WireClient(self.unix)
        self.assertTrue(c.welcome("uid-ok").accepted)
        c.close()
        self.assertEqual(count_samples(self.d, "victim"), 0)

    def test_session_cannot_be_taken_over(self):
        """A live session is replaced only by the same agent (same machine id, proven by the same
        token); a peer that only knows the machine id is refused and the owner keeps streaming."""
        owner = WireClient(self.unix)
        self.assertTrue(owner.welcome("victim", token=self.tokens["victim"], machine_id="machine-v").accepted)
        owner.send(sample(1, self.now))
        owner.wait_ack()
        self.refused(self.unix, hello("victim", machine_id="machine-v") + sample(99, self.now + 5), "token required")
        self.refused(self.tcp, hello("victim", token="guess", machine_id="machine-v"), "authentication failed")
        owner.send(sample(2, self.now + 1000))
        owner.wait_ack()
        # The owner itself coming back (same token and machine) replaces its old connection.
        again = WireClient(self.tcp)
        self.assertTrue(again.welcome("victim", token=self.tokens["victim"], machine_id="machine-v").accepted)
        self.assertTrue(owner.wait_closed())
        again.send(sample(3, self.now + 2000))
        again.wait_ack()
        again.close()
        self.assertEqual(seqs(self.d, "victim"), [1, 2, 3])

    def test_other_agents_id(self):
        owner = WireClient(self.unix)
        self.assertTrue(owner.welcome("free", machine_id="machine-a").accepted)
        owner.send(sample(1, self.now))
        owner.wait_ack(self.now)
        # someone else claims the id: refused, nothing stored, the owner keeps streaming
        self.refused(self.unix, hello("free", machine_id="machine-b") + sample(99, self.now + 5), "already connected")
        owner.send(sample(2, self.now + 1000))
        owner.wait_ack(self.now + 1000)
        owner.close()
        self.assertEqual(seqs(self.d, "free"), [1, 2])

    def test_reconnect_before_eof_replaces(self):
        old = WireClient(self.unix)
        self.assertTrue(old.welcome("roamer", machine_id="same-machine").accepted)
        old.send(sample(1, self.now))
        old.wait_ack(self.now)
        new = WireClient(self.unix)
        w = new.welcome("roamer", machine_id="same-machine")
        self.assertTrue(w.accepted, w.reason)
        self.assertIsNone(w.get(3))  # no time to drop by: only the sequence number
        self.assertEqual(w.get(6), 1)
        self.assertTrue(old.wait_closed(), "the old connection was not dropped")
        new.send(sample(2, self.now + 1000))
        new.wait_ack(self.now + 1000)
        new.close()
        old.close()
        self.assertEqual(seqs(self.d, "roamer"), [1, 2])

    def test_sample_before_hello(self):
        self.refused(self.unix, sample(1, self.now), "expected Hello first")
        self.assert_served()

    def test_bad_hello(self):
        self.refused(self.unix, hello("v9", version=9), "protocol version")
        self.refused(self.unix, hello("v0", version=None), "protocol version")
        self.refused(self.unix, hello("bad/id"), "invalid agent id")
        self.refused(self.unix, hello("x" * 65), "invalid agent id")
        self.refused(self.unix, hello(None), "invalid agent id")
        self.refused(self.unix, hello("longhost", hostname="h" * 5000), "invalid Hello: hostname")
        self.refused(self.unix, hello("longtoken", token="t" * 5000), "invalid Hello")
        for aid in ("v9", "v0", "longhost", "longtoken"):
            self.assertEqual(agent_rows(self.d, aid), 0)
        self.assert_served()

    def test_truncated_frame(self):
        c = WireClient(self.unix)
        self.assertTrue(c.welcome("trunc").accepted)
        whole = sample(1, self.now)
        c.send(whole[:len(whole) // 2])
        c.sock.shutdown(socket.SHUT_WR)
        self.assertTrue(c.wait_closed())
        c.close()
        self.d.wait_line(r"ended inside a frame")
        self.assertEqual(count_samples(self.d, "trunc"), 0)
        self.assert_served()

    def test_oversized_frame(self):
        c = WireClient(self.unix)
        self.assertTrue(c.welcome("big").accepted)
        body = field_bytes(2, b"\x08\x01" + field_bytes(99, b"x" * (FRAME_MAX + 10)))
        try:
            c.send(varint(len(body)) + body[:200000])
        except (BrokenPipeError, ConnectionResetError):
            pass
        self.assertTrue(c.wait_closed(), "oversized frame did not close the connection")
        c.close()
        self.d.wait_line(r"Protocol error from 'big'.*size limit")
        self.assertEqual(count_samples(self.d, "big"), 0)
        self.assert_served()

    def test_garbage(self):
        http = b"GET / HTTP/1.1\r\nHost: x\r\nUser-Agent: " + b"y" * 100 + b"\r\n\r\n"
        for junk in (bytes(range(256)) * 16, b"\xff" * 11, http, b"\x0f" + b"\xff" * 15):
            c = WireClient(self.unix)
            try:
                c.send(junk)
            except (BrokenPipeError, ConnectionResetError):
                pass
            self.assertTrue(c.wait_closed(), f"garbage {junk[:16]!r} did not close the connection")
            c.close()
        # garbage after a good Hello
        c = WireClient(self.unix)
        self.assertTrue(c.welcome("junky").accepted)
        c.send(b"\x05\xff\xff\xff\xff\xff")
        self.assertTrue(c.wait_closed())
        c.close()
        self.assertEqual(count_samples(self.d, "junky"), 0)
        self.assert_served()

    def test_absurd_values(self):
        c = WireClient(self.unix)
        self.assertTrue(c.welcome("absurd").accepted)
        far = self.now + 10 * 365 * 86400 * 1000
        c.send(sample(1, -5))                                   # negative time
        c.send(sample(2, far))                                  # ten years ahead
        c.send(sample(3, self.now, pressure_avg10=math.nan))    # NaN
        c.send(sample(4, self.now + 1, pressure_avg10=-3.0))    # negative percentage
        c.send(sample(5, self.now + 2, cpu_usec=(1 << 64) - 5))  # a "negative" counter
        c.send(sample(6, self.now + 3))                          # a good one
        a = c.wait_ack(self.now + 3)
        self.assertEqual(a.get(2), 6)
        # still connected: the next sample is stored and acked too
        c.send(sample(7, self.now + 1000))
        c.wait_ack(self.now + 1000)
        c.send(sample(8, (1 << 63) - 1) + sample(9, self.now + 2000))  # the largest time there is
        a = c.wait_ack(self.now + 2000)
        self.assertIsNone(a.get(1))  # Acks say nothing about time
        self.assertEqual(a.get(2), 9)
        c.close()
        # an agent clock at the very bottom of int64 gives no offset, not an overflow
        c = WireClient(self.unix)
        self.assertTrue(c.welcome("badclock", clock_ms=-(1 << 63)).accepted)
        c.send(sample(1, self.now))
        c.wait_ack(self.now)
        c.close()
        self.assertEqual(self.d.query("SELECT clock_offset_ms FROM agents WHERE id = 'badclock'")[0][0], 0)
        self.assertEqual(seqs(self.d, "absurd"), [6, 7, 9])
        self.d.wait_line(r"absurd values")
        m = self.d.query("SELECT min(time_ms), max(time_ms) FROM samples")[0]
        self.assertGreater(m[0], 0)
        self.assertLess(m[1], self.now + 86400 * 1000)

    def test_sequence_order_decides_never_time(self):
        """Each (agent, stream, seq) is stored once: a lower sequence number is a resend or out of order
        and is acknowledged without being stored, whatever its time; the Welcome reports the newest
        committed sequence number of the Hello's stream, not the sequence of the newest time."""
        c = WireClient(self.unix)
        self.assertTrue(c.welcome("orderly", stream=7).accepted)
        day = 23 * 3600 * 1000
        c.send(sample(10, self.now + day) + sample(11, self.now))  # a clock ahead, then corrected
        c.send(sample(5, self.now + 5000) + sample(4, self.now + 6000))  # out of order: refused
        c.send(sample(12, self.now))  # a new sample at a time taken already: kept at the next free ms
        a = c.wait_ack()
        self.assertEqual(a.get(2), 12)
        c.close()
        self.assertEqual(seqs(self.d, "orderly"), [10, 11, 12])
        c = WireClient(self.unix)
        w = c.welcome("orderly", stream=7)
        self.assertEqual(w.get(6), 12)
        self.assertIsNone(w.get(3))
        c.send(sample(12, self.now) + sample(13, self.now + 1000))  # the resend is not stored twice
        c.wait_ack()
        c.close()
        # Another spool (a new stream) of the same agent starts from nothing.
        c = WireClient(self.unix)
        self.assertEqual(c.welcome("orderly", stream=8).get(6), 0)
        c.send(sample(1, self.now + 2000))
        c.wait_ack()
        c.close()
        self.assertEqual(seqs(self.d, "orderly"), [1, 10, 11, 12, 13])
        self.assertEqual(self.d.query("SELECT count(DISTINCT time_ms) FROM samples JOIN agents ON "
                                      "agents.num = samples.agent WHERE agents.id = 'orderly'")[0][0], 5)

    def test_embedded_nul_refused(self):
        """An id or name with a NUL inside is refused, not read as the part before it."""
        self.refused(self.unix, hello("agA\x00x"), "malformed frame")
        c = WireClient(self.unix)
        self.assertTrue(c.welcome("agB").accepted)
        nd = field_bytes(1, "eth0\x00evil") + field_varint(2, 1)
        c.send(frame(2, field_varint(1, 1) + field_varint(2, self.now) + field_bytes(40, nd)))
        self.assertTrue(c.wait_closed(), "a sample with a NUL in a name was not refused")
        self.assertEqual(agent_rows(self.d, "agA"), 0)
        self.assertEqual(count_samples(self.d, "agB"), 0)

    def test_lone_batch_reaches_the_trends(self):
        """A backfill and then silence: the aggregates are written after the interval all the same, not
        only with a later commit that may never come."""
        c = WireClient(self.unix)
        self.assertTrue(c.welcome("lone").accepted)
        t = self.now - 5 * 86400 * 1000
        c.send(batch([(i, t + i * 360000) for i in range(1, 1001)]))  # 1,000 samples over 4 days
        c.wait_ack()
        c.close()
        harness.wait_until(lambda: self.d.query("SELECT count(*) FROM trends JOIN agents ON agents.num = "
                                                "trends.agent WHERE agents.id = 'lone'")[0][0] >= 90,
                           timeout=15, what="hourly trends of the lone batch")

    def test_batch_and_duplicates(self):
        c = WireClient(self.unix)
        self.assertTrue(c.welcome("batcher").accepted)
        c.send(batch([(i, self.now + i) for i in range(1, 101)]))
        c.wait_ack(self.now + 100)
        c.close()
        # a resend after reconnect: Welcome says where to resume, duplicates are not stored twice
        c = WireClient(self.unix)
        w = c.welcome("batcher")
        self.assertIsNone(w.get(3))
        self.assertEqual(w.get(6), 100)
        c.send(batch([(i, self.now + i) for i in range(90, 111)]))
        c.wait_ack(self.now + 110)
        c.close()
        self.assertEqual(seqs(self.d, "batcher"), list(range(1, 111)))

    def test_latest_is_what_was_acked_and_survives_a_restart(self):
        """/latest is answered from memory while the daemon runs: whatever was acked is there at once, a
        backfill does not replace the newest, and after a restart (answered from the database) the
        document is the same."""
        path = "/api/v1/agents/lively/latest"
        c = WireClient(self.unix)
        self.assertTrue(c.welcome("lively").accepted)
        self.assertIsNone(self.d.get_json(path)["time_ms"])  # known, nothing stored yet
        t = self.now
        for i in range(1, 4):
            c.send(sample(i, t + i * 1000, cpu_usec=i * 250000, mem=(100 + i) << 20))
            c.wait_ack(t + i * 1000)
            doc = self.d.get_json(path)
            self.assertEqual(doc["time_ms"], t + i * 1000)
            self.assertEqual(doc["memory_bytes"], (100 + i) << 20)
        self.assertAlmostEqual(doc["cpu_cores"], 0.25, places=9)
        c.send(sample(4, t + 500, mem=1 << 20))  # a gap filled late
        c.wait_ack(t + 500)
        self.assertEqual(self.d.get_json(path), doc)
        c.close()
        self.assertEqual(count_samples(self.d, "lively"), 4)

        self.d.stop()
        self.d = Daemon(self.dir, listen=[f"unix:{os.path.join(self.dir, 'ingest.sock')}"])
        self.addCleanup(self.d.stop)
        self.assertEqual(self.d.get_json(path), doc)
        self.d.get_json("/api/v1/agents/nobody/latest", expect=404)

    @unittest.skipUnless(protoc_available(), "protoc (Debian protobuf-compiler) is not installed")
    def test_protoc_encoded_frames(self):
        import encode_frame
        proto_dir = os.path.join(harness.SOURCE_ROOT, "proto")
        hello_txt = (b'hello { protocol_version: 1 agent_id: "protoc-made" hostname: "h" '
                     b'machine_id: "m" virt: VIRT_LXC cgroup_version: 1 clock_ms: %d '
                     b'limits { effective_cpus: 1.5 cpu_count: 2 memory_limit_bytes: 1073741824 } }' % self.now)
        sample_txt = (b'sample { seq: 1 time_ms: %d cpu_usage_usec: 5000 memory_usage_bytes: 1000 '
                      b'memory_working_set_bytes: 900 net { name: "eth0" rx_bytes: 10 tx_bytes: 20 } }' % self.now)
        data = encode_frame.encode(hello_txt, proto_dir, "seatmeter.Frame")
        data += encode_frame.encode(sample_txt, proto_dir, "seatmeter.Frame")
        c = WireClient(self.unix)
        c.send(data)
        w = c.expect("welcome")
        self.assertTrue(w.accepted, w.reason)
        c.wait_ack(self.now)
        c.close()
        self.assertEqual(seqs(self.d, "protoc-made"), [1])
        self.assertEqual(self.d.query("SELECT virt FROM agents WHERE id = 'protoc-made'")[0][0], "lxc")

    def test_hello_timeout_and_many_idle(self):
        # connections that never say Hello do not keep the others from being served
        idle = [WireClient(self.unix) for _ in range(20)]
        self.assert_served()
        for c in idle:
            c.close()


if __name__ == "__main__":
    harness.main()
