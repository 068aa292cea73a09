"""``judge`` attaches the diagnosis to a verify result, and a diagnoser that raises costs
a note, never the verdict."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

import bncheck.diagnose
from bncheck.check.api import check_backward
from bncheck.check.evidence import CheckOptions

OFF = CheckOptions(autograd="off")


def no_variance_path(dy: Any, x: Any, gamma: Any, eps: float = 1e-5) -> Any:
    """dx with the path through the variance dropped (a classic mistake)."""
    mu = x.mean(axis=0)
    std = np.sqrt(x.var(axis=0) + eps)
    xhat = (x - mu) / std
    g = dy * gamma
    dx = (g - g.mean(axis=0)) / std
    return dx, (dy * xhat).sum(axis=0), dy.sum(axis=0)


def test_a_failure_is_diagnosed() -> None:
    r = check_backward(no_variance_path, seed=1, checks=OFF)
    assert not r.passed
    assert r.diagnosis is not None and r.diagnosis.status == "named"
    assert "variance-path-dropped" in r.diagnosis.ids
    assert json.loads(r.to_json())["diagnosis"]["findings"][0]["id"] == "variance-path-dropped"


def test_a_diagnoser_that_raises_keeps_the_verdict(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(bncheck.diagnose, "diagnose", broken)
    r = check_backward(no_variance_path, seed=1, checks=OFF)
    assert not r.passed and r.verdict.startswith("FAILED")
    assert r.diagnosis is None
    assert (
        "bncheck's diagnoser failed (a bncheck bug, please report it): RuntimeError: boom"
        in r.notes
    )
    assert json.loads(r.to_json())["diagnosis"] is None
