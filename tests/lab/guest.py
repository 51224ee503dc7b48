#!/usr/bin/env python3
"""The lab's checks, run inside the guest by guest.sh at every boot. Each check appends one line
"PASS|FAIL|SKIP NAME DETAIL" to /results/checks.txt; the commands and their answers go to
/results/transcript.txt (the source of docs/lab.md). The first boot (pure cgroup v2) ends with a
reboot while an agent spools; the second boot (hybrid, chosen by the host) checks that nothing was
lost and the v1 paths, then powers off. Every wait polls with a deadline."""

import hashlib
import json
import os
import re
import subprocess
import sys
import time
import traceback
import urllib.request

R = "/results"
LAB = "/lab"
HOST = "seatmeter-lab"
HTTP = "http://127.0.0.1:8480"
VSOCK_PORT = 8482


def find_prefix():
    for d, _, files in os.walk(os.path.join(LAB, "dest")):
        if "seatmeterd" in files and d.endswith("/sbin"):
            return d[len(os.path.join(LAB, "dest")):-len("/sbin")] or "/"
    raise SystemExit("no seatmeterd in the install tree")


PREFIX = find_prefix()
SEATMETERD = f"{PREFIX}/sbin/seatmeterd"
AGENT = f"{PREFIX}/bin/seatmeter-agent"
SYSCONF = "/etc" if PREFIX == "/usr" else f"{PREFIX}/etc"
CONF_DIRS = sorted({"/etc/seatmeter", f"{SYSCONF}/seatmeter"})
DB = "/var/lib/seatmeter/seatmeter.db"


def note(text):
    with open(f"{R}/transcript.txt", "a") as f:
        f.write(text.rstrip("\n") + "\n")


def sh(cmd, check=False, quiet=False, timeout=120):
    """Runs a shell command; returns (rc, output). The transcript gets the command and its output."""
    p = subprocess.run(["bash", "-c", cmd], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout)
    out = p.stdout.decode(errors="replace")
    if not quiet:
        note(f"# {cmd}\n{out}" + (f"(exit {p.returncode})\n" if p.returncode else ""))
    if check and p.returncode != 0:
        raise CheckFailed(f"`{cmd}` failed ({p.returncode}): {out.strip()[-300:]}")
    return p.returncode, out


class CheckFailed(Exception):
    pass


def wait_for(pred, timeout, what):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise CheckFailed(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.2)


def record(status, name, detail):
    detail = " ".join(str(detail).split())[:400]
    with open(f"{R}/checks.txt", "a") as f:
        f.write(f"{status} {name} {detail}\n")
    print(f"lab: {status} {name}: {detail}", flush=True)


def check(name):
    """Decorator: runs the check now, records PASS with the returned detail, FAIL on an exception."""
    def run(fn):
        note(f"\n## {name}")
        t0 = time.monotonic()
        try:
            detail = fn()
            record("PASS", name, f"{detail} ({time.monotonic() - t0:.1f} s)")
            return True
        except Exception as e:  # noqa: BLE001 - every failure is a result
            if not isinstance(e, CheckFailed):
                note(traceback.format_exc())
            record("FAIL", name, f"{e}")
            return False
    return run


def http_get(path, timeout=10):
    with urllib.request.urlopen(HTTP + path, timeout=timeout) as r:
        return r.status, r.read()


def http_ok(path="/healthz"):
    try:
        return http_get(path)[0] == 200
    except OSError:
        return False


def agents():
    try:
        return {a["id"]: a for a in json.loads(http_get("/api/v1/agents")[1])}
    except (OSError, ValueError):
        return {}


def seqs(agent_id):
    import sqlite3
    con = sqlite3.connect(f"file:{DB}?mode=ro", uri=True, timeout=10)
    try:
        return [r[0] for r in con.execute("SELECT seq FROM samples JOIN agents ON agents.num = samples.agent "
                                          "WHERE agents.id = ? ORDER BY seq", (agent_id,))]
    except sqlite3.OperationalError:
        return []
    finally:
        con.close()


def show(unit, prop):
    return sh(f"systemctl show -P {prop} {unit}", quiet=True)[1].strip()


