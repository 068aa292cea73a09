"""The files a grading run leaves in ``--out``, written from the ``StudentGrade`` objects alone.

    out/gradescope/<student>/results.json   Gradescope's autograder format, one per student
    out/gradebook.csv                       one row per student, one column per check, a total
    out/grades.json                         everything, schema-versioned
    out/junit.xml                           one testsuite per student, one testcase per check
    out/feedback/<student>.md               what a student reads: failing checks and "Read it:"

Every file is deterministic: students sorted, no timestamps and no durations (the journal
keeps those; a resumed run must write the same bytes as an uninterrupted one), points
rounded to what they mean. Each is written to a temp file and renamed over the path, so a
kill mid-write leaves the old file or the new one, never half of one.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Protocol

from bncheck.files import write_atomic as _write_atomic
from bncheck.grade.discover import safe_name
from bncheck.grade.mistakes import feedback_lines, markdown_lines, mistakes_json
from bncheck.grade.model import CheckGrade, FunctionGrade, StudentGrade

__all__ = [
    "SCHEMA_VERSION",
    "by_student",
    "feedback_markdown",
    "gradebook_csv",
    "grades_json",
    "gradescope_results",
    "junit_xml",
    "points_text",
    "student_notes",
    "write_atomic",
    "write_outputs",
]

SCHEMA_VERSION = 1  # of grades.json; raise it when a field changes meaning or goes away
_DIGITS = 6  # points are rounded to this many decimals: 1/3 of a point prints as 0.333333


class RubricInfo(Protocol):
    """What the writers read from a rubric (``bncheck.grade.rubric.Rubric`` has it)."""

    @property
    def digest(self) -> str: ...

    @property
    def source(self) -> str: ...


# ------------------------------------------------------------------ writing


def write_atomic(path: Path, data: str | bytes) -> Path:
    """``bncheck.files.write_atomic`` into a folder made first; returns ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_atomic(path, data)
    return path


def by_student(grades: Iterable[StudentGrade]) -> list[StudentGrade]:
    return sorted(grades, key=lambda g: (g.student, g.digest))


def _num(x: float) -> float:
    """Points as JSON numbers: rounded, never -0.0, never NaN or infinity (invalid JSON)."""
    return round(float(x), _DIGITS) + 0.0 if math.isfinite(x) else 0.0


def points_text(x: float) -> str:
    """Points as text: 2, 0.5, 0.333333."""
    return f"{_num(x):.{_DIGITS}f}".rstrip("0").rstrip(".")


def _dumps(data: Any) -> str:
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False) + "\n"


# ------------------------------------------------------------------ what a student may see

_STUDENT_FLAG = {
    "cheat": "{where}the submission did something this assignment does not allow, so that "
    "part got no credit. Your instructor has been told.",
    "limit": "{where}the submission ran past the time or memory limit and was stopped.",
    "load": "{where}the submission could not be loaded.",
    "internal": "{where}the grader had an internal error; this is not your fault, and your "
    "instructor has been told.",
}


def student_notes(grade: StudentGrade) -> list[str]:
    """The flags as a student may read them: what happened, never the instructor's details
    (which file was read, which hook refused what)."""
    notes: list[str] = []
    for flag in grade.flags:
        where = f"{flag.function}: " if flag.function else ""
        note = _STUDENT_FLAG[flag.kind].format(where=where)
        if note not in notes:
            notes.append(note)
    return notes


def shown_reading(fn: FunctionGrade) -> str:
    """The "Read it:" line a student may see now: it reads every row, hidden ones included,
    so while a hidden check fails it would reveal that check; then a neutral line instead."""
    if any(c.passed is False and c.visibility != "visible" for c in fn.checks):
        return "Read it: see the checks shown; more are shown after the due date."
    return fn.read_it


def _function_lines(fn: FunctionGrade) -> list[str]:
    if fn.error:
        hint = f" {fn.error['hint']}" if fn.error.get("hint") else ""
        return [f"{fn.function} could not be checked: {fn.error.get('message', '')}{hint}"]
    reading = shown_reading(fn)
    return ([f"{fn.function}: {reading}"] if reading else []) + feedback_lines(fn, titled=True)


def _status(check: CheckGrade) -> str:
    if check.passed is None:  # skipped: as good as its points
        return "passed" if check.points >= check.max_points else "failed"
    return "passed" if check.passed else "failed"


def _check_output(fn: FunctionGrade, check: CheckGrade) -> str:
    lines = [check.title] if check.title else []
    if check.passed is None:
        lines.append(f"Not checked: {fn.error.get('message', '')}" if fn.error else "Skipped.")
    if check.output:
        lines.append(check.output)
    return "\n".join(lines)


