"""bncheck verify --example NAME (from any folder), and --running pytorch's momentum."""

from __future__ import annotations

from pathlib import Path

import pytest

from bncheck import examples
from bncheck.cli import main

FAST = ["--autograd", "off", "--seed", "0"]


def test_the_names_are_the_bundled_files() -> None:
    assert "bug_dx_missing_dvar" in examples.NAMES and "cs231n_correct" in examples.NAMES
    assert all(examples.path(f"{name}.py").is_file() for name in examples.NAMES)


@pytest.mark.parametrize(
    ("example", "code"),
    [("cs231n_correct", 0), ("bug_dx_missing_dvar", 1), ("cs231n_correct:batchnorm_backward", 0)],
)
def test_an_example_runs_from_any_folder(
    example: str,
    code: int,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["verify", "--example", example, *FAST]) == code
    assert ("PASSED" if code == 0 else "FAILED") in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["verify"], "give a submission PATH[:FUNCTION] or --example NAME"),
        (["verify", "layers.py", "--example", "cs231n_correct"], "not both"),
        (["verify", "--example", "bug_dx_missing_dvr"], "did you mean bug_dx_missing_dvar?"),
        (["verify", "--example", "cs231n_correct.py"], "did you mean cs231n_correct?"),
    ],
)
def test_not_exactly_one_known_submission_is_a_usage_error(
    argv: list[str], says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert says in err and "Traceback" not in err
    assert ", ".join(examples.NAMES) in err  # the hint lists the names


def test_running_pytorch_uses_pytorchs_momentum(capsys: pytest.CaptureFixture[str]) -> None:
    """replace(spec, running="pytorch") once kept cs231n's 0.9: "(1-0.9)*running + 0.9*batch"."""
    argv = ["verify", str(examples.path("cs231n_correct.py")), "--running", "pytorch", *FAST]
    assert main(argv) == 1  # cs231n code does not follow the PyTorch convention
    out = capsys.readouterr().out
    assert "pytorch: running = (1-0.1)*running + 0.1*batch" in out
    assert "0.9*" not in out and "momentum 0.9" not in out