def active(unit):
    return show(unit, "ActiveState") == "active"


def cursor():
    out = sh("journalctl -n 0 --show-cursor -q", quiet=True)[1]
    m = re.search(r"cursor: (\S+)", out)
    return m.group(1) if m else None


def journal_since(cur, units=("seatmeterd.service", "seatmeterd.socket", "seatmeterd-http.socket")):
    u = " ".join(f"-u {x}" for x in units)
    after = f"--after-cursor='{cur}'" if cur else ""
    return sh(f"journalctl -q -o short-monotonic --no-pager {after} {u}", quiet=True)[1]


def agent_sample(props, slice_=None, extra=""):
    """One sample of the agent run as a transient service with these properties."""
    p = " ".join(f"-p {x}" for x in props)
    s = f"--slice={slice_}" if slice_ else ""
    rc, out = sh(f"systemd-run --quiet --wait --pipe --collect {s} {p} {AGENT} sample {extra}")
    if rc != 0:
        raise CheckFailed(f"systemd-run failed: {out.strip()[-300:]}")
    return json.loads(out.strip().splitlines()[-1])


def write(path, text, mode=0o644):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)


# ---------------------------------------------------------------- first boot: pure cgroup v2

def install():
    sh(f"cp -a {LAB}/dest/. /", check=True)
    sh("systemd-sysusers && systemd-tmpfiles --create && systemctl daemon-reload", check=True)
    for d in CONF_DIRS:
        write(f"{d}/seatmeterd.conf", "[daemon]\n")
        write(f"{d}/agent.conf", "")  # the defaults: the local socket, the host name as id


