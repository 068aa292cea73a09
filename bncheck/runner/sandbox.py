"""Run a submission's calls in a sandboxed child process; get data back.

The layers, from the outside in (``isolation()`` says which are in force here):

* **namespaces** (Linux, where ``unshare`` may make them: as root, or with
  unprivileged user namespaces): a PID namespace, so nothing the child starts
  outlives it and it cannot signal bncheck or see its command line; a network
  namespace with no interfaces up; its own mount namespace and /proc;
* **a private folder**: a fresh copy of the submission's folder (regular files only,
  capped) as its working directory, an empty HOME, XDG and TMPDIR of its own, a
  scrubbed environment (no PYTHONPATH, no BNCHECK_*), ``python -I`` (no user site, no
  current directory on sys.path), stdin closed;
* **limits**: address space, CPU time, file size, open files, no core dumps, one wall
  deadline for start-up, import and every call (its message says which was running:
  ``progress.py``); output goes to a capped file;
* **its own session**: at the end its process group is killed with SIGKILL;
* **the audit hook** (``hook.py``): a tripwire for what the submission should not do.

What it is not: a container. The child runs as the same user, on the same file
system; a submission that defeats the audit hook from inside the interpreter can read
what that user can read. The parent never runs anything the child wrote: the reply
is JSON plus .npy, read with caps (``protocol.py``).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import site
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bncheck.errors import MissingDependencyError, SubmissionError
from bncheck.runner import folders, namespaces, progress, protocol
from bncheck.runner.limits import Limits, Policy, clean_text
from bncheck.runner.waiting import ended, wait_until

__all__ = ["Job", "Outcome", "Running", "spawn", "start"]

_CHILD = Path(__file__).with_name("child.py")
_MAX_LOG = 64 << 10
_OUTPUT_TAIL = 64 << 10


@dataclass(frozen=True)
class Job:
    """What to run: the submission file, the functions by role, the calls in order."""

    path: Path
    names: Mapping[str, str]
    ops: list[dict[str, Any]]
    display: str = ""  # the path as the user typed it, for tracebacks
    preload: tuple[str, ...] = ("numpy",)  # imported before the audit hook (torch: slow)


@dataclass(frozen=True)
class Outcome:
    """What came back: replies (or the submission's failure), refusals, output, layers."""

    replies: list[dict[str, Any]] | None
    error: dict[str, Any] | None  # the submission raised or exited: its failure as data
    refusals: tuple[tuple[str, str], ...]  # (event, what) the audit hook refused
    output: str  # the tail of what it printed, cleaned
    isolation: tuple[str, ...]
    seconds: float = 0.0


@dataclass
class Running:
    """A started child; ``send(job)``, then ``wait()`` returns its Outcome or raises."""

    limits: Limits
    policy: Policy
    root: Path  # work/, home/, tmp/: the child's
    io: Path  # request, reply, output, audit log: not reachable from the child's folders
    process: subprocess.Popen[bytes]
    started: float
    layers: tuple[str, ...]
    job: Job | None = field(default=None)
    preload: tuple[str, ...] = ("numpy",)  # what the child imports while it starts
    _done: bool = field(default=False)
    _expired: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)  # killing vs reaping
    _watchdog: threading.Timer | None = field(default=None)

    def __post_init__(self) -> None:
        # The deadline holds even while the parent is busy elsewhere (SymPy, import torch):
        # a timer kills the child's process group the moment it passes.
        remaining = max(self.started + self.limits.wall - time.monotonic(), 0.0)
        self._watchdog = threading.Timer(remaining, self._expire)
        self._watchdog.daemon = True
        self._watchdog.start()

    def send(self, job: Job) -> None:
        """Copy the submission's folder and hand the child its request."""
        self.job = job
        work = self.root / "work"
        source = job.path.resolve()
        folders.copy_folder(source.parent, work, self.limits.copy, source)
        path = work / source.name
        if not path.is_file():  # a hidden folder, or a file over the copy budget
            folders.copy_file(source, path)
        self.deliver(
            {
                "path": str(path),
                "display": job.display or str(job.path),
                "names": dict(job.names),
                "ops": job.ops,
            }
        )

    def deliver(self, calls: dict[str, Any]) -> None:
        """Write the request (``calls``, and where the child may read and write, and the
        hook's table) and tell the child it is ready: one byte on its stdin."""
        roots = folders.python_roots()
        request = {
            **calls,
            "python_path": [site.USER_SITE] if site.USER_SITE in roots else [],
            "writable": self.writable(),
            "readable": self.readable(roots),
            "table": self.policy.table(),
        }
        with open(self.io / "request.bin", "xb") as f:
            protocol.write(f, request)
        assert self.process.stdin is not None
        with contextlib.suppress(BrokenPipeError):  # it died already: wait() says how
            self.process.stdin.write(b"go")
            self.process.stdin.close()

    def writable(self) -> list[str]:
        """Where the child may write: HOME, TMPDIR, and its copy unless the policy says not."""
        work = [str(self.root / "work")] if self.policy.write_copy else []
        return [*work, str(self.root / "home"), str(self.root / "tmp")]

    def readable(self, roots: tuple[str, ...]) -> list[str]:
        """Where it may read besides where it may write: Python, the policy's, the system's."""
        work = [] if self.policy.write_copy else [str(self.root / "work")]
        return [*work, *roots, *self.policy.readable, *folders.SYSTEM_READABLE]

    def _expire(self) -> None:
        with self._lock:
            if self.process.returncode is None and not ended(self.process.pid):
                self._expired.set()
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(self.process.pid, signal.SIGKILL)

    def _kill(self) -> None:
        """SIGKILL to the child's process group, then reap the child.

        Nothing reaps the child before this: until it is reaped, its pid stays its
        process group's id (Linux reuses neither), so the signal cannot reach a stranger.
        """
        with self._lock:
            if self.process.returncode is not None:
                return  # reaped already, and its group killed then
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def close(self) -> None:
        """Kill whatever is left and remove the private folder (idempotent)."""
        if not self._done:
            self._done = True
            if self._watchdog is not None:
                self._watchdog.cancel()
            if self.process.stdin is not None and not self.process.stdin.closed:
                with contextlib.suppress(OSError):
                    self.process.stdin.close()
            try:
                self._kill()
            finally:
                folders.remove(self.root)
                folders.remove(self.io)

    def wait(self) -> Outcome:
        try:
            return self._wait()
        finally:
            self.close()

    def _wait(self) -> Outcome:
        finished = wait_until(self.process.pid, self.started + self.limits.wall)
        timed_out = not finished or self._expired.is_set()
        seconds = time.monotonic() - self.started
        self._kill()  # whatever it started, in its process group or namespace
        io = self.io
        output = _tail(io / "output.txt")
        refusals = _refusals(io / "audit.log")
        if timed_out:
            raise self._timeout(output, refusals)
        if _size(io / "output.txt") >= self.limits.files:
            raise self._no_reply("its output reached the file-size limit", output, refusals)
        try:
            reply = protocol.read(io / "reply.bin", self.limits.reply)
            if self.process.returncode != 0 or not isinstance(reply, dict):
                raise protocol.BadReply("the child did not finish normally")
        except protocol.BadReply as bad:
            raise self._no_reply(str(bad), output, refusals) from None
        outcome = Outcome(
            replies=reply.get("replies") if reply.get("ok") is True else None,
            error=None if reply.get("ok") is True else reply.get("error"),
            refusals=refusals,
            output=output,
            isolation=self.layers,
            seconds=seconds,
        )
        if outcome.replies is None and not isinstance(outcome.error, dict):
            raise self._no_reply("the reply has neither results nor an error", output, refusals)
        return outcome

    def _timeout(self, output: str, refusals: tuple[tuple[str, str], ...]) -> Exception:
        """The deadline passed: say in which phase (start-up, import, which call), as far as
        the child's progress record tells; it is untrusted, so it only words the message."""
        job = self.job
        ops = job.ops if job is not None else []
        phase = progress.read(self.io / progress.FILE, len(ops))
        shown = (job.display or str(job.path)) if job is not None else "the submission"
        names = job.names if job is not None else {}
        message, hint = progress.describe(phase, shown, ops, names, self.preload, self.limits.wall)
        return _error(job, "timeout", message, hint, output, refusals, named=False)

    def _no_reply(self, why: str, output: str, refusals: tuple[tuple[str, str], ...]) -> Exception:
        code = self.process.returncode
        size = _size(self.io / "output.txt")
        if size >= self.limits.files:
            return _error(
                self.job,
                "output-limit",
                f"printed more than {self.limits.files >> 20} MiB; its output was cut there",
                "print less (a print inside a loop over elements?)",
                output,
                refusals,
            )
        if "MemoryError" in output:  # our own child code ran out, outside any call
            return _error(
                self.job,
                "memory-limit",
                f"ran out of memory (limit {self.limits.memory >> 20} MiB of address space)",
                "look for a very large temporary array (an N x N or D x D matrix?)",
                output,
                refusals,
            )
        if code is not None and code < 0:
            try:
                status = f"was killed by signal {signal.Signals(-code).name}"
            except ValueError:
                status = f"was killed by signal {-code}"
            if -code == signal.SIGXCPU:
                status = f"used more than {self.limits.cpu} s of CPU time"
        else:
            status = f"ended the process (status {code})"
        return _error(
            self.job,
            "submission-crashed",
            f"{status} before bncheck could read its results ({why})",
            "does it call os._exit(), crash the interpreter, or tamper with bncheck's child?",
            output,
            refusals,
        )


