"""The grading engine: seeds, points per check, flags, and one student never changing another.

A small class is graded once (module fixture): the bundled correct submissions in each
style and every bundled bug. Each gets the score its mistake calls for, and grading a
student alone gives the same grade as grading them with the class.
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import pytest

from bncheck import examples
from bncheck.grade import scoring
from bncheck.grade.discover import find_submissions
from bncheck.grade.engine import grade_all, grade_submission, student_seed
from bncheck.grade.model import StudentGrade, Submission
from bncheck.grade.rubric import Rubric, parse_rubric

SALT = "test-salt"

# Every style detected; a short deadline; the alt backward optional.
RUBRIC_TOML = """\
timeout = {timeout}
memory_mib = 4096

[[functions]]
name = "batchnorm_backward"
hidden = ["running-stats"]

[functions.points]
out-vs-reference = 1.0
dx-vs-derived = 2.0
dx-vs-fd = 1.0
dgamma-vs-derived = 1.0
dbeta-vs-derived = 1.0
dgamma-shape = 0.5
dbeta-shape = 0.5
mutation = 0.5
hidden-state = 0.5
running-stats = 0.5
eval-mode = 0.5
sandbox = 0.0

[functions.feedback]
dx-vs-derived = "Add all three paths from dx to x."

[[functions]]
name = "batchnorm_backward_alt"
optional = true

