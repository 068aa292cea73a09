"""``bncheck verify``: exit codes 0/1/2, --json, and the options that reach the checker."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

from bncheck.cli import main
from bncheck.examples import path

SUBMISSIONS = Path(__file__).resolve().parents[1] / "check" / "submissions"


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        code = main(["verify", *argv, "--autograd", "off"])
    return code, out.getvalue()


def test_correct_exits_0_and_prints_verdict_conventions_and_seed() -> None:
    code, text = run(str(path("plain_correct.py")), "--seed", "4")
    assert code == 0
    assert "PASSED" in text and "seed: 4" in text and "variance: 1/m (biased)" in text


def test_buggy_exits_1_and_writes_json(tmp_path: Path) -> None:
    target = tmp_path / "result.json"
    code, text = run(str(path("bug_dx_missing_dvar.py")), "--json", str(target))
    assert code == 1 and "FAILED" in text
    data = json.loads(target.read_text())
    assert data["passed"] is False and data["style"] == "cs231n"
    failed = [c for c in data["checks"] if c["passed"] is False]
    assert failed[0]["name"] == "dx" and failed[0]["pair"] == "submission vs derived (float64)"
    assert len(failed[0]["worst_index"]) == 2 and "dx differs at" in failed[0]["message"]


def test_load_problem_exits_2_without_traceback(tmp_path: Path) -> None:
    target = tmp_path / "result.json"
    code, text = run(str(SUBMISSIONS / "two_values.py"), "--json", str(target))
    assert code == 2
    assert "returned 2 values; expected (dx, dgamma, dbeta)" in text
    assert "Traceback" not in text
    data = json.loads(target.read_text())
    assert data["passed"] is False and data["error"]["code"] == "wrong-arity"


def test_style_override_and_bad_style() -> None:
    code, text = run(str(path("plain_correct.py")), "--style", "cs231n")
    assert code == 2 and "batchnorm_forward" in text  # cs231n needs a forward
    code, _ = run(str(path("plain_correct.py")), "--style", "nope")
    assert code == 2


def test_steps_table_and_complex_step() -> None:
    code, text = run(str(path("plain_correct.py")), "--steps-table", "--fd", "complex")
    assert code == 0 and "error vs step" in text and "complex step" in text


def test_pytorch_running_convention_fails_cs231n_code() -> None:
    code, text = run(str(path("cs231n_correct.py")), "--running", "pytorch")
    assert code == 1 and "running stats" in text


def test_json_with_nan_in_a_degenerate_case(tmp_path: Path) -> None:
    target = tmp_path / "result.json"
    code, _ = run(str(path("bug_unbiased_variance.py")), "--json", str(target))
    assert code == 1
    rows = json.loads(target.read_text())["checks"]  # strict JSON: no NaN or Infinity
    assert any(r["max_abs_err"] is None and r["passed"] is False for r in rows)
