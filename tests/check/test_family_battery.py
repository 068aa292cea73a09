"""The battery on the new presets, in-process, plain style: a right backward passes every
row that applies, a known-wrong one fails with words that fit the normalization."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from bncheck.check.api import check_backward
from bncheck.check.evidence import CheckOptions
from bncheck.check.reference import batch_stats, expand, grouped, param_reduce
from bncheck.spec import SPECS, NormSpec
from tests.check.test_family_references import derived_or_skip

OFF = CheckOptions(autograd="off")
NEW = ("layernorm", "groupnorm", "instancenorm", "rmsnorm")


def numpy_backward(spec: NormSpec, center: bool | None = None, stats: tuple[int, ...] = ()):  # type: ignore[no-untyped-def]
    """A hand-written backward for ``spec`` (a submission, not a reference), in the runner's
    plain convention (dy, x, gamma[, G], eps); ``center``/``stats`` plant a mistake."""
    center = spec.center if center is None else center
    used = dataclasses.replace(spec, center=center, **({"axes": stats} if stats else {}))

    def backward(dy: np.ndarray, x: np.ndarray, gamma: np.ndarray, eps: float) -> Any:
        shape = x.shape
        mu, var = batch_stats(x, used)
        inv_std = 1.0 / np.sqrt(var + eps)
        xhat = (grouped(x, used) - mu) * inv_std
        g = grouped(dy * expand(gamma, used, shape), used)
        m = used.group_size(shape)
        axes = used.view_axes
        dx = g - (g.sum(axis=axes, keepdims=True) / m if center else 0.0)
        dx = dx - xhat * (g * xhat).sum(axis=axes, keepdims=True) / m
        dx = (dx * inv_std).reshape(shape)
        dgamma = param_reduce(dy * xhat.reshape(shape), spec)
        return dx, dgamma, param_reduce(dy, spec)

    if spec.groups is None:
        return backward

    def grouped_backward(dy, x, gamma, G, eps):  # type: ignore[no-untyped-def]
        assert spec.groups == G
        return backward(dy, x, gamma, eps)

    return grouped_backward


def _run(spec: NormSpec, fn: Callable[..., Any], seed: int = 3):  # type: ignore[no-untyped-def]
    return check_backward(fn, spec=spec, seed=seed, checks=OFF)


@pytest.mark.parametrize("norm", NEW)
def test_a_right_backward_passes_every_row(norm: str) -> None:
    spec = SPECS[norm]
    derived_or_skip(spec)  # the battery compares with the derived gradient too
    result = _run(spec, numpy_backward(spec))
    failed = [(c.id, c.message) for c in result.checks if c.passed is False]
    assert failed == [] and result.passed
    ids = {c.id for c in result.checks}
    assert "running-stats" not in ids and "eval-mode" not in ids
    assert ("dx-sums-to-zero" in ids) == spec.center
    assert "match every reference" in result.read_it


@pytest.mark.parametrize(
    ("norm", "mistake"),
    [
        ("layernorm", {"stats": (0,)}),  # statistics over the batch axis
        ("rmsnorm", {"center": True}),  # RMSNorm with centring
        ("groupnorm", {"stats": (2, 3)}),  # per channel: instance norm's groups
        ("instancenorm", {"stats": (0, 2, 3)}),  # batch statistics
    ],
)
def test_a_wrong_backward_fails_with_words_that_fit(norm: str, mistake: dict[str, Any]) -> None:
    spec = SPECS[norm]
    derived_or_skip(spec)
    kwargs = dict(mistake)
    if norm == "groupnorm":  # the grouped view of a spec without groups
        kwargs = {}
        wrong = numpy_backward(SPECS["instancenorm"])

        def fn(dy, x, gamma, G, eps):  # type: ignore[no-untyped-def]
            dx, dgamma, dbeta = wrong(dy, x, gamma.reshape(-1), eps)
            return dx, dgamma.reshape(gamma.shape), dbeta.reshape(gamma.shape)

        result = _run(spec, fn)
    else:
        result = _run(spec, numpy_backward(spec, **kwargs))
    assert not result.passed
    assert result["dx-vs-fd"].passed is False
    assert "feature" not in result["dx-vs-fd"].message  # a row, a group, a plane
    assert "dx is wrong" in result.read_it or "dx and" in result.read_it


def test_layernorm_words_in_a_degenerate_case() -> None:
    """A failure in LayerNorm's odd case is placed in its odd row, not a feature."""
    spec = SPECS["layernorm"]
    derived_or_skip(spec)

    def no_eps(dy, x, gamma, eps):  # type: ignore[no-untyped-def]
        return numpy_backward(spec)(dy, x, gamma, 0.0)  # eps left out: NaN or huge at var 0

    result = _run(spec, no_eps)
    assert not result.passed
    messages = " ".join(c.message for c in result.checks if c.passed is False)
    assert "row" in messages and "feature" not in messages


def test_sum_row_names_the_group() -> None:
    """Σ dx over a row: the row's name and index when a dmu path is missing."""
    spec = SPECS["layernorm"]
    derived_or_skip(spec)
    result = _run(spec, numpy_backward(spec, center=False))  # no dmu path: Σ dx ≠ 0
    row = result["dx-sums-to-zero"]
    assert row.passed is False and row.name == "Σ_row dx = 0"
    assert row.message.startswith("row ") and "adding a constant to a row" in row.message
