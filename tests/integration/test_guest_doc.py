#!/usr/bin/env python3
"""docs/guest.md, followed on this machine. Every ```sh block of the page carries a marker: blocks marked
`guest-test: run` run here in order (bash, /etc/seatmeter moved to a temporary folder, the host address
10.0.0.1 replaced by 127.0.0.1 and a free port, file owners left out, the vsock port moved off 8482, the
vsock listen line left out when this kernel has no vsock transport), and blocks marked `guest-test: show (reason)` are printed with their
reason, so the transcript holds every command of the page. The configuration files the page shows
(# /etc/seatmeter/... blocks) are written from the page, with the token hash the token block printed.

What runs: the agent's sample in this machine, the token and its hash, the BBB secret and
`seatmeterd --verify` of the host's configuration, then the daemon on that configuration and
`seatmeter-agent run` with the guest's agent.conf: samples of 'bbb1-lxc' arrive over TCP with the token.
The host-watch unit of the page passes `systemd-analyze verify` (when systemd-analyze is installed).
A block without a marker fails the test. The page's list of `virt` values is every value the agent has
(agent/sample.c), and the agent reports each one --virt sets. About 5 s."""

import json
import os
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import Process, wait_until  # noqa: E402

PAGE = os.path.join(harness.SOURCE_ROOT, "docs", "guest.md")
BLOCK = re.compile(r"(?:<!-- guest-test: (run|show \(([^)]*)\)) -->\n)?```(\w*)\n(.*?)```", re.S)


