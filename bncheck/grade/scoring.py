"""Points from a verify result: the rubric's points per check id, the flags, the feedback.

What a student gets (``FunctionGrade``), per check id of the battery:

* a row that passed: the rubric's points; failed or skipped: 0, with the row's message,
  the worst element and the rubric's feedback text;
* a check the rubric gives points that did not run (not applicable to the style): 0,
  output "not run for this style"; the maximum stays the rubric's;
* a refused operation: 0 for the whole function and a ``cheat`` flag;
* a submission that could not be checked: 0 for every check with the error as output,
  and a ``limit`` or ``load`` flag (an ``optional`` function that is missing: no flag; a
  stub, "not implemented": no flag);
* a ``when_defined`` function the submission does not define: not graded at all (the
  engine leaves it out of the student's grade);
* a bug in bncheck: 0 for that function, an ``internal`` flag, and the traceback logged.

No output holds a path of the grader's (the student's folder, the sandbox's).
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bncheck.errors import BncheckError
from bncheck.grade.model import CheckGrade, Flag, FunctionGrade, Submission

if TYPE_CHECKING:
    from bncheck.check.result import VerifyResult

__all__ = ["LIMIT_CODES", "error_grade", "function_grade", "relative"]

log = logging.getLogger("bncheck.grade")

LIMIT_CODES = frozenset({"timeout", "memory-limit", "output-limit"})
# the sandbox's private folders (tempfile.mkdtemp(prefix="bncheck-")): never in an output
_SANDBOX_PATH = re.compile(r"(?:/[^\s'\"/]+)*/bncheck-(?:io-)?[A-Za-z0-9_]+(?:/work)?/?")


def relative(text: str, root: Path) -> str:
    """Text for an output: no grader's path (the student's folder, the sandbox's)."""
    for base in {str(root), os.path.realpath(root)}:
        text = text.replace(base + os.sep, "").replace(base, ".")
    return _SANDBOX_PATH.sub("", text)


def function_grade(
    sub: Submission, function: Any, seed: int, outcome: VerifyResult | Exception
) -> tuple[FunctionGrade, list[Flag]]:
    if isinstance(outcome, BaseException):
        return error_grade(sub, function, seed, outcome)
    try:
        return _result_grade(sub, function, seed, outcome)
    except Exception as exc:  # a bug in the mapping: that function's internal flag
        return error_grade(sub, function, seed, exc)


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
                relative(row.title, sub.root),
                passed,
                earned,
                top,
                _visibility(function, check_id),
                relative(output, sub.root),
            )
        )
    flags = []
    if cheat and sandbox is not None:
        flags.append(Flag("cheat", function.name, relative(sandbox.message, sub.root)))
    from bncheck.grade.mistakes import found

    status, mistakes = found(result, lambda text: relative(text, sub.root))
    grade = FunctionGrade(
        function=function.name,
        seed=seed,
        checks=tuple(checks),
        read_it=relative(result.read_it, sub.root),
        diagnosis=status,
        mistakes=mistakes,
    )
    return grade, flags


def _join(*parts: str) -> str:
    return "\n".join(p.strip() for p in parts if p and p.strip())


def error_grade(
    sub: Submission, function: Any, seed: int, exc: BaseException
) -> tuple[FunctionGrade, list[Flag]]:
    from bncheck.check.battery import IDS

    if isinstance(exc, BncheckError):
        error = {k: relative(v, sub.root) for k, v in exc.to_dict().items()}
    else:  # a bug in bncheck: the student gets 0 here, the instructor a flag, the log a trace
        log.error("internal error grading %s:%s", sub.student, function.name, exc_info=exc)
        error = {
            "code": "internal-error",
            "message": f"bncheck failed on this function: {type(exc).__name__}: {exc}",
            "hint": "a bug in bncheck, not in the submission: please report it",
        }
        error = {k: relative(v, sub.root) for k, v in error.items()}
    code = error["code"]
    flags = []
    missing = code in ("missing-function", "file-not-found")
    if not isinstance(exc, BncheckError):
        flags.append(Flag("internal", function.name, error["message"]))
    elif code == "refused":
        flags.append(Flag("cheat", function.name, error["message"]))
    elif code in LIMIT_CODES:
        flags.append(Flag("limit", function.name, error["message"]))
    elif code == "not-implemented":
        pass  # the assignment's stub, left as it was: 0 points, nothing for the instructor
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
