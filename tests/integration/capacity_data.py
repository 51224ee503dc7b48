"""Known-truth load for the capacity planning tests, fed through the real ingest path in simulated time.

A BBB server's history (polls every POLL_S seconds: listeners, voice, video) is written into the database
while the daemon is stopped; then agents speak the wire protocol (Hello, SampleBatch) with timestamps in
the past, so the daemon labels each sample from the stored polls exactly as it does for a backfill. The
CPU counter of each agent grows by

    cores = base + a * listeners + b * voice + c * video + noise (normal, per sample)

so the per-stream costs, the per-participant curve and the capacity are known. Deterministic: each agent's
noise comes from its own seed. Imported by test_capacity_truth.py and test_report.py."""

import os
import random
import sqlite3
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from protowire import field_bytes, field_double, field_varint, frame, parse_fields, read_varint  # noqa: E402
from test_ingest import WireClient, hello  # noqa: E402
from harness import Daemon  # noqa: E402

POLL_S = 60            # the BBB server's poll interval (config interval_s)
SAMPLE_S = 10          # one sample every 10 s
HOLD_POLLS = 5         # each mix is held 5 polls (5 minutes, 30 samples)
NOISE_CORES = 0.02     # per-sample noise
DAY_MS = 86400_000
HOUR_MS = 3600_000

# Mixes: listeners 0..60, voice 0..10, video streams up to the voice users (a webcam user has a mic).
MIXES = [(ls, v, c) for ls in (0, 20, 40, 60) for v in (0, 5, 10) for c in (0, 2, 4) if c <= v]


def truth_cores(costs, mix):
    base, a, b, c = costs
    ls, v, vid = mix
    return base + a * ls + b * v + c * vid


def phase_times(start_ms):
    """(poll time, mix) of each poll of one pass over MIXES from start_ms, and the end time."""
    polls, t = [], start_ms
    for mix in MIXES:
        for _ in range(HOLD_POLLS):
            polls.append((t, mix))
            t += POLL_S * 1000
    return polls, t


def bbb_config(secret_path, url="http://127.0.0.1:9/bigbluebutton/"):
    with open(secret_path, "w") as f:
        f.write("capacity-test-secret\n")
    os.chmod(secret_path, 0o600)
    return f"[bbb bbb1]\nurl = {url}\nsecret_file = {secret_path}\nchecksum = sha256\ninterval_s = {POLL_S}\n"


def write_polls(con, phases):
    """Stores the polls of every phase (list of lists of (time, mix)) for server bbb1."""
    con.execute("INSERT OR IGNORE INTO bbb_servers (name) VALUES ('bbb1')")
    num = con.execute("SELECT num FROM bbb_servers WHERE name = 'bbb1'").fetchone()[0]
    rows = []
    for polls in phases:
        for t, (ls, v, c) in polls:
            rows.append((num, t, ls + v, ls, v, c))
    con.executemany("INSERT OR REPLACE INTO bbb_polls (server, time_ms, ok, up, meetings, participants, listeners,"
                    " voice, video, moderators, breakouts) VALUES (?, ?, 1, 1, 1, ?, ?, ?, ?, 1, 0)", rows)
    con.commit()


def limits_body(cpus, memory=4 << 30):
    return field_double(1, float(cpus)) + field_varint(2, max(1, int(cpus))) + field_varint(6, memory)


def hello_frame(agent_id, virt=None):
    """test_ingest's Hello (2 CPUs, 4 GiB, virt none, the clock now), with virt (a Virt number) in place of
    its VIRT_NONE (the daemon refuses a field given twice)."""
    h = hello(agent_id, clock_ms=int(time.time() * 1000))
    if virt is None:
        return h
    _, i = read_varint(h, 0)
    body = parse_fields(h[i:])[1][0]
    none = field_varint(6, 1)
    assert body.count(none) == 1
    return frame(1, body.replace(none, field_varint(6, virt)))


