"""The files of a grading run: Gradescope's results.json, the CSV gradebook, grades.json,
JUnit XML, the Markdown feedback and the terminal summary."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bncheck.grade.model import CheckGrade, Flag, FunctionGrade, StudentGrade
from bncheck.grade.outputs import (
    feedback_markdown,
    gradescope_results,
    junit_xml,
    write_atomic,
    write_outputs,
)
from bncheck.report.grade import summary

# ------------------------------------------------------------------ Gradescope's spec

# gradescope-autograders.readthedocs.io/en/latest/specs/ ("Output format", "Controlling
# Test Case Visibility", "Test case status", "Output String Formatting")
VISIBILITY = {"hidden", "after_due_date", "after_published", "visible"}
FORMATS = {"text", "html", "simple_format", "md", "ansi"}
STATUS = {"passed", "failed"}
TOP_KEYS = {
    "score",
    "execution_time",
    "output",
    "output_format",
    "test_output_format",
    "test_name_format",
    "visibility",
    "stdout_visibility",
    "extra_data",
    "tests",
    "leaderboard",
}
TEST_KEYS = {
    "score",
    "max_score",
    "status",
    "name",
    "name_format",
    "number",
    "output",
    "output_format",
    "tags",
    "visibility",
    "extra_data",
}


def _is_number(x: object) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)


def validate_results(text: str) -> dict[str, Any]:
    """results.json against Gradescope's documented fields and types; returns it parsed."""

    def no_constant(name: str) -> None:
        raise AssertionError(f"{name} is not JSON")

    data = json.loads(text, parse_constant=no_constant)
    assert isinstance(data, dict)
    assert set(data) <= TOP_KEYS, set(data) - TOP_KEYS
    tests = data.get("tests", [])
    assert isinstance(tests, list)
    # a score on top, or on every test
    assert "score" in data or all("score" in t for t in tests)
    if "score" in data:
        assert _is_number(data["score"])
    if "execution_time" in data:
        assert _is_number(data["execution_time"])
    for key in ("output",):
        assert isinstance(data.get(key, ""), str)
    for key in ("output_format", "test_output_format", "test_name_format"):
        assert data.get(key, "text") in FORMATS
    for key in ("visibility", "stdout_visibility"):
        assert data.get(key, "visible") in VISIBILITY
    assert isinstance(data.get("extra_data", {}), dict)
    for t in tests:
        assert isinstance(t, dict)
        assert set(t) <= TEST_KEYS, set(t) - TEST_KEYS
        for key in ("score", "max_score"):
            if key in t:
                assert _is_number(t[key])
        if "score" in t and "max_score" in t:
            assert 0 <= t["score"] <= t["max_score"]
        assert t.get("status", "passed") in STATUS
        for key in ("name", "number", "output"):
            assert isinstance(t.get(key, ""), str)
        for key in ("name_format", "output_format"):
            assert t.get(key, "text") in FORMATS
        assert isinstance(t.get("tags", []), list)
        assert all(isinstance(tag, str) for tag in t.get("tags", []))
        assert t.get("visibility", "visible") in VISIBILITY
        assert isinstance(t.get("extra_data", {}), dict)
    return data


# ------------------------------------------------------------------ grades made by hand

CHEAT_DETAIL = "read /course/solutions/layers.py (audit hook: open)"


@dataclass(frozen=True)
class FakeRubric:
    digest: str = "d" * 64
    source: str = "[functions.batchnorm_backward]\npoints = 3\n"


def _check(id: str, passed: bool | None, points: float, of: float = 1.0, **kw: Any) -> CheckGrade:
    return CheckGrade(id, f"{id} title", passed, points, of, **kw)


def make_grade(student: str, *, good: bool = True, seconds: float = 0.5) -> StudentGrade:
    """A student with batchnorm_backward (one failure unless ``good``, a hidden check, a
    skipped one) and a batchnorm_forward that could not be loaded when not ``good``."""
    backward = FunctionGrade(
        "batchnorm_backward",
        seed=7,
        checks=(
            _check(
                "dx-vs-derived",
                good,
                1.0 if good else 0.0,
                output=""
                if good
                else ("dx: submission vs derived (float64)\nexpected 0.25 at [3, 1], got 0.5"),
            ),
            _check("dgamma-vs-derived", True, 0.5, 0.5),
            _check("running-stats", True, 1 / 3, 1 / 3, visibility="after_due_date"),
            _check("out-vs-reference", None, 0.0, 0.0, output="plain style: no forward"),
        ),
        read_it="Read it: dx is wrong; dgamma and dbeta are right.",
        seconds=seconds / 2,
    )
    forward = FunctionGrade(
        "batchnorm_forward",
        seed=7,
        checks=(_check("out-vs-reference", True if good else None, 1.0 if good else 0.0),),
        read_it="Read it: out matches the reference." if good else "",
        error=None if good else {"code": "load", "message": "SyntaxError line 3", "hint": "fix it"},
    )
    flags = (
        ()
        if good
        else (
            Flag("cheat", "batchnorm_backward", CHEAT_DETAIL),
            Flag("load", "batchnorm_forward", "SyntaxError line 3"),
        )
    )
    return StudentGrade(student, "h" + student, (backward, forward), flags, seconds)


