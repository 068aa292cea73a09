"""Grading the family with the default rubric: layer and group norm graded when defined."""

from __future__ import annotations

from pathlib import Path

import pytest

from bncheck import examples
from bncheck.grade.discover import find_submissions
from bncheck.grade.engine import grade_all
from bncheck.grade.model import StudentGrade
from bncheck.grade.rubric import load_rubric

SALT = "family-salt"


def _layers(*names: str, extra: str = "") -> str:
    parts = ["import numpy as np\n"]
    parts += [examples.path(n).read_text().split("import numpy as np\n", 1)[1] for n in names]
    return "\n".join(parts) + extra


STUB = """

def spatial_groupnorm_forward(x, gamma, beta, G, gn_param):
    out, cache = None, None
    eps = gn_param.get("eps", 1e-5)
    pass
    return out, cache


def spatial_groupnorm_backward(dout, cache):
    dx, dgamma, dbeta = None, None, None
    pass
    return dx, dgamma, dbeta
"""

STUDENTS = {
    # batch norm only (the first assignment): the layer and group norm tables are not graded
    "batch_only": _layers("cs231n_correct.py"),
    # everything, correct
    "everything": _layers(
        "cs231n_correct.py", "layernorm_cs231n_correct.py", "groupnorm_cs231n_correct.py"
    ),
    # layer norm with a bug, group norm still the starter stub
    "ln_bug_gn_stub": _layers("cs231n_correct.py", "layernorm_bug_dmu_missing_1_over_m.py") + STUB,
}


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, StudentGrade]:
    root = tmp_path_factory.mktemp("family")
    for name, text in STUDENTS.items():
        (root / "class" / name).mkdir(parents=True)
        (root / "class" / name / "layers.py").write_text(text)
    subs = find_submissions(root / "class", root / "work")
    # the default rubric without spatial batch norm (no student here writes it)
    text = load_rubric(None).source.replace('name = "spatial_batchnorm_backward"', 'name = "x"')
    rubric = load_rubric(_write(root / "rubric.toml", _without(text, "x")))
    grades = grade_all(subs, rubric, SALT, root / "out", jobs=2)
    return {g.student: g for g in grades}


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def _without(text: str, name: str) -> str:
    """The rubric's TOML without the [[functions]] table of ``name``."""
    head, *tables = text.split("\n[[functions]]")
    kept = [t for t in tables if f'name = "{name}"' not in t]
    return "\n[[functions]]".join([head, *kept])


def _functions(grade: StudentGrade) -> dict[str, object]:
    return {f.function: f for f in grade.functions}


def test_functions_a_file_does_not_define_are_not_graded(graded) -> None:  # type: ignore[no-untyped-def]
    g = graded["batch_only"]
    assert list(_functions(g)) == ["batchnorm_backward", "batchnorm_backward_alt"]
    assert g.max_score == pytest.approx(20.0) and g.score == pytest.approx(g.max_score)
    assert g.flags == ()


def test_layer_and_group_norm_are_graded_when_defined(graded) -> None:  # type: ignore[no-untyped-def]
    """End to end: needs the emission and numerics for layer and group norm."""
    g = graded["everything"]
    assert list(_functions(g))[2:] == ["layernorm_backward", "spatial_groupnorm_backward"]
    assert g.max_score == pytest.approx(40.0)
    assert g.score == pytest.approx(40.0), [f.error for f in g.functions]


def test_a_stub_gets_0_and_no_flag_and_a_bug_loses_its_points(graded) -> None:  # type: ignore[no-untyped-def]
    g = graded["ln_bug_gn_stub"]
    fns = _functions(g)
    gn = fns["spatial_groupnorm_backward"]
    assert gn.score == 0 and gn.max_score == pytest.approx(10.0)  # type: ignore[attr-defined]
    assert gn.error["code"] == "not-implemented"  # type: ignore[attr-defined]
    assert g.flags == ()  # a stub is not a load problem
    ln = fns["layernorm_backward"]
    failed = {c.id for c in ln.checks if c.passed is False}  # type: ignore[attr-defined]
    assert "dx-vs-derived" in failed and 0 < ln.score < ln.max_score  # type: ignore[attr-defined]