def phase_unified():
    sh("uname -r; systemd --version | head -1; stat -fc %T /sys/fs/cgroup; systemd-detect-virt; "
       "cat /sys/devices/system/clocksource/clocksource0/available_clocksource")
    install()

    @check("units-start")
    def _():
        sh("systemctl enable --now seatmeterd.socket seatmeterd-http.socket seatmeterd.service", check=True)
        wait_for(lambda: active("seatmeterd.service"), 60, "seatmeterd.service active (READY=1)")
        wait_for(http_ok, 30, "HTTP /healthz on 127.0.0.1:8480")
        sh("systemctl status --no-pager seatmeterd.service seatmeterd.socket seatmeterd-http.socket | head -40")
        j = sh("journalctl -q -u seatmeterd.service -o cat | grep -m1 -E '(^| )ready '")[1].strip()
        if "http=127.0.0.1:8480" not in j:
            raise CheckFailed(f"ready line without the socket unit's address: {j}")
        return f"Type=notify active, {j}"

    @check("notify-status")
    def _():
        st = wait_for(lambda: show("seatmeterd.service", "StatusText"), 30, "STATUS= text")
        return f"StatusText={st!r}"

    @check("watchdog")
    def _():
        usec = show("seatmeterd.service", "WatchdogUSec")
        first = show("seatmeterd.service", "WatchdogTimestampMonotonic")
        wait_for(lambda: show("seatmeterd.service", "WatchdogTimestampMonotonic") != first, 40,
                 "a WATCHDOG=1 ping")
        return f"WatchdogUSec={usec}, pings arrive (WatchdogTimestamp advances), NRestarts=" + \
            show("seatmeterd.service", "NRestarts")

    @check("agent-unit")
    def _():
        sh("systemctl enable --now seatmeter-agent.service", check=True)
        wait_for(lambda: active("seatmeter-agent.service"), 60, "seatmeter-agent.service active")
        a = wait_for(lambda: agents().get(HOST), 60, f"agent {HOST} in /api/v1/agents")
        wait_for(lambda: len(seqs(HOST)) >= 3, 60, "3 samples stored")
        sh(f"curl -s {HTTP}/api/v1/agents 2>/dev/null || python3 -c \"import urllib.request;"
           f"print(urllib.request.urlopen('{HTTP}/api/v1/agents').read().decode())\"")
        return f"agent {HOST} connected over unix:/run/seatmeter/ingest.sock, virt={a.get('virt')}"

    @check("virt")
    def _():
        want = sh("systemd-detect-virt", quiet=True)[1].strip()
        got = agents().get(HOST, {}).get("virt")
        note(f"systemd-detect-virt: {want}; agent: {got}")
        if got != want:
            raise CheckFailed(f"agent says {got}, systemd-detect-virt says {want}")
        return f"agent and systemd-detect-virt agree: {got}"

    @check("restart-keeps-sockets")
    def _():
        cur = cursor()
        n0 = len(seqs(HOST))
        sh("systemctl restart seatmeterd.service", check=True)
        wait_for(lambda: active("seatmeterd.service"), 60, "seatmeterd.service active again")
        wait_for(http_ok, 30, "HTTP after the restart")
        wait_for(lambda: len(seqs(HOST)) > n0 + 3, 60, "the agent's samples after the restart")
        j = journal_since(cur)
        note("journal since the restart:\n" + j)
        bad = [x for x in ("Ignoring socket", "POLLHUP", "Failed with result") if x in j]
        states = {u: show(u, "ActiveState") for u in ("seatmeterd.socket", "seatmeterd-http.socket")}
        if bad or any(v != "active" for v in states.values()):
            raise CheckFailed(f"journal has {bad}, sockets {states}")
        s = seqs(HOST)
        if s != list(range(1, len(s) + 1)):
            raise CheckFailed("a gap in the agent's sequence numbers")
        return f"sockets stay {states}, HTTP and ingest served by the new process, seq 1..{len(s)} without a gap"

    @check("reload")
    def _():
        pid = show("seatmeterd.service", "MainPID")
        token = "lab-vsock-token-0123456789abcdef"
        write("/etc/seatmeter/lab-vsock.token", token + "\n", 0o600)
        digest = hashlib.sha256(token.encode()).hexdigest()
        for d in CONF_DIRS:
            write(f"{d}/seatmeterd.conf", f"[daemon]\n[agent lab-vsock]\ntoken_sha256 = {digest}\n")
        cur = cursor()
        sh("systemctl reload seatmeterd.service", check=True)
        j = wait_for(lambda: re.search(r".*[Rr]eload.*", journal_since(cur, ("seatmeterd.service",))), 30,
                     "the daemon's reload message")
        if show("seatmeterd.service", "MainPID") != pid:
            raise CheckFailed("the main PID changed on reload")
        return f"MainPID {pid} kept; {j.group(0).strip()}"

    @check("socket-activation")
    def _():
        sh("systemctl stop seatmeterd.socket seatmeterd-http.socket seatmeterd.service", check=True)
        sh("systemctl start seatmeterd.socket seatmeterd-http.socket", check=True)
        # the local agent reconnects within seconds: it activates the service through the ingest socket
        wait_for(lambda: active("seatmeterd.service"), 60, "activation by the agent's connection")
        via_ingest = show("seatmeterd.service", "ActiveEnterTimestamp")
        sh("systemctl stop seatmeter-agent.service; systemctl stop seatmeterd.service", check=True)
        if active("seatmeterd.service"):
            raise CheckFailed("seatmeterd.service still active with the agent stopped")
        wait_for(http_ok, 60, "HTTP to activate the service")
        sh("systemctl start seatmeter-agent.service", check=True)
        sh("systemctl list-sockets --no-pager | grep -i seatmeter")
        return f"ingest activated it ({via_ingest}), then a GET on the HTTP socket did"

    @check("security")
    def _():
        scores = {}
        for u in ("seatmeterd.service", "seatmeter-agent.service"):
            out = sh(f"systemd-analyze security --no-pager {u} | tail -1")[1]
            m = re.search(r"level for \S+: ([0-9.]+) (\S+)", out)
            if not m:
                raise CheckFailed(f"no score for {u}: {out}")
            scores[u] = (float(m.group(1)), m.group(2))
        if any(v[0] > 2.0 for v in scores.values()):
            raise CheckFailed(f"exposure above 2.0: {scores}")
        return ", ".join(f"{u} {s} {w}" for u, (s, w) in scores.items())

    @check("transient-limits")
    def _():
        s = agent_sample(["CPUQuota=50%", "MemoryMax=200M", "AllowedCPUs=1"])
        c, m = s["cpu"], s["memory"]
        got = (c["quota_us"], c["period_us"], c["cpuset"], c["effective_cpus"], m["limit_bytes"], m["cgroup_limited"])
        want = (50000, 100000, "1", 0.5, 200 * 2**20, True)
        if got != want:
            raise CheckFailed(f"got {got}, want {want}")
        return f"CPUQuota=50% MemoryMax=200M AllowedCPUs=1 -> quota 50000/100000, cpuset 1, 0.5 CPUs, 200 MiB"

    @check("nested-slices")
    def _():
        write("/run/systemd/system/smlab.slice", "[Slice]\nCPUQuota=150%\nMemoryMax=300M\n")
        write("/run/systemd/system/smlab-inner.slice", "[Slice]\nMemoryMax=1G\n")
        sh("systemctl daemon-reload", check=True)
        s = agent_sample(["MemoryMax=800M"], slice_="smlab-inner.slice")
        c, m = s["cpu"], s["memory"]
        got = (s["cgroup"]["path"].split("/")[1:3], c["quota_us"], c["effective_cpus"], m["limit_bytes"])
        want = (["smlab.slice", "smlab-inner.slice"], 150000, 1.5, 300 * 2**20)
        if got != want:
            raise CheckFailed(f"got {got}, want {want}")
        return "smlab.slice (150%, 300M) > smlab-inner.slice (1G) > unit (800M): 1.5 CPUs, 300 MiB"

    vsock_checks()
    lxc_checks()
    prepare_reboot()