[functions.points]
dx-vs-derived = 2.0
dx-vs-fd = 1.0
"""


def make_rubric(timeout: float = 3.0) -> Rubric:
    return parse_rubric(RUBRIC_TOML.format(timeout=timeout), "the test rubric")


def make_class(root: Path, names: list[str], sources: dict[str, Path]) -> Path:
    """One folder per student, each with a layers.py."""
    folder = root / "class"
    for name in names:
        (folder / name).mkdir(parents=True)
        shutil.copy(sources[name], folder / name / "layers.py")
    return folder


BUNDLED = {name.removesuffix(".py"): examples.path(name) for name in examples.CORRECT}
BUNDLED |= {name.removesuffix(".py"): examples.path(name) for name in examples.BUGS}
# the check each bug must fail (at least)
MUST_FAIL = {
    "bug_dmu_missing_1_over_m": "dx-vs-derived",
    "bug_unbiased_variance": "out-vs-reference",
    "bug_eps_outside_sqrt": "dx-vs-derived",
    "bug_dgamma_keepdims": "dgamma-shape",
    "bug_dx_missing_dvar": "dx-vs-derived",
    "bug_mutates_dout": "mutation",
    "bug_hidden_state": "hidden-state",
    "bug_running_var_momentum": "running-stats",
}


@pytest.fixture(scope="module")
def graded(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[dict[str, StudentGrade], list[Submission], Rubric]:
    root = tmp_path_factory.mktemp("engine")
    folder = make_class(root, sorted(BUNDLED), BUNDLED)
    subs = find_submissions(folder, root / "work")
    rubric = make_rubric()
    grades = grade_all(subs, rubric, SALT, root / "out", jobs=2)
    return {g.student: g for g in grades}, subs, rubric


def failed(grade: StudentGrade, function: str = "batchnorm_backward") -> set[str]:
    fn = next(f for f in grade.functions if f.function == function)
    return {c.id for c in fn.checks if c.passed is False}


def test_seed_is_keyed_by_the_salt_and_reproducible() -> None:
    assert student_seed("alice", "s") == student_seed("alice", "s")
    assert student_seed("alice", "s") != student_seed("alice", "t")
    assert student_seed("alice", "s") != student_seed("bob", "s")
    assert 0 <= student_seed("alice", "s") < 2**32


def test_correct_submissions_get_every_applicable_point(graded) -> None:
    grades, _, _ = graded
    cs231n = grades["cs231n_correct"]
    assert cs231n.flags == ()
    assert cs231n.score == cs231n.max_score == 12.0  # both functions, all of their points
    for name in ("plain_correct", "torch_correct"):
        g = grades[name]
        if name == "torch_correct" and importlib.util.find_spec("torch") is None:
            # without torch a torch Function cannot be checked: a load flag that says so
            assert [(f.kind, "needs torch" in f.message) for f in g.flags] == [("load", True)]
            continue
        assert failed(g) == set(), name
        assert g.flags == (), name  # the alt is optional: missing, no flag
    plain = grades["plain_correct"].functions[0]
    not_run = {c.id: c for c in plain.checks if c.passed is None and c.max_points}
    # no forward in the plain style: those points are lost, and say why
    assert set(not_run) == {"out-vs-reference", "running-stats", "eval-mode"}
    assert "not run for this style (plain)" in not_run["eval-mode"].output


@pytest.mark.parametrize("bug", sorted(MUST_FAIL))
def test_each_bug_loses_the_points_of_its_check(graded, bug: str) -> None:
    grades, _, rubric = graded
    g = grades[bug]
    check = MUST_FAIL[bug]
    assert check in failed(g), (bug, failed(g))
    assert g.flags == ()
    row = next(c for c in g.functions[0].checks if c.id == check)
    assert row.points == 0 and row.max_points == rubric.functions[0].points[check]
    assert row.output  # what failed, in words
    assert g.score < g.max_score


def test_hidden_checks_and_feedback(graded) -> None:
    grades, _, _ = graded
    g = grades["bug_dx_missing_dvar"]
    rows = {c.id: c for c in g.functions[0].checks}
    assert rows["running-stats"].visibility == "after_due_date"
    assert rows["dx-vs-derived"].visibility == "visible"
    assert "Add all three paths" in rows["dx-vs-derived"].output
    assert "worst" in rows["dx-vs-derived"].output
    assert "/" not in rows["dx-vs-derived"].output.split("worst")[0].replace("1/", "")


def test_alone_equals_in_the_class(graded) -> None:
    grades, subs, rubric = graded
    for sub in subs:
        if sub.student in ("cs231n_correct", "bug_hidden_state", "bug_mutates_dout"):
            alone = grade_submission(sub, rubric, SALT)
            assert _without_times(alone) == _without_times(grades[sub.student]), sub.student


def test_a_bug_in_bncheck_is_an_internal_flag_for_that_function_only(
    graded, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, subs, rubric = graded
    real = scoring._result_grade

    def broken(sub, function, seed, result):  # type: ignore[no-untyped-def]
        if function.name == "batchnorm_backward_alt":
            raise RuntimeError("boom")
        return real(sub, function, seed, result)

    monkeypatch.setattr(scoring, "_result_grade", broken)
    sub = next(s for s in subs if s.student == "cs231n_correct")
    g = grade_submission(sub, rubric, SALT)
    assert [(f.kind, f.function) for f in g.flags] == [("internal", "batchnorm_backward_alt")]
    assert g.functions[0].score == g.functions[0].max_score
    assert g.functions[1].score == 0 and g.functions[1].error["code"] == "internal-error"


def test_a_missing_required_function_is_a_load_flag(tmp_path: Path) -> None:
    folder = tmp_path / "class" / "empty"
    folder.mkdir(parents=True)
    (folder / "layers.py").write_text("def affine_forward(x, w, b):\n    return x\n")
    (sub,) = find_submissions(tmp_path / "class", tmp_path / "work")
    g = grade_submission(sub, make_rubric(), SALT)
    assert [(f.kind, f.function) for f in g.flags] == [("load", "batchnorm_backward")]
    assert g.score == 0 and g.max_score == 12.0
    assert g.functions[0].error["code"] == "missing-function"
    assert str(tmp_path) not in g.functions[0].checks[0].output  # no grader's path


def _without_times(g: StudentGrade) -> dict:
    data = g.to_dict()
    data.pop("seconds")
    for f in data["functions"]:
        f.pop("seconds")
    return data