class Feeder:
    """One agent's connection and counters."""

    def __init__(self, uri, agent_id, seed, cpus=2, memory=4 << 30, virt=None, steal=None):
        self.c = WireClient(uri, timeout=30)
        self.c.send(hello_frame(agent_id, virt))
        m = self.c.expect("welcome")
        assert m.accepted, m.reason
        self.rng = random.Random(seed)
        self.seq = 0
        self.usage_usec = 0
        self.cpus = cpus
        self.memory = memory
        self.pending_limits = cpus != 2 or memory != 4 << 30
        self.last_ms = None
        self.steal = steal          # share of the effective CPUs stolen (a VM measured whole), None: no field
        self.steal_per_user = 0.0   # and more of it per participant (a host loaded with the guest's meetings)
        self.steal_usec = 0

    def set_limits(self, cpus, memory=4 << 30):
        self.cpus, self.memory = cpus, memory
        self.pending_limits = True

    def steal_share(self, users):
        return self.steal + self.steal_per_user * users

    def sample_body(self, time_ms, cores, users=0):
        if self.last_ms is not None:
            self.usage_usec += max(0, int(round(cores * (time_ms - self.last_ms) * 1000)))
            if self.steal is not None:
                self.steal_usec += int(round(self.steal_share(users) * self.cpus * (time_ms - self.last_ms) * 1000))
        self.last_ms = time_ms
        self.seq += 1
        b = field_varint(1, self.seq) + field_varint(2, time_ms)
        if self.pending_limits:
            b += field_bytes(3, limits_body(self.cpus, self.memory))
            self.pending_limits = False
        b += field_varint(10, self.usage_usec)
        if self.steal is not None:
            b += field_varint(16, self.steal_usec)
        ws = (1 << 30) + int(cores * (256 << 20))
        b += field_varint(20, ws + (64 << 20)) + field_varint(21, ws)
        return b

    def feed(self, polls, costs, noise=NOISE_CORES):
        """Samples SAMPLE_S apart, 5 s after each poll, over the polls of one phase."""
        bodies = []
        for t, mix in polls:
            for k in range(POLL_S // SAMPLE_S):
                ts = t + 5000 + k * SAMPLE_S * 1000
                bodies.append(self.sample_body(ts, truth_cores(costs, mix) + self.rng.gauss(0, noise), sum(mix[:2])))
        for i in range(0, len(bodies), 400):
            self.c.send(frame(3, b"".join(field_bytes(1, b) for b in bodies[i:i + 400])))
        self.c.wait_ack(timeout=60)

    def close(self):
        self.c.close()


def wait_aggregated(d, agent_ids, until_ms, timeout=60):
    """Waits until the aggregates of every agent hold its samples up to until_ms."""
    deadline = time.monotonic() + timeout
    marks = ",".join("?" * len(agent_ids))
    while time.monotonic() < deadline:
        rows = d.query(f"SELECT count(*) FROM agents WHERE id IN ({marks}) AND agg_time_ms >= ?",
                       (*agent_ids, until_ms))
        if rows[0][0] == len(agent_ids):
            return
        time.sleep(0.2)
    raise AssertionError("aggregates not flushed in time")


def daemon_with_polls(tmp, config, phases):
    """The schema first, then the BBB history of phases (as write_polls), then the daemon that labels the
    samples from it."""
    d = Daemon(tmp, config=config)
    d.stop()
    con = sqlite3.connect(d.db_path)
    write_polls(con, phases)
    con.close()
    return Daemon(tmp, config=config)


class CapacityCase(unittest.TestCase):
    """A test class with its temporary directory (cls.tmp) and its daemon (cls.d, set by the subclass's
    setUpClass after calling this one's), stopped and removed at the end."""

    @classmethod
    def setUpClass(cls):
        cls.tmpdir = tempfile.TemporaryDirectory(prefix="seatmeter-test-")
        cls.tmp = cls.tmpdir.name
        cls.d = None

    @classmethod
    def tearDownClass(cls):
        if cls.d:
            cls.d.stop()
        cls.tmpdir.cleanup()
