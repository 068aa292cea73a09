"""check_backward(..., timeout=S): callables in a forked worker that is killed in time."""

from __future__ import annotations

import importlib.util
import os
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

import bncheck
from bncheck.check import worker
from bncheck.check.evidence import CheckOptions
from bncheck.check.submission import SubmissionError
from bncheck.errors import UsageError
from bncheck.examples import path

pytestmark = pytest.mark.skipif(not worker.available(), reason="the worker needs os.fork")

LIMIT = 1.0
MARGIN = 1.0  # fork, kill, reap and the references computed meanwhile, on 2 shared cores
NO_TORCH = CheckOptions(autograd="off")  # torch's import (1.3 s) only in the torch test


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name.removesuffix(".py"), path(name))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _gone(pid: int) -> bool:
    """The worker was reaped: no process (not even a zombie) has its pid."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def _hostile(tmp_path: Path, body: str) -> Any:
    """A plain backward that writes its pid (the worker's) and then never returns."""
    pid_file = tmp_path / "pid"

    def batchnorm_backward(dy, x, gamma, eps=1e-5):  # type: ignore[no-untyped-def]
        pid_file.write_text(str(os.getpid()))
        if body == "spin":
            while True:
                pass
        time.sleep(1000)

    return batchnorm_backward, pid_file


@pytest.mark.parametrize("body", ["spin", "sleep"])
def test_a_callable_that_never_returns_is_ended_in_time(tmp_path: Path, body: str) -> None:
    backward, pid_file = _hostile(tmp_path, body)
    plain = _load("plain_correct.py")
    # warm: the references (computed while the worker runs) load their code once a session
    assert bncheck.check_backward(plain.batchnorm_backward, seed=1, checks=NO_TORCH).passed
    started = time.monotonic()
    with pytest.raises(SubmissionError) as info:
        bncheck.check_backward(backward, timeout=LIMIT, seed=1, checks=NO_TORCH)
    took = time.monotonic() - started
    assert LIMIT <= took < LIMIT + MARGIN, took
    error = info.value
    assert error.code == "timeout"
    assert error.message.startswith("check_backward: batchnorm_backward did not return within 1 s")
    assert "(call 1 of " in error.message
    assert "timeout=None" in error.hint and "loop that never ends" in error.hint
    pid = int(pid_file.read_text())
    assert pid != os.getpid() and _gone(pid)
    # the session goes on: a normal check in this process passes
    assert bncheck.check_backward(plain.batchnorm_backward, seed=1, checks=NO_TORCH).passed


def test_a_cs231n_forward_that_hangs_is_named() -> None:
    layers = _load("cs231n_correct.py")

    def batchnorm_forward(x, gamma, beta, bn_param):  # type: ignore[no-untyped-def]
        while True:
            pass

    with pytest.raises(SubmissionError, match=r"batchnorm_forward did not return within 1 s"):
        bncheck.check_backward(
            batchnorm_forward, layers.batchnorm_backward, timeout=LIMIT, checks=NO_TORCH
        )


def test_with_a_timeout_the_result_is_the_same() -> None:
    bug = _load("bug_dx_missing_dvar.py")
    args = (bug.batchnorm_forward, bug.batchnorm_backward)
    here = bncheck.check_backward(*args, seed=11, checks=NO_TORCH)
    there = bncheck.check_backward(*args, seed=11, checks=NO_TORCH, timeout=30)
    assert not here.passed
    assert (here.verdict, here.checks, here.notes) == (there.verdict, there.checks, there.notes)
    assert str(here) == str(there)


def test_in_place_changes_are_seen_through_the_worker() -> None:
    def batchnorm_backward(dy, x, gamma, eps=1e-5):  # type: ignore[no-untyped-def]
        dy *= 0  # mutates its input: reported, as in-process
        return np.zeros_like(x), np.zeros_like(gamma), np.zeros_like(gamma)

    result = bncheck.check_backward(batchnorm_backward, timeout=30, seed=2, checks=NO_TORCH)
    assert "mutation" in [c.name for c in result.failures]


def test_an_error_in_a_call_is_the_same_error() -> None:
    def batchnorm_backward(dy, x, gamma, eps=1e-5):  # type: ignore[no-untyped-def]
        raise RuntimeError("not implemented yet")

    errors = []
    for timeout in (None, 30):
        with pytest.raises(SubmissionError) as info:
            bncheck.check_backward(batchnorm_backward, timeout=timeout, seed=3, checks=NO_TORCH)
        errors.append(info.value)
    here, there = errors
    assert (here.code, here.message, here.hint) == (there.code, there.message, there.hint)
    assert here.code == "submission-raised" and "RuntimeError" in here.message
    assert "not implemented yet" in there.hint  # its traceback, with its own frame


def test_a_callable_that_ends_the_worker_is_a_crash() -> None:
    def batchnorm_backward(dy, x, gamma, eps=1e-5):  # type: ignore[no-untyped-def]
        os._exit(3)

    with pytest.raises(SubmissionError) as info:
        bncheck.check_backward(batchnorm_backward, timeout=30, seed=4, checks=NO_TORCH)
    assert info.value.code == "submission-crashed" and "(status 3)" in info.value.message


@pytest.mark.parametrize("bad", [0, -1, float("nan"), float("inf"), 86_401, "5", True])
def test_a_timeout_that_is_not_a_limit_is_a_usage_error(bad: Any) -> None:
    plain = _load("plain_correct.py")
    with pytest.raises(UsageError, match="timeout must be a number of seconds"):
        bncheck.check_backward(plain.batchnorm_backward, timeout=bad)


def test_torch_function_in_the_worker() -> None:
    torch = pytest.importorskip("torch", reason="a torch.autograd.Function needs torch")
    module = _load("torch_correct.py")
    # torch's OpenMP threads have run here: a forked child that used them would hang,
    # unless the worker sets one thread first (worker.py)
    a = torch.randn(512, 512)
    for _ in range(3):
        (a @ a).sum()
    here = bncheck.check_backward(module.BatchNorm, seed=5)
    started = time.monotonic()
    there = bncheck.check_backward(module.BatchNorm, seed=5, timeout=20)
    assert time.monotonic() - started < 10
    assert there.passed and there.style == "torch"
    assert str(here) == str(there)
