#!/usr/bin/env python3
"""The man pages against the binaries' --help: for seatmeterd and for each seatmeter-agent command, the
options of the SYNOPSIS equal those of the usage line(s) of --help; every option --help explains has an
entry in the page's OPTIONS and the other way round; and seatmeterd's exit codes agree between
seatmeterd(8), --help and docs/daemon.md. Less than a second."""

import json
import os
import re
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

MAN = os.path.join(harness.SOURCE_ROOT, "docs", "man")
OPT = re.compile(r"--[a-z][a-z-]*")


def page(name):
    with open(os.path.join(MAN, name)) as f:
        return f.read().replace("\\-", "-")


def section(text, name):
    m = re.search(r"^\.SH " + name + r"\n(.*?)(?=^\.SH |\Z)", text, re.M | re.S)
    return m.group(1) if m else ""


def synopsis(text):
    """{command word or '': set of options} of the .SY blocks ('' for a block without a command word)."""
    out = {}
    for block in re.findall(r"^\.SY [^\n]*\n(.*?)^\.YS", section(text, "SYNOPSIS"), re.M | re.S):
        m = re.match(r"\.B ([a-z]+)\n", block)
        word = m.group(1) if m else ""
        out.setdefault(word, set()).update(OPT.findall(block))
    return out


def options_entries(text):
    """Options that head an entry (.TP then .B/.BI/.BR line) of the OPTIONS section."""
    return set(OPT.findall("\n".join(re.findall(r"^\.TP\n(\.B[IR]? [^\n]*)", section(text, "OPTIONS"), re.M))))


def help_text(binary):
    r = subprocess.run([binary, "--help"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return r.stdout


def json_keys(o, prefix=""):
    """Every key path of a JSON object: a.b for objects, a[].b for the first element of a list."""
    out = set()
    for k, v in o.items():
        out.add(prefix + k)
        if isinstance(v, dict):
            out |= json_keys(v, prefix + k + ".")
        elif isinstance(v, list) and v and isinstance(v[0], dict):
            out |= json_keys(v[0], prefix + k + "[].")
    return out


class ManHelp(unittest.TestCase):
    def test_seatmeterd(self):
        text, out = page("seatmeterd.8"), help_text(harness.SEATMETERD)
        usage = out.splitlines()[0]
        syn = synopsis(text)
        self.assertEqual(syn[""] - {"--help", "--version"}, set(OPT.findall(usage)), "SYNOPSIS against --help usage")
        explained = set(OPT.findall("\n".join(line[:24] for line in out.splitlines() if line.startswith("  "))))
        self.assertEqual(options_entries(text), explained, "OPTIONS entries against the options --help explains")

        man_codes = set(map(int, re.findall(r"^\.TP\n\.B (\d+)\n", section(text, "EXIT STATUS"), re.M)))
        help_codes = set(map(int, re.findall(r"(\d+) [a-z]", out[out.index("Exit status:"):])))
        with open(os.path.join(harness.SOURCE_ROOT, "docs", "daemon.md")) as f:
            md = f.read()
        md_codes = set(map(int, re.findall(r"^\| (\d+) \|", md[md.index("## Exit codes"):], re.M)))
        self.assertEqual(man_codes, help_codes, "seatmeterd(8) EXIT STATUS against --help")
        self.assertEqual(man_codes, md_codes, "seatmeterd(8) EXIT STATUS against docs/daemon.md")

    def test_agent_output(self):
        """The fields of seatmeter-agent(8)'s OUTPUT example are those `sample` prints (on a fixture tree, with
        a label); the example's "memory":{...} stands for the same keys as its "cpu" sibling."""
        text = section(page("seatmeter-agent.8"), "OUTPUT")
        example = re.search(r"^\.nf\n(.*?)^\.fi", text, re.M | re.S).group(1)
        example = re.sub(r"\.\.\.", "0", example.replace("{...}", "{}"))
        shown = json_keys(json.loads(example))
        fixture = os.path.join(harness.FIXTURES, "agent", "lxc-v1")
        with open(os.path.join(fixture, "args")) as f:
            args = f.read().split()
        r = subprocess.run([harness.AGENT, "sample", "--root", os.path.join(fixture, "root"), "--label", "site=fra1"]
                           + args, capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        printed = json_keys(json.loads(r.stdout.splitlines()[0]))
        pressure = re.compile(r"pressure\.\w+\.")
        self.assertEqual({k for k in shown if not pressure.match(k)}, {k for k in printed if not pressure.match(k)},
                         "seatmeter-agent(8) OUTPUT against `sample`")
        # The fixture has no PSI files (pressure null): this machine's own sample shows those keys when it has.
        live = json.loads(subprocess.run([harness.AGENT, "sample"], capture_output=True, text=True,
                                         timeout=30).stdout.splitlines()[0])
        if live.get("pressure", {}).get("cpu"):
            self.assertEqual({k for k in shown if k.startswith("pressure.cpu.")},
                             {k for k in json_keys(live) if k.startswith("pressure.cpu.")})

    def test_agent(self):
        text, out = page("seatmeter-agent.8"), help_text(harness.AGENT)
        syn = synopsis(text)
        commands = {}
        word = None
        for line in out[out.index("Commands:"):out.index("Options:")].splitlines()[1:]:
            m = re.match(r"^  ([a-z]+) ", line)
            if m:
                word = m.group(1)
                commands[word] = set(OPT.findall(line))
            elif word and re.match(r"^\s+\[", line):
                commands[word] |= set(OPT.findall(line))
        self.assertEqual(set(commands), {w for w in syn if w}, "commands")
        for w, opts in commands.items():
            self.assertEqual(syn[w], opts, f"SYNOPSIS of '{w}' against --help")
        explained = set(OPT.findall("\n".join(line[:21] for line in out[out.index("Options:"):].splitlines()
                                              if line.startswith("  -"))))
        self.assertEqual(options_entries(text) | {"--help", "--version"}, explained,
                         "OPTIONS entries against the options --help explains")


if __name__ == "__main__":
    harness.main()
