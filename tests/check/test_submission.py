"""Loading a submission: detection of the style, and every load problem as a clear error."""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from bncheck.check.api import VerifyOptions, verify
from bncheck.check.evidence import CheckOptions
from bncheck.check.submission import SubmissionError, Target, parse_target, resolve_target
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
    # every frame is the submission's: none from bncheck's runner (the clone's folder may be
    # called bncheck, so look at the frames' files, not for the word)
    frames = [line.split('"')[1] for line in hint.splitlines() if line.strip().startswith('File "')]
    assert frames and all(Path(frame).name == "raises.py" for frame in frames), hint


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


# Reading the file: only regular files, capped, decoded as Python does, never a hang or crash.

CORRECT_TEXT = path("plain_correct.py").read_text(encoding="utf-8")


def _bounded(fn: Callable[[], object], seconds: float = 20) -> object:
    """fn() in a thread; fails (instead of hanging the run) when it takes too long."""
    box: dict[str, object] = {}

    def target() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    start = time.monotonic()
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still running after {seconds} s"
    assert time.monotonic() - start < seconds
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["value"]


def test_a_file_saved_with_a_bom_verifies(tmp_path: Path) -> None:
    bom = tmp_path / "layers.py"  # Windows Notepad's "UTF-8 with BOM"
    bom.write_bytes(b"\xef\xbb\xbf" + CORRECT_TEXT.encode("utf-8"))
    assert resolve_target(str(bom)).style == "plain"
    assert verify(str(bom), OPTIONS).passed


def test_a_latin1_coding_cookie_is_honoured(tmp_path: Path) -> None:
    latin = tmp_path / "layers.py"
    text = "# -*- coding: latin-1 -*-\n# écrit par Ana Müller\n" + CORRECT_TEXT
    latin.write_bytes(text.encode("latin-1"))
    assert verify(str(latin), OPTIONS).passed


def test_invalid_utf8_is_a_clear_error_naming_the_line(tmp_path: Path, capsys) -> None:
    from bncheck.cli import main

    bad = tmp_path / "layers.py"
    bad.write_bytes(b"# caf\xe9 (saved as latin-1, no cookie)\n" + CORRECT_TEXT.encode())
    with pytest.raises(SubmissionError) as info:
        resolve_target(str(bad))
    assert info.value.code == "not-utf8"
    assert ":1:" in info.value.message and "0xe9" in info.value.message
    assert "UTF-8" in info.value.hint
    assert main(["verify", str(bad), "--autograd", "off"]) == 2
    err = capsys.readouterr().err
    assert "error [not-utf8]" in err and "Traceback" not in err


def test_an_unknown_coding_cookie_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "layers.py"
    bad.write_text("# -*- coding: klingon -*-\n" + CORRECT_TEXT)
    with pytest.raises(SubmissionError) as info:
        resolve_target(str(bad))
    assert info.value.code == "bad-encoding"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
def test_a_fifo_named_as_the_submission_errors_at_once(tmp_path: Path) -> None:
    fifo = tmp_path / "layers.py"
    os.mkfifo(fifo)
    try:
        with pytest.raises(SubmissionError) as info:
            _bounded(lambda: verify(str(fifo), OPTIONS), seconds=10)
    finally:  # had a reader blocked in open(), a writer opening the FIFO would free it
        with contextlib.suppress(OSError):
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
    assert info.value.code == "not-a-file" and "FIFO" in info.value.message


def test_a_device_named_as_the_submission_is_refused() -> None:
    if not Path("/dev/zero").exists():
        pytest.skip("no /dev/zero on this platform")
    with pytest.raises(SubmissionError) as info:
        _bounded(lambda: resolve_target("/dev/zero:batchnorm_backward"), seconds=10)
    assert info.value.code in ("not-a-file", "not-python")


def test_a_file_over_1_mib_is_refused(tmp_path: Path) -> None:
    big = tmp_path / "layers.py"
    big.write_text(CORRECT_TEXT + "#" * (2 << 20) + "\n")
    with pytest.raises(SubmissionError) as info:
        resolve_target(str(big))
    assert info.value.code == "submission-too-large"
    assert "2.0 MiB" in info.value.message and info.value.hint


@pytest.mark.parametrize(
    "source",
    [
        "x = " + "(" * 200_000 + "1" + ")" * 200_000 + "\n",
        "x = " + "-" * 200_000 + "1\n",
        "x = 1" + " + 1" * 200_000 + "\n",
        "x = " + "[" * 100_000 + "]" * 100_000 + "\n",
        "x = 1\0\n",
    ],
    ids=["parentheses", "unary-minus", "long-sum", "lists", "nul-byte"],
)
def test_a_file_python_cannot_parse_is_refused_cleanly(tmp_path: Path, source: str) -> None:
    bad = tmp_path / "layers.py"
    bad.write_text(CORRECT_TEXT + source)
    with pytest.raises(SubmissionError) as info:
        _bounded(lambda: resolve_target(str(bad)))
    assert info.value.code in ("parse-failed", "syntax-error")
    assert len(info.value.message) + len(info.value.hint) < 600  # not the 200 kB line


