"""What the chaos tests share: the harness on the path, the scale, descriptors, /metrics."""

import os
import resource
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))

SCALE = float(os.environ.get("SEATMETER_CHAOS_SCALE", "1"))


def raise_nofile(test, need):
    """Raises this process's (and so its children's) descriptor limit to need, or skips the test."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < need:
        test.skipTest(f"RLIMIT_NOFILE hard limit {hard} is below the {need} descriptors this test needs")
    resource.setrlimit(resource.RLIMIT_NOFILE, (need if hard == resource.RLIM_INFINITY else hard, hard))


def metrics(daemon):
    """The daemon's /metrics as {name: value} (labels kept in the name)."""
    _, _, body = daemon.http("/metrics")
    return {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1]) for line in body.decode().splitlines()
            if line and not line.startswith("#")}