def vsock_checks():
    have = sh("modprobe vsock_loopback && ls -l /dev/vsock")[0] == 0

    @check("vsock-socket-unit")
    def _():
        if not have:
            raise CheckFailed("modprobe vsock_loopback failed")
        write("/etc/systemd/system/seatmeterd-vsock.socket",
              "[Socket]\nListenStream=vsock::%d\nFileDescriptorName=ingest\nService=seatmeterd.service\n\n"
              "[Install]\nWantedBy=sockets.target\n" % VSOCK_PORT)
        # What the old guide said: enable the socket while the daemon runs. systemd refuses.
        sh("systemctl daemon-reload; systemctl enable --now seatmeterd-vsock.socket; "
           "journalctl -q -o cat -u seatmeterd-vsock.socket | tail -3")
        sh("systemctl stop seatmeterd-vsock.socket; systemctl reset-failed seatmeterd-vsock.socket")
        # The order that works: name the socket in the service's Sockets= first, then restart the
        # service, which starts its sockets before itself.
        write("/etc/systemd/system/seatmeterd.service.d/vsock.conf", "[Service]\nSockets=seatmeterd-vsock.socket\n")
        cur = cursor()
        sh("systemctl daemon-reload && systemctl restart seatmeterd.service", check=True)
        wait_for(lambda: active("seatmeterd.service"), 60, "seatmeterd.service active")
        j = journal_since(cur, ("seatmeterd.service", "seatmeterd-vsock.socket"))
        note(j)
        if not active("seatmeterd-vsock.socket"):
            raise CheckFailed(f"seatmeterd-vsock.socket is {show('seatmeterd-vsock.socket', 'ActiveState')}")
        m = re.search(r"\bready http=.*", j)
        if not m or "vsock" not in m.group(0):
            raise CheckFailed(f"the daemon did not take the vsock socket: {m.group(0) if m else j[-300:]}")
        return f"socket named in Sockets=, then restart: {m.group(0).strip()}"

    @check("vsock-agent")
    def _():
        if not have:
            raise CheckFailed("no vsock_loopback")
        sh(f"systemd-run --unit=smlab-vsock-agent -p StateDirectory=smlab-vsock {AGENT} run "
           f"--connect vsock:1:{VSOCK_PORT} --id lab-vsock --token-file /etc/seatmeter/lab-vsock.token "
           f"--spool /var/lib/smlab-vsock --interval 500", check=True)
        wait_for(lambda: len(seqs("lab-vsock")) >= 3, 60, "3 samples from the vsock agent")
        return f"agent lab-vsock streams over vsock:1:{VSOCK_PORT} with its token ({len(seqs('lab-vsock'))} samples)"

    @check("vsock-host-test")
    def _():
        env = f"SEATMETERD={SEATMETERD} SEATMETER_AGENT={AGENT} PYTHONDONTWRITEBYTECODE=1"
        rc, out = sh(f"cd /tmp && {env} python3 {LAB}/integration/test_ingest_vsock.py 2>&1 | tail -5")
        rc = sh(f"cd /tmp && {env} python3 {LAB}/integration/test_ingest_vsock.py >/dev/null 2>&1", quiet=True)[0]
        if rc != 0:
            raise CheckFailed(f"test_ingest_vsock.py exit {rc}: {out.strip()[-200:]}")
        return "tests/integration/test_ingest_vsock.py passes (skipped on the build host)"


