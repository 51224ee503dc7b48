#!/usr/bin/env python3
"""Two containers watched from the host, built for real: each is a network namespace with a veth pair to
the host and a process that lives in that namespace and in a v1 cgroup of its own (cpu, cpuacct, cpuset,
memory). The host sends each a different, bounded volume over its veth and gets a different one back.
Then `seatmeter-agent sample --cgroup ...` run on the host must report, for each container:

  * the network of that container's namespace, equal to its veth counters: the eth0 inside the
    namespace as the kernel counts it there, and the host end with receive and transmit swapped;
  * different figures for the two (the watcher's own namespace would give both the same);
  * its own kind: one from the cgroup path (/.../lxc/101 is lxc), one from --virt (docker);
  * its own labels.

And `--net-iface` naming the host end of a veth (what one does for a VM's tap) gives the same figures.
Finally two `seatmeter-agent run --cgroup` stream to a real seatmeterd, whose API carries each
container's kind and labels and whose stored counters equal the veth counters.

Needs root, `ip` with network namespaces, and writable cgroup v1 hierarchies; otherwise exit 77.
Traffic: 3 MiB and 12 MiB in, 1 MiB and 256 KiB out, over veths only."""

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import Agent, Daemon, tempdir, wait_until  # noqa: E402

PID = os.getpid()
PREFIX = "smhw-%d" % PID  # netns and cgroup names: unique per run
TIMEOUT = 30
MIB = 1024 * 1024

# name, cgroup below the prefix, agent options for the kind, labels, bytes host -> container, bytes back
CONTAINERS = [
    ("a", "lxc/101", [], {"site": "fra1", "plan": "2cpu"}, 3 * MIB, 1 * MIB),
    ("b", "b", ["--virt", "docker"], {"site": "ber1", "room": "Raum 2"}, 12 * MIB, 256 * 1024),
]

SERVER = r"""
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 5001))
s.listen(4)
print("ready", flush=True)
while True:
    c, _ = s.accept()
    want = int(c.recv(32).split(b"\n")[0])  # first line: how many bytes to send back
    while c.recv(65536):
        pass
    c.sendall(b"y" * want)
    c.close()
"""