def _size(path: Path) -> int:
    try:
        return os.lstat(path).st_size
    except OSError:
        return 0


def _tail(path: Path) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(max(_size(path) - _OUTPUT_TAIL, 0))
            data = f.read(_OUTPUT_TAIL)
    except OSError:
        return ""
    return clean_text(data.decode("utf-8", "replace"), 2000)


def _refusals(path: Path) -> tuple[tuple[str, str], ...]:
    try:
        with open(path, "rb") as f:
            data = f.read(_MAX_LOG)
    except OSError:
        return ()
    found = []
    for line in data.decode("utf-8", "replace").splitlines()[:50]:
        event, _, what = line.partition("\t")
        found.append((clean_text(event, 80), clean_text(what, 300)))
    return tuple(found)


def _error(
    job: Job | None,
    code: str,
    what: str,
    hint: str,
    output: str,
    refusals: tuple[tuple[str, str], ...],
    named: bool = True,
) -> SubmissionError:
    """The SubmissionError; ``what`` follows the submission's name unless ``named`` is False."""
    lines = output.strip().splitlines()[-5:]
    if lines:
        hint += "\n  last output: " + " | ".join(lines)
    if refusals:
        hint += f"\n  the sandbox refused: {refusals[0][1]}"
    name = (job.display or str(job.path)) if job is not None else "the submission"
    error = SubmissionError(f"{name} {what}" if named else what, hint, code=code)
    error.refusals = refusals  # type: ignore[attr-defined]
    return error