STUDENTS = ["bob", "alice", 'eve, "the" tester', "zoë\nnewline", "carol"]


def class_grades() -> list[StudentGrade]:
    return [make_grade(s, good=(k % 2 == 0), seconds=k + 0.25) for k, s in enumerate(STUDENTS)]


# ------------------------------------------------------------------ results.json


def test_results_json_follows_gradescope_spec(tmp_path: Path) -> None:
    paths = write_outputs(class_grades(), FakeRubric(), tmp_path)
    results = [p for p in paths if p.name == "results.json"]
    assert len(results) == len(STUDENTS)
    for path in results:
        validate_results(path.read_text("utf-8"))


def test_results_json_content() -> None:
    grade = make_grade("bob", good=False)
    data = validate_results(json.dumps(gradescope_results(grade, FakeRubric())))
    names = [t["name"] for t in data["tests"]]
    assert names[0] == "batchnorm_backward: dx-vs-derived"
    assert len(names) == 5
    assert data["score"] == pytest.approx(grade.score)
    assert data["score"] == sum(t["score"] for t in data["tests"])
    failed = data["tests"][0]
    assert failed["status"] == "failed" and failed["score"] == 0.0 and failed["max_score"] == 1.0
    assert "expected 0.25 at [3, 1]" in failed["output"]
    assert data["tests"][2]["visibility"] == "after_due_date"
    assert data["tests"][2]["score"] == 0.333333  # rounded, not 0.3333333333333333
    assert data["tests"][3]["status"] == "passed"  # skipped, worth 0 of 0
    not_loaded = data["tests"][4]
    assert not_loaded["status"] == "failed" and "SyntaxError line 3" in not_loaded["output"]
    assert "Read it: dx is wrong" in data["output"]
    assert "batchnorm_forward could not be checked: SyntaxError line 3 fix it" in data["output"]
    # a cheat is named, the instructor's details are not
    assert "does not allow" in data["output"]
    assert "/course/solutions" not in json.dumps(data)
    assert data["extra_data"]["rubric_digest"] == FakeRubric.digest


# ------------------------------------------------------------------ gradebook.csv