def gradescope_results(grade: StudentGrade, rubric: RubricInfo | None = None) -> dict[str, Any]:
    """One student's ``results.json`` in Gradescope's autograder format: one test per
    (function, check), the "Read it:" lines and the student-facing flags on top."""
    from bncheck import __version__

    tests: list[dict[str, Any]] = []
    for i, fn in enumerate(grade.functions, start=1):
        for j, check in enumerate(fn.checks, start=1):
            tests.append(
                {
                    "name": f"{fn.function}: {check.id}",
                    "name_format": "text",
                    "number": f"{i}.{j}",
                    "score": _num(check.points),
                    "max_score": _num(check.max_points),
                    "status": _status(check),
                    "output": _check_output(fn, check),
                    "output_format": "text",
                    "tags": [fn.function, check.id],
                    "visibility": check.visibility,
                }
            )
    lines = [line for fn in grade.functions for line in _function_lines(fn)]
    notes = student_notes(grade)
    output = "\n".join(lines + ([""] if lines and notes else []) + notes)
    extra: dict[str, Any] = {"bncheck_version": __version__}
    if rubric is not None:
        extra["rubric_digest"] = rubric.digest
    return {
        "score": _num(grade.score),
        "output": output,
        "output_format": "text",
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "extra_data": extra,
        "tests": tests,
    }


# ------------------------------------------------------------------ the instructor's files


def _columns(grades: Sequence[StudentGrade]) -> list[tuple[str, str]]:
    """(function, check id) in the order functions first appear, checks in registry order."""
    from bncheck.check.battery import CHECKS

    rank = {c.id: k for k, c in enumerate(CHECKS)}
    functions: list[str] = []
    checks: dict[str, set[str]] = {}
    for g in grades:
        for fn in g.functions:
            if fn.function not in checks:
                functions.append(fn.function)
                checks[fn.function] = set()
            checks[fn.function].update(c.id for c in fn.checks)
    return [
        (f, c)
        for f in functions
        for c in sorted(checks[f], key=lambda c: (rank.get(c, len(rank)), c))
    ]


def _cell(text: str) -> str:
    """A spreadsheet runs a cell that starts with = + - @ as a formula: quote it with '."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def gradebook_csv(grades: Iterable[StudentGrade]) -> str:
    """Header, a ``(max)`` row, then one row per student: points per check and a total."""
    ordered = by_student(grades)
    columns = _columns(ordered)
    buffer = io.StringIO()
    writer = csv.writer(buffer)  # QUOTE_MINIMAL: commas, quotes, line breaks in ids are quoted
    writer.writerow(["student", *(f"{f}:{c}" for f, c in columns), "total"])
    maxima: dict[tuple[str, str], float] = {}
    for g in ordered:
        for fn in g.functions:
            for c in fn.checks:
                key = (fn.function, c.id)
                maxima[key] = max(maxima.get(key, 0.0), c.max_points)
    best = max((g.max_score for g in ordered), default=0.0)
    writer.writerow(["(max)", *(points_text(maxima[k]) for k in columns), points_text(best)])
    for g in ordered:
        points = {(fn.function, c.id): c.points for fn in g.functions for c in fn.checks}
        cells = [points_text(points[k]) if k in points else "" for k in columns]
        writer.writerow([_cell(g.student), *cells, points_text(g.score)])
    return buffer.getvalue()


def _without_durations(data: dict[str, Any]) -> dict[str, Any]:
    data = {k: v for k, v in data.items() if k != "seconds"}
    data["functions"] = [{k: v for k, v in f.items() if k != "seconds"} for f in data["functions"]]
    return data


def grades_json(grades: Iterable[StudentGrade], rubric: RubricInfo) -> str:
    """Everything, schema-versioned; each ``students`` entry loads with
    ``StudentGrade.from_dict``. Durations are left out (they differ between runs)."""
    from bncheck import __version__

    ordered = by_student(grades)
    return _dumps(
        {
            "schema_version": SCHEMA_VERSION,
            "bncheck_version": __version__,
            "rubric": {"digest": rubric.digest, "source": rubric.source},
            "students": [_without_durations(g.to_dict()) for g in ordered],
            "mistakes": mistakes_json(ordered),  # the class's, most frequent first
            "flags": [
                {"student": g.student, "kind": f.kind, "function": f.function, "message": f.message}
                for g in ordered
                for f in g.flags
            ],
        }
    )


# XML 1.0 has no way to write these, escaped or not: show them as \xNN
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _xml(text: str) -> str:
    return _NOT_XML.sub(lambda m: f"\\x{ord(m[0]):02x}", text)


def _first_line(text: str) -> str:
    return text.strip().partition("\n")[0][:200]


def junit_xml(grades: Iterable[StudentGrade]) -> bytes:
    """One testsuite per student, one testcase per check: ``<failure>`` for a failed check,
    ``<error>`` for one that could not be run (the function did not load), ``<skipped>``."""
    root = ET.Element("testsuites", name="bncheck grade")
    totals = dict.fromkeys(("tests", "failures", "errors", "skipped"), 0)
    for g in by_student(grades):
        suite = ET.SubElement(root, "testsuite", name=_xml(g.student))
        counts = dict.fromkeys(totals, 0)
        props = ET.SubElement(suite, "properties")
        ET.SubElement(props, "property", name="score", value=points_text(g.score))
        ET.SubElement(props, "property", name="max_score", value=points_text(g.max_score))
        for flag in g.flags:
            value = _xml(f"{flag.kind}: {flag.function}: {flag.message}")
            ET.SubElement(props, "property", name="flag", value=value)
        for fn in g.functions:
            for c in fn.checks:
                case = ET.SubElement(
                    suite, "testcase", classname=_xml(f"{g.student}.{fn.function}"), name=c.id
                )
                counts["tests"] += 1
                text = _xml(_check_output(fn, c))
                if c.passed is False:
                    counts["failures"] += 1
                    message = _xml(_first_line(c.output) or c.title)
                    ET.SubElement(case, "failure", message=message, type="check-failed").text = text
                elif c.passed is None and fn.error:
                    counts["errors"] += 1
                    message = _xml(_first_line(fn.error.get("message", "")))
                    error = ET.SubElement(case, "error", message=message)
                    error.set("type", fn.error.get("code", "not-checked"))
                    error.text = text
                elif c.passed is None:
                    counts["skipped"] += 1
                    ET.SubElement(case, "skipped", message=_xml(_first_line(c.output) or "skipped"))
        for key, n in counts.items():
            suite.set(key, str(n))
            totals[key] += n
    for key, n in totals.items():
        root.set(key, str(n))
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"


# ------------------------------------------------------------------ Markdown feedback

# Markdown's marks; ``_`` only where it could open or close emphasis (not in batchnorm_alt)
_MD_SPECIAL = re.compile(r"([\\`*\[\]<>|#]|(?<!\w)_|_(?!\w))")


def _md(text: str) -> str:
    """Inline text: Markdown's marks escaped, one line."""
    return _MD_SPECIAL.sub(r"\\\1", " ".join(text.split()))