def _importable(preload: tuple[str, ...]) -> None:
    """A module the child must preload (torch, for a torch Function) is installed here;
    else the missing dependency is the message, not a child that dies at start-up."""
    import importlib.util

    for name in preload:
        if importlib.util.find_spec(name) is None:
            purpose = "checking a torch.autograd.Function" if name == "torch" else "the child"
            raise MissingDependencyError.for_module(name, name, purpose)


def spawn(
    preload: tuple[str, ...] = ("numpy",),
    limits: Limits | None = None,
    policy: Policy | None = None,
) -> Running:
    """Start a child that imports ``preload`` and then waits for its job (``Running.send``).

    Python and numpy take ~0.1 s to start: the caller plans its calls meanwhile.
    """
    limits, policy = limits or Limits(), policy or Policy()
    _importable(preload)
    started = time.monotonic()  # the deadline covers the copy and the child's start-up
    root = Path(tempfile.mkdtemp(prefix="bncheck-"))  # mode 0700, ours
    io = Path(tempfile.mkdtemp(prefix="bncheck-io-"))  # not under root: '..' shows no reply
    try:
        work, home, tmp = (root / n for n in ("work", "home", "tmp"))
        for folder in (work, home, tmp):
            folder.mkdir(mode=0o700)
        config = {**limits.for_child(), "preload": list(preload)}
        before = namespaces.command(str(root), str(io))
        command = [*before, sys.executable, "-I", "-B", str(_CHILD), str(io)]
        with open(io / "output.txt", "xb") as output:
            process = subprocess.Popen(
                [*command, json.dumps(config)],
                cwd=work,
                env=folders.environment(home, tmp),
                stdin=subprocess.PIPE,  # one byte: "your request is ready"; then /dev/null
                stdout=output,
                stderr=output,
                start_new_session=True,
                close_fds=True,
            )
    except BaseException:
        folders.remove(root)
        folders.remove(io)
        raise
    layers = (*namespaces.isolation(), f"limits {limits.describe()}")
    return Running(limits, policy, root, io, process, started, layers, preload=tuple(preload))


def start(job: Job, limits: Limits | None = None, policy: Policy | None = None) -> Running:
    """Copy the submission into a private folder and start the child on ``job.ops``."""
    running = spawn(job.preload, limits, policy)
    try:
        running.send(job)
    except BaseException:
        running.close()
        raise
    return running
