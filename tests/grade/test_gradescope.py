"""Gradescope mode in a fake ``<tmp>/autograder`` tree, and the ``autograder.zip`` bundle."""

from __future__ import annotations

import json
import shutil
import stat
import subprocess
import zipfile
from pathlib import Path
from typing import Any

import pytest

from bncheck.grade import engine, gradescope
from bncheck.grade.gradescope import run_in_container, student_id, write_bundle
from bncheck.grade.model import StudentGrade, Submission
from bncheck.grade.rubric import DEFAULT_RUBRIC, load_rubric
from tests.grade.test_outputs import make_grade, validate_results

EXAMPLES = Path(__file__).resolve().parents[2] / "bncheck" / "examples"
_HEAD, _FIRST, *_ = DEFAULT_RUBRIC.split("\n[[functions]]")
BACKWARD_ONLY = f"{_HEAD}\n[[functions]]{_FIRST}"  # the default's batchnorm_backward alone


def _autograder(tmp_path: Path, *, metadata: dict[str, Any] | None = None) -> Path:
    """A fake container: <tmp>/autograder/{submission,results}, and the metadata file."""
    autograder = tmp_path / "autograder"
    (autograder / "submission").mkdir(parents=True)
    (autograder / "results").mkdir()
    if metadata is not None:
        (autograder / "submission_metadata.json").write_text(json.dumps(metadata), "utf-8")
    return autograder


METADATA = {
    "id": 123456,
    "created_at": "2018-07-01T14:22:32.365935-07:00",
    "users": [{"email": "student@example.com", "id": 1234, "name": "Student User"}],
    "previous_submissions": [],
}


@pytest.fixture
def fake_engine(monkeypatch: pytest.MonkeyPatch) -> list[Submission]:
    """grade_submission replaced by one that records its submission and returns a grade."""
    seen: list[Submission] = []

    def grade_submission(sub: Submission, rubric: Any, salt: str) -> StudentGrade:
        seen.append(sub)
        assert salt == "pepper"
        return make_grade(sub.student, good=False)

    monkeypatch.setattr(engine, "grade_submission", grade_submission)
    return seen


def test_student_id_from_metadata(tmp_path: Path) -> None:
    assert student_id(_autograder(tmp_path / "a", metadata=METADATA)) == "1234"
    group = {**METADATA, "users": [{"id": 9}, {"id": 10}]}
    assert student_id(_autograder(tmp_path / "b", metadata=group)) == "10+9"
    assert student_id(_autograder(tmp_path / "c")) == "submission"
    broken = _autograder(tmp_path / "d")
    (broken / "submission_metadata.json").write_text("{not json", "utf-8")
    assert student_id(broken) == "submission"


def test_container_mode_writes_results_json(tmp_path: Path, fake_engine: list[Submission]) -> None:
    autograder = _autograder(tmp_path, metadata=METADATA)
    shutil.copy(EXAMPLES / "cs231n_correct.py", autograder / "submission" / "layers.py")
    (autograder / "submission" / "notes.txt").write_text("not graded")
    grade = run_in_container(tmp_path, salt="pepper")
    (sub,) = fake_engine
    assert sub.student == "1234" and sub.origin == "gradescope"
    assert grade.student == "1234"
    data = validate_results((autograder / "results" / "results.json").read_text("utf-8"))
    assert data["score"] == pytest.approx(grade.score, abs=1e-6)
    assert data["tests"][0]["name"] == "batchnorm_backward: dx-vs-derived"
    assert "/course/solutions" not in json.dumps(data)  # the cheat's details stay hidden


