"""The API for the family: the preset a name picks, shapes per preset, every function of a file."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from bncheck.check.api import VerifyOptions, battery, options_for, verify, verify_file
from bncheck.check.evidence import CheckOptions
from bncheck.check.result import FileResult, VerifyResult
from bncheck.errors import UsageError
from bncheck.examples import path as example
from bncheck.spec import SPECS, NormSpec

OFF = CheckOptions(autograd="off")


@pytest.mark.parametrize(
    ("name", "norm"),
    [
        ("batchnorm_backward", "batchnorm"),
        ("spatial_batchnorm_backward", "spatial_batchnorm"),
        ("layernorm_backward", "layernorm"),
        ("spatial_groupnorm_backward", "groupnorm"),
        ("instancenorm_backward", "instancenorm"),
        ("RMSNorm", "rmsnorm"),
        ("backward", "batchnorm"),
    ],
)
def test_the_name_picks_the_preset(name: str, norm: str) -> None:
    assert options_for(name, VerifyOptions(seed=0)).spec.name == norm


def test_the_preset_keeps_the_conventions_it_has() -> None:
    base = NormSpec(eps=1e-3, variance="unbiased", running="pytorch")
    ln = options_for("layernorm_backward", VerifyOptions(spec=base, seed=0)).spec
    assert (ln.eps, ln.variance, ln.axes, ln.param_axes) == (1e-3, "unbiased", (1,), (1,))
    sbn = options_for("spatial_batchnorm_backward", VerifyOptions(spec=base, seed=0)).spec
    assert (sbn.running, sbn.effective_momentum, sbn.layout) == ("pytorch", 0.1, "NCHW")


def test_a_given_spec_or_no_inference_is_kept() -> None:
    given = VerifyOptions(spec="rmsnorm", seed=0)
    assert options_for("layernorm_backward", given).spec.name == "rmsnorm"
    fixed = VerifyOptions(seed=0, infer_norm=False)
    assert options_for("layernorm_backward", fixed).spec.name == "batchnorm"


@pytest.mark.parametrize(
    ("norm", "shape", "words"),
    [
        ("layernorm", (6, 20, 3), "has 3 axes; layernorm takes 2 (N,D)"),
        ("groupnorm", (6, 20), "has 2 axes; groupnorm takes 4"),
        ("groupnorm", (4, 5, 3, 2), "not divisible into 2 groups"),
    ],
)
def test_shapes_are_checked_against_the_preset(
    norm: str, shape: tuple[int, ...], words: str
) -> None:
    with pytest.raises(UsageError, match=re.escape(words)):
        battery(VerifyOptions(spec=norm, seed=0, shapes=(shape,), checks=OFF))


@pytest.mark.parametrize(
    ("norm", "shape"), [("layernorm", (6, 20)), ("groupnorm", (4, 6, 3, 2)), ("rmsnorm", (5, 7))]
)
def test_the_presets_rank_is_accepted(norm: str, shape: tuple[int, ...]) -> None:
    cases = battery(VerifyOptions(spec=norm, seed=0, shapes=(shape,), checks=OFF))
    assert cases[0].shape == shape
    assert cases[0].gamma.shape == SPECS[norm].param_shape(shape)


def _layers(tmp_path: Path, *names: str) -> Path:
    """One file with the functions of several bundled examples (their imports once)."""
    parts = ["import numpy as np\n"]
    parts += [example(n).read_text().split("import numpy as np\n", 1)[1] for n in names]
    file = tmp_path / "layers.py"
    file.write_text("\n".join(parts))
    return file


STUB = """

def rmsnorm_backward(dy, x, gamma, eps=1e-5):
    dx, dgamma, dbeta = None, None, None
    # TODO
    return dx, dgamma, dbeta
"""


def test_a_file_with_one_function_is_verified_as_before(tmp_path: Path) -> None:
    result = verify_file(
        str(example("layernorm_cs231n_correct.py")), VerifyOptions(seed=0, checks=OFF)
    )
    assert isinstance(result, VerifyResult) and result.target.endswith(":layernorm_backward")


def test_a_stub_is_not_implemented_and_does_not_fail_the_file(tmp_path: Path) -> None:
    """Depends on the checker's numerics for layer norm (the batch norm rows alone pass today)."""
    file = _layers(tmp_path, "plain_correct.py")
    file.write_text(file.read_text() + STUB)
    result = verify_file(str(file), VerifyOptions(seed=0, checks=OFF))
    assert isinstance(result, FileResult)
    assert [f.status for f in result.functions] == ["ok", "not implemented"]
    assert result.passed and result.exit_code == 0
    assert "1 not implemented" in result.verdict


