"""Running a Target in the sandboxed child, and what comes back as errors for the user.

``submission.py`` finds and reads the file; this module hands its calls to
``bncheck.runner`` and turns the child's failures and the audit hook's refusals into
``SubmissionError``s. Everything the child sent is untrusted text, cleaned before use.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from bncheck import runner
from bncheck.check.submission import Target
from bncheck.errors import SubmissionError
from bncheck.runner import Job, Limits, Outcome, Policy, Running, clean_text

__all__ = [
    "failure_error",
    "job",
    "refusal_error",
    "refusal_text",
    "replies_of",
    "run_jobs",
    "spawn",
]


def refusal_text(event: str, what: str) -> str:
    """What a refusal of the audit hook means, for the student."""
    if what == "import bncheck":
        return "the submission imported bncheck: it must compute its own gradient"
    return f"the submission tried to {what}, which bncheck's sandbox refuses"


def refusal_error(target: Target, refusals: tuple[tuple[str, str], ...]) -> SubmissionError:
    """The message for a submission whose run tripped the sandbox's audit hook."""
    event, what = refusals[0]
    more = f" (and {len(refusals) - 1} more refusals)" if len(refusals) > 1 else ""
    return SubmissionError(
        f"{target.path}: {refusal_text(event, what)}{more}",
        "a submission computes with numpy (or torch) on the arrays it is given; it may not "
        "import bncheck, use the network, start processes or touch files outside its folder",
        code="refused",
    )


def failure_error(
    target: Target, info: dict[str, Any], refusals: tuple[tuple[str, str], ...] = ()
) -> SubmissionError:
    """The message for a submission that raised or exited while we called it.

    ``info`` came from the submission's process: every field is treated as untrusted text.
    """
    if refusals:
        return refusal_error(target, refusals)
    field_ = {k: clean_text(str(info.get(k, "")), 8000) for k in ("where", "kind", "type")}
    where_name = field_["where"] or "the submission"
    where = "while being imported" if where_name == "import" else f"in {where_name}"
    message = clean_text(str(info.get("message", "")), 500)
    if field_["kind"] == "arity":  # a cs231n forward must return (out, cache)
        count = info.get("count")
        count = count if isinstance(count, int) else "?"
        return SubmissionError(
            f"{where_name} returned {count} value{'s' * (count != 1)}; expected (out, cache)",
            f"end {where_name} with: return out, cache",
            code="wrong-arity",
        )
    if field_["kind"] == "exit":
        return SubmissionError(
            f"{target.path} called {message} {where}",
            "a library function must return its results, not exit the interpreter",
            code="submission-exited",
        )
    traceback = clean_text(str(info.get("traceback", "")), 8000)
    if field_["kind"] == "memory":
        return SubmissionError(
            f"{target.path} ran out of memory {where} (MemoryError)",
            "look for a very large temporary array (an N x N or D x D matrix?); its traceback:\n"
            + traceback,
            code="memory-limit",
        )
    return SubmissionError(
        f"{target.path} raised {field_['type']} {where}: {message}",
        "its traceback:\n" + traceback,
        code="submission-raised",
    )


def spawn(
    target: Target, timeout: float = 60.0, policy: Policy | None = None, reply: int = 0
) -> Running:
    """Start the sandboxed child for ``target``; ``send(job(target, ops))`` when planned.

    ``reply``: a bound on the size of its reply (``plan.reply_bytes``); the limits on the
    files it writes and on the reply read back grow to fit it, never below their defaults.
    """
    preload = ("numpy", "torch") if target.style == "torch" else ("numpy",)
    base = Limits(wall=timeout)
    limits = Limits(wall=timeout, files=max(base.files, reply), reply=max(base.reply, reply))
    return runner.spawn(preload, limits, policy)


def job(target: Target, ops: list[dict[str, Any]], display: str = "") -> Job:
    """The runner's job: these calls of the target's functions, in this order."""
    return Job(target.path, target.names, ops, display=display or str(target.path))


_MAX_WALL = 86_400.0  # the runner's bound on one deadline (a day)


def run_jobs(
    jobs: Sequence[tuple[Job, str]],
    timeout: float,
    policy: Policy | None = None,
    memory: int | None = None,
    reply: int = 0,
    during: Callable[[], None] | None = None,
) -> list[Outcome | Exception]:
    """Several jobs (with their targets' styles) in one sandboxed child (``runner.batch``).

    Python and numpy start once; each job gets its own ``timeout`` from the end of the one
    before it. A job that hangs or crashes the child is charged alone: the jobs after it run
    again in a fresh child. ``during()`` runs once, while the first child works (the
    references). Per job: its Outcome, or the SubmissionError that ended the child during it.
    """
    from bncheck.runner import batch

    results: dict[int, Outcome | Exception] = {}
    left = list(range(len(jobs)))
    while left:
        torch = any(jobs[k][1] == "torch" for k in left)
        base = Limits(wall=min(timeout * (len(left) + 1), _MAX_WALL))  # + start-up
        limits = Limits(
            wall=base.wall,
            memory=base.memory if memory is None else memory,
            files=max(base.files, reply),
            reply=max(base.reply, reply),
        )
        running = runner.spawn(("numpy", "torch") if torch else ("numpy",), limits, policy)
        chosen = [jobs[k][0] for k in left]
        try:
            batch.send_all(running, chosen)
            if during is not None:
                during()
                during = None
            outcomes = batch.wait_all(running, chosen, timeout)
        finally:
            running.close()
        again = []
        for k, outcome in zip(left, outcomes, strict=True):
            if outcome is None:
                again.append(k)  # never started: the next child runs it
            else:
                results[k] = outcome
        left = again
    return [results[k] for k in range(len(jobs))]


def replies_of(target: Target, outcome: Outcome) -> list[dict[str, Any]]:
    """The replies, or the SubmissionError the submission's failure or refusals call for."""
    if outcome.error is not None or outcome.replies is None:
        error = outcome.error if isinstance(outcome.error, dict) else {}
        raise failure_error(target, error, outcome.refusals)
    if not isinstance(outcome.replies, list):
        raise SubmissionError(
            f"{target.path}: the sandboxed child's reply holds no list of results",
            "the submission interfered with bncheck's child process (its reply writer?)",
            code="bad-reply",
        )
    return outcome.replies