def sh(*argv, check=True):
    p = subprocess.run(list(argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=TIMEOUT)
    if check and p.returncode != 0:
        raise RuntimeError("%s: exit %d: %s" % (" ".join(argv), p.returncode, p.stderr.decode().strip()))
    return p.stdout.decode()


def write(path, value):
    with open(path, "w") as f:
        f.write(str(value))


def subnet(i):
    """A /30 of 10.213.0.0/16 per test run and container: (host address, container address)."""
    base = ((PID % 8000) * 2 + i) * 4
    net = "10.213.%d.%d" % (base >> 8 & 255, base & 255)
    head = net.rsplit(".", 1)[0]
    low = base & 255
    return "%s.%d" % (head, low + 1), "%s.%d" % (head, low + 2)


class Container:
    def __init__(self, i, name, rel, virt_args, labels, send, back, cg):
        self.name, self.rel, self.virt_args, self.labels = name, rel, virt_args, labels
        self.send, self.back = send, back
        self.ns = "%s-%s" % (PREFIX, name)
        self.hostif = "smhw%d%s" % (PID, name)  # at most 15 bytes: pids below 10^9
        self.cgroup = "/%s/%s" % (PREFIX, rel)
        self.host_ip, self.ip = subnet(i)
        self.cg = cg
        self.server = None
        self.sent = self.received = 0  # totals over every traffic() so far

    def up(self):
        sh("ip", "netns", "add", self.ns)
        sh("ip", "link", "add", self.hostif, "type", "veth", "peer", "name", self.hostif + "p")
        sh("ip", "link", "set", self.hostif + "p", "netns", self.ns)
        sh("ip", "netns", "exec", self.ns, "ip", "link", "set", self.hostif + "p", "name", "eth0")
        # No IPv6: router solicitations and DAD would move the counters while the test reads them.
        for path in ("/proc/sys/net/ipv6/conf/%s/disable_ipv6" % self.hostif,):
            if os.path.exists(path):
                write(path, 1)
        sh("ip", "netns", "exec", self.ns, "sh", "-c",
           "for f in /proc/sys/net/ipv6/conf/*/disable_ipv6; do [ -w $f ] && echo 1 > $f; done; true")
        sh("ip", "addr", "add", self.host_ip + "/30", "dev", self.hostif)
        sh("ip", "link", "set", self.hostif, "up")
        sh("ip", "netns", "exec", self.ns, "ip", "addr", "add", self.ip + "/30", "dev", "eth0")
        sh("ip", "netns", "exec", self.ns, "ip", "link", "set", "eth0", "up")
        sh("ip", "netns", "exec", self.ns, "ip", "link", "set", "lo", "up")
        # The container's one process: in the namespace (ip netns exec execs it) and in the cgroup.
        self.server = subprocess.Popen(["ip", "netns", "exec", self.ns, sys.executable, "-c", SERVER],
                                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        line = self.server.stdout.readline()
        if line.strip() != b"ready":
            raise RuntimeError("server in %s did not start: %r %r" % (self.ns, line, self.server.stderr.read()))
        for f in self.cg.procs("%s/%s" % (PREFIX, self.rel)):
            write(f, self.server.pid)

    def traffic(self):
        """Sends self.send bytes to the container and reads self.back bytes from it, over the veth."""
        c = socket.create_connection((self.ip, 5001), timeout=TIMEOUT)
        try:
            c.sendall(b"%d\n" % self.back)
            chunk = b"x" * 65536
            left = self.send
            while left > 0:
                n = min(left, len(chunk))
                c.sendall(chunk[:n])
                left -= n
            c.shutdown(socket.SHUT_WR)
            got = 0
            while True:
                d = c.recv(65536)
                if not d:
                    break
                got += len(d)
        finally:
            c.close()
        if got != self.back:
            raise AssertionError("%s: got %d bytes back, wanted %d" % (self.name, got, self.back))
        self.sent += self.send
        self.received += self.back

    def inside(self):
        """eth0 as the kernel counts it inside the namespace: (rx_bytes, tx_bytes, rx_packets, tx_packets)."""
        out = sh("ip", "netns", "exec", self.ns, "cat", "/sys/class/net/eth0/statistics/rx_bytes",
                 "/sys/class/net/eth0/statistics/tx_bytes", "/sys/class/net/eth0/statistics/rx_packets",
                 "/sys/class/net/eth0/statistics/tx_packets")
        return tuple(int(x) for x in out.split())

    def host_end(self):
        """The host end of the veth, as the guest sees it (receive and transmit swapped)."""
        d = "/sys/class/net/%s/statistics/" % self.hostif
        v = {}
        for k in ("rx_bytes", "tx_bytes", "rx_packets", "tx_packets"):
            with open(d + k) as f:
                v[k] = int(f.read())
        return v["tx_bytes"], v["rx_bytes"], v["tx_packets"], v["rx_packets"]

    def down(self):
        if self.server:
            self.server.kill()
            self.server.wait()
            self.server.stdout.close()
            self.server.stderr.close()
        sh("ip", "netns", "del", self.ns, check=False)
        sh("ip", "link", "del", self.hostif, check=False)


def sample(args):
    p = subprocess.run([harness.AGENT, "sample"] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=TIMEOUT)
    if p.returncode != 0:
        raise AssertionError("agent %s failed (%d): %s" % (args, p.returncode, p.stderr.decode()))
    return json.loads(p.stdout), p.stderr.decode()


def label_args(labels):
    out = []
    for k, v in sorted(labels.items()):
        out += ["--label", "%s=%s" % (k, v)]
    return out


def eth0(s):
    devs = [d for d in s["net"] or [] if d["name"] == "eth0"]
    return devs[0] if devs else None


def figures(d):
    return d["rx_bytes"], d["tx_bytes"], d["rx_packets"], d["tx_packets"]


class HostWatch(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if os.geteuid() != 0:
            raise unittest.SkipTest("not root: cannot make network namespaces and cgroups")
        if not shutil.which("ip"):
            raise unittest.SkipTest("no ip command (iproute2)")
        for c in harness.CGROUP_V1_CONTROLLERS:
            d = os.path.join(harness.CGROUP_V1_BASE, c)
            if not os.path.isfile(os.path.join(d, "cgroup.procs")) or not os.access(d, os.W_OK):
                raise unittest.SkipTest("no writable cgroup v1 %s hierarchy at %s" % (c, d))
        cls.cg = harness.CgroupsV1()
        cls.containers = []
        try:
            try:
                for rel in (PREFIX, PREFIX + "/lxc", PREFIX + "/lxc/101", PREFIX + "/b"):
                    cls.cg.make(rel)
            except OSError as e:
                raise unittest.SkipTest("cannot create cgroups here: %s" % e)
            for i, spec in enumerate(CONTAINERS):
                c = Container(i, *spec, cls.cg)
                cls.containers.append(c)
                try:
                    c.up()
                except RuntimeError as e:
                    if i == 0 and "netns" in str(e):
                        raise unittest.SkipTest("cannot make network namespaces here: %s" % e)
                    raise
            for c in cls.containers:
                c.traffic()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        for c in getattr(cls, "containers", []):
            c.down()
        left = cls.cg.remove() if hasattr(cls, "cg") else []
        if left:
            print("cgroups left behind: %s" % left)

    def test_sample_reports_each_containers_namespace(self):
        got = {}
        for c in self.containers:
            before = c.inside()
            s, err = sample(["--cgroup", c.cgroup] + c.virt_args + label_args(c.labels))
            after = c.inside()
            self.assertEqual(before, after, "%s: counters moved while the agent read them" % c.name)
            self.assertEqual(s["net_source"], "task")
            self.assertEqual(s["net_pid"], c.server.pid)
            d = eth0(s)
            self.assertIsNotNone(d, "%s: no eth0 in %s" % (c.name, s["net"]))
            self.assertEqual([x["name"] for x in s["net"]], ["eth0"])  # lo left out, host interfaces absent
            self.assertEqual(figures(d), after, "%s: agent vs eth0 inside the namespace" % c.name)
            self.assertEqual(figures(d), c.host_end(), "%s: agent vs the host end of the veth" % c.name)
            # The payload plus TCP/IP/Ethernet headers (under 10% with full frames) and the ACKs.
            self.assertGreaterEqual(d["rx_bytes"], c.sent)
            self.assertLess(d["rx_bytes"], c.sent * 1.2 + 64 * 1024)
            self.assertGreaterEqual(d["tx_bytes"], c.received)
            self.assertLess(d["tx_bytes"], c.received * 1.2 + 0.05 * c.sent + 64 * 1024)
            self.assertEqual(s["labels"], c.labels)
            self.assertEqual(s["cgroup"]["path"], c.cgroup)
            got[c.name] = (s["virt"], figures(d))
            print("ok: %s (%s): virt %s, eth0 rx %d tx %d bytes = veth counters" %
                  (c.name, c.cgroup, s["virt"], d["rx_bytes"], d["tx_bytes"]))
        self.assertEqual(got["a"][0], "lxc")     # from the path /.../lxc/101
        self.assertEqual(got["b"][0], "docker")  # from --virt
        self.assertNotEqual(got["a"][1], got["b"][1])

    def test_net_iface_is_the_guests_view(self):
        for c in self.containers:
            s, err = sample(["--cgroup", c.cgroup, "--net-iface", c.hostif, "--net-iface", "smhwnone0"])
            self.assertEqual(s["net_source"], "interfaces")
            self.assertEqual([d["name"] for d in s["net"]], [c.hostif])
            self.assertEqual(figures(s["net"][0]), c.inside())
            self.assertIn("'smhwnone0' not found", err)

    def test_run_streams_each_container_to_the_daemon(self):
        work = tempdir(self)
        daemon = Daemon(work)
        self.addCleanup(daemon.stop)
        uri = "unix:%s" % daemon.unix_path
        for c in self.containers:
            a = Agent(uri, "ct-" + c.name, work, interval_ms=200,
                      args=["--cgroup", c.cgroup] + c.virt_args + label_args(c.labels))
            self.addCleanup(a.stop)
        # More traffic while they run, so the stored counters are newer than the agents' start.
        for c in self.containers:
            c.traffic()
        for c in self.containers:
            want = c.inside()

            def stored(c=c, want=want):
                rows = daemon.query("SELECT s.net_rx_bytes, s.net_tx_bytes FROM samples s JOIN agents a"
                                    " ON a.num = s.agent WHERE a.id = ? ORDER BY s.time_ms DESC LIMIT 1",
                                    ("ct-" + c.name,))
                return rows and rows[0] == (want[0], want[1])
            wait_until(stored, timeout=20, what="ct-%s's stored counters to equal its veth's" % c.name)
        agents = {a["id"]: a for a in daemon.get_json("/api/v1/agents")}
        self.assertEqual(agents["ct-a"]["virt"], "lxc")
        self.assertEqual(agents["ct-b"]["virt"], "docker")
        self.assertEqual(agents["ct-a"]["labels"], self.containers[0].labels)
        self.assertEqual(agents["ct-b"]["labels"], self.containers[1].labels)
        self.assertEqual(agents["ct-a"]["cgroup_path"], self.containers[0].cgroup)


if __name__ == "__main__":
    harness.main()
