"""Waiting for a child process to end, without reaping it: the sandbox's child and the
forked worker of ``check_backward(..., timeout=)`` wait the same way.

The child is left unreaped (``WNOWAIT``), so its pid cannot name another process until the
caller kills and reaps it. A pidfd (Linux 5.3+) wakes the moment the child ends; elsewhere
a short poll (``Popen.wait(timeout)`` would reap it, and sleeps up to 50 ms between looks).
"""

from __future__ import annotations

import os
import select
import time

__all__ = ["ended", "wait_until"]


def ended(pid: int) -> bool:
    """The child has ended; it is not reaped (WNOWAIT), so its pid still names it."""
    try:
        return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:  # reaped by someone else (SIGCHLD ignored)
        return True


def wait_until(pid: int, deadline: float, pidfd: int | None = None) -> bool:
    """Wait for the child to end by ``deadline`` (monotonic); False when it did not.

    ``pidfd``: the caller's own pidfd of the child (kept open), or -1 for none; None opens
    one for this wait and closes it.
    """
    fd = pidfd
    if fd is None:
        try:
            fd = os.pidfd_open(pid)
        except (AttributeError, OSError):  # not Linux, or an old kernel
            fd = -1
    if fd >= 0:
        try:
            poller = select.poll()  # not select(): it fails for descriptors past 1023
            poller.register(fd, select.POLLIN)
            return bool(poller.poll(max(deadline - time.monotonic(), 0.0) * 1000))
        finally:
            if pidfd is None:
                os.close(fd)
    delay = 0.001
    while not ended(pid):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        time.sleep(min(delay, remaining))
        delay = min(2 * delay, 0.01)
    return True
