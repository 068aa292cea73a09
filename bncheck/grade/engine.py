"""Grading one student, and a whole class: the battery per rubric function, mapped to points.

Per student, every function the rubric names runs in ONE sandboxed child
(``bncheck.runner.batch``): the child starts Python and numpy once (most of what a check
costs), each function's calls get their own deadline, and a function that hangs or
crashes the child is charged alone: the functions after it run again in a fresh child.
The trusted references are computed in this process while the child runs, once per
(spec, seed, inputs) — a student's ``batchnorm_backward`` and ``batchnorm_backward_alt``
share them.

What a student gets per check is ``grade/scoring.py``.

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

from bncheck.grade.model import Flag, StudentGrade, Submission
from bncheck.grade.scoring import error_grade, function_grade

if TYPE_CHECKING:
    from bncheck.check.api import VerifyOptions
    from bncheck.check.evidence import References
    from bncheck.check.plan import Plan
    from bncheck.check.result import VerifyResult
    from bncheck.check.submission import Target
    from bncheck.grade.journal import Journal

__all__ = ["grade_all", "grade_submission", "student_seed"]

log = logging.getLogger("bncheck.grade")

# a submission that prints a score of its own ({"score": 100}, "Score: 10/10", ...)
_FAKE_SCORE = re.compile(r"""["']?\b(?:score|max_score|points)\b["']?\s*[:=]\s*[-+0-9.]+""", re.I)
_MiB = 1 << 20


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


def _run(
    rubric: Any, planned: list[_Planned], printed: dict[int, str] | None = None
) -> dict[int, VerifyResult | Exception]:
    """Every planned function in one child; those it never reached, in the next one
    (``check.sandboxed.run_jobs``).

    ``printed`` receives, per function, the tail of what the child printed (cleaned).
    """
    from bncheck import runner
    from bncheck.check import api
    from bncheck.check.plan import reply_bytes
    from bncheck.check.replies import check_replies
    from bncheck.check.sandboxed import replies_of, run_jobs

    refs: dict[int, References] = {}

    def references() -> None:  # while the child runs
        refs.update({p.index: _REFS.get(p.plan, p.options) for p in planned})

    jobs = [
        (runner.Job(p.target.path, p.target.names, p.plan.ops, display=p.display), p.target.style)
        for p in planned
    ]
    outcomes = run_jobs(
        jobs,
        float(rubric.timeout),
        planned[0].options.policy,
        memory=int(rubric.memory_mib) * _MiB,
        reply=max(reply_bytes(p.plan) for p in planned),
        during=references,
    )
    results: dict[int, VerifyResult | Exception] = {}
    for p, outcome in zip(planned, outcomes, strict=True):
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
        if function.when_defined and _missing(outcomes[k], function.name):
            continue  # not in this student's file: not graded, not in the maximum either
        grade, flag = function_grade(sub, function, seed, outcomes[k])
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


def _missing(outcome: object, name: str) -> bool:
    """``name`` itself is not in the student's file (so a ``when_defined`` function is not
    graded); a missing forward of a backward that is there is a load problem, as always."""
    from bncheck.errors import SubmissionError

    return (
        isinstance(outcome, SubmissionError)
        and outcome.code == "missing-function"
        and (f"no function {name!r}" in outcome.message or f"defines {name} or" in outcome.message)
    )


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
            grade, flag = error_grade(sub, function, seed, exc)
            functions.append(grade)
            flags += flag
        return StudentGrade(sub.student, sub.digest, tuple(functions), tuple(flags))
