"""Hostile submissions in a class: each is contained, scored and flagged, and no other
student's grade changes (graded alone, an honest student gets the same grade).

The submissions are in ``submissions/``; ``{{TOKEN}}`` is filled with a fresh id, so the
test can look for a process that outlived its check. The deadline is short (3 s).
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from bncheck import examples
from bncheck.grade.discover import find_submissions
from bncheck.grade.engine import grade_all, grade_submission
from bncheck.grade.model import StudentGrade
from tests.grade.test_engine import SALT, _without_times, make_rubric

HOSTILE = Path(__file__).parent / "submissions"
TOKEN = f"bncheck-grade-{uuid.uuid4().hex}"
# student -> (flag kind, code or words in its message); None: no flag
EXPECTED = {
    "hangs": ("limit", "did not return within 3 s"),
    "memory_hog": ("limit", "ran out of memory"),
    "fake_results": ("cheat", "results.json"),
    "imports_bncheck": ("cheat", "imported bncheck"),
    "prints_40mb": ("limit", "MiB"),
    "fork_survivor": ("cheat", "start a process"),
}


def _running_with(token: str) -> list[int]:
    """Pids whose command line holds ``token`` (read from /proc; nothing is signalled)."""
    found = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    if token.encode() in f.read():
                        found.append(int(pid))
            except OSError:
                pass
    return found


@pytest.fixture(scope="module")
def graded(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[dict[str, StudentGrade], list, object]:
    root = tmp_path_factory.mktemp("hostile")
    folder = root / "class"
    for path in HOSTILE.glob("*.py"):
        (folder / path.stem).mkdir(parents=True)
        text = path.read_text(encoding="utf-8").replace("{{TOKEN}}", TOKEN)
        (folder / path.stem / "layers.py").write_text(text, encoding="utf-8")
    for honest in ("cs231n_correct", "bug_dx_missing_dvar"):
        (folder / honest).mkdir()
        (folder / honest / "layers.py").write_bytes(examples.path(honest + ".py").read_bytes())
    subs = find_submissions(folder, root / "work")
    rubric = make_rubric(timeout=3.0)
    grades = grade_all(subs, rubric, SALT, root / "out", jobs=2)
    return {g.student: g for g in grades}, subs, rubric


@pytest.mark.parametrize("student", sorted(EXPECTED))  # prints_score: its own test below
def test_each_hostile_submission_is_flagged_and_gets_no_credit_for_it(graded, student: str) -> None:
    grades, _, _ = graded
    g = grades[student]
    kind, words = EXPECTED[student]
    flags = [f for f in g.flags if f.function == "batchnorm_backward"]
    assert {f.kind for f in flags} == {kind}, g.flags  # fake_results: also a printed score
    assert any(words in f.message for f in flags)
    assert g.functions[0].score == 0  # that function: nothing
    assert not any(f.kind == "internal" for f in g.flags)


def test_a_printed_score_is_flagged_and_earns_nothing(graded) -> None:
    grades, _, _ = graded
    g = grades["prints_score"]  # correct code that prints {"score": 100} and "score: 10/10"
    flags = [f for f in g.flags if f.function == "batchnorm_backward"]
    assert [f.kind for f in flags] == ["cheat"] and "looks like a score" in flags[0].message
    honest = grades["cs231n_correct"]
    assert g.functions[0].score == honest.functions[0].score  # its checks alone decide


def test_nothing_outlives_its_check(graded) -> None:
    assert _running_with(TOKEN) == []


def test_a_fake_results_file_never_reaches_the_outputs(graded, tmp_path: Path) -> None:
    grades, subs, _ = graded
    sub = next(s for s in subs if s.student == "fake_results")
    assert not (sub.root / "results.json").exists()  # the copy was read-only, the source untouched
    assert grades["fake_results"].score == 0


def test_honest_students_are_unaffected(graded) -> None:
    grades, subs, rubric = graded
    assert grades["cs231n_correct"].score == grades["cs231n_correct"].max_score
    assert grades["cs231n_correct"].flags == ()
    assert grades["bug_dx_missing_dvar"].flags == ()
    for sub in subs:
        if sub.student in ("cs231n_correct", "bug_dx_missing_dvar", "hangs", "imports_bncheck"):
            alone = grade_submission(sub, rubric, SALT)
            assert _without_times(alone) == _without_times(grades[sub.student]), sub.student