def test_gradebook_csv_parses_back_with_totals(tmp_path: Path) -> None:
    grades = class_grades()
    write_outputs(grades, FakeRubric(), tmp_path)
    with open(tmp_path / "gradebook.csv", encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    header, maxima, *students = rows
    assert header[0] == "student" and header[-1] == "total"
    assert "batchnorm_backward:dx-vs-derived" in header
    assert maxima[0] == "(max)" and float(maxima[-1]) == pytest.approx(2 + 5 / 6, abs=1e-6)
    assert [r[0] for r in students] == sorted(STUDENTS)  # ids as given, quoting and all
    by_id = {g.student: g for g in grades}
    for row in students:
        cells = [float(c) for c in row[1:-1] if c]
        assert float(row[-1]) == pytest.approx(sum(cells), abs=1e-5)
        assert float(row[-1]) == pytest.approx(by_id[row[0]].score, abs=1e-6)


# ------------------------------------------------------------------ grades.json


def _no_seconds(grade: StudentGrade) -> StudentGrade:
    functions = tuple(dataclasses.replace(f, seconds=0.0) for f in grade.functions)
    return dataclasses.replace(grade, functions=functions, seconds=0.0)


def test_grades_json_round_trips(tmp_path: Path) -> None:
    grades = class_grades()
    write_outputs(grades, FakeRubric(), tmp_path)
    data = json.loads((tmp_path / "grades.json").read_text("utf-8"))
    assert data["schema_version"] == 1
    assert data["bncheck_version"]
    assert data["rubric"]["digest"] == FakeRubric.digest
    loaded = [StudentGrade.from_dict(s) for s in data["students"]]
    expected = sorted((_no_seconds(g) for g in grades), key=lambda g: g.student)
    assert loaded == expected
    assert {(f["student"], f["kind"]) for f in data["flags"]} >= {("alice", "cheat")}


# ------------------------------------------------------------------ junit.xml


def test_junit_counts(tmp_path: Path) -> None:
    write_outputs(class_grades(), FakeRubric(), tmp_path)
    root = ET.parse(tmp_path / "junit.xml").getroot()
    assert root.tag == "testsuites"
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == sorted(STUDENTS)
    bad = 2  # alice and "zoë\nnewline" (indices 1 and 3) are the students with mistakes
    assert root.get("tests") == str(5 * len(STUDENTS))
    assert root.get("failures") == str(bad)  # dx-vs-derived
    assert root.get("errors") == str(bad)  # batchnorm_forward did not load
    assert root.get("skipped") == str(len(STUDENTS))  # out-vs-reference of the plain style
    cases = root.findall(".//testcase")
    assert len(cases) == 5 * len(STUDENTS)
    assert len(root.findall(".//failure")) == bad
    assert len(root.findall(".//skipped")) == len(STUDENTS)
    alice = next(s for s in suites if s.get("name") == "alice")
    failure = alice.find("testcase[@name='dx-vs-derived']/failure")
    assert failure is not None and failure.get("message") == "dx: submission vs derived (float64)"


def test_junit_survives_control_characters() -> None:
    grade = make_grade("mallory\x00\x1b", good=False)
    check = dataclasses.replace(grade.functions[0].checks[0], output="bad \x07 byte")
    fn = dataclasses.replace(grade.functions[0], checks=(check,))
    root = ET.fromstring(junit_xml([dataclasses.replace(grade, functions=(fn,))]))
    assert root.find("testsuite").get("name") == "mallory\\x00\\x1b"  # type: ignore[union-attr]


# ------------------------------------------------------------------ feedback/*.md


def test_markdown_hides_hidden_checks() -> None:
    grade = make_grade("bob", good=False)
    text = feedback_markdown(grade)
    assert "running-stats" not in text
    assert "1 more check(s) will be shown after the due date" in text
    assert "`dx-vs-derived` failed" in text
    assert "expected 0.25 at [3, 1], got 0.5" in text
    assert "Read it: dx is wrong" in text
    assert "/course/solutions" not in text
    full = feedback_markdown(grade, include_hidden=True)
    assert "running-stats" in full and "more check(s)" not in full
    assert "**Score: 0.833333 / 2.833333**" in full


def test_markdown_fences_outputs_with_backticks() -> None:
    grade = make_grade("bob", good=False)
    check = dataclasses.replace(grade.functions[0].checks[0], output="```\n# not a heading")
    fn = dataclasses.replace(grade.functions[0], checks=(check,))
    text = feedback_markdown(dataclasses.replace(grade, functions=(fn,)))
    assert "````text\n```\n# not a heading\n````" in text


# ------------------------------------------------------------------ determinism, atomicity


def _tree(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_outputs_are_byte_identical_in_any_order(tmp_path: Path) -> None:
    grades = class_grades()
    first = write_outputs(grades, FakeRubric(), tmp_path / "a")
    write_outputs(grades, FakeRubric(), tmp_path / "a")  # twice over the same folder
    slower = [dataclasses.replace(g, seconds=g.seconds * 10) for g in reversed(grades)]
    write_outputs(slower, FakeRubric(), tmp_path / "b")
    assert _tree(tmp_path / "a") == _tree(tmp_path / "b")
    assert len(_tree(tmp_path / "a")) == len(first) == 2 * len(STUDENTS) + 3
    assert not [p for p in (tmp_path / "a").rglob(".*.tmp")]  # no temp file left behind


def test_write_atomic_replaces_a_planted_symlink(tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("untouched")
    link = tmp_path / "out" / "results.json"
    link.parent.mkdir()
    os.symlink(victim, link)
    write_atomic(link, "{}\n")
    assert victim.read_text() == "untouched"
    assert not link.is_symlink() and link.read_text() == "{}\n"


# ------------------------------------------------------------------ the terminal summary


def test_summary(tmp_path: Path) -> None:
    from rich.console import Console

    buffer = io.StringIO()
    console = Console(file=buffer, width=160, no_color=True, color_system=None)
    grades = [*class_grades(), make_grade("[bold]markup[/bold]", good=False, seconds=99.0)]
    summary(grades, FakeRubric(), console)
    text = buffer.getvalue()
    assert "Graded 6 submission(s)" in text
    assert "90-100%" in text and "#" in text
    assert "batchnorm_backward: dx-vs-derived" in text and "3 of 6" in text
    assert CHEAT_DETAIL in text  # the instructor sees the details
    assert "[bold]markup[/bold]" in text  # an id is text, never markup
    slowest = text[text.index("Slowest") :]
    assert slowest.index("99.00") < slowest.index("4.25")


def test_a_failing_hidden_check_does_not_leak_through_the_reading() -> None:
    from bncheck.grade.model import CheckGrade, FunctionGrade, StudentGrade

    hidden = CheckGrade("running-stats", "running stats", False, 0.0, 1.0, "after_due_date")
    fn = FunctionGrade("batchnorm_backward", 1, (hidden,), "Read it: the running statistics...")
    grade = StudentGrade("eve", "d", (fn,))
    results = gradescope_results(grade)
    assert "running statistics" not in results["output"]
    assert "after the due date" in results["output"]
    assert "running statistics" not in feedback_markdown(grade)
    assert "running statistics" in feedback_markdown(grade, include_hidden=True)


def test_a_student_id_is_never_a_spreadsheet_formula() -> None:
    from bncheck.grade.model import StudentGrade
    from bncheck.grade.outputs import gradebook_csv

    text = gradebook_csv([StudentGrade("=HYPERLINK(1)", "d", ())])
    assert "'=HYPERLINK(1)" in text
