"""Exit 3 means a bug in bncheck: nothing a submission returns, and no option, reaches it.

Each submission here is ordinary student code that once crashed the checker (issue 8);
it runs in the sandboxed child as ``bncheck verify`` runs it, and must fail with a row
that says what it returned and what was expected (exit 1). Bad options are exit 2
before any work; a terminal that cannot show σ or Σ gets them escaped.
tests/check/test_fuzz_replies.py fuzzes the same replies in-process.
"""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bncheck.cli import main
from bncheck.examples import path

# A correct cs231n submission, as a student writes it; each test swaps in one mistake.
SUBMISSION = """\
import numpy as np
PRELUDE


def batchnorm_forward(x, gamma, beta, bn_param):
    eps, momentum = bn_param.get("eps", 1e-5), bn_param.get("momentum", 0.9)
    running_mean = bn_param.get("running_mean", np.zeros(x.shape[1]))
    running_var = bn_param.get("running_var", np.zeros(x.shape[1]))
    cache = None
    if bn_param["mode"] == "train":
        mu, var = x.mean(axis=0), x.var(axis=0)
        x_norm = (x - mu) / np.sqrt(var + eps)
        out = gamma * x_norm + beta
        cache = CACHE
        running_mean = momentum * running_mean + (1 - momentum) * mu
        running_var = momentum * running_var + (1 - momentum) * var
    else:
        out = gamma * (x - running_mean) / np.sqrt(running_var + eps) + beta
    bn_param["running_mean"] = RUNNING_MEAN
    bn_param["running_var"] = running_var
    return OUT, cache


def batchnorm_backward(dout, cache):
    x_norm, gamma, var, eps = cache
    m = dout.shape[0]
    dbeta = dout.sum(axis=0)
    dgamma = DGAMMA
    sums = (dout * x_norm).sum(axis=0)
    dx = gamma / np.sqrt(var + eps) / m * (m * dout - dbeta - x_norm * sums)
    return RETURNS
"""
RIGHT = {
    "PRELUDE": "",
    "CACHE": "(x_norm, gamma, var, eps)",
    "RUNNING_MEAN": "running_mean",
    "OUT": "out",
    "DGAMMA": "(dout * x_norm).sum(axis=0)",
    "RETURNS": "dx, dgamma, dbeta",
}
MEMOISED = """
_first = []
_backward = batchnorm_backward


def batchnorm_backward(dout, cache):  # answers every call with the first call's result
    if not _first:
        _first.append(_backward(dout, cache))
    return _first[0]
"""


def submission(folder: Path, after: str = "", **mistake: str) -> str:
    text = SUBMISSION
    for marker, code in {**RIGHT, **mistake}.items():
        text = text.replace(marker, code)
    file = folder / "layers.py"
    file.write_text(text + after, encoding="utf-8")
    return str(file)


def verify(*argv: str, seed: str = "0") -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        code = main(["verify", *argv, "--autograd", "off", "--seed", seed])
    return code, out.getvalue()


def one_line(text: str) -> str:
    return " ".join(text.split())  # the report wraps at 100 columns


def test_the_template_is_correct(tmp_path: Path) -> None:
    code, text = verify(submission(tmp_path))
    assert code == 0, text


def test_a_namedtuple_cache_from_the_submission_file(tmp_path: Path) -> None:
    prelude = (
        'from collections import namedtuple\nCache = namedtuple("Cache", "x_norm gamma var eps")'
    )
    file = submission(tmp_path, PRELUDE=prelude, CACHE="Cache(x_norm, gamma, var, eps)")
    code, text = verify(file)
    assert code == 0, text


