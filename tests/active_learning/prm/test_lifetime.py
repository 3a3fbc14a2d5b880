"""A launched trainer must not outlive a killed worker: die_with_parent, checked with real processes."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl(PR_SET_PDEATHSIG) is Linux-only")

# The middle process starts a grandchild (with or without die_with_parent), prints its pid, and waits.
MIDDLE = """
import subprocess, sys, time
code = ("import sys, time\\n"
        "from active_learning.prm.lifetime import die_with_parent\\n"
        "if sys.argv[1] == 'yes':\\n"
        "    assert die_with_parent()\\n"
        "time.sleep(60)\\n")
child = subprocess.Popen([sys.executable, "-c", code, sys.argv[1]])
print(child.pid, flush=True)
time.sleep(60)
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (dead, not yet reaped by init) counts as gone.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except FileNotFoundError:
        return False


def _grandchild_after_killing_its_parent(flag: str) -> tuple[int, bool]:
    middle = subprocess.Popen([sys.executable, "-c", MIDDLE, flag], cwd=REPO, stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": str(REPO)})
    pid = int(middle.stdout.readline())
    time.sleep(1.0)  # the grandchild has imported and called prctl
    middle.send_signal(signal.SIGKILL)
    middle.wait(timeout=10)
    deadline = time.monotonic() + 10
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    return pid, _alive(pid)


def test_a_child_that_asked_dies_with_its_killed_parent_and_one_that_did_not_survives():
    pid, alive = _grandchild_after_killing_its_parent("yes")
    assert not alive
    pid, alive = _grandchild_after_killing_its_parent("no")
    try:
        assert alive  # the default the fix is for: an orphan that keeps running
    finally:
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
