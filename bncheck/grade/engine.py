"""Grading one student, and a whole class: the battery per rubric function, mapped to points.

Per student, every function the rubric names runs in ONE sandboxed child
(``bncheck.runner.batch``): the child starts Python and numpy once (most of what a check
costs), each function's calls get their own deadline, and a function that hangs or
crashes the child is charged alone: the functions after it run again in a fresh child.
The trusted references are computed in this process while the child runs, once per
(spec, seed, inputs) — a student's ``batchnorm_backward`` and ``batchnorm_backward_alt``
share them.

What a student gets (``FunctionGrade``), per check id of the battery:

* a row that passed: the rubric's points; failed or skipped: 0, with the row's message,
  the worst element and the rubric's feedback text;
* a check the rubric gives points that did not run (not applicable to the style, e.g.
  ``running-stats`` for a plain-style submission): 0, output "not run for this style";
  the maximum stays the rubric's, so every student is graded out of the same total;
* a refused operation (the ``sandbox`` row failed, or a refusal made the submission fail):
  0 for the whole function and a ``cheat`` flag;
* a submission that could not be checked (syntax error, missing function, time, memory
  or output limit, crash): 0 for every check with the error as output, and a ``limit``
  or ``load`` flag (an ``optional`` function that is missing: 0 and no flag);
* a bug in bncheck: 0 for that function, an ``internal`` flag, and the traceback logged.

One student's problem never reaches another's grade: each student has a child of their
own, and every exception stops at the function it came from.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bncheck.errors import BncheckError
from bncheck.grade.model import CheckGrade, Flag, FunctionGrade, StudentGrade, Submission

if TYPE_CHECKING:
    from bncheck.check.api import VerifyOptions
    from bncheck.check.evidence import References
    from bncheck.check.plan import Plan
    from bncheck.check.result import VerifyResult
    from bncheck.check.submission import Target
    from bncheck.grade.journal import Journal
    from bncheck.runner import Job

__all__ = ["LIMIT_CODES", "grade_all", "grade_submission", "student_seed"]

log = logging.getLogger("bncheck.grade")

LIMIT_CODES = frozenset({"timeout", "memory-limit", "output-limit"})
# a submission that prints a score of its own ({"score": 100}, "Score: 10/10", ...)
_FAKE_SCORE = re.compile(r"""["']?\b(?:score|max_score|points)\b["']?\s*[:=]\s*[-+0-9.]+""", re.I)
_MiB = 1 << 20
# the sandbox's private folders (tempfile.mkdtemp(prefix="bncheck-")): never in an output
_SANDBOX_PATH = re.compile(r"(?:/[^\s'\"/]+)*/bncheck-(?:io-)?[A-Za-z0-9_]+(?:/work)?/?")


def student_seed(student: str, salt: str) -> int:
    """The student's seed: 32 bits of blake2b keyed by the salt, reproducible by the instructor::

    key = blake2b(salt.encode(), digest_size=32).digest()
    int.from_bytes(blake2b(student.encode(), key=key, digest_size=4).digest(), "little")
    """
    key = hashlib.blake2b(salt.encode("utf-8"), digest_size=32).digest()
    digest = hashlib.blake2b(student.encode("utf-8"), key=key, digest_size=4).digest()
    return int.from_bytes(digest, "little")


# --------------------------------------------------------------------------- references


class _RefCache:
    """References keyed by what they depend on (spec, seed, inputs, referee options)."""

    def __init__(self, size: int = 16) -> None:
        self._items: OrderedDict[Any, References] = OrderedDict()
        self._lock = threading.Lock()
        self._size = size

    def get(self, plan: Plan, options: VerifyOptions) -> References:
        from bncheck.check.evidence import references

        key = (
            options.spec,
            options.seed,
            options.dtype,
            options.degenerate,
            options.shapes,
            options.checks.fd,
            options.checks.autograd,
        )
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        refs = references(plan, options.checks)
        with self._lock:
            self._items[key] = refs
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return refs


_REFS = _RefCache()


# --------------------------------------------------------------------------- one student


@dataclass
class _Planned:
    """A function ready to run: its target, options and calls."""

    index: int
    function: Any  # GradedFunction
    options: VerifyOptions
    target: Target
    plan: Plan
    display: str


def _relative(text: str, root: Path) -> str:
    """Text for an output: no grader's path (the student's folder, the sandbox's)."""
    for base in {str(root), os.path.realpath(root)}:
        text = text.replace(base + os.sep, "").replace(base, ".")
    return _SANDBOX_PATH.sub("", text)


def _plan(sub: Submission, function: Any, options: VerifyOptions, index: int) -> _Planned:
    from bncheck.check import api
    from bncheck.check.plan import make_plan
    from bncheck.check.submission import resolve_target

    backward = f"{options.spec.name}_backward"
    # the spec's own backward may be a torch Function: name none, and detection finds it
    text = str(sub.root) if function.name == backward else f"{sub.root}:{function.name}"
    target = resolve_target(text, options.style, function.name)
    options = api.options_for(target.names.get("function") or target.names["backward"], options)
    plan = make_plan(target, options.spec, api.battery(options), options.seed)
    display = os.path.relpath(target.path, sub.root)
    return _Planned(index, function, options, target, plan, display)


def _limits(rubric: Any, planned: Sequence[_Planned]) -> Any:
    from bncheck.check.plan import reply_bytes
    from bncheck.runner import Limits

    base = Limits(wall=float(rubric.timeout) * (len(planned) + 1))  # + start-up (batch.py)
    reply = max(reply_bytes(p.plan) for p in planned)
    return Limits(
        wall=base.wall,
        memory=int(rubric.memory_mib) * _MiB,
        files=max(base.files, reply),
        reply=max(base.reply, reply),
    )


def _run(
    rubric: Any, planned: list[_Planned], printed: dict[int, str] | None = None
) -> dict[int, VerifyResult | Exception]:
    """Every planned function in one child; those it never reached, in the next one.

    ``printed`` receives, per function, the tail of what the child printed (cleaned).
    """
    from bncheck import runner
    from bncheck.check import api
    from bncheck.check.replies import check_replies
    from bncheck.check.sandboxed import replies_of
    from bncheck.runner import batch

    results: dict[int, VerifyResult | Exception] = {}
    while planned:
        torch = any(p.target.style == "torch" for p in planned)
        preload = ("numpy", "torch") if torch else ("numpy",)
        policy = planned[0].options.policy
        running = runner.spawn(preload, _limits(rubric, planned), policy)
        jobs: list[Job] = [
            runner.Job(p.target.path, p.target.names, p.plan.ops, display=p.display)
            for p in planned
        ]
        try:
            batch.send_all(running, jobs)
            refs = {p.index: _REFS.get(p.plan, p.options) for p in planned}  # while it runs
            outcomes = batch.wait_all(running, jobs, float(rubric.timeout))
        finally:
            running.close()
        left = []
        for p, outcome in zip(planned, outcomes, strict=True):
            if outcome is None:
                left.append(p)
                continue
            if printed is not None and not isinstance(outcome, Exception):
                printed[p.index] = outcome.output
            try:
                if isinstance(outcome, Exception):
                    raise outcome
                replies = replies_of(p.target, outcome)
                check_replies(p.target, p.plan.ops, replies)
                results[p.index] = api.judge(
                    p.target, p.plan, replies, p.options, outcome, refs[p.index]
                )
            except Exception as exc:
                results[p.index] = exc
        planned = left
    return results


def grade_submission(sub: Submission, rubric: Any, salt: str) -> StudentGrade:
    """Grade every function the rubric names; never raises for the student's code."""
    started = time.monotonic()
    seed = student_seed(sub.student, salt)
    outcomes: dict[int, VerifyResult | Exception] = {}
    planned = []
    for k, function in enumerate(rubric.functions):
        try:
            planned.append(_plan(sub, function, rubric.verify_options(function, seed), k))
        except Exception as exc:
            outcomes[k] = exc
    printed: dict[int, str] = {}
    if planned:
        try:
            outcomes.update(_run(rubric, planned, printed))
        except Exception as exc:  # the sandbox itself failed: bncheck's bug, or the machine's
            outcomes.update({p.index: exc for p in planned})
    functions, flags = [], []
    for k, function in enumerate(rubric.functions):
        grade, flag = _function_grade(sub, function, seed, outcomes[k])
        functions.append(grade)
        flags += flag
        claim = _FAKE_SCORE.search(printed.get(k, ""))
        if claim:  # it earns nothing (scores come from the checks alone): the instructor looks
            what = claim.group(0).strip()[:60]
            flags.append(Flag("cheat", function.name, f"printed what looks like a score: {what}"))
    return StudentGrade(
        student=sub.student,
        digest=sub.digest,
        functions=tuple(functions),
        flags=tuple(flags),
        seconds=round(time.monotonic() - started, 3),
    )


def _function_grade(
    sub: Submission, function: Any, seed: int, outcome: VerifyResult | Exception
) -> tuple[FunctionGrade, list[Flag]]:
    if isinstance(outcome, BaseException):
        return _error_grade(sub, function, seed, outcome)
    try:
        return _result_grade(sub, function, seed, outcome)
    except Exception as exc:  # a bug in the mapping: that function's internal flag
        return _error_grade(sub, function, seed, exc)


def _visibility(function: Any, check_id: str) -> Any:
    return "after_due_date" if check_id in function.hidden else "visible"


def _result_grade(
    sub: Submission, function: Any, seed: int, result: VerifyResult
) -> tuple[FunctionGrade, list[Flag]]:
    from bncheck.check.battery import IDS

    rows = {row.id: row for row in result.checks if row.id}
    points = dict(function.points)
    sandbox = rows.get("sandbox")
    cheat = sandbox is not None and sandbox.passed is False
    checks = []
    for check_id in IDS:
        row = rows.get(check_id)
        top = float(points.get(check_id, 0.0))
        if row is None and check_id not in points:
            continue
        feedback = function.feedback.get(check_id, "")
        if row is None:
            output = _join(f"not run for this style ({result.style})", feedback)
            checks.append(
                CheckGrade(
                    check_id, check_id, None, 0.0, top, _visibility(function, check_id), output
                )
            )
            continue
        passed = row.passed
        earned = top if passed is True and not cheat else 0.0
        output = ""
        if passed is False:
            worst = f"worst: {row.worst}" if row.worst else ""
            output = _join(row.message, worst, feedback)
        elif passed is None:
            output = _join(row.message or "skipped", feedback)
        elif cheat:
            output = (
                "no credit: the sandbox refused what the submission did (see the sandbox check)"
            )
        checks.append(
            CheckGrade(
                check_id,
                _relative(row.title, sub.root),
                passed,
                earned,
                top,
                _visibility(function, check_id),
                _relative(output, sub.root),
            )
        )
    flags = []
    if cheat and sandbox is not None:
        flags.append(Flag("cheat", function.name, _relative(sandbox.message, sub.root)))
    grade = FunctionGrade(
        function=function.name,
        seed=seed,
        checks=tuple(checks),
        read_it=_relative(result.read_it, sub.root),
    )
    return grade, flags


def _join(*parts: str) -> str:
    return "\n".join(p.strip() for p in parts if p and p.strip())


def _error_grade(
    sub: Submission, function: Any, seed: int, exc: BaseException
) -> tuple[FunctionGrade, list[Flag]]:
    from bncheck.check.battery import IDS

    if isinstance(exc, BncheckError):
        error = {k: _relative(v, sub.root) for k, v in exc.to_dict().items()}
    else:  # a bug in bncheck: the student gets 0 here, the instructor a flag, the log a trace
        log.error("internal error grading %s:%s", sub.student, function.name, exc_info=exc)
        error = {
            "code": "internal-error",
            "message": f"bncheck failed on this function: {type(exc).__name__}: {exc}",
            "hint": "a bug in bncheck, not in the submission: please report it",
        }
        error = {k: _relative(v, sub.root) for k, v in error.items()}
    code = error["code"]
    flags = []
    missing = code in ("missing-function", "file-not-found")
    if not isinstance(exc, BncheckError):
        flags.append(Flag("internal", function.name, error["message"]))
    elif code == "refused":
        flags.append(Flag("cheat", function.name, error["message"]))
    elif code in LIMIT_CODES:
        flags.append(Flag("limit", function.name, error["message"]))
    elif not (missing and getattr(function, "optional", False)):
        flags.append(Flag("load", function.name, error["message"]))
    output = _join(error["message"], error.get("hint", ""))
    checks = tuple(
        CheckGrade(
            check_id,
            check_id,
            None,
            0.0,
            float(function.points[check_id]),
            _visibility(function, check_id),
            output,
        )
        for check_id in IDS
        if check_id in function.points
    )
    grade = FunctionGrade(function=function.name, seed=seed, checks=checks, error=error)
    return grade, flags


# --------------------------------------------------------------------------- a class


def grade_all(
    subs: Sequence[Submission],
    rubric: Any,
    salt: str,
    out: Path,
    jobs: int | None = None,
    shard: tuple[int, int] | None = None,
    progress: Callable[[StudentGrade, bool], None] | None = None,
    journal: Journal | None = None,
) -> list[StudentGrade]:
    """Grade every submission (of the shard ``(K, N)``, 1-based K) into the journal in ``out``.

    Threads, not processes: a worker spends most of its time waiting on its child, and
    the parent's work (plans, references, comparisons) is numpy on small arrays that
    releases the GIL in part; the journal has one writer (this thread). ``progress(grade,
    resumed)`` is called for each student as it finishes (``resumed``: from the journal).
    Returns the grades of this shard, sorted by student.
    """
    from bncheck.grade.journal import Journal, journal_key

    jobs = jobs or os.cpu_count() or 1
    subs = sorted(subs, key=lambda s: s.student)
    if shard is not None:
        k, n = shard
        subs = [s for i, s in enumerate(subs) if i % n == k - 1]
    own = journal is None
    journal = journal or Journal(out / "journal.sqlite")
    try:
        keys = {s.student: journal_key(s, rubric, salt) for s in subs}
        grades: dict[str, StudentGrade] = {}
        todo = []
        for s in subs:
            found = journal.get(keys[s.student])
            if found is not None:
                grades[s.student] = found
                if progress:
                    progress(found, True)
            else:
                todo.append(s)
        with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="bncheck-grade") as pool:
            pending: dict[Future[StudentGrade], Submission] = {}
            queue = list(reversed(todo))
            while queue or pending:
                while queue and len(pending) < 2 * jobs:  # bounded: results journalled as they come
                    s = queue.pop()
                    pending[pool.submit(_safe_grade, s, rubric, salt)] = s
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    s = pending.pop(future)
                    grade = future.result()
                    journal.put(keys[s.student], grade)
                    grades[s.student] = grade
                    if progress:
                        progress(grade, False)
        return [grades[s.student] for s in subs]
    finally:
        if own:
            journal.close()


def _safe_grade(sub: Submission, rubric: Any, salt: str) -> StudentGrade:
    """grade_submission, and for a bug outside any function: an internal flag, not a crash."""
    try:
        return grade_submission(sub, rubric, salt)
    except Exception as exc:
        log.error("internal error grading %s", sub.student, exc_info=exc)
        seed = student_seed(sub.student, salt)
        functions, flags = [], []
        for function in rubric.functions:
            grade, flag = _error_grade(sub, function, seed, exc)
            functions.append(grade)
            flags += flag
        return StudentGrade(sub.student, sub.digest, tuple(functions), tuple(flags))
