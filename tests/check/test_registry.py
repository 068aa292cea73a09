"""The battery as data: ids, selection, evidence, the "Read it:" line, the JSON schema."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

import bncheck
from bncheck.check.api import VerifyOptions, verify
from bncheck.check.battery import CHECKS, IDS, applicable, select
from bncheck.check.checks import where
from bncheck.check.evidence import CheckOptions
from bncheck.check.inputs import make_cases
from bncheck.check.result import SCHEMA_VERSION
from bncheck.errors import UsageError
from bncheck.examples import BUGS, path
from bncheck.spec import SPECS

OFF = CheckOptions(autograd="off")


def _load(name: str):  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location(name[:-3], path(name))
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_ids_are_unique_stable_kebab_case() -> None:
    assert len(IDS) == len(set(IDS))
    assert all(re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", i) for i in IDS)
    for must in ("dx-vs-derived", "dx-vs-fd", "dgamma-shape", "running-stats", "eval-mode"):
        assert must in IDS


def test_which_checks_apply_depends_on_the_style() -> None:
    spec = SPECS["batchnorm"]
    plain = {c.id for c in applicable(spec, "plain")}
    cs231n = {c.id for c in applicable(spec, "cs231n")}
    assert "running-stats" in cs231n and "running-stats" not in plain
    assert "out-vs-reference" not in plain and "self-consistency" not in plain
    assert {c.id for c in applicable(spec, "torch")} >= {"out-vs-reference", "self-consistency"}


def test_every_row_carries_the_id_of_a_check_that_applies() -> None:
    result = verify(str(path("cs231n_correct.py")), VerifyOptions(seed=4, checks=OFF))
    ids = [c.id for c in result.checks]
    assert ids == [c.id for c in CHECKS if c.id in ids]  # in the table's order
    expected = {c.id for c in applicable(SPECS["batchnorm"], "cs231n")} - {
        "dx-vs-autograd",
        "dgamma-vs-autograd",
        "dbeta-vs-autograd",
    }
    assert set(ids) == expected
    assert result["dx-vs-derived"].passed is True
    with pytest.raises(KeyError):
        result["no-such-check"]


def test_checks_and_skip_select_rows() -> None:
    only = CheckOptions(autograd="off", only=("dx-vs-derived", "mutation"))
    result = verify(str(path("bug_mutates_dout.py")), VerifyOptions(seed=1, checks=only))
    assert [c.id for c in result.checks] == ["dx-vs-derived", "mutation"]
    assert not result.passed
    skip = CheckOptions(autograd="off", skip=("mutation",))
    result = verify(str(path("bug_mutates_dout.py")), VerifyOptions(seed=1, checks=skip))
    assert "mutation" not in [c.id for c in result.checks] and result.passed


def test_unknown_check_id_is_a_usage_error_with_a_suggestion() -> None:
    with pytest.raises(UsageError, match="unknown check id 'dx-vs-derivd'") as err:
        select(only=("dx-vs-derivd",))
    assert "did you mean dx-vs-derived?" in err.value.hint
    with pytest.raises(UsageError, match="no check is left"):
        select(skip=IDS)


def test_a_degenerate_cases_ordinary_feature_is_not_labelled_degenerate() -> None:
    spec = SPECS["batchnorm"]
    cases = make_cases(spec, seed=0)
    odd = next(c for c in cases if c.name == "variance far below eps")
    assert odd.feature is not None
    ev = SimpleNamespace(plan=SimpleNamespace(cases=cases), spec=spec)
    describe = where(ev)  # type: ignore[arg-type]
    f = odd.feature[0]
    other = (f + 1) % odd.x.shape[1]
    assert "in its odd feature (var = 1e-8" in describe(odd.name, (2, f))
    ordinary = describe(odd.name, (2, other))
    assert "an ordinary feature" in ordinary and "odd feature" not in ordinary
    assert describe(cases[0].name, (1, 2)) == f"[1, 2] in {cases[0].name}"


def test_the_message_names_the_element_with_the_tables_max_diff() -> None:
    result = verify(str(path("bug_dx_missing_dvar.py")), VerifyOptions(seed=1, checks=OFF))
    row = result["dx-vs-derived"]
    gap = float(re.search(r"\|diff\| ([0-9.e+-]+) >", row.message).group(1))  # type: ignore[union-attr]
    assert row.max_abs_err is not None and gap == pytest.approx(row.max_abs_err, rel=1e-2)


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("cs231n_correct.py", "match every reference"),
        ("bug_dx_missing_dvar.py", "the mistake is in dx's formula"),
        ("bug_dmu_missing_1_over_m.py", "dmu"),
        ("bug_dgamma_keepdims.py", "dgamma has the wrong shape"),
        ("bug_mutates_dout.py", "changes an input in place"),
        ("bug_running_var_momentum.py", "running statistics are updated wrongly"),
        ("bug_hidden_state.py", "keeps state between calls"),
        ("bug_unbiased_variance.py", "forward pass is wrong"),
    ],
)
def test_every_report_ends_with_a_reading(name: str, words: str) -> None:
    result = verify(str(path(name)), VerifyOptions(seed=2, checks=OFF))
    assert result.read_it.startswith("Read it: ") and words in result.read_it, result.read_it
    report = str(result).split("\n\nDiagnosis\n")[0]  # the diagnosis comes after the reading
    assert report.splitlines()[-1] == result.read_it
    assert json.loads(result.to_json())["read_it"] == result.read_it


def test_json_follows_the_documented_schema() -> None:
    result = verify(str(path("bug_dx_missing_dvar.py")), VerifyOptions(seed=0, checks=OFF))
    data = json.loads(result.to_json())
    assert (
        data["schema_version"] == SCHEMA_VERSION and data["bncheck_version"] == bncheck.__version__
    )
    top = {"schema_version", "bncheck_version", "passed", "verdict", "read_it", "target", "style"}
    top |= {"seed", "conventions", "notes", "checks", "steps", "diagnosis"}
    assert set(data) == top
    row = {"id", "name", "status", "passed", "pair", "exact", "max_abs_err", "max_rel_err"}
    row |= {"worst_index", "worst", "message", "mistake"}
    assert all(set(c) == row for c in data["checks"])
    assert {c["status"] for c in data["checks"]} <= {"ok", "FAIL", "skip"}
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    for key in top | row:
        assert f"`{key}`" in readme, f"the README's JSON section does not document {key}"
    for check in CHECKS:
        assert f"`{check.id}`" in readme, f"the README does not list check {check.id}"


def test_spec_by_name_in_the_api() -> None:
    bn = _load("cs231n_correct.py")
    options = VerifyOptions(spec="batchnorm", seed=0, checks=OFF, degenerate=False)  # type: ignore[arg-type]
    assert options.spec == SPECS["batchnorm"]
    result = bncheck.check_backward(
        bn.batchnorm_forward, bn.batchnorm_backward, spec="batchnorm", seed=0, checks=OFF
    )
    assert result.passed
    with pytest.raises(UsageError, match="unknown normalization"):
        VerifyOptions(spec="batchnrom")  # type: ignore[arg-type]


def test_shapes_are_checked_against_the_layout() -> None:
    bn = _load("cs231n_correct.py")
    with pytest.raises(UsageError, match="has 3 axes"):
        bncheck.check_backward(bn.batchnorm_forward, bn.batchnorm_backward, shapes=((2, 3, 4),))
    with pytest.raises(UsageError, match="below 1"):
        bncheck.check_backward(bn.batchnorm_forward, bn.batchnorm_backward, shapes=((0, 3),))
    result = bncheck.check_backward(
        bn.batchnorm_forward,
        bn.batchnorm_backward,
        shapes=([40, 7],),
        degenerate=False,
        checks=OFF,
    )
    assert result.passed


def test_assert_gradients_close_turns_load_errors_into_assertions(tmp_path: Path) -> None:
    broken = tmp_path / "layers.py"
    broken.write_text("def batchnorm_backward(dout, cache:\n")
    with pytest.raises(AssertionError, match=r"could not check it \[syntax-error\]"):
        bncheck.assert_gradients_close(str(broken))
    bug = _load("bug_dx_missing_dvar.py")
    with pytest.raises(AssertionError, match="Read it: dx is wrong"):
        bncheck.assert_gradients_close(
            bug.batchnorm_forward, bug.batchnorm_backward, seed=0, checks=OFF
        )


def test_exported_types() -> None:
    for name in ("VerifyResult", "CheckResult", "VerifyOptions", "CheckOptions", "Tolerances"):
        assert name in bncheck.__all__ and getattr(bncheck, name).__name__ == name
    options = bncheck.CheckOptions(tolerances=bncheck.Tolerances(analytic=1e-9))
    assert "1e-09 closed form" in options.tolerances.describe()


def test_derived_reference_is_computed_once_per_case(monkeypatch: pytest.MonkeyPatch) -> None:
    from bncheck.check import sources

    calls = []
    real = sources.derived

    def counting(spec, case):  # type: ignore[no-untyped-def]
        calls.append(case.name)
        return real(spec, case)

    monkeypatch.setattr(sources, "derived", counting)
    bn = _load("cs231n_correct.py")
    result = bncheck.check_backward(
        bn.batchnorm_forward, bn.batchnorm_backward, seed=0, checks=OFF, steps_table=True
    )
    assert result.passed
    assert len(calls) == len(set(calls)), calls  # none twice (the steps table included)
    assert np.isfinite([e for _, e in result.steps]).all()


def test_a_forward_without_test_mode_fails_eval_mode_only(tmp_path: Path) -> None:
    source = path("cs231n_correct.py").read_text()
    assert 'elif mode == "test":' in source
    (tmp_path / "layers.py").write_text(source.replace('elif mode == "test":', 'elif mode == "x":'))
    result = verify(str(tmp_path / "layers.py"), VerifyOptions(seed=0, checks=OFF))
    assert [c.id for c in result.failures] == ["eval-mode"]
    message = result["eval-mode"].message
    assert "bncheck made an eval-mode call (bn_param['mode'] = 'test')" in message
    assert "raised ValueError" in message and "layers.py, line" in message
    assert "no eval ('test') mode" in result.read_it


def test_an_unfinished_eval_branch_fails_eval_mode_only(tmp_path: Path) -> None:
    source = path("cs231n_correct.py").read_text()
    lines = source.splitlines()
    at = next(i for i, line in enumerate(lines) if 'elif mode == "test":' in line)
    indent = lines[at + 1][: len(lines[at + 1]) - len(lines[at + 1].lstrip())]
    lines.insert(at + 1, f"{indent}return None, None  # TODO")
    (tmp_path / "layers.py").write_text("\n".join(lines) + "\n")
    result = verify(str(tmp_path / "layers.py"), VerifyOptions(seed=0, checks=OFF))
    assert [c.id for c in result.failures] == ["eval-mode"]
    # replies.py words it "returned None for out" (before: "NoneType for out")
    assert re.search(r"None(Type)? for out", result["eval-mode"].message)


def test_float64_results_with_float32_digits_are_explained(tmp_path: Path) -> None:
    """Correct formulas computed in float32 (x.astype) but returned as float64."""
    source = path("cs231n_correct.py").read_text()
    marker = "def batchnorm_forward(x, gamma, beta, bn_param):\n"
    assert marker in source
    cast = marker + "    x = x.astype(np.float32)  # a student's 'speed-up'\n"
    (tmp_path / "layers.py").write_text(source.replace(marker, cast))
    result = verify(str(tmp_path / "layers.py"), VerifyOptions(seed=0, checks=OFF))
    assert not result.passed
    assert "float32's digits" in result.read_it
    assert any(
        "computes in float32 somewhere" in n or "compute in float32" in n for n in result.notes
    )


@pytest.mark.parametrize("name", sorted(BUGS))
def test_a_real_bug_is_never_blamed_on_float32(name: str) -> None:
    result = verify(str(path(name)), VerifyOptions(seed=5, checks=OFF))
    assert "float32" not in result.read_it


def test_a_defaulted_argument_or_an_alias_keeps_the_cs231n_style(tmp_path: Path) -> None:
    source = path("cs231n_correct.py").read_text()
    assert "def batchnorm_backward(dout, cache):" in source
    source = source.replace(
        "def batchnorm_backward(dout, cache):",
        "def batchnorm_backward(dout, cache, debug=False, *args, **kwargs):",
    )
    (tmp_path / "layers.py").write_text(
        source + "\n\nbatchnorm_backward_alt = batchnorm_backward\n"
    )
    for name in ("batchnorm_backward", "batchnorm_backward_alt"):
        result = verify(f"{tmp_path / 'layers.py'}:{name}", VerifyOptions(seed=0, checks=OFF))
        assert result.style == "cs231n" and result.passed, str(result)


def test_eps_missing_in_eval_mode_is_not_read_as_float32(tmp_path: Path) -> None:
    source = path("cs231n_correct.py").read_text()
    lines = source.splitlines()
    at = next(i for i, line in enumerate(lines) if 'elif mode == "test":' in line)
    test_branch = "\n".join(lines[at : at + 6])
    assert "running_var + eps" in test_branch, test_branch
    fixed = source.replace(test_branch, test_branch.replace("running_var + eps", "running_var"))
    (tmp_path / "layers.py").write_text(fixed)
    result = verify(str(tmp_path / "layers.py"), VerifyOptions(seed=1, checks=OFF))
    assert [c.id for c in result.failures] == ["eval-mode"]
    assert "float32" not in result.read_it and "eval" in result.read_it
