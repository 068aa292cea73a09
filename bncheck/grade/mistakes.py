"""The mistakes a diagnosis named, in grading: per function (``FunctionGrade.mistakes``),
in a student's feedback, and counted over the class for the instructor.

A student sees a mistake only when they may see what showed it: one seen by a check
(``source`` is its id) only when that check is visible, one derived by SymPy only when a
visible check failed. A hidden check's failure is never revealed by its diagnosis.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bncheck.grade.model import FoundMistake, FunctionGrade, StudentGrade

if TYPE_CHECKING:
    from bncheck.check.result import VerifyResult

__all__ = [
    "ClassCount",
    "class_counts",
    "feedback_lines",
    "found",
    "markdown_lines",
    "mistakes_json",
    "shown_mistakes",
]

NAMED, AMBIGUOUS = "named", "ambiguous"
_ONE_OF = "one of these, which bncheck cannot tell apart on these inputs"


def found(result: VerifyResult, clean: Any = str) -> tuple[str, tuple[FoundMistake, ...]]:
    """The diagnosis's status and findings, for ``FunctionGrade``: ("", ()) unless it named
    mistakes ("named") or several it cannot tell apart ("ambiguous"). ``clean`` makes each
    text fit an output (``scoring.relative``)."""
    d = result.diagnosis
    if d is None or d.status not in (NAMED, AMBIGUOUS) or not d.findings:
        return "", ()
    mistakes = tuple(
        FoundMistake(f.id, clean(f.name), clean(f.hint), f.source or "derived") for f in d.findings
    )
    return d.status, mistakes


def shown_mistakes(fn: FunctionGrade, *, include_hidden: bool = False) -> tuple[FoundMistake, ...]:
    """The mistakes a student may read now (every one with ``include_hidden``)."""
    if include_hidden:
        return fn.mistakes
    visible = {c.id for c in fn.checks if c.visibility == "visible"}
    failed_visibly = any(c.passed is False and c.id in visible for c in fn.checks)
    return tuple(
        m
        for m in fn.mistakes
        if (m.source in visible) or (m.source == "derived" and failed_visibly)
    )


def feedback_lines(
    fn: FunctionGrade, *, include_hidden: bool = False, titled: bool = False
) -> list[str]:
    """Plain lines for a student: the mistake(s) named, each with its id, name and hint;
    ``titled``: the first line starts with the function's name."""
    shown = shown_mistakes(fn, include_hidden=include_hidden)
    if not shown:
        return []
    if fn.diagnosis == AMBIGUOUS and len(shown) > 1:
        head = f"Diagnosis: {_ONE_OF}:"
    else:
        head = (
            "Diagnosis: the mistake bncheck found:"
            if len(shown) == 1
            else ("Diagnosis: the mistakes bncheck found:")
        )
    lines = [f"{fn.function}: {head}" if titled else head]
    for m in shown:
        lines.append(f"- {m.id}: {m.name}")
        if m.hint:
            lines.append(f"  Look at: {m.hint}")
    return lines


def markdown_lines(
    fn: FunctionGrade, md: Callable[[str], str], *, include_hidden: bool = False
) -> list[str]:
    """``feedback_lines`` in Markdown (``md`` escapes inline text): a bold head, a list."""
    shown = feedback_lines(fn, include_hidden=include_hidden)
    if not shown:
        return []
    out = [f"**{md(shown[0])}**", ""]
    for line in shown[1:]:
        if line.startswith("- "):
            mistake_id, _, name = line[2:].partition(": ")
            out.append(f"- `{mistake_id}`: {md(name)}")
        else:
            out.append(f"  - {md(line.strip())}")
    return [*out, ""]


@dataclass(frozen=True)
class ClassCount:
    """How many students' code shows one mistake (or one ambiguous set of them)."""

    key: str  # the id, or "a or b" for an ambiguous diagnosis
    name: str
    students: int

    def line(self) -> str:
        who = "1 student" if self.students == 1 else f"{self.students} students"
        return f"{who}: {self.key} ({self.name})"

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.key, "name": self.name, "students": self.students}


def class_counts(grades: Iterable[StudentGrade]) -> list[ClassCount]:
    """Each mistake named, with the number of students it was named for (once per student,
    whichever functions showed it); most frequent first, then by id."""
    names: dict[str, str] = {}
    students: dict[str, set[str]] = {}
    for g in grades:
        for fn in g.functions:
            if fn.diagnosis == AMBIGUOUS and len(fn.mistakes) > 1:
                key = " or ".join(sorted(m.id for m in fn.mistakes))
                names[key] = _ONE_OF
                students.setdefault(key, set()).add(g.student)
                continue
            for m in fn.mistakes:
                names[m.id] = m.name
                students.setdefault(m.id, set()).add(g.student)
    counts = [ClassCount(k, names[k], len(s)) for k, s in students.items()]
    return sorted(counts, key=lambda c: (-c.students, c.key))


def mistakes_json(grades: Iterable[StudentGrade]) -> list[dict[str, Any]]:
    """grades.json's ``mistakes``: [{"id", "name", "students"}], most frequent first."""
    return [c.to_dict() for c in class_counts(grades)]
