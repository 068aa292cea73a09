"""Loading a submission: detection of the style, and every load problem as a clear error."""

from __future__ import annotations

from pathlib import Path

import pytest

from bncheck.check.api import VerifyOptions, verify
from bncheck.check.checks import CheckOptions
from bncheck.check.submission import SubmissionError, parse_target, resolve_target
from bncheck.examples import path

HERE = Path(__file__).parent / "submissions"
OPTIONS = VerifyOptions(checks=CheckOptions(autograd="off"), timeout=20)


def test_parse_target() -> None:
    assert parse_target("a/b.py") == (Path("a/b.py"), None)
    assert parse_target("a/b.py:batchnorm_backward_alt") == (
        Path("a/b.py"),
        "batchnorm_backward_alt",
    )


@pytest.mark.parametrize(
    ("name", "style"),
    [("cs231n_correct.py", "cs231n"), ("plain_correct.py", "plain"), ("torch_correct.py", "torch")],
)
def test_style_is_detected_without_running_the_file(name: str, style: str) -> None:
    assert resolve_target(str(path(name))).style == style


def test_function_and_style_override() -> None:
    target = resolve_target(f"{path('cs231n_correct.py')}:batchnorm_backward_alt")
    assert target.names == {"forward": "batchnorm_forward", "backward": "batchnorm_backward_alt"}
    assert verify(f"{path('cs231n_correct.py')}:batchnorm_backward_alt", OPTIONS).passed
    with pytest.raises(SubmissionError, match=r"not a torch\.autograd\.Function"):
        resolve_target(str(path("plain_correct.py")), style="torch")


def test_folder_with_one_backward(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "layers.py").write_text(path("plain_correct.py").read_text())
    (tmp_path / "pkg" / "other.py").write_text("x = 1\n")
    assert resolve_target(str(tmp_path)).path.name == "layers.py"


LOAD_ERRORS = {
    "misspelled.py": ("missing-function", "no function 'batchnorm_backward'"),
    "two_values.py": ("wrong-arity", "returned 2 values; expected (dx, dgamma, dbeta)"),
    "returns_list.py": ("not-an-array", "returned a builtins.list for dgamma"),
    "returns_nan.py": ("not-finite", "in dx at [0, 0]"),
    "calls_exit.py": ("submission-exited", "called sys.exit(0)"),
    "raises.py": ("submission-raised", "raised ValueError in batchnorm_backward"),
    "os_exit.py": ("submission-crashed", "ended the process"),
    "forward_one_value.py": (
        "wrong-arity",
        "batchnorm_forward returned 1 value; expected (out, cache)",
    ),
}


@pytest.mark.parametrize("name", sorted(LOAD_ERRORS))
def test_load_problem_is_a_clear_error(name: str) -> None:
    code, words = LOAD_ERRORS[name]
    with pytest.raises(SubmissionError) as info:
        verify(str(HERE / name), OPTIONS)
    assert info.value.code == code
    assert words in info.value.message


def test_syntax_error_names_the_line(tmp_path: Path) -> None:
    # written here, not kept in the tree: a file that does not parse would break the linters
    bad = tmp_path / "syntax_error.py"
    bad.write_text("def batchnorm_backward(dy, x, gamma, eps=1e-5):\n    return dy,, dy\n")
    with pytest.raises(SubmissionError) as info:
        verify(str(bad), OPTIONS)
    assert info.value.code == "syntax-error"
    assert ":2: syntax error" in info.value.message and "return dy,, dy" in info.value.hint


def test_missing_function_suggests_close_matches() -> None:
    with pytest.raises(SubmissionError) as info:
        verify(str(HERE / "misspelled.py"), OPTIONS)
    assert "batchnorm_backwards" in info.value.hint


def test_traceback_shows_the_submissions_lines_not_ours() -> None:
    with pytest.raises(SubmissionError) as info:
        verify(str(HERE / "raises.py"), OPTIONS)
    hint = info.value.hint
    assert "xmu @ inv_std" in hint and "line 11, in batchnorm_backward" in hint
    assert "worker.py" not in hint and "bncheck" not in hint


def test_missing_file() -> None:
    with pytest.raises(SubmissionError, match="no such file"):
        verify("does/not/exist.py", OPTIONS)


def test_timeout() -> None:
    options = VerifyOptions(checks=CheckOptions(autograd="off"), timeout=1.0)
    with pytest.raises(SubmissionError) as info:
        verify(str(HERE / "sleeps.py"), options)
    assert info.value.code == "timeout"


def test_monkeypatching_numpy_cannot_make_a_wrong_gradient_pass() -> None:
    result = verify(str(HERE / "monkeypatch.py"), OPTIONS)
    assert not result.passed
    assert "dx" in [c.name for c in result.failures]


def test_float32_code_passes_under_float32_tolerance_and_says_so() -> None:
    result = verify(str(HERE / "float32.py"), OPTIONS)
    assert [c.name for c in result.failures] == ["dtypes"]  # float32 out for float64 in
    assert any("float32 round-off" in n for n in result.notes)
    options = VerifyOptions(dtype="float32", checks=CheckOptions(autograd="off"))
    f32 = verify(str(HERE / "float32.py"), options)
    assert f32.passed, str(f32)
    assert "float32 tolerance" in f32.checks[0].pair