def test_a_file_of_stubs_checks_nothing(tmp_path: Path) -> None:
    file = tmp_path / "layers.py"
    file.write_text(STUB + STUB.replace("rmsnorm", "layernorm"))
    result = verify_file(str(file), VerifyOptions(seed=0, checks=OFF))
    assert isinstance(result, FileResult) and result.exit_code == 2 and not result.passed
    assert result.verdict.startswith("NOTHING CHECKED")


def test_every_function_of_a_family_file_with_its_preset(tmp_path: Path) -> None:
    """End to end: needs the emitted reference and the numerics for layer and group norm."""
    file = _layers(
        tmp_path,
        "cs231n_correct.py",
        "layernorm_bug_dmu_missing_1_over_m.py",
        "groupnorm_cs231n_correct.py",
    )
    result = verify_file(str(file), VerifyOptions(seed=0, checks=OFF))
    assert isinstance(result, FileResult)
    rows = {f.function: f for f in result.functions}
    assert {k: (f.norm, f.style) for k, f in rows.items()} == {
        "batchnorm_backward": ("batchnorm", "cs231n"),
        "batchnorm_backward_alt": ("batchnorm", "cs231n"),
        "layernorm_backward": ("layernorm", "cs231n"),
        "spatial_groupnorm_backward": ("groupnorm", "cs231n"),
    }
    assert [f.status for f in result.functions] == ["ok", "ok", "FAIL", "ok"]
    assert rows["layernorm_backward"].first_failure == "dx-vs-derived"
    assert result.exit_code == 1
    assert "running-stats" not in {c.id for c in rows["layernorm_backward"].result.checks}
    data = json.loads(result.to_json())
    assert data["schema_version"] == 1 and data["passed"] is False
    assert [f["function"] for f in data["functions"]] == list(rows)
    assert {c["function"] for c in data["checks"]} == set(rows)
    assert data["functions"][2]["norm"] == "layernorm"
    assert data["functions"][2]["checks"][1]["id"] == "dx-vs-derived"


def test_the_readme_documents_the_functions_json(tmp_path: Path) -> None:
    file = tmp_path / "layers.py"
    file.write_text(STUB + STUB.replace("rmsnorm", "layernorm"))
    result = verify_file(str(file), VerifyOptions(seed=0, checks=OFF))
    assert isinstance(result, FileResult)
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    data = result.to_dict()
    for key in {*data, *data["functions"][0]}:
        assert f"`{key}`" in readme, f"the README's JSON section does not document {key}"


def test_the_text_report_has_the_summary_then_each_function(tmp_path: Path) -> None:
    file = _layers(tmp_path, "plain_correct.py")
    file.write_text(file.read_text() + STUB)
    only = CheckOptions(autograd="off", only=("dx-vs-derived",))
    result = verify_file(str(file), VerifyOptions(seed=0, checks=only))
    lines = str(result).splitlines()
    assert lines[1].split() == ["function", "normalization", "style", "verdict", "first", "failure"]
    assert lines[2].startswith("batchnorm_backward ") and lines[3].startswith("rmsnorm_backward ")
    assert "not implemented" in lines[3]
    assert any(line.startswith(f"bncheck verify {file}:batchnorm_backward") for line in lines[4:])
    assert lines[-1] == "PASSED: 1 function checked; 1 not implemented"
    assert "<table>" in result._repr_html_()


LAYER_NORM_ANY_RANK = '''
import numpy as np


def layernorm_backward(dy, x, gamma, eps=1e-5):
    """Over the last axis, for any leading axes, as torch.nn.LayerNorm(D)."""
    D = x.shape[-1]
    xmu = x - x.mean(-1, keepdims=True)
    inv_std = 1 / np.sqrt((xmu * xmu).mean(-1, keepdims=True) + eps)
    xhat = xmu * inv_std
    dxhat = dy * gamma
    dx = inv_std / D * (
        D * dxhat - dxhat.sum(-1, keepdims=True) - xhat * (dxhat * xhat).sum(-1, keepdims=True)
    )
    lead = tuple(range(x.ndim - 1))
    return dx, (dy * xhat).sum(lead), dy.sum(lead)
'''


def test_layer_norm_takes_the_rank_of_the_shapes_asked_for(tmp_path: Path) -> None:
    options = VerifyOptions(seed=0, shapes=((3, 5, 7), (2, 4, 9)), checks=OFF)
    chosen = options_for("layernorm_backward", options)
    assert chosen.spec.layout == "NTD" and chosen.spec.axes == (2,)
    file = tmp_path / "ln.py"
    file.write_text(LAYER_NORM_ANY_RANK)
    result = verify(f"{file}:layernorm_backward", options)
    assert result.passed, str(result)
    # batch norm fits its own rank only: a usage error that says so
    with pytest.raises(UsageError, match="batchnorm takes 2"):
        battery(VerifyOptions(seed=0, shapes=((3, 5, 7),), infer_norm=False))