CT = "smlab-ct1"
CT_DIR = f"/var/lib/lxc/{CT}"
CT_MEM = 256 * 2**20
# The container's own socket folder, mounted where the agent looks by default. The bind mount alone is
# hidden by the tmpfs that the container's systemd mounts on /run at boot; with a tmpfs on run/ first,
# /run is already a mount point and systemd leaves it (and the bind mount inside it) alone.
MOUNT_BIND_ONLY = ["/run/seatmeter run/seatmeter none bind,create=dir 0 0"]
MOUNT_WORKS = ["tmpfs run tmpfs rw,nosuid,nodev,mode=755,create=dir 0 0"] + MOUNT_BIND_ONLY


def ct_start(mounts, boot=True):
    """A privileged container whose root is an overlay of the guest's own root file system (upper layer
    on a tmpfs), systemd inside, the guest's daemon units masked, memory.max 256M and cpu.max 1.5 CPUs."""
    sh(f"lxc-stop -k -n {CT} 2>/dev/null; umount -R {CT_DIR}/rootfs {CT_DIR}/ovl 2>/dev/null; true", quiet=True)
    os.makedirs(f"{CT_DIR}/rootfs", exist_ok=True)
    os.makedirs(f"{CT_DIR}/ovl", exist_ok=True)
    sh(f"mount -t tmpfs tmpfs {CT_DIR}/ovl && mkdir {CT_DIR}/ovl/upper {CT_DIR}/ovl/work", check=True, quiet=True)
    up = f"{CT_DIR}/ovl/upper"
    for d in ("var/lib/seatmeter-agent", "var/lib/seatmeter", "var/log/journal", "var/lib/lxc", "var/lib/smlab-vsock"):
        os.makedirs(f"{up}/{d}", exist_ok=True)
        os.setxattr(f"{up}/{d}", "trusted.overlay.opaque", b"y")  # not the guest's files
    os.chown(f"{up}/var/lib/seatmeter-agent", *[int(x) for x in sh(
        "id -u seatmeter-agent; id -g seatmeter-agent", quiet=True)[1].split()])
    os.chmod(f"{up}/var/lib/seatmeter-agent", 0o700)
    write(f"{up}/etc/hostname", CT + "\n")
    write(f"{up}/etc/machine-id", hashlib.md5(CT.encode()).hexdigest() + "\n")
    os.makedirs(f"{up}/etc/systemd/system", exist_ok=True)
    for u in ("seatmeterd.service", "seatmeterd.socket", "seatmeterd-http.socket", "seatmeterd-vsock.socket",
              "seatmeter-lab.service"):
        os.symlink("/dev/null", f"{up}/etc/systemd/system/{u}")
    sh(f"mount -t overlay overlay -o lowerdir=/,upperdir={up},workdir={CT_DIR}/ovl/work {CT_DIR}/rootfs",
       check=True, quiet=True)
    write(f"{CT_DIR}/config", "\n".join([
        f"lxc.uts.name = {CT}",
        f"lxc.rootfs.path = dir:{CT_DIR}/rootfs",
        "lxc.net.0.type = empty",
        "lxc.apparmor.profile = unconfined",
        "lxc.mount.auto = proc:mixed sys:mixed cgroup:rw",
        "lxc.autodev = 1",
        "lxc.pty.max = 8",
        "lxc.tty.max = 1",
        f"lxc.cgroup2.memory.max = {CT_MEM}",
        "lxc.cgroup2.cpu.max = 150000 100000",
    ] + [f"lxc.mount.entry = {m}" for m in mounts]) + "\n")
    sh(f"cat {CT_DIR}/config")
    sh(f"lxc-start -n {CT} -l INFO -o {R}/lxc-{CT}.log", check=True)
    if not boot:
        return "starting"

    def booted():
        out = sh(f"lxc-attach -n {CT} -- systemctl is-system-running", quiet=True)[1].strip()
        return out in ("running", "degraded") and out
    state = wait_for(booted, 180, "systemd in the container")
    return state


