#!/usr/bin/env python3
"""The VM lab: a Debian 12 guest under qemu (KVM where /dev/kvm exists, TCG otherwise) with systemd as
PID 1, the freshly built project installed into it, and guest.py run inside.

  lab.py boot          build or reuse the image (image.sh), install the build tree with
                       `meson install --destdir`, boot the guest (pure cgroup v2), let it reboot once
                       into a hybrid (v1) boot, and collect its results into BUILD/lab/
  lab.py check NAME    the result of one in-guest check: exit 0 (passed), 1 (failed) or 77 (skipped,
                       reason on the last line)

Disks: vda is a qcow2 overlay on the cached image (which stays untouched), vdb (label smlab, read-only)
holds guest.sh, guest.py, the integration tests and the install tree, vdc (label smres) receives the
results, read back with debugfs. No network (-nic none). Every wait polls with a deadline.

Environment: SEATMETER_BUILD_ROOT, SEATMETER_SOURCE_ROOT (set by meson); SEATMETER_LAB_CACHE (image
cache, default /var/cache/seatmeter-lab); SEATMETER_LAB_BOOT_TIMEOUT (seconds per boot, default 600)."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
BUILD = os.environ.get("SEATMETER_BUILD_ROOT", os.getcwd())
SOURCE = os.environ.get("SEATMETER_SOURCE_ROOT", os.path.dirname(os.path.dirname(HERE)))
OUT = os.path.join(BUILD, "lab")
CACHE = os.environ.get("SEATMETER_LAB_CACHE", "/var/cache/seatmeter-lab")
BOOT_TIMEOUT = float(os.environ.get("SEATMETER_LAB_BOOT_TIMEOUT", "600"))
# The boots: the first as Proxmox VE 8 boots (pure cgroup v2), the second, after the guest's own
# reboot, as older Proxmox releases did (hybrid: v1 controllers plus an empty cgroup2 mount).
BOOTS = [("unified", ""), ("hybrid", "systemd.unified_cgroup_hierarchy=0")]


def skip(reason):
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "skipped"), "w") as f:
        f.write(reason + "\n")
    print(reason)
    sys.exit(77)


def log(msg):
    print(f"[lab {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def run(argv, **kw):
    return subprocess.run(argv, check=True, **kw)


def make_ext4(path, label, size_mb, src=None):
    argv = ["mkfs.ext4", "-q", "-F", "-L", label, "-E", "root_owner=0:0"]
    if src:
        argv += ["-d", src]
    run(argv + [path, f"{size_mb}M"])


def stage_lab_disk(stage):
    """The install tree and the in-guest scripts."""
    dest = os.path.join(stage, "dest")
    p = subprocess.run(["meson", "install", "-C", BUILD, "--no-rebuild", "--quiet", "--destdir", dest],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if p.returncode != 0:
        sys.stdout.write(p.stdout.decode(errors="replace"))
        raise SystemExit("meson install --destdir failed")
    for f in ("guest.sh", "guest.py"):
        shutil.copy(os.path.join(HERE, f), stage)
    shutil.copytree(os.path.join(SOURCE, "tests", "integration"), os.path.join(stage, "integration"),
                    ignore=shutil.ignore_patterns("__pycache__"))


def boot(image, overlay, labdisk, resdisk, console, append):
    accel = ["-accel", "kvm", "-cpu", "host"] if os.access("/dev/kvm", os.R_OK | os.W_OK) else \
        ["-accel", "tcg", "-cpu", "max"]
    argv = ["qemu-system-x86_64", *accel, "-m", "1536", "-smp", "2", "-nic", "none", "-no-reboot",
            "-display", "none", "-serial", f"file:{console}", "-monitor", "none",
            "-kernel", os.path.join(image, "vmlinuz"), "-initrd", os.path.join(image, "initrd.img"),
            "-append", f"root=/dev/vda rw console=ttyS0 quiet systemd.show_status=0 {append}".strip(),
            "-drive", f"file={overlay},format=qcow2,if=virtio",
            "-drive", f"file={labdisk},format=raw,if=virtio,readonly=on",
            "-drive", f"file={resdisk},format=raw,if=virtio"]
    t0 = time.monotonic()
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        out, _ = p.communicate(timeout=BOOT_TIMEOUT)
    except subprocess.TimeoutExpired:
        p.kill()
        out, _ = p.communicate()
        log(f"the guest did not finish within {BOOT_TIMEOUT:.0f} s; killed")
    if out:
        sys.stdout.write(out.decode(errors="replace"))
    return p.returncode, time.monotonic() - t0


def read_results(resdisk, into):
    if os.path.exists(into):
        shutil.rmtree(into)
    os.makedirs(into)
    run(["debugfs", "-R", f"rdump / {into}", resdisk], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # rdump writes the root folder's contents below into/ directly
    return into


def cmd_boot():
    # Results of an earlier run must never be reported as this run's.
    if os.path.exists(OUT):
        shutil.rmtree(OUT)
    os.makedirs(OUT)
    for tool in ("qemu-system-x86_64", "qemu-img", "mkfs.ext4", "debugfs"):
        if not shutil.which(tool):
            skip(f"{tool} is not installed: the VM lab cannot run")
    p = subprocess.run(["bash", os.path.join(HERE, "image.sh"), CACHE], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE)
    err = p.stderr.decode(errors="replace")
    lines = p.stdout.decode(errors="replace").strip().splitlines()
    if p.returncode == 77:
        sys.stdout.write(err)
        skip(lines[-1] if lines else "the lab image cannot be built")
    if p.returncode != 0:
        sys.stdout.write(err + "\n".join(lines) + "\n")
        print("building the lab image failed")
        return 1
    image = lines[-1]
    log(f"image {image}")

    work = tempfile.mkdtemp(prefix="seatmeter-lab-")
    try:
        stage = os.path.join(work, "stage")
        os.makedirs(stage)
        stage_lab_disk(stage)
        labdisk, resdisk = os.path.join(work, "lab.img"), os.path.join(work, "results.img")
        make_ext4(labdisk, "smlab", 256, stage)
        make_ext4(resdisk, "smres", 64)
        overlay = os.path.join(work, "root.qcow2")
        run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", os.path.join(image, "rootfs.img"), "-F", "raw",
             overlay])
        timings = {}
        for name, append in BOOTS:
            console = os.path.join(OUT, f"console-{name}.log")
            log(f"booting the guest ({name})")
            rc, secs = boot(image, overlay, labdisk, resdisk, console, append)
            timings[name] = round(secs, 1)
            log(f"guest ({name}) ended after {secs:.0f} s (qemu exit {rc})")
            res = read_results(resdisk, os.path.join(work, "res"))
            if not os.path.exists(os.path.join(res, f"done-{name}")):
                log(f"the guest's {name} phase did not complete; console tail:")
                with open(console, errors="replace") as f:
                    sys.stdout.write("".join(f.readlines()[-60:]))
                break
        for f in os.listdir(res):
            src = os.path.join(res, f)
            if os.path.isfile(src):
                shutil.copy(src, OUT)
        with open(os.path.join(OUT, "timings.json"), "w") as f:
            json.dump(timings, f)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    checks = load_checks()
    if not checks:
        print("the guest reported no checks")
        return 1
    for name, (status, detail) in checks.items():
        print(f"{status:4} {name}: {detail}")
    log(f"boot times: {timings}")
    return 1 if any(s == "FAIL" for s, _ in checks.values()) else 0


def load_checks():
    checks = {}
    path = os.path.join(OUT, "checks.txt")
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                parts = line.rstrip("\n").split(" ", 2)
                if len(parts) >= 2:
                    checks[parts[1]] = (parts[0], parts[2] if len(parts) > 2 else "")
    return checks


def cmd_check(name):
    skipped = os.path.join(OUT, "skipped")
    if os.path.exists(skipped):
        with open(skipped) as f:
            print(f.read().strip())
        return 77
    checks = load_checks()
    if name not in checks:
        print(f"the guest did not report check {name} (see {OUT}/console-*.log)")
        return 1
    status, detail = checks[name]
    print(detail)
    if status == "SKIP":
        return 77
    return 0 if status == "PASS" else 1


def main():
    if len(sys.argv) >= 2 and sys.argv[1] == "boot":
        return cmd_boot()
    if len(sys.argv) >= 3 and sys.argv[1] == "check":
        return cmd_check(sys.argv[2])
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main())
