"""``bncheck diagnose --list | --explain ID`` and ``bncheck verify --explain ID``: output and
exit codes (0, or 2 for a usage error with a close match)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bncheck.cli import main


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["--no-color", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_list_shows_every_entry(capsys: pytest.CaptureFixture[str]) -> None:
    from bncheck.diagnose import CATALOG

    code, out, _ = run(capsys, "diagnose", "--list")
    assert code == 0
    for m in CATALOG:
        assert m.id in out
    assert "all but rmsnorm" in out  # the mean's mistakes: RMSNorm subtracts no mean
    assert "seen by running-stats" in out


def test_list_for_one_norm_and_json(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "catalog.json"
    code, out, _ = run(capsys, "diagnose", "--list", "--norm", "rmsnorm", "--json", str(path))
    assert code == 0 and f"wrote {path}" in out
    rows = {r["id"]: r for r in json.loads(path.read_text("utf-8"))["mistakes"]}
    assert rows["mean-path-dropped"]["applies"] == {"rmsnorm": "-"}
    assert rows["variance-path-dropped"]["applies"] == {"rmsnorm": "yes"}
    # running statistics are batch norm's alone
    assert rows["running-momentum-swapped"]["applies"] == {"rmsnorm": "-"}
    assert rows["mutates-input"]["applies"] == {"rmsnorm": "seen by mutation"}


def test_explain_prints_the_changed_step(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "diagnose", "--explain", "mean-path-dropped")
    assert code == 0
    assert out.startswith("mean-path-dropped: the mean treated as a constant")
    assert "breaks the derivation step: dx" in out
    assert "Look at: μ is computed from every x_i" in out
    assert "form: ∂μ/∂x_j taken as 0" in out
    right, wrong = out.split("right:")[1].split("with the mistake:")
    assert "∂ℓ/∂μ" in right and "∂ℓ/∂μ" not in wrong  # the path through the mean is gone


def test_explain_json(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "e.json"
    code, _, _ = run(capsys, "diagnose", "--explain", "dvar-exponent", "--json", str(path))
    assert code == 0
    data = json.loads(path.read_text("utf-8"))
    assert data["id"] == "dvar-exponent" and data["norm"] == "batchnorm"
    assert [s["key"] for s in data["forms"][0][1]] == ["dvar"]


def test_explain_a_seen_by_entry(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "diagnose", "--explain", "hidden-state")
    assert code == 0
    assert "the battery's rows see it (hidden-state)" in out


def test_explain_unknown_id_suggests_a_close_one(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "diagnose", "--explain", "mean-path-droped")
    assert code == 2 and out == ""
    assert "error [unknown-mistake]" in err
    assert "did you mean mean-path-dropped?" in err


def test_explain_an_id_that_does_not_apply(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "diagnose", "--explain", "mean-path-dropped", "--norm", "rmsnorm")
    assert code == 2
    assert "does not apply to rmsnorm" in err and "batchnorm" in err


def test_diagnose_needs_list_or_explain(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "diagnose")[0] == 2


def test_verify_explain_is_the_same(capsys: pytest.CaptureFixture[str]) -> None:
    _, expected, _ = run(capsys, "diagnose", "--explain", "dgamma-from-x", "--norm", "layernorm")
    code, out, _ = run(capsys, "verify", "--explain", "dgamma-from-x", "--norm", "layernorm")
    assert code == 0 and out == expected
    code, _, err = run(capsys, "verify", "--explain", "nope")
    assert code == 2 and "unknown-mistake" in err


def test_help_lists_diagnose(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--help")
    assert code == 0 and "diagnose" in out
