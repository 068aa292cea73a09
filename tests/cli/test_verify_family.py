"""``bncheck verify`` on the family: every function of a file, --norm, --shape per preset."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pytest

from bncheck.cli import main
from bncheck.cli.verify import _NORMS
from bncheck.examples import path
from bncheck.spec import SPECS


def verify(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        code = main(["--no-color", "verify", *argv, "--autograd", "off", "--seed", "0"])
    return code, out.getvalue()


def _layers(tmp_path: Path, *names: str, extra: str = "") -> Path:
    parts = ["import numpy as np\n"]
    parts += [path(n).read_text().split("import numpy as np\n", 1)[1] for n in names]
    file = tmp_path / "layers.py"
    file.write_text("\n".join(parts) + extra)
    return file


def test_the_norm_choices_are_the_presets() -> None:
    assert tuple(SPECS) == _NORMS


def test_a_file_is_checked_function_by_function_summary_first(tmp_path: Path) -> None:
    """End to end: needs the emission and numerics for layer and group norm."""
    file = _layers(
        tmp_path, "cs231n_correct.py", "layernorm_cs231n_correct.py", "groupnorm_cs231n_correct.py"
    )
    target = tmp_path / "result.json"
    code, text = verify(str(file), "--json", str(target))
    assert code == 0, text
    head = text.split("\n\n")[1]  # the summary table, before any function's report
    for name, norm in (
        ("batchnorm_backward", "batchnorm"),
        ("batchnorm_backward_alt", "batchnorm"),
        ("layernorm_backward", "layernorm"),
        ("spatial_groupnorm_backward", "groupnorm"),
    ):
        assert name in head and norm in head
    assert text.index("first failure") < text.index(f"{file}:batchnorm_backward")
    assert "PASSED: all 4 functions" in text
    data = json.loads(target.read_text())
    assert data["passed"] is True and len(data["functions"]) == 4
    assert data["functions"][3]["conventions"]["normalization"].startswith("groupnorm")


def test_one_failing_function_fails_the_file(tmp_path: Path) -> None:
    file = _layers(tmp_path, "plain_correct.py", "layernorm_bug_stats_over_batch.py")
    code, text = verify(str(file))
    assert code == 1
    assert "FAILED: 1 of 2 functions (layernorm_backward)" in text
    line = next(ln for ln in text.splitlines() if ln.startswith("layernorm_backward "))
    assert "FAIL" in line and "-vs-" in line  # the first failing check's id


STUB = """

def layernorm_forward(x, gamma, beta, ln_param):
    out, cache = None, None
    pass
    return out, cache


def layernorm_backward(dout, cache):
    dx, dgamma, dbeta = None, None, None
    pass
    return dx, dgamma, dbeta
"""


def test_a_stub_is_not_implemented_not_a_failure(tmp_path: Path) -> None:
    file = _layers(tmp_path, "cs231n_correct.py", extra=STUB)
    code, text = verify(str(file), "--checks", "dx-vs-derived")
    assert code == 0, text
    assert "not implemented" in text and "layernorm_backward" in text
    assert "Traceback" not in text


def test_only_stubs_is_exit_2(tmp_path: Path) -> None:
    file = tmp_path / "layers.py"
    file.write_text(STUB + STUB.replace("layernorm", "rmsnorm"))
    code, text = verify(str(file))
    assert code == 2 and "NOTHING CHECKED" in text


def test_path_function_still_checks_one(tmp_path: Path) -> None:
    file = _layers(tmp_path, "cs231n_correct.py", "layernorm_cs231n_correct.py")
    code, text = verify(f"{file}:layernorm_backward")
    assert code == 0 and "functions" not in text.splitlines()[0]
    assert "normalization: layernorm on ND" in text


def test_norm_forces_a_preset_and_shape_takes_its_rank(tmp_path: Path) -> None:
    file = tmp_path / "mine.py"
    body = path("rmsnorm_plain_correct.py").read_text().replace("rmsnorm_backward", "backward")
    file.write_text(body)
    code, text = verify(f"{file}:backward", "--norm", "rmsnorm", "--shape", "5,7")
    assert code == 0, text
    assert "no mean subtracted" in text  # checked as RMSNorm, on (5, 7) and the degenerate cases
    code, _ = verify(f"{file}:backward", "--shape", "5,7")  # as batch norm: it is not one
    assert code == 1


@pytest.mark.parametrize(
    ("example", "shape", "code", "words"),
    [
        ("groupnorm_cs231n_correct", "4,6,3,2", 0, "PASSED"),
        ("groupnorm_cs231n_correct", "4,5,3,2", 2, "not divisible into 2 groups"),
        # any rank, over the last axis as torch.nn.LayerNorm: CS231n's axis=1 code is wrong there
        ("layernorm_cs231n_correct", "4,6,3,2", 1, "layernorm on NTSD, reduced over D"),
        ("instancenorm_plain_correct", "4,6", 2, "instancenorm takes 4"),
    ],
)
def test_shape_per_preset(example: str, shape: str, code: int, words: str) -> None:
    got, text = verify("--example", example, "--shape", shape)
    assert got == code and words in text, text


def test_running_pytorch_does_not_reach_a_norm_without_running_statistics() -> None:
    code, text = verify("--example", "layernorm_cs231n_correct", "--running", "pytorch")
    assert code == 0 and "running statistics" not in text


def test_a_normalization_bncheck_cannot_check_is_exit_2(tmp_path: Path) -> None:
    file = tmp_path / "wn.py"
    file.write_text("def weightnorm_backward(dy, x, gamma, eps=1e-5):\n    return dy, 1, 1\n")
    code, text = verify(f"{file}:weightnorm_backward")
    assert code == 2 and "weight normalization" in text and "Traceback" not in text


def test_a_load_error_shows_its_traceback_in_the_whole_file_report(tmp_path: Path) -> None:
    file = tmp_path / "layers.py"
    file.write_text(
        "from cs231n.layers import *\n\n\n"
        "def batchnorm_forward(x, gamma, beta, bn_param):\n    return x, None\n\n\n"
        "def batchnorm_backward(dout, cache):\n    return dout, None, None\n\n\n"
        "def layernorm_forward(x, gamma, beta, ln_param):\n    return x, None\n\n\n"
        "def layernorm_backward(dout, cache):\n    return dout, None, None\n"
    )
    code, text = verify(str(file))
    assert code == 2, text
    assert "from cs231n.layers import *" in text and "No module named 'cs231n'" in text
