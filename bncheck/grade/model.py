"""What grading produces, as data: one ``StudentGrade`` per student, journalled as JSON.

Every output (Gradescope results.json, the CSV gradebook, grades.json, JUnit XML, the
Markdown feedback, the terminal summary) is written from these objects alone, in
student order, so a resumed run writes the same bytes as an uninterrupted one.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

__all__ = [
    "CheckGrade",
    "Flag",
    "FoundMistake",
    "FunctionGrade",
    "StudentGrade",
    "Submission",
]

# Gradescope's visibility values: shown at once, after the due date, after publishing, never
Visibility = Literal["visible", "after_due_date", "after_published", "hidden"]


@dataclass(frozen=True)
class Submission:
    """One student's files: ``root`` is a folder (its files are the submission)."""

    student: str  # the id: the folder or file name, or the LMS's id
    root: Path
    digest: str  # blake2b of every file's relative path and bytes, for the journal's key
    origin: str = ""  # how it was found ("folder", "canvas", "gradescope export", ...)


@dataclass(frozen=True)
class CheckGrade:
    """One check of one graded function, with the rubric's points."""

    id: str  # the check's id in bncheck.check.battery.CHECKS
    title: str  # "dx: submission vs derived (float64)"
    passed: bool | None  # None: skipped (or not run: the function could not be checked)
    points: float
    max_points: float
    visibility: Visibility = "visible"
    output: str = ""  # what failed, the worst element, and the rubric's feedback text


@dataclass(frozen=True)
class Flag:
    """Something the instructor should look at; never changes another student's result."""

    kind: Literal["cheat", "limit", "load", "internal"]
    function: str
    message: str


@dataclass(frozen=True)
class FoundMistake:
    """A mistake the diagnosis named for one function (``bncheck.diagnose`` Finding)."""

    id: str  # the catalog's id: "mean-path-dropped"
    name: str
    hint: str
    source: str = "derived"  # "derived", or the id of the check that saw it


@dataclass(frozen=True)
class FunctionGrade:
    """The grade of one function the rubric names (e.g. batchnorm_backward)."""

    function: str
    seed: int
    checks: tuple[CheckGrade, ...]
    read_it: str = ""
    error: dict[str, str] | None = None  # {"code", "message", "hint"} when it could not be checked
    seconds: float = 0.0
    # the diagnosis: "named" (these mistakes), "ambiguous" (one of these), "" (none named)
    diagnosis: str = ""
    mistakes: tuple[FoundMistake, ...] = ()

    @property
    def score(self) -> float:
        return sum(c.points for c in self.checks)

    @property
    def max_score(self) -> float:
        return sum(c.max_points for c in self.checks)


@dataclass(frozen=True)
class StudentGrade:
    student: str
    digest: str
    functions: tuple[FunctionGrade, ...]
    flags: tuple[Flag, ...] = ()
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def score(self) -> float:
        return sum(f.score for f in self.functions)

    @property
    def max_score(self) -> float:
        return sum(f.max_score for f in self.functions)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StudentGrade:
        functions = tuple(
            FunctionGrade(
                **{
                    **f,
                    "checks": tuple(CheckGrade(**c) for c in f["checks"]),
                    "mistakes": tuple(FoundMistake(**m) for m in f.get("mistakes", ())),
                }
            )
            for f in data["functions"]
        )
        flags = tuple(Flag(**g) for g in data.get("flags", ()))
        return cls(
            student=data["student"],
            digest=data["digest"],
            functions=functions,
            flags=flags,
            seconds=data.get("seconds", 0.0),
            extra=data.get("extra", {}),
        )