def _fence(text: str) -> str:
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}text\n{text.rstrip()}\n{fence}"


def feedback_markdown(grade: StudentGrade, *, include_hidden: bool = False) -> str:
    """What a student reads: the score, each function's checks as a table, every failing
    check's output (what was expected, the worst element) and the "Read it:" line.

    Checks that are not ``visible`` (hidden, or shown after the due date) are left out,
    with their points, unless ``include_hidden``.
    """

    def shown(c: CheckGrade) -> bool:
        return include_hidden or c.visibility == "visible"

    checks = [c for fn in grade.functions for c in fn.checks if shown(c)]
    left_out = sum(len(fn.checks) for fn in grade.functions) - len(checks)
    score, best = sum(c.points for c in checks), sum(c.max_points for c in checks)
    lines = [f"# Feedback for {_md(grade.student)}", ""]
    if left_out:
        lines.append(
            f"**Score on the checks shown here: {points_text(score)} / {points_text(best)}**"
        )
        lines += ["", f"{left_out} more check(s) will be shown after the due date.", ""]
    else:
        lines += [f"**Score: {points_text(score)} / {points_text(best)}**", ""]
    lines += [f"> {note}" for note in student_notes(grade)]
    if grade.flags:
        lines.append("")
    for fn in grade.functions:
        mine = [c for c in fn.checks if shown(c)]
        got, of = sum(c.points for c in mine), sum(c.max_points for c in mine)
        lines += [f"## `{fn.function}`: {points_text(got)} / {points_text(of)}", ""]
        if fn.error:
            hint = f" {fn.error['hint']}" if fn.error.get("hint") else ""
            lines += [_md(f"Could not be checked: {fn.error.get('message', '')}{hint}"), ""]
        elif fn.read_it:
            lines += [_md(fn.read_it if include_hidden else shown_reading(fn)), ""]
        lines += markdown_lines(fn, _md, include_hidden=include_hidden)
        if not mine:
            continue
        lines += ["| check | result | points |", "| --- | --- | --- |"]
        for c in mine:
            result = {True: "passed", False: "**failed**", None: "skipped"}[c.passed]
            label = f"`{c.id}` {_md(c.title)}".rstrip()
            lines.append(
                f"| {label} | {result} | {points_text(c.points)} / {points_text(c.max_points)} |"
            )
        lines.append("")
        for c in mine:
            if c.passed is False:
                lines += [f"### `{c.id}` failed", "", _md(c.title), ""]
                lines += [_fence(c.output or "(no details)"), ""]
    return "\n".join(lines).rstrip() + "\n"


# ------------------------------------------------------------------ all of it


def write_outputs(
    grades: list[StudentGrade], rubric: RubricInfo, out: Path, *, include_hidden: bool = False
) -> list[Path]:
    """Write every output into ``out``; returns the paths written, in a fixed order."""
    ordered = by_student(grades)
    names = [safe_name(g.student) for g in ordered]
    written = []
    for g, name in zip(ordered, names, strict=True):
        results = gradescope_results(g, rubric)
        written.append(write_atomic(out / "gradescope" / name / "results.json", _dumps(results)))
    written.append(write_atomic(out / "gradebook.csv", gradebook_csv(ordered)))
    written.append(write_atomic(out / "grades.json", grades_json(ordered, rubric)))
    written.append(write_atomic(out / "junit.xml", junit_xml(ordered)))
    for g, name in zip(ordered, names, strict=True):
        text = feedback_markdown(g, include_hidden=include_hidden)
        written.append(write_atomic(out / "feedback" / f"{name}.md", text))
    return written
