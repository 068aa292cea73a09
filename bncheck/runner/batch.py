"""Several jobs in one sandboxed child: every graded function of one student, one start-up.

``grade`` runs each student's functions (batchnorm_backward, its _alt, spatial...) in
ONE child instead of one child per function: Python, numpy and the namespaces start
once (~0.1 s of CPU, most of what a check costs). The isolation is the same child's
(``sandbox.py``); what changes is the bookkeeping:

* the child writes reply k to ``reply-k.bin`` as target k finishes, so a later hang or
  crash loses nothing that came before it;
* each target has its own deadline (``wall`` from the end of the one before it; the
  first from the end of the start-up), watched by the parent; the whole run is bounded
  by the watchdog, ``(n + 1) * wall``. The child can fake a finished reply to move its
  deadline on, never past that bound;
* a line ``\\0target k`` in the audit log starts target k's refusals; those before the
  first line (the import of the module) belong to every target.

``wait_all`` returns, per job, its ``Outcome``, the ``SubmissionError`` of the target that
was running when the child ended (a time, memory or output limit, a crash), or ``None``
for a target the child never started: the caller runs those again, in a fresh child.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path

from bncheck.errors import SubmissionError
from bncheck.runner import folders, progress, protocol
from bncheck.runner.sandbox import (
    Job,
    Outcome,
    Running,
    _error,
    _refusals,
    _size,
    _tail,
)
from bncheck.runner.waiting import ended

__all__ = ["send_all", "wait_all"]

_LOOK = 0.05  # seconds between looks at the replies while the child runs


def _copy(running: Running, jobs: Sequence[Job]) -> list[Path]:
    """Copy the folder that holds every job's file; their paths inside the copy."""
    work = running.root / "work"
    sources = [job.path.resolve() for job in jobs]
    top = Path(os.path.commonpath([str(s.parent) for s in sources]))
    folders.copy_folder(top, work, running.limits.copy, sources[0])
    paths = []
    for source in sources:
        path = work / source.relative_to(top)
        if not path.is_file():  # a hidden folder, or a file over the copy budget
            path.parent.mkdir(parents=True, exist_ok=True)
            folders.copy_file(source, path)
        paths.append(path)
    if not running.policy.write_copy:  # the hook refuses writes there; so does the mode
        for here, dirs, names in os.walk(work):
            for name in names:
                os.chmod(os.path.join(here, name), 0o400)
            os.chmod(here, 0o500)
            del dirs  # walked top-down: a folder's mode changes after its listing
    return paths


def send_all(running: Running, jobs: Sequence[Job]) -> None:
    """Copy the submission's folder and hand the child every job, to run in order."""
    if not jobs:
        raise ValueError("send_all needs at least one job")
    running.job = jobs[0]
    paths = _copy(running, jobs)
    running.deliver(
        {
            "path": str(paths[0]),
            "targets": [
                {
                    "path": str(path),
                    "display": job.display or str(job.path),
                    "names": dict(job.names),
                    "ops": job.ops,
                }
                for job, path in zip(jobs, paths, strict=True)
            ],
        }
    )


def _complete(path: Path) -> bool:
    """The file ends with the protocol's end marker (a cheap look, not a read)."""
    size = _size(path)
    if size < len(protocol.END) + len(protocol.MAGIC):
        return False
    try:
        with open(path, "rb") as f:
            f.seek(size - len(protocol.END))
            return f.read() == protocol.END
    except OSError:
        return False


def _watch(running: Running, n: int, wall: float) -> tuple[int, bool]:
    """Wait for the child to end; (targets finished, whether a deadline passed).

    Target 0's deadline starts when the child has started (its progress record exists:
    Python, numpy, torch imported), so a slow start-up on a loaded machine is not charged
    to the student; the start-up itself is bounded by the watchdog.
    """
    done, since = 0, None
    while True:
        if ended(running.process.pid):
            return done, running._expired.is_set()
        if since is None and os.path.exists(running.io / progress.FILE):
            since = time.monotonic()
        while since is not None and done < n and _complete(running.io / f"reply-{done}.bin"):
            done, since = done + 1, time.monotonic()
        now = time.monotonic()
        if running._expired.is_set() or (since is not None and now > since + wall):
            return done, True
        time.sleep(_LOOK)


def _split(refusals: tuple[tuple[str, str], ...], n: int) -> list[tuple[tuple[str, str], ...]]:
    """Refusals per target: those before the first marker belong to every target."""
    common: list[tuple[str, str]] = []
    own: list[list[tuple[str, str]]] = [[] for _ in range(n)]
    current = -1
    for event, what in refusals:
        if event == "target":  # clean_text removed the marker's NUL
            current = int(what) if what.isdigit() and int(what) < n else current
        elif current < 0:
            common.append((event, what))
        else:
            own[current].append((event, what))
    return [(*common, *mine) for mine in own]


def wait_all(
    running: Running, jobs: Sequence[Job], wall: float
) -> list[Outcome | Exception | None]:
    """Per job: its Outcome, the error that ended the child during it, or None (not run).

    ``wall``: each target's deadline; ``running`` was spawned with ``(len(jobs) + 1) * wall``
    (its watchdog, the bound on the whole run, start-up included).
    """
    n = len(jobs)
    try:
        done, timed_out = _watch(running, n, wall)
        seconds = time.monotonic() - running.started
        running._kill()
        io = running.io
        output = _tail(io / "output.txt")
        refusals = _split(_refusals(io / "audit.log"), n)
        over = _size(io / "output.txt") >= running.limits.files
        results: list[Outcome | Exception | None] = []
        ended = False  # the child ended (or was stopped) during an earlier target
        for k, job in enumerate(jobs):
            running.job = job
            if ended:
                results.append(None)  # never started: the caller runs it again
            elif k < done or (not timed_out and _complete(io / f"reply-{k}.bin")):
                results.append(_outcome(running, k, output, refusals[k], over, seconds))
            else:
                ended = True
                if timed_out:
                    results.append(_timeout(running, job, wall, output, refusals[k]))
                else:
                    why = "the child ended before its reply was complete"
                    results.append(running._no_reply(why, output, refusals[k]))
        return results
    finally:
        running.close()


def _outcome(
    running: Running,
    k: int,
    output: str,
    refusals: tuple[tuple[str, str], ...],
    over: bool,
    seconds: float,
) -> Outcome | Exception:
    try:
        reply = protocol.read(running.io / f"reply-{k}.bin", running.limits.reply)
        if not isinstance(reply, dict):
            raise protocol.BadReply("the reply is not an object")
    except protocol.BadReply as bad:
        return running._no_reply(str(bad), output, refusals)
    ok = reply.get("ok") is True
    outcome = Outcome(
        replies=reply.get("replies") if ok else None,
        error=None if ok else reply.get("error"),
        refusals=refusals,
        output=output,
        isolation=running.layers,
        seconds=seconds,
    )
    if over and not ok:  # it failed because its prints hit the file-size limit
        return running._no_reply("output limit", output, refusals)
    if outcome.replies is None and not isinstance(outcome.error, dict):
        return running._no_reply("the reply has neither results nor an error", output, refusals)
    return outcome


def _timeout(
    running: Running, job: Job, wall: float, output: str, refusals: tuple[tuple[str, str], ...]
) -> SubmissionError:
    phase = progress.read(running.io / progress.FILE, len(job.ops))
    shown = job.display or str(job.path)
    message, hint = progress.describe(phase, shown, job.ops, job.names, running.preload, wall)
    return _error(job, "timeout", message, hint, output, refusals, named=False)
