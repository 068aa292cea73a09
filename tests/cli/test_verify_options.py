"""`bncheck verify --list-checks | --checks | --skip | --shape`, and the JSON of an error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bncheck.check.battery import CHECKS
from bncheck.cli import main

FAST = ["--autograd", "off", "--seed", "0"]


def test_list_checks_prints_every_id(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", "--list-checks"]) == 0
    out = capsys.readouterr().out
    assert all(c.id in out for c in CHECKS)


def test_checks_runs_only_those(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    report = tmp_path / "r.json"
    argv = ["verify", "--example", "bug_dx_missing_dvar", *FAST, "--json", str(report)]
    assert main([*argv, "--checks", "dgamma-vs-derived, mutation"]) == 0
    data = json.loads(report.read_text())
    assert [c["id"] for c in data["checks"]] == ["dgamma-vs-derived", "mutation"]
    assert main([*argv, "--skip", "dx-vs-derived"]) == 1
    data = json.loads(report.read_text())
    ids = [c["id"] for c in data["checks"]]
    assert "dx-vs-derived" not in ids and "dx-vs-fd" in ids


def test_unknown_id_is_exit_2_with_a_suggestion(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", "--example", "cs231n_correct", *FAST, "--checks", "mutaton"]) == 2
    err = capsys.readouterr().err
    assert "[unknown-check]" in err and "did you mean mutation?" in err


@pytest.mark.parametrize(
    ("shape", "words"),
    [("64,x", "is not a list of sizes"), ("0,5", "below 1"), ("3,4,5", "has 3 axes")],
)
def test_bad_shape_is_exit_2(shape: str, words: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", "--example", "cs231n_correct", *FAST, "--shape", shape]) == 2
    assert words in capsys.readouterr().err


def test_shape_replaces_the_drawn_shapes(tmp_path: Path) -> None:
    report = tmp_path / "r.json"
    argv = ["verify", "--example", "cs231n_correct", *FAST, "--json", str(report)]
    assert main([*argv, "--shape", "40,7", "--shape", "9x33"]) == 0
    text = json.dumps(json.loads(report.read_text()))
    assert "(40, 7)" in text or "40, 7" in text


def test_four_d_shapes_mean_spatial_batch_norm(tmp_path: Path) -> None:
    (tmp_path / "bn.py").write_text(
        "import numpy as np\n"
        "def bn_backward(dy, x, gamma, eps):\n"
        "    ax = (0, 2, 3)\n"
        "    m = x.size // x.shape[1]\n"
        "    mu = x.mean(axis=ax, keepdims=True)\n"
        "    inv = 1 / np.sqrt(((x - mu) ** 2).mean(axis=ax, keepdims=True) + eps)\n"
        "    xhat = (x - mu) * inv\n"
        "    g = gamma.reshape(1, -1, 1, 1)\n"
        "    dxhat = dy * g\n"
        "    dx = inv / m * (m * dxhat - dxhat.sum(axis=ax, keepdims=True)\n"
        "                    - xhat * (dxhat * xhat).sum(axis=ax, keepdims=True))\n"
        "    return dx, (dy * xhat).sum(axis=ax), dy.sum(axis=ax)\n"
    )
    target = f"{tmp_path / 'bn.py'}:bn_backward"
    assert main(["verify", target, *FAST, "--shape", "6,3,5,4", "--no-color"]) == 0


def test_the_json_of_an_error_has_the_schema(tmp_path: Path) -> None:
    from bncheck import __version__
    from bncheck.check.result import SCHEMA_VERSION

    broken = tmp_path / "layers.py"
    broken.write_text("def batchnorm_backward(:\n")
    report = tmp_path / "r.json"
    assert main(["verify", str(broken), *FAST, "--json", str(report)]) == 2
    data = json.loads(report.read_text())
    assert data["schema_version"] == SCHEMA_VERSION and data["bncheck_version"] == __version__
    assert data["passed"] is False and data["checks"] == []
    assert data["error"]["code"] == "syntax-error"
