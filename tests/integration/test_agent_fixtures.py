#!/usr/bin/env python3
"""Runs seatmeter-agent over every fixture tree in tests/fixtures/agent/ and diffs its output against
the golden files in <case>/expected/: two samples (time_ms masked), every view, the exit codes and
stderr (so a broken tree must warn once per damaged file, even over two samples).

  test_agent_fixtures.py            check (exit 0 / 1)
  test_agent_fixtures.py --update   rewrite the golden files (review the diff before committing)"""
import difflib
import os
import re
import subprocess
import sys

VIEWS = ["meminfo", "cpuinfo", "stat", "uptime", "loadavg", "swaps", "cpu-online"]
TIMEOUT = 20


def run(agent, args):
    p = subprocess.run([agent] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=TIMEOUT,
                       env=dict(os.environ, SEATMETER_LOG_LEVEL="info"))
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def outputs(agent, case_dir):
    root = os.path.join(case_dir, "root")
    with open(os.path.join(case_dir, "args")) as f:
        extra = [a for a in f.read().split("\n") if a]
    out, exits, errs = {}, [], []
    rc, stdout, stderr = run(agent, ["sample", "--count", "2", "--interval", "0", "--root", root] + extra)
    out["sample.json"] = re.sub(r'"time_ms":\d+', '"time_ms":0', stdout)
    exits.append("sample %d" % rc)
    errs.append("# sample\n" + stderr)
    for v in VIEWS:
        rc, stdout, stderr = run(agent, ["view", v, "--root", root] + extra)
        out["view-" + v] = stdout
        exits.append("%s %d" % (v, rc))
        errs.append("# %s\n%s" % (v, stderr))
    out["exit"] = "\n".join(exits) + "\n"
    out["stderr"] = "".join(e if e.endswith("\n") else e + "\n" for e in errs)
    return out


def main():
    agent = os.environ.get("SEATMETER_AGENT")
    fixtures = os.environ.get("SEATMETER_FIXTURES")
    if not agent or not fixtures:
        print("SEATMETER_AGENT and SEATMETER_FIXTURES must be set (run through meson test)")
        return 77
    base = os.path.join(fixtures, "agent")
    update = "--update" in sys.argv
    cases = sorted(d for d in os.listdir(base) if os.path.isdir(os.path.join(base, d, "root")))
    if not cases:
        print("no fixture trees under " + base)
        return 1
    failed = 0
    for case in cases:
        case_dir = os.path.join(base, case)
        exp_dir = os.path.join(case_dir, "expected")
        got = outputs(agent, case_dir)
        if update:
            os.makedirs(exp_dir, exist_ok=True)
            for name, text in got.items():
                with open(os.path.join(exp_dir, name), "w") as f:
                    f.write(text)
            print("updated %s" % case)
            continue
        for name, text in got.items():
            path = os.path.join(exp_dir, name)
            try:
                with open(path) as f:
                    want = f.read()
            except FileNotFoundError:
                want = None
            if want != text:
                failed += 1
                print("FAIL %s/%s" % (case, name))
                sys.stdout.writelines(difflib.unified_diff((want or "").splitlines(True), text.splitlines(True),
                                                           "expected", "got"))
        # Sanity beyond the golden files: no crash, and warnings only where the tree is damaged.
        if "Segmentation" in got["stderr"] or "AddressSanitizer" in got["stderr"] or "runtime error" in got["stderr"]:
            failed += 1
            print("FAIL %s: sanitizer or crash output" % case)
    print("%d cases, %d differences" % (len(cases), failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