def ct_sh(cmd, **kw):
    return sh(f"lxc-attach -n {CT} -- bash -c {json.dumps(cmd)}", **kw)


def lxc_checks():
    @check("lxc-bind-mount-hidden")
    def _():
        ct_start(MOUNT_BIND_ONLY, boot=False)
        # The container's systemd mounts its /run first thing at boot; once /run is a tmpfs there,
        # the question is answered.
        wait_for(lambda: ct_sh("findmnt -n -o FSTYPE /run", quiet=True)[1].strip() == "tmpfs", 120,
                 "systemd's /run in the container")
        rc, out = ct_sh("findmnt -n -o TARGET,SOURCE,FSTYPE /run; findmnt -n -o TARGET,SOURCE,FSTYPE /run/seatmeter; ls -l /run/seatmeter/")
        seen = ct_sh("test -S /run/seatmeter/ingest.sock", quiet=True)[0] == 0
        sh(f"lxc-stop -k -n {CT}")
        if seen:
            raise CheckFailed("the bind mount alone is visible after all (update docs/systemd.md)")
        return "the bind mount alone is hidden by the tmpfs the container's systemd mounts on /run"

    ok = False

    @check("lxc-agent-streams")
    def _():
        nonlocal ok
        ct_start(MOUNT_WORKS, boot=False)
        a = wait_for(lambda: agents().get(CT), 240, f"agent {CT} in /api/v1/agents")
        state = ct_sh("systemctl is-system-running", quiet=True)[1].strip()
        ct_sh("findmnt -n -o TARGET,SOURCE,FSTYPE /run; findmnt -n -o TARGET,SOURCE,FSTYPE /run/seatmeter; ls -l /run/seatmeter/")
        wait_for(lambda: len(seqs(CT)) >= 3, 60, f"3 samples from {CT}")
        ct_sh("systemctl status --no-pager seatmeter-agent.service | head -12")
        ok = True
        return f"systemd {state!r} in {CT}; its agent streams through unix:/run/seatmeter/ingest.sock, virt={a['virt']}"

    @check("lxc-limits-inside")
    def _():
        if not ok:
            raise CheckFailed("no container")
        a = agents()[CT]
        rc, out = ct_sh(f"{AGENT} sample")
        s = json.loads(out.strip().splitlines()[-1])
        got = (a["virt"], a["memory_limit_bytes"], a["effective_cpus"], s["memory"]["limit_bytes"], s["cpu"]["quota_us"])
        want = ("lxc", CT_MEM, 1.5, CT_MEM, 150000)
        if got != want:
            raise CheckFailed(f"got {got}, want {want}")
        return "lxc.cgroup2.memory.max 256M, cpu.max 150000 100000 -> the agent inside says lxc, 256 MiB, 1.5 CPUs"

    @check("lxc-watched-outside")
    def _():
        if not ok:
            raise CheckFailed("no container")
        pid = sh(f"lxc-info -n {CT} -pH", quiet=True)[1].strip()
        cg = sh(f"cat /proc/{pid}/cgroup", quiet=True)[1].strip().split("::", 1)[1]
        root = "/" + cg.strip("/").split("/")[0]
        rc, out = sh(f"{AGENT} sample --cgroup {root}")
        s = json.loads(out.strip().splitlines()[-1])
        got = (s["cgroup"]["path"], s["memory"]["limit_bytes"], s["cpu"]["quota_us"], s["cpu"]["effective_cpus"])
        want = (root, CT_MEM, 150000, 1.5)
        if got != want:
            raise CheckFailed(f"got {got}, want {want}")
        sh(f"lxc-stop -k -n {CT}")
        return f"seatmeter-agent sample --cgroup {root} from the guest: 256 MiB, 1.5 CPUs"