@pytest.mark.parametrize(
    ("mistake", "expected"),
    [
        ({"DGAMMA": "dout.T @ x_norm"}, "dgamma has shape ("),  # (D, D)
        ({"OUT": "out.T"}, "out has shape ("),
        ({"RUNNING_MEAN": '"running_mean"'}, "bn_param['running_mean'] holds a str"),
        ({"OUT": "out > 0"}, "out has dtype bool in "),
        ({"RETURNS": "dx.astype(int), dgamma > 0, dbeta"}, "dgamma has dtype bool in "),
        ({"RETURNS": "dx.T, dgamma[None], dbeta[:, None]"}, "dx has shape ("),
    ],
    ids=["dgamma (D, D)", "out.T", "str running_mean", "bool out", "int and bool", "transposed"],
)
def test_a_wrong_return_is_a_failed_row(
    tmp_path: Path, mistake: dict[str, str], expected: str
) -> None:
    code, text = verify(submission(tmp_path, **mistake))
    assert code == 1 and "internal error" not in text, text
    assert expected in one_line(text)


def test_a_memoising_backward(tmp_path: Path) -> None:
    code, text = verify(submission(tmp_path, after=MEMOISED))
    assert code == 1 and "internal error" not in text, text
    assert "hidden state" in text and "cannot be summed over the batch" in one_line(text)


def test_nan_in_a_gradient_is_exit_2(tmp_path: Path) -> None:
    code, text = verify(submission(tmp_path, RETURNS="dx / 0 * 0, dgamma, dbeta"))
    assert code == 2 and "on an ordinary input" in one_line(text), text


@pytest.mark.parametrize("value", ["nan", "inf", "-1", "0", "1e20"])
def test_a_bad_timeout_is_exit_2_before_any_work(
    value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import bncheck.check.api

    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("the submission was run")

    monkeypatch.setattr(bncheck.check.api, "verify", never)
    code, text = verify(str(path("cs231n_correct.py")), "--timeout", value)
    assert code == 2 and "--timeout must be a number of seconds" in text, text


def test_a_negative_seed_is_exit_2() -> None:
    code, text = verify(str(path("cs231n_correct.py")), seed="-1")
    assert code == 2 and "--seed must be a non-negative integer" in text, text


def test_demo_options_are_exit_2(tmp_path: Path) -> None:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        assert main(["demo", "tiny-init", "--seed", "-1"]) == 2
    assert "--seed must be a non-negative integer" in out.getvalue()


@pytest.mark.parametrize("name", ["x.txt", "x"])
def test_a_plot_format_matplotlib_cannot_write_is_exit_2(
    tmp_path: Path, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("matplotlib", reason="matplotlib is not installed (pip install matplotlib)")
    from bncheck.cli import demo

    def never(*args: object) -> None:
        raise AssertionError("the demo ran before its options were checked")

    monkeypatch.setattr(demo, "compute", never)
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        code = main(["demo", "tiny-init", "--plot", str(tmp_path / name)])
    assert code == 2 and "--plot" in out.getvalue(), out.getvalue()
    assert not (tmp_path / name).exists()


@pytest.mark.parametrize(
    "env",
    [
        {"PYTHONIOENCODING": "ascii"},
        {"PYTHONIOENCODING": "latin-1"},
        {"LC_ALL": "C", "LANG": "C", "PYTHONUTF8": "0", "PYTHONCOERCECLOCALE": "0"},
    ],
    ids=["ascii", "latin-1", "C locale"],
)
def test_a_terminal_without_utf8(env: dict[str, str]) -> None:
    argv = [sys.executable, "-m", "bncheck", "verify", str(path("cs231n_correct.py"))]
    environ = {k: v for k, v in os.environ.items() if k not in ("PYTHONUTF8", "LC_ALL")}
    done = subprocess.run(
        [*argv, "--autograd", "off", "--seed", "0"],
        capture_output=True,
        env={**environ, **env},
        timeout=120,
    )
    assert done.returncode == 0, (done.stdout + done.stderr).decode("ascii", "replace")
    text = done.stdout.decode("latin-1")
    assert "PASSED" in text and "\\u03a3_batch dx = 0" in text  # Σ, escaped