def blocks():
    """[(marker or None, reason, language, text)] in page order."""
    with open(PAGE) as f:
        return [(m.group(1) and m.group(1).split()[0], m.group(2), m.group(3), m.group(4))
                for m in BLOCK.finditer(f.read())]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class GuestDoc(unittest.TestCase):
    def setUp(self):
        self.t = harness.tempdir(self)
        self.etc = os.path.join(self.t, "etc", "seatmeter")
        self.port = free_port()
        self.vsock = harness.vsock_available()
        self.vsock_port = 20000 + os.getpid() % 40000  # not the documented 8482, which a real host may use
        self.hash = None

    def local(self, text):
        """The page's text with this machine's paths and addresses."""
        text = text.replace("/etc/seatmeter", self.etc).replace("/tmp/seatmeter-spool", self.t + "/spool")
        text = text.replace("10.0.0.1:8481", f"127.0.0.1:{self.port}")
        text = re.sub(r"-o root -g [\w-]+ ", "", text)
        text = re.sub(r"^seatmeter-agent ", harness.AGENT + " ", text, flags=re.M)
        text = re.sub(r"^seatmeterd ", harness.SEATMETERD + " ", text, flags=re.M)
        if self.hash:
            text = text.replace("<the hash>", self.hash)
        if not self.vsock:
            text = re.sub(r"^listen = vsock:.*\n", "", text, flags=re.M)
        text = text.replace("vsock:4294967295:8482", f"vsock:4294967295:{self.vsock_port}")
        return text

    def write_file(self, text):
        first = text.splitlines()[0]
        path = first.split()[1]
        if path.startswith("/etc/systemd/system/"):
            self.unit = (os.path.basename(path), text)
            return
        with open(self.local(path), "w") as f:
            f.write(self.local(text))
        print(f"wrote {path}")

    def test_page(self):
        shown = ran = 0
        os.makedirs(os.path.dirname(self.etc), exist_ok=True)
        self.unit = None
        for marker, reason, lang, text in blocks():
            if lang == "ini" and text.startswith("# /etc/"):
                if "<the hash>" in text and not self.hash:
                    self.fail("the page shows the host's config before the token block")
                self.write_file(text)
                continue
            if lang != "sh":
                continue
            self.assertIsNotNone(marker, f"a sh block of docs/guest.md has no guest-test marker:\n{text}")
            if marker == "show":
                for line in text.strip().splitlines():
                    print(f"shown ({reason}): {line}")
                shown += 1
                continue
            ran += 1
            if " run --config " in text:
                self.stream(text)
                continue
            for line in text.strip().splitlines():
                print(f"run: {line}")
            r = subprocess.run(["bash", "-euo", "pipefail", "-c", self.local(text)], capture_output=True, text=True,
                               timeout=60, cwd=self.t)
            print(r.stdout[-1500:], end="")
            self.assertEqual(r.returncode, 0, f"{text}\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}")
            if "sha256sum" in text:
                self.hash = r.stdout.strip().splitlines()[-1]
                self.assertRegex(self.hash, r"^[0-9a-f]{64}$")
            if "--verify" in text:
                self.assertIn("token_sha256 = (redacted)", r.stdout)
        self.assertGreaterEqual(ran, 4)
        self.assertGreaterEqual(shown, 4)
        self.verify_unit()

    def stream(self, text):
        """The daemon on the host's configuration, and the page's agent command against it."""
        print(f"run: {text.strip()}  (for a few seconds, against seatmeterd on the host's config)")
        db = os.path.join(self.t, "s.db")
        d = Process([harness.SEATMETERD, "--config", os.path.join(self.etc, "seatmeterd.conf"), "--db", db,
                     "--http", "127.0.0.1:0"], cwd=self.t, name="seatmeterd")
        d.wait_line(r"\bready\b", timeout=15)
        agent = Process(self.local(text).split(), cwd=self.t, name="agent")
        wait_until(lambda: sqlite3.connect(db).execute(
            "SELECT count(*) FROM samples JOIN agents ON agents.num = samples.agent WHERE agents.id = 'bbb1-lxc'")
            .fetchone()[0] >= 2, timeout=20, what="samples of bbb1-lxc over TCP with the token")
        self.assertRegex(d.output(), r"Agent 'bbb1-lxc' connected over tcp")
        self.assertEqual(agent.stop(), 0, agent.output())
        self.assertEqual(d.stop(), 0, d.output())
        print("  bbb1-lxc connected over tcp with its token; samples stored")

    def verify_unit(self):
        self.assertIsNotNone(self.unit, "the page shows no host-watch unit")
        analyze = shutil.which("systemd-analyze")
        if not analyze:
            print("shown (systemd-analyze is not installed): the host-watch unit")
            return
        name, text = self.unit
        path = os.path.join(self.t, name)
        with open(path, "w") as f:
            f.write(text.replace("/usr/bin/seatmeter-agent", harness.AGENT))
        r = subprocess.run([analyze, "verify", path], capture_output=True, text=True, timeout=60)
        print(f"run: systemd-analyze verify {name}: {r.returncode} {r.stderr.strip()}")
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_virt_values(self):
        """The page lists every `virt` value the agent can report (agent/sample.c's names), the agent's
        --help offers all of them but `unknown` for --virt, and the agent reports what --virt sets."""
        with open(os.path.join(harness.SOURCE_ROOT, "agent", "sample.c")) as f:
            code = set(re.findall(r'\[AGENT_VIRT_\w+\]\s*=\s*"([a-z-]+)"', f.read()))
        self.assertIn("qemu", code)
        with open(PAGE) as f:
            page = f.read()
        listed = page[page.index("`virt` is the kind of guest, one of:"):]
        listed = listed[:listed.index("\n\n", listed.index("\n- "))]
        documented = set()
        for bullet in re.findall(r"^- (.*?):", listed, re.M):
            documented |= set(re.findall(r"`([a-z-]+)`", bullet))
        self.assertEqual(documented, code, "docs/guest.md's virt values against agent/sample.c")

        r = subprocess.run([harness.AGENT, "--help"], capture_output=True, text=True, timeout=30)
        offered = re.search(r"--virt KIND\s+the guest's kind: (.*?) \(default", r.stdout, re.S).group(1)
        self.assertEqual(set(re.split(r",\s*", offered)), code - {"unknown"})
        for kind in sorted(code - {"unknown"}):
            r = subprocess.run([harness.AGENT, "sample", "--count", "1", "--virt", kind], capture_output=True,
                               text=True, timeout=30)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(json.loads(r.stdout.splitlines()[0])["virt"], kind)
        r = subprocess.run([harness.AGENT, "sample", "--count", "1", "--virt", "unknown"], capture_output=True,
                           text=True, timeout=30)
        self.assertEqual(r.returncode, 2, r.stderr)


if __name__ == "__main__":
    harness.main()
