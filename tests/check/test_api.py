"""The Python API: one line in a notebook, a readable AssertionError for pytest."""

from __future__ import annotations

import importlib.util
import io
import json
from types import ModuleType

import numpy as np
import pytest

import bncheck
from bncheck.check.api import VerifyOptions
from bncheck.check.result import VerifyResult
from bncheck.check.submission import SubmissionError
from bncheck.examples import path


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name.removesuffix(".py"), path(name))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_notebook_one_liner_cs231n() -> None:
    layers = _load("cs231n_correct.py")
    result = bncheck.check_backward(layers.batchnorm_forward, layers.batchnorm_backward)
    assert isinstance(result, VerifyResult) and result.passed and result.style == "cs231n"


def test_plain_callable_and_path_and_module() -> None:
    plain = _load("plain_correct.py")
    assert bncheck.check_backward(plain.batchnorm_backward).style == "plain"
    assert bncheck.check_backward(str(path("plain_correct.py"))).passed
    assert bncheck.check_backward(plain).passed


def test_torch_function_in_process() -> None:
    pytest.importorskip("torch", reason="the torch-style example needs torch")
    module = _load("torch_correct.py")
    result = bncheck.check_backward(module.BatchNorm)
    assert result.passed and result.style == "torch"


def test_assert_gradients_close_raises_a_readable_error() -> None:
    bug = _load("bug_dx_missing_dvar.py")
    with pytest.raises(AssertionError) as info:
        bncheck.assert_gradients_close(bug.batchnorm_forward, bug.batchnorm_backward)
    text = str(info.value)
    assert text.startswith("FAILED") and "dx: submission vs derived (float64)" in text
    assert "array(" not in text  # never dumps arrays


def test_in_process_exception_is_a_submission_error() -> None:
    def batchnorm_backward(dy, x, gamma, eps=1e-5):  # type: ignore[no-untyped-def]
        raise RuntimeError("not implemented yet")

    with pytest.raises(SubmissionError, match="RuntimeError"):
        bncheck.check_backward(batchnorm_backward)


def test_in_process_inputs_are_not_the_callers() -> None:
    seen = []

    def batchnorm_backward(dy, x, gamma, eps=1e-5):  # type: ignore[no-untyped-def]
        seen.append(dy)
        dy *= 0  # mutates: must be reported, not corrupt our references
        return np.zeros_like(x), np.zeros_like(gamma), np.zeros_like(gamma)

    result = bncheck.check_backward(batchnorm_backward)
    assert "mutation" in [c.name for c in result.failures]


def test_result_renders_as_text_html_json_and_rich() -> None:
    from rich.console import Console

    bug = _load("bug_dgamma_keepdims.py")
    result = bncheck.check_backward(bug.batchnorm_forward, bug.batchnorm_backward, seed=3)
    text = str(result)
    assert "FAIL" in text and "seed 3" in text and "variance: 1/m (biased)" in text
    assert "<table>" in result._repr_html_()
    data = json.loads(result.to_json())
    assert data["passed"] is False and data["style"] == "cs231n"
    assert data["schema_version"] == 1 and data["read_it"].startswith("Read it: ")
    failed = {c["id"] for c in data["checks"] if c["passed"] is False}
    assert failed == {"dgamma-shape", "dbeta-shape"}
    console = Console(width=120, record=True, file=io.StringIO())
    console.print(result)
    shown = console.export_text()
    assert "FAILED: 2 of" in shown and "[dgamma-shape]" in shown


def test_options_and_overrides() -> None:
    plain = _load("plain_correct.py")
    result = bncheck.check_backward(
        plain.batchnorm_backward, options=VerifyOptions(seed=5, degenerate=False)
    )
    assert result.seed == 5 and result.passed
    with pytest.raises(TypeError):
        bncheck.check_backward(plain.batchnorm_backward, no_such_option=1)


def test_large_shape_in_process() -> None:
    plain = _load("plain_correct.py")
    result = bncheck.check_backward(
        plain.batchnorm_backward, shapes=((256, 128),), degenerate=False
    )
    assert result.passed
