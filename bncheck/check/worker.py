"""Callables of this process, run under a time limit in a forked worker process.

``check_backward(forward, backward, timeout=5)``: a notebook's functions (``__main__``,
lambdas, closures) cannot be sent to a fresh interpreter, but a child made by
``os.fork`` has them already. The worker makes the calls (``runner.calls.execute``, as
in-process) and writes its reply in the runner's data-only format (``runner.protocol``:
JSON plus .npy, never pickle) to a private file; the parent reads it with the sandbox's
reader and runs nothing the worker wrote. When the limit passes, the parent sends
SIGKILL to the worker (by pidfd where Linux has one, else by its pid, which nobody but
us can reap) and reaps it; the kernel goes on.

It is not a sandbox: it is the user's own code, in their own session, so it has no
memory, file or audit limits, and it sees this process's memory and files. What the
callables change in this process's objects (a global counter, a list they append to)
stays in the worker, and a process a callable starts is not ended with it. Linux and other
POSIX systems only: ``os.fork`` is needed (elsewhere a timeout is a UsageError).

torch: a forked child of a process whose OpenMP threads have run (torch's intra-op
parallelism, libgomp) hangs at its first parallel region (measured: 1 of 1 without the
fix, 0 of 10 with it); the worker sets ``torch.set_num_threads(1)`` first when torch is
loaded here. numpy's OpenBLAS resets its threads after a fork by itself.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import tempfile
import time
import traceback
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

from bncheck.errors import SubmissionError, UsageError
from bncheck.runner import calls, folders, progress, protocol, waiting

__all__ = ["available", "run"]

_SHOWN = "check_backward"  # how the messages name what timed out


def available() -> bool:
    """A forked worker can be made here (POSIX)."""
    return hasattr(os, "fork")


def run(
    ops: list[dict[str, Any]],
    funcs: dict[str, Any],
    files: set[str],
    timeout: float,
    max_bytes: int,
    names: dict[str, str],
    during: Callable[[], None] | None = None,
) -> list[dict[str, Any]]:
    """``calls.execute(ops, funcs, files)`` in a forked worker that is killed after ``timeout``.

    Returns the replies, or raises what in-process would: ``calls.CallFailed`` with the
    worker's failure as data. A worker that runs past ``timeout`` seconds raises a
    SubmissionError ``timeout`` (which callable, which call, the limit); one that ends
    without a reply (``os._exit``, a crash) raises ``submission-crashed``. ``during()``
    runs in this process while the worker works (the references).
    """
    if not available():
        raise UsageError(
            "a time limit for callables needs os.fork, which this platform does not have",
            "pass timeout=None to run them in this process without a limit, or check a file",
        )
    folder = Path(tempfile.mkdtemp(prefix="bncheck-worker-"))  # mode 0700, ours
    try:
        mark_fd = os.open(folder / progress.FILE, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            worker = _fork(ops, funcs, files, folder / "reply.bin", mark_fd)
        finally:
            os.close(mark_fd)  # the worker has its own copy
        try:
            if during is not None:
                during()
            worker.wait(worker.started + timeout)
        finally:
            status = worker.end()  # killed unless it has ended; reaped in every case
        if worker.killed:
            raise _timeout(progress.read(folder / progress.FILE, len(ops)), ops, names, timeout)
        try:
            reply = protocol.read(folder / "reply.bin", max_bytes)
            if status != 0 or not isinstance(reply, dict):
                raise protocol.BadReply("the worker did not finish normally")
        except protocol.BadReply as bad:
            raise _crashed(status, str(bad), names) from None
    finally:
        folders.remove(folder)
    if reply.get("ok") is not True:
        error = reply.get("error")
        raise calls.CallFailed(error if isinstance(error, dict) else {})
    replies = reply.get("replies")
    if not isinstance(replies, list):
        raise _crashed(status, "its reply holds no list of results", names)
    return replies


class _Worker:
    """The forked worker: waited on, killed and reaped by this process only."""

    def __init__(self, pid: int, started: float) -> None:
        self.pid, self.started = pid, started
        self.status: int | None = None
        self.killed = False  # by us, at the deadline or on an interrupt
        try:
            self.pidfd = os.pidfd_open(pid)  # Linux 5.3+: a handle no pid reuse can fool
        except (AttributeError, OSError):
            self.pidfd = -1

    def wait(self, deadline: float) -> bool:
        """Wait until it ends or ``deadline`` (monotonic) passes; False when it did not end."""
        return waiting.wait_until(self.pid, deadline, self.pidfd)

    def end(self) -> int | None:
        """SIGKILL unless it has ended, then reap it: its exit code (-N: killed by signal N),
        or None when something else reaped it. Idempotent; never leaves a zombie."""
        if self.status is None and self.pid:
            if not waiting.ended(self.pid):
                self.killed = True
                with contextlib.suppress(ProcessLookupError):
                    if self.pidfd >= 0:
                        signal.pidfd_send_signal(self.pidfd, signal.SIGKILL)
                    else:
                        os.kill(self.pid, signal.SIGKILL)
            try:
                _, raw = os.waitpid(self.pid, 0)
                self.status = os.waitstatus_to_exitcode(raw)
            except ChildProcessError:
                self.status = None
            self.pid = 0
            if self.pidfd >= 0:
                os.close(self.pidfd)
                self.pidfd = -1
        return self.status


def _fork(
    ops: list[dict[str, Any]], funcs: dict[str, Any], files: set[str], reply: Path, mark_fd: int
) -> _Worker:
    for stream in (sys.stdout, sys.stderr):  # else their buffers are written twice
        with contextlib.suppress(Exception):
            stream.flush()
    started = time.monotonic()
    with warnings.catch_warnings():
        # Python 3.12+ warns when a process with threads forks (torch's and BLAS's count).
        # The worker runs only the user's calls and our writer; torch's threads are reset
        # first (see the module's docstring), and a worker that deadlocks anyway is ended
        # by the time limit, not left to hang the kernel.
        warnings.filterwarnings("ignore", r".*multi-threaded.*fork", DeprecationWarning)
        pid = os.fork()
    if pid == 0:
        _child(ops, funcs, files, reply, mark_fd)
    return _Worker(pid, started)


def _child(
    ops: list[dict[str, Any]], funcs: dict[str, Any], files: set[str], reply: Path, mark_fd: int
) -> NoReturn:
    """The worker: the calls, the reply, and ``os._exit`` (no atexit handler, no finaliser of
    the parent's objects, no return into the caller's frames: pytest, the notebook)."""
    code = 70
    try:
        torch = sys.modules.get("torch")
        if torch is not None and hasattr(torch, "set_num_threads"):
            torch.set_num_threads(1)  # libgomp's threads did not survive the fork
        mark = progress.writer(mark_fd)
        try:
            replies = calls.execute(ops, funcs, files, None, mark)
            message: dict[str, Any] = {"ok": True, "replies": replies}
            mark(len(ops) + 1, "")
        except calls.CallFailed as failed:
            message = {"ok": False, "error": failed.info}
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
        with os.fdopen(os.open(reply, flags, 0o600), "wb") as f:
            protocol.write(f, message)
        code = 0
    except BaseException:  # bncheck's own failure (or a signal): the parent says it crashed
        with contextlib.suppress(Exception):
            traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):  # what the callables printed
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(code)


def _timeout(
    phase: progress.Phase, ops: list[dict[str, Any]], names: dict[str, str], timeout: float
) -> SubmissionError:
    """The sandbox's ``timeout`` error, worded for callables: which one, which call, the limit."""
    limit = f"{timeout:g} s"
    if phase.kind == "call":
        message, _ = progress.describe(phase, _SHOWN, ops, names, (), timeout)
    else:
        message = (
            f"{_SHOWN}: the callables passed to it did not finish within {limit} "
            f"(all {len(ops)} calls)"
        )
    hint = (
        f"look for a loop that never ends, or a very slow loop over elements; the limit covers "
        f"all {len(ops)} calls of the check: pass a larger timeout=, or timeout=None to run "
        "them in this process without a limit"
    )
    return SubmissionError(message, hint, code="timeout")


def _crashed(status: int | None, why: str, names: dict[str, str]) -> SubmissionError:
    """The worker ended without a complete reply: ``os._exit`` or a crash in a callable."""
    shown = ", ".join(dict.fromkeys(names.values()))
    if status is not None and status < 0:
        try:
            how = f"was killed by signal {signal.Signals(-status).name}"
        except ValueError:
            how = f"was killed by signal {-status}"
    else:
        how = f"ended (status {status})" if status is not None else "ended"
    return SubmissionError(
        f"{_SHOWN}: the worker process running {shown} {how} before bncheck could read "
        f"its results ({why})",
        "does a callable call os._exit(), or crash the interpreter (a C extension)?",
        code="submission-crashed",
    )
