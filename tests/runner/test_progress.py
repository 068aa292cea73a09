"""A timeout names the phase the child was in: start-up, import, or which call of which kind.

The child records its progress in a file the submission can also write (``progress.py``):
the parent reads a few bytes, accepts one grammar within range, and otherwise says
"unknown". The hanging submissions are bounded by the run's short deadline.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bncheck import CheckOptions, VerifyOptions
from bncheck.check.api import verify
from bncheck.errors import SubmissionError
from bncheck.examples import path as example
from bncheck.runner import Job, Limits, calls, progress, spawn, start
from bncheck.runner.progress import Phase

TIMEOUT = 3.0
HANG = "while True:\n    pass\n"
CORRECT = example("cs231n_correct.py").read_text(encoding="utf-8")


def _indent(text: str, spaces: int) -> str:
    return "".join(" " * spaces + line + "\n" for line in text.splitlines())


def _hanging(tmp_path: Path, where: str) -> Path:
    """The correct cs231n example with a CPU loop at ``where``."""
    anchors = {
        "import": ("\ndef batchnorm_forward", HANG + "\n\ndef batchnorm_forward"),
        "train": ('    if mode == "train":\n', '    if mode == "train":\n' + _indent(HANG, 8)),
        "test": ('    elif mode == "test":\n', '    elif mode == "test":\n' + _indent(HANG, 8)),
        "backward": ("    xhat, xmu, inv_std, gamma = cache\n", _indent(HANG, 4)),
    }
    old, new = anchors[where]
    assert CORRECT.count(old) == 1, where
    file = tmp_path / "layers.py"
    file.write_text(CORRECT.replace(old, new), encoding="utf-8")
    return file


def _timeout_of(file: Path) -> SubmissionError:
    options = VerifyOptions(checks=CheckOptions(autograd="off"), timeout=TIMEOUT, seed=0)
    start_ = time.monotonic()
    with pytest.raises(SubmissionError) as info:
        verify(str(file), options)
    assert time.monotonic() - start_ < TIMEOUT + 5
    assert info.value.code == "timeout"
    return info.value


CALL = r"{fn} did not return within 3 s \(call (\d+) of (\d+), {kind}\)"
PHASES = {
    "import": "did not finish importing within 3 s: its top-level code (outside any function)",
    "train": CALL.format(fn="batchnorm_forward", kind="a train-mode forward"),
    "test": CALL.format(fn="batchnorm_forward", kind="an eval-mode forward"),
    "backward": CALL.format(fn="batchnorm_backward", kind="a backward"),
}


@pytest.mark.parametrize("where", sorted(PHASES))
def test_a_hang_names_the_phase_it_was_in(tmp_path: Path, where: str) -> None:
    error = _timeout_of(_hanging(tmp_path, where))
    if where == "import":
        assert PHASES[where] in error.message and "__main__" in error.hint
        return
    found = re.search(PHASES[where], error.message)
    assert found, error.message
    k, n = int(found[1]), int(found[2])
    assert 1 <= k <= n and n > 10
    assert "did not finish" not in error.message and "--timeout" in error.hint


def _ops() -> list[dict[str, Any]]:
    rng = np.random.default_rng(0)
    x, gamma, beta = rng.standard_normal((4, 3)), np.ones(3), np.zeros(3)
    running = {"running_mean": np.zeros(3), "running_var": np.ones(3)}
    forward = {"op": "forward", "x": x, "gamma": gamma, "beta": beta}
    return [
        {**forward, "bn_param": {"mode": "train", "eps": 1e-5, "momentum": 0.9}, "save": "c0"},
        {"op": "backward", "dy": x.copy(), "cache": "c0"},
        {**forward, "bn_param": {"mode": "test", "eps": 1e-5, **running}, "save": ""},
    ]


def test_the_call_number_is_the_one_that_hung(tmp_path: Path) -> None:
    job = Job(
        _hanging(tmp_path, "test"),
        {"forward": "batchnorm_forward", "backward": "batchnorm_backward"},
        _ops(),
        display="student/layers.py",
    )
    with pytest.raises(SubmissionError) as info:
        start(job, Limits(wall=TIMEOUT)).wait()
    assert info.value.message == (
        "student/layers.py: batchnorm_forward did not return within 3 s "
        "(call 3 of 3, an eval-mode forward)"
    )


def test_a_child_that_never_got_its_request_was_starting_up() -> None:
    running = spawn(limits=Limits(wall=1.0))  # no send(): it waits, as if Python were slow
    with pytest.raises(SubmissionError) as info:
        running.wait()
    assert info.value.code == "timeout"
    assert "still starting Python and numpy when the 1 s limit passed" in info.value.message


# --- the record: written by the child, read by the parent with a few bytes' trust --------


def _write(tmp_path: Path, data: bytes) -> Path:
    file = tmp_path / progress.FILE
    file.write_bytes(data)
    return file


@pytest.mark.parametrize(
    ("data", "phase"),
    [
        (b"", Phase("start")),
        (b"0       ", Phase("import")),
        (b"1       ", Phase("call", 1)),
        (b"17      ", Phase("call", 17)),
        (b"17b     ", Phase("call", 17, backward=True)),
        (b"18      ", Phase("reply")),
        (b"18", Phase("reply")),
        # anything else is "unknown": out of range, padded wrongly, signed, not ASCII digits
        (b"19      ", Phase("unknown")),
        (b"0b      ", Phase("unknown")),
        (b"18b     ", Phase("unknown")),
        (b"-1      ", Phase("unknown")),
        (b" 3      ", Phase("unknown")),
        (b"3\n", Phase("unknown")),
        (b"3x      ", Phase("unknown")),
        (b"\xd9\xa3       ", Phase("unknown")),  # an Arabic-Indic 3: int() would take it
        (b"1e3     ", Phase("unknown")),
        (b"00000000000000000000000001", Phase("unknown")),
        (b"3        ", Phase("unknown")),  # longer than the record: written to by another
        (b"9" * 100, Phase("unknown")),
    ],
)
def test_the_record_is_read_strictly(tmp_path: Path, data: bytes, phase: Phase) -> None:
    assert progress.read(_write(tmp_path, data), 17) == phase


def test_a_missing_file_is_start_up_and_anything_not_a_file_is_unknown(tmp_path: Path) -> None:
    assert progress.read(tmp_path / "absent", 3) == Phase("start")
    (tmp_path / "folder").mkdir()
    assert progress.read(tmp_path / "folder", 3) == Phase("unknown")
    _write(tmp_path, b"1       ")
    (tmp_path / "link").symlink_to(tmp_path / progress.FILE)
    assert progress.read(tmp_path / "link", 3) == Phase("unknown")
    os.mkfifo(tmp_path / "fifo")  # opened without blocking, then refused
    assert progress.read(tmp_path / "fifo", 3) == Phase("unknown")


def test_a_huge_record_is_read_9_bytes_at_most(tmp_path: Path) -> None:
    file = _write(tmp_path, b"2" * (8 << 20))
    assert progress.read(file, 3) == Phase("unknown")


def test_the_writer_overwrites_and_survives_a_closed_descriptor(tmp_path: Path) -> None:
    file = tmp_path / progress.FILE
    fd = os.open(file, os.O_WRONLY | os.O_CREAT, 0o600)
    mark = progress.writer(fd)
    mark(12, "b")
    mark(3)  # shorter: the padding covers the longer record before it
    assert progress.read(file, 20) == Phase("call", 3)
    os.close(fd)
    mark(4)  # the submission closed it: no error, the record stays as it was
    assert progress.read(file, 20) == Phase("call", 3)


def test_execute_marks_every_call_and_a_torch_backward() -> None:
    seen: list[tuple[int, str]] = []
    funcs = {"forward": _forward, "backward": lambda dy, cache: (dy, cache, cache)}
    calls.execute(_ops(), funcs, set(), progress=lambda k, part: seen.append((k, part)))
    assert seen == [(1, ""), (2, ""), (3, "")]
    torch = pytest.importorskip("torch", reason="the torch call's backward is marked")
    seen.clear()
    x = np.ones((4, 3))
    op = {"op": "torch", "x": x, "gamma": x[0], "beta": x[0], "eps": 1e-5, "dy": x}

    class Scale(torch.autograd.Function):
        @staticmethod
        def forward(ctx: Any, x: Any, gamma: Any, beta: Any, eps: float) -> Any:
            return x * 2

        @staticmethod
        def backward(ctx: Any, dy: Any) -> Any:
            return dy * 2, None, None, None

    calls.execute([op], {"function": Scale}, set(), progress=lambda k, p: seen.append((k, p)))
    assert seen == [(1, ""), (1, "b")]


def _forward(x: Any, gamma: Any, beta: Any, bn_param: Any) -> Any:
    return x, (x,)


NAMES = {"forward": "batchnorm_forward", "backward": "batchnorm_backward", "function": "BN"}


@pytest.mark.parametrize(
    ("phase", "words"),
    [
        (Phase("start"), "still starting Python and numpy when the 60 s limit passed"),
        (Phase("import"), "did not finish importing within 60 s"),
        (Phase("call", 1), "batchnorm_forward did not return within 60 s (call 1 of 4, a train"),
        (Phase("call", 2), "batchnorm_backward did not return within 60 s (call 2 of 4, a back"),
        (Phase("call", 3), "BN.forward did not return within 60 s (call 3 of 4, a forward and"),
        (Phase("call", 3, True), "BN.backward did not return within 60 s (call 3 of 4, the back"),
        (Phase("call", 4), "batchnorm_backward did not return within 60 s (call 4 of 4, a back"),
        (Phase("reply"), "all 4 calls had returned"),
        (Phase("unknown"), "which of them was running is unknown"),
    ],
)
def test_describe(phase: Phase, words: str) -> None:
    ops = [
        {"op": "forward", "bn_param": {"mode": "train"}},
        {"op": "backward"},
        {"op": "torch", "dy": 1},
        {"op": "plain"},
    ]
    message, hint = progress.describe(phase, "layers.py", ops, NAMES, ("numpy",), 60.0)
    assert words in message and message.startswith("layers.py")
    assert "--timeout SECONDS" in hint


def test_start_up_names_what_the_child_imports() -> None:
    message, _ = progress.describe(Phase("start"), "f.py", [], {}, ("numpy", "torch"), 5)
    assert "starting Python, numpy and torch" in message