def prepare_reboot():
    @check("spool-before-reboot")
    def _():
        sh("systemctl stop smlab-vsock-agent.service", quiet=True)
        sh("systemctl stop seatmeterd.socket seatmeterd-http.socket seatmeterd-vsock.socket seatmeterd.service",
           check=True)
        top = len(seqs(HOST))
        s = seqs(HOST)
        if s != list(range(1, top + 1)):
            raise CheckFailed("a gap before the reboot")
        def spooled():
            m = re.search(r"(\d+) spooled", show("seatmeter-agent.service", "StatusText"))
            return m and int(m.group(1)) >= 3 and m.group(0)
        held = wait_for(spooled, 60, "the agent to spool 3 samples")
        sh("journalctl -q -o cat -u seatmeter-agent.service | tail -5")
        write(f"{R}/before-reboot.json", json.dumps({"top": top}))
        sh("systemctl show -P StatusText seatmeter-agent.service")
        return f"daemon and its sockets stopped at seq {top}; the agent holds {held}"


# ---------------------------------------------------------------- second boot: hybrid

def phase_hybrid():
    sh("stat -fc %T /sys/fs/cgroup /sys/fs/cgroup/unified /sys/fs/cgroup/memory; cat /proc/cmdline")

    @check("reboot-nothing-lost")
    def _():
        with open(f"{R}/before-reboot.json") as f:
            top = json.load(f)["top"]
        wait_for(lambda: active("seatmeterd.service"), 120, "seatmeterd.service after the reboot")
        wait_for(lambda: len(seqs(HOST)) > top + 5, 120, "the spooled and new samples")
        s = seqs(HOST)
        if s != list(range(1, len(s) + 1)):
            missing = sorted(set(range(1, s[-1] + 1)) - set(s))
            raise CheckFailed(f"lost {len(missing)} samples: {missing[:10]}")
        sh("journalctl -q -o cat -b -u seatmeter-agent.service | head -5")
        return f"{top} before the reboot, now 1..{len(s)} without a gap"

    @check("hybrid-agent")
    def _():
        a = agents().get(HOST)
        rc, out = sh(f"{AGENT} sample")
        s = json.loads(out.strip().splitlines()[-1])
        if s["cgroup"]["version"] != 1 or s["cgroup"]["mode"] != "hybrid":
            raise CheckFailed(f"cgroup {s['cgroup']}")
        return f"cgroup {s['cgroup']}, agent connected={a and a.get('connected')}"

    @check("hybrid-transient-limits")
    def _():
        s = agent_sample(["CPUQuota=50%", "MemoryMax=200M"])
        c, m = s["cpu"], s["memory"]
        got = (c["quota_us"], c["period_us"], c["effective_cpus"], m["limit_bytes"])
        want = (50000, 100000, 0.5, 200 * 2**20)
        if got != want:
            raise CheckFailed(f"got {got}, want {want}")
        return "v1: CPUQuota=50% MemoryMax=200M -> quota 50000/100000, 0.5 CPUs, 200 MiB"


def main():
    phase = "unified"
    if os.path.exists(f"{R}/phase"):
        with open(f"{R}/phase") as f:
            phase = f.read().strip()
    note(f"\n# ==== boot: {phase} ====")
    try:
        if phase == "unified":
            phase_unified()
        else:
            phase_hybrid()
    except Exception:  # noqa: BLE001
        note(traceback.format_exc())
        record("FAIL", f"{phase}-phase", traceback.format_exc().splitlines()[-1])
    sh("journalctl -b -q --no-pager -o short-monotonic -u 'seatmeter*' > /results/journal-%s.txt" % phase,
       quiet=True)
    with open(f"{R}/done-{phase}", "w") as f:
        f.write("done\n")
    if phase == "unified":
        with open(f"{R}/phase", "w") as f:
            f.write("hybrid\n")
    # qemu runs with -no-reboot: a reboot ends the process, and the host boots the next phase.
    with open(f"{R}/next", "w") as f:
        f.write("reboot\n" if phase == "unified" else "poweroff\n")


if __name__ == "__main__":
    main()