def test_container_mode_writes_results_even_on_a_bug(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(sub: Submission, rubric: Any, salt: str) -> StudentGrade:
        raise RuntimeError("a bug in bncheck")

    monkeypatch.setattr(engine, "grade_submission", broken)
    autograder = _autograder(tmp_path)
    with pytest.raises(RuntimeError, match="a bug in bncheck"):
        run_in_container(tmp_path)
    data = validate_results((autograder / "results" / "results.json").read_text("utf-8"))
    assert data["score"] == 0.0 and "internal error" in data["output"]
    assert "a bug in bncheck" not in data["output"]


def test_container_mode_grades_the_correct_example(tmp_path: Path) -> None:
    """One real run: the sandboxed engine on the bundled correct submission."""
    autograder = _autograder(tmp_path, metadata=METADATA)
    shutil.copy(EXAMPLES / "cs231n_correct.py", autograder / "submission" / "layers.py")
    rubric_path = tmp_path / "rubric.toml"
    rubric_path.write_text(BACKWARD_ONLY, "utf-8")
    grade = run_in_container(tmp_path, rubric_path)
    data = validate_results((autograder / "results" / "results.json").read_text("utf-8"))
    rubric = load_rubric(rubric_path)
    assert [f.function for f in grade.functions] == ["batchnorm_backward"]
    assert grade.student == "1234" and not grade.flags
    assert grade.max_score == pytest.approx(rubric.max_points)
    assert grade.score == pytest.approx(grade.max_score), [
        (t["name"], t["output"]) for t in data["tests"] if t["status"] == "failed"
    ]
    assert data["score"] == pytest.approx(grade.score, abs=1e-5)
    assert all(t["status"] == "passed" for t in data["tests"] if t["max_score"] > 0)
    assert "Read it:" in data["output"]


# ------------------------------------------------------------------ autograder.zip


def _members(path: Path) -> dict[str, zipfile.ZipInfo]:
    with zipfile.ZipFile(path) as archive:
        return {info.filename: info for info in archive.infolist()}


def test_bundle_members_and_modes(tmp_path: Path) -> None:
    path = write_bundle(tmp_path, DEFAULT_RUBRIC)
    assert path == tmp_path / "autograder.zip"
    members = _members(path)
    names = list(members)
    assert names == sorted(names)
    for name in ("setup.sh", "run_autograder", "rubric.toml", "requirements.txt"):
        assert name in members  # at the root of the zip, as Gradescope requires
    for name in ("pyproject.toml", "README.md", "LICENSE", "bncheck/__init__.py"):
        assert f"bncheck-src/{name}" in members
    assert "bncheck-src/bncheck/grade/gradescope.py" in members
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    assert not [n for n in names if n.startswith(("bncheck-src/tests", "/")) or ".." in n]
    for name, info in members.items():
        mode = stat.S_IMODE(info.external_attr >> 16)
        assert mode == (0o755 if name in ("setup.sh", "run_autograder") else 0o644), name
        assert info.date_time == (1980, 1, 1, 0, 0, 0)
    with zipfile.ZipFile(path) as archive:
        assert archive.read("rubric.toml").decode() == DEFAULT_RUBRIC
        setup = archive.read("setup.sh").decode()
        run = archive.read("run_autograder").decode()
        requirements = archive.read("requirements.txt").decode()
    assert setup.startswith("#!/usr/bin/env bash\n") and run.startswith("#!/usr/bin/env bash\n")
    assert "bncheck grade --gradescope --rubric /autograder/source/rubric.toml" in run
    assert "pip install --no-deps ./bncheck-src" in setup
    assert "torch" not in setup  # the default rubric grades cs231n numpy code
    assert "numpy==" in requirements and "sympy==1.14.0" in requirements
    assert "rich==" in requirements and "torch" not in requirements
    for script in (setup, run):
        subprocess.run(["bash", "-n"], input=script, text=True, check=True)


def test_bundle_is_deterministic(tmp_path: Path) -> None:
    first = write_bundle(tmp_path / "a", DEFAULT_RUBRIC).read_bytes()
    second = write_bundle(tmp_path / "b", DEFAULT_RUBRIC).read_bytes()
    assert first == second


def test_bundle_installs_torch_only_when_the_rubric_needs_it(tmp_path: Path) -> None:
    torch_rubric = '[[functions]]\nname = "batchnorm_backward"\nstyle = "torch"\n'
    path = write_bundle(tmp_path, torch_rubric)
    with zipfile.ZipFile(path) as archive:
        setup = archive.read("setup.sh").decode()
    assert "pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu" in setup
    assert gradescope.TORCH == "torch==2.13.0"


def test_bundle_refuses_a_bad_rubric(tmp_path: Path) -> None:
    from bncheck.errors import UsageError

    with pytest.raises(UsageError):
        write_bundle(tmp_path, "functions = 3\n")
    assert not (tmp_path / "autograder.zip").exists()
