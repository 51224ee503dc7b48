#!/usr/bin/env python3
"""The man pages against the binaries' --help: for seatmeterd and for each seatmeter-agent command, the
options of the SYNOPSIS equal those of the usage line(s) of --help; every option --help explains has an
entry in the page's OPTIONS and the other way round; and seatmeterd's exit codes agree between
seatmeterd(8), --help and docs/daemon.md. Less than a second."""

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