def test_a_folder_search_skips_what_it_cannot_or_must_not_read(tmp_path: Path) -> None:
    folder = tmp_path / "student"
    folder.mkdir()
    (folder / "layers.py").write_text(CORRECT_TEXT)
    (folder / "broken.py").symlink_to(folder / "deleted.py")
    (folder / "huge.py").write_text(CORRECT_TEXT + "#" * (2 << 20) + "\n")
    (folder / "notes.py").write_bytes(b"# \xff\xfe not UTF-8\n" + CORRECT_TEXT.encode())
    if hasattr(os, "mkfifo"):
        os.mkfifo(folder / "pipe.py")
    outside = tmp_path / "elsewhere.py"  # would make the search ambiguous if followed
    outside.write_text(CORRECT_TEXT)
    (folder / "link_out.py").symlink_to(outside)
    (tmp_path / "elsewhere_dir").mkdir()
    (tmp_path / "elsewhere_dir" / "other.py").write_text(CORRECT_TEXT)
    (folder / "dir_link").symlink_to(tmp_path / "elsewhere_dir", target_is_directory=True)
    for skipped in (".hidden", "venv", "__pycache__", "lib/site-packages"):
        (folder / skipped).mkdir(parents=True)
        (folder / skipped / "copy.py").write_text(CORRECT_TEXT)
    (folder / ".backup.py").write_text(CORRECT_TEXT)
    found = _bounded(lambda: resolve_target(str(folder)), seconds=20)
    assert isinstance(found, Target) and found.path == folder / "layers.py"


def test_a_folder_search_skips_an_unreadable_file(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "layers.py").write_text(CORRECT_TEXT)
    (tmp_path / "locked.py").write_text(CORRECT_TEXT)
    real_open = os.open

    def deny_locked(file, flags, *args):  # mode 000, even for root (who ignores modes)
        if str(file).endswith("locked.py"):
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, flags, *args)

    monkeypatch.setattr(os, "open", deny_locked)
    assert resolve_target(str(tmp_path)).path.name == "layers.py"
    with pytest.raises(SubmissionError) as info:
        resolve_target(str(tmp_path / "locked.py"))
    assert info.value.code == "unreadable" and "Permission denied" in info.value.message


def test_a_folder_under_a_hidden_folder_is_searched(tmp_path: Path) -> None:
    folder = tmp_path / ".cache" / "student"  # only folders inside the search are skipped
    folder.mkdir(parents=True)
    (folder / "layers.py").write_text(CORRECT_TEXT)
    assert resolve_target(str(folder)).path.name == "layers.py"


def test_a_folder_search_that_finds_nothing_names_the_files_it_could_not_read(
    tmp_path: Path,
) -> None:
    (tmp_path / "layers.py").write_bytes(b"# caf\xe9\n" + CORRECT_TEXT.encode())
    with pytest.raises(SubmissionError) as info:
        resolve_target(str(tmp_path))
    assert info.value.code == "missing-function"
    assert "layers.py [not-utf8]" in info.value.hint


def test_a_folder_whose_backward_does_not_parse_reports_the_syntax_error(
    tmp_path: Path, capsys
) -> None:
    (tmp_path / "layers.py").write_text(CORRECT_TEXT.replace("return dx,", "return dx,,", 1))
    (tmp_path / "utils.py").write_text("def helper():\n    return 1\n")
    line = next(n for n, t in enumerate(CORRECT_TEXT.splitlines(), 1) if "return dx," in t)
    with pytest.raises(SubmissionError) as info:
        resolve_target(str(tmp_path))
    assert info.value.code == "syntax-error"
    assert f"layers.py:{line}: syntax error" in info.value.message
    assert "return dx,, dgamma" in info.value.hint and "^" in info.value.hint
    assert f"no file under {tmp_path} that Python can parse defines batchnorm_backward" in (
        info.value.hint
    )
    from bncheck.cli import main

    assert main(["verify", str(tmp_path), "--no-color"]) == 2
    assert "[syntax-error]" in capsys.readouterr().err


def test_of_two_files_that_do_not_parse_the_one_that_names_the_function_is_reported(
    tmp_path: Path,
) -> None:
    (tmp_path / "a_scratch.py").write_text("print('hi'\n")
    (tmp_path / "layers.py").write_text(CORRECT_TEXT.replace("return dx,", "return dx,,", 1))
    (tmp_path / "notes.py").write_bytes(b"# caf\xe9\n")  # unreadable, not a syntax error
    with pytest.raises(SubmissionError) as info:
        resolve_target(str(tmp_path))
    assert info.value.code == "syntax-error" and "layers.py:" in info.value.message
    assert "a_scratch.py does not parse either" in info.value.hint


def test_a_syntax_error_elsewhere_in_the_folder_does_not_hide_the_backward(
    tmp_path: Path,
) -> None:
    (tmp_path / "layers.py").write_text(CORRECT_TEXT)
    (tmp_path / "scratch.py").write_text("def f(:\n")
    assert resolve_target(str(tmp_path)).path.name == "layers.py"


def test_a_torch_function_without_torch_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "torch" else real(name, *a)
    )
    from bncheck.errors import MissingDependencyError

    with pytest.raises(MissingDependencyError, match="needs torch") as err:
        verify(str(path("torch_correct.py")), OPTIONS)
    assert "pip install torch==2.13.0" in err.value.hint
