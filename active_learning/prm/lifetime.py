"""Child processes that die with their parent.

A launched trainer outlives a SIGKILLed parent by default: a Celery worker
child killed at its hard time limit (or by the OOM killer) would leave
`torchrun` and its ranks holding the GPUs, and the next cycle would start on
busy devices. On Linux, prctl(PR_SET_PDEATHSIG) asks the kernel to send the
child a signal when its parent dies; the launcher sets it for itself (as a
preexec hook) and every rank sets it again, so the whole tree goes.
Elsewhere this is a no-op.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

PR_SET_PDEATHSIG = 1


def die_with_parent(*, sig: int = signal.SIGKILL, parent: int | None = None) -> bool:
    """Have the kernel send `sig` to this process when its parent dies. True if set.

    `parent`: the pid the caller expects as its parent. If it already died
    before the call (the race prctl cannot cover), exit at once.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) != 0:
            return False
    except (OSError, AttributeError):
        return False
    if parent is not None and os.getppid() != parent:
        os._exit(1)
    return True
