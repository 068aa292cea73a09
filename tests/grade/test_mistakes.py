"""The mistakes a diagnosis named, in grading: each student's feedback (Markdown and
Gradescope), never revealing a hidden check, and the class's counts in the instructor's
summary and grades.json."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

from rich.console import Console

from bncheck.check.result import CheckResult, VerifyResult
from bncheck.diagnose.result import Diagnosis, Finding
from bncheck.grade.mistakes import class_counts, feedback_lines, found, shown_mistakes
from bncheck.grade.model import CheckGrade, FoundMistake, FunctionGrade, StudentGrade, Submission
from bncheck.grade.outputs import feedback_markdown, grades_json, gradescope_results
from bncheck.grade.scoring import function_grade
from bncheck.report.grade import summary

MEAN = FoundMistake(
    "mean-path-dropped", "the mean treated as a constant", "Count the paths from x_j to ℓ."
)
GAMMA = FoundMistake("dgamma-from-x", "dγ computed from x, not x̂", "γ multiplies x̂, not x.")
RUNNING = FoundMistake(
    "running-momentum-swapped",
    "momentum swapped",
    "Which weight keeps the old value?",
    source="running-stats",
)


@dataclass(frozen=True)
class FakeRubric:
    digest: str = "0" * 64
    source: str = ""


def check(check_id: str, passed: bool, visibility: str = "visible") -> CheckGrade:
    return CheckGrade(check_id, check_id, passed, 1.0 if passed else 0.0, 1.0, visibility)  # type: ignore[arg-type]


def student(name: str, *mistakes: FoundMistake, status: str = "named") -> StudentGrade:
    checks = (
        check("dx-vs-derived", not mistakes),
        check("running-stats", RUNNING not in mistakes, "after_due_date"),
    )
    fn = FunctionGrade(
        "batchnorm_backward",
        1,
        checks,
        "Read it: dx is wrong.",
        diagnosis=status,
        mistakes=mistakes,
    )
    return StudentGrade(name, "d" + name, (fn,))


def test_feedback_names_the_mistake_with_its_hint() -> None:
    text = feedback_markdown(student("ann", MEAN))
    assert "**Diagnosis: the mistake bncheck found:**" in text
    assert "- `mean-path-dropped`: the mean treated as a constant" in text
    assert "  - Look at: Count the paths from x_j to ℓ." in text


def test_gradescope_output_names_the_mistake() -> None:
    output = gradescope_results(student("ann", MEAN, GAMMA))["output"]
    assert "batchnorm_backward: Diagnosis: the mistakes bncheck found:" in output
    assert "- mean-path-dropped: the mean treated as a constant" in output
    assert "- dgamma-from-x: dγ computed from x, not x̂" in output
    assert "Look at: γ multiplies x̂, not x." in output


def test_ambiguous_says_one_of_these() -> None:
    lines = feedback_lines(student("ann", MEAN, GAMMA, status="ambiguous").functions[0])
    assert "cannot tell apart" in lines[0]


def test_a_mistake_seen_by_a_hidden_check_is_withheld() -> None:
    fn = student("ann", MEAN, RUNNING).functions[0]
    assert shown_mistakes(fn) == (MEAN,)
    assert shown_mistakes(fn, include_hidden=True) == (MEAN, RUNNING)
    assert "running-momentum-swapped" not in feedback_markdown(student("ann", MEAN, RUNNING))
    assert "running-momentum-swapped" in feedback_markdown(
        student("ann", MEAN, RUNNING), include_hidden=True
    )
    # only a hidden check failed: even a derived mistake is not shown yet
    only_hidden = student("bo", RUNNING)
    assert feedback_lines(only_hidden.functions[0]) == []


def test_no_mistakes_no_section() -> None:
    assert "Diagnosis" not in feedback_markdown(student("ann"))
    assert "Diagnosis" not in gradescope_results(student("ann"))["output"]


CLASS = [
    student("ann", MEAN),
    student("bo", MEAN, GAMMA),
    student("cy", GAMMA, MEAN, status="ambiguous"),
    student("dee"),
]


def test_class_counts_each_student_once_per_mistake() -> None:
    twice = StudentGrade("eve", "d", student("eve", MEAN).functions * 2)
    counts = {c.key: c.students for c in class_counts([*CLASS, twice])}
    assert counts == {
        "mean-path-dropped": 3,
        "dgamma-from-x": 1,
        "dgamma-from-x or mean-path-dropped": 1,
    }
    assert class_counts(CLASS)[0].line() == (
        "2 students: mean-path-dropped (the mean treated as a constant)"
    )


def test_summary_and_grades_json_count_the_class() -> None:
    out = io.StringIO()
    summary(CLASS, FakeRubric(), Console(file=out, width=120, color_system=None), timing=False)
    text = out.getvalue()
    assert "Mistakes the diagnosis named" in text
    assert "2 students: mean-path-dropped (the mean treated as a constant)" in text
    assert "1 student: dgamma-from-x" in text
    data = json.loads(grades_json(CLASS, FakeRubric()))
    assert data["mistakes"][0] == {
        "id": "mean-path-dropped",
        "name": "the mean treated as a constant",
        "students": 2,
    }


def test_a_grade_with_mistakes_round_trips_through_json() -> None:
    g = student("ann", MEAN, RUNNING)
    again = StudentGrade.from_dict(json.loads(json.dumps(g.to_dict())))
    assert again == g
    old = g.to_dict()  # a journal row written before mistakes existed
    for f in old["functions"]:
        del f["mistakes"], f["diagnosis"]
    assert StudentGrade.from_dict(old).functions[0].mistakes == ()


def test_scoring_takes_the_findings_of_the_verify_result(tmp_path: Path) -> None:
    finding = Finding(
        "mean-path-dropped", f"the mean, in {tmp_path}/layers.py", "dx", "Count the paths."
    )
    row = CheckResult("dx", False, "submission vs derived", 1.0, 1.0, id="dx-vs-derived")
    result = VerifyResult("x", "plain", 1, (row,), diagnosis=Diagnosis("named", (finding,)))
    function = SimpleNamespace(
        name="batchnorm_backward", points={"dx-vs-derived": 1.0}, feedback={}, hidden=()
    )
    sub = Submission("ann", tmp_path, "d")
    grade, _ = function_grade(sub, function, 1, result)
    assert grade.diagnosis == "named"
    assert grade.mistakes == (
        FoundMistake("mean-path-dropped", "the mean, in layers.py", "Count the paths."),
    )
    assert found(VerifyResult("x", "plain", 1, (row,))) == ("", ())
    assert found(VerifyResult("x", "plain", 1, (row,), diagnosis=Diagnosis("unknown"))) == ("", ())
