"""Every preset: the tolerance machinery passes one reference against another and fails
known-wrong gradients (the wrong axes, the wrong statistics, RMSNorm with centring); the
inputs, the Σ dx identity and the checks that apply fit each normalization."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
import pytest

from bncheck.check import sources
from bncheck.check.battery import applicable
from bncheck.check.compare import Tolerances
from bncheck.check.fd import FDOptions
from bncheck.check.inputs import Case, group_word, make_cases
from bncheck.check.reference import batch_stats, expand, group_reduce, grouped, param_reduce
from bncheck.spec import SPECS, NormSpec
from tests.check.test_family_references import close, torch_or_skip

NEW = ("layernorm", "groupnorm", "instancenorm", "rmsnorm")


def _swap(spec: NormSpec, **fields: object) -> Callable[[Case], sources.Grads]:
    """Autograd of another normalization's forward: a backward with that mistake."""
    other = dataclasses.replace(spec, **fields)  # type: ignore[arg-type]
    return lambda case: sources.autograd(other, case)


def _dgamma_per_block(spec: NormSpec) -> Callable[[Case], sources.Grads]:
    """GroupNorm's dγ summed over the whole block of channels, as if γ were one per group."""

    def wrong(case: Case) -> sources.Grads:
        g = sources.autograd(spec, case)
        c, groups = case.x.shape[1], spec.groups or 1
        block = g.dgamma.reshape(groups, c // groups).sum(axis=1, keepdims=True)
        dgamma = np.broadcast_to(block, (groups, c // groups)).reshape(g.dgamma.shape)
        return sources.Grads(g.dx, dgamma, g.dbeta)

    return wrong


def _dgamma_over_all(spec: NormSpec) -> Callable[[Case], sources.Grads]:
    """dγ summed over every axis (γ's own too) and handed to every element."""

    def wrong(case: Case) -> sources.Grads:
        g = sources.autograd(spec, case)
        return sources.Grads(g.dx, np.full_like(g.dgamma, g.dgamma.sum()), g.dbeta)

    return wrong


def _dgamma_of_x(spec: NormSpec) -> Callable[[Case], sources.Grads]:
    """dγ = Σ dy·x instead of Σ dy·x̂ (over the right axes)."""

    def wrong(case: Case) -> sources.Grads:
        g = sources.autograd(spec, case)
        return sources.Grads(g.dx, param_reduce(case.dy * case.x, spec), g.dbeta)

    return wrong


WRONG: dict[str, dict[str, Callable[[NormSpec], Callable[[Case], sources.Grads]]]] = {
    "layernorm": {
        "statistics over the batch axis": lambda s: _swap(s, axes=(0,)),
        "RMSNorm's (no centring)": lambda s: _swap(s, center=False),
        "dgamma summed over every axis": _dgamma_over_all,
        "dgamma of x, not x̂": _dgamma_of_x,
    },
    "rmsnorm": {
        "centred (a layer norm)": lambda s: _swap(s, center=True),
        "statistics over the batch axis": lambda s: _swap(s, axes=(0,)),
        "dgamma summed over every axis": _dgamma_over_all,
    },
    "groupnorm": {
        "one group (G = 1)": lambda s: _swap(s, groups=1),
        "instance norm (no groups)": lambda s: _swap(s, axes=(2, 3), groups=None),
        "dgamma summed per block": _dgamma_per_block,
        "dgamma of x, not x̂": _dgamma_of_x,
    },
    "instancenorm": {
        "statistics over N, H, W (batch norm)": lambda s: _swap(s, axes=(0, 2, 3)),
        "statistics over C, H, W (layer norm)": lambda s: _swap(s, axes=(1, 2, 3)),
        "dgamma summed over every axis": _dgamma_over_all,
    },
}


@pytest.mark.parametrize("norm", NEW)
def test_reference_against_reference_passes(norm: str) -> None:
    """fd (central, complex) and torch's own function against autograd, under the battery's
    tolerances, on every case of two seeds."""
    torch_or_skip()
    spec = SPECS[norm]
    tol = Tolerances()
    for seed in (20, 21):
        for case in make_cases(spec, seed=seed):
            want = sources.autograd(spec, case)
            central = sources.finite_differences(spec, case, FDOptions())
            complex_ = sources.finite_differences(spec, case, FDOptions("complex"))
            assert close(central, want, case, spec, tol.central) == []
            assert close(complex_, want, case, spec, tol.complex) == []


@pytest.mark.parametrize(
    ("norm", "mistake"), [(n, m) for n, mistakes in WRONG.items() for m in mistakes]
)
def test_a_known_wrong_gradient_fails(norm: str, mistake: str) -> None:
    """Each mistake fails against the references, under every tolerance the battery uses
    (closed form, central differences), on some case of the battery."""
    torch_or_skip()
    spec = SPECS[norm]
    wrong = WRONG[norm][mistake](spec)
    failures = []
    for case in make_cases(spec, seed=30):
        bad = wrong(case)
        if [np.shape(a) for a in bad] != [np.shape(a) for a in sources.autograd(spec, case)]:
            failures.append("shape")
            continue
        fd = sources.finite_differences(spec, case, FDOptions())
        failures += close(bad, fd, case, spec, Tolerances().central)
    assert failures, f"{mistake} passed every case of {norm}"


@pytest.mark.parametrize("norm", sorted(SPECS))
def test_sum_of_dx_over_a_group(norm: str) -> None:
    """Σ dx over each group is 0 for centred norms (whatever γ does inside the group), and
    the row is run for them only; RMSNorm instead has Σ x·dx = eps/σ²·Σ γ·dy·x̂."""
    torch_or_skip()
    spec = SPECS[norm]
    ids = {c.id for c in applicable(spec, "cs231n")}
    for case in make_cases(spec, seed=40, degenerate=False):
        dx = sources.autograd(spec, case).dx
        g = case.dy * expand(case.gamma, spec, case.shape)
        scale = group_reduce(np.abs(g), spec) / np.sqrt(batch_stats(case.x, spec)[1] + spec.eps)
        total = np.abs(group_reduce(dx, spec))
        if spec.center:
            assert np.all(total <= 1e-12 * scale)
        else:
            assert np.max(total / scale) > 1e-3  # not an identity of RMSNorm
            _, ms = batch_stats(case.x, spec)
            xhat = grouped(case.x, spec) / np.sqrt(ms + spec.eps)
            lhs = group_reduce(case.x * dx, spec)
            rhs = (
                spec.eps
                / (ms + spec.eps)
                * (grouped(g, spec) * xhat).sum(axis=spec.view_axes, keepdims=True)
            )
            np.testing.assert_allclose(lhs, rhs, rtol=1e-8, atol=1e-12 * np.abs(g).sum())
    assert ("dx-sums-to-zero" in ids) == spec.center


@pytest.mark.parametrize("norm", sorted(SPECS))
def test_running_and_eval_checks_for_batch_norm_only(norm: str) -> None:
    spec = SPECS[norm]
    ids = {c.id for c in applicable(spec, "cs231n")}
    assert ({"running-stats", "eval-mode"} <= ids) == spec.has_running
    assert not ({"running-stats", "eval-mode"} & ids) or spec.has_running
    assert {"dx-vs-fd", "dgamma-vs-fd", "mutation", "hidden-state", "self-consistency"} <= ids


@pytest.mark.parametrize("norm", NEW)
def test_degenerate_cases_for_every_preset(norm: str) -> None:
    """A zero-variance row (LayerNorm), a constant block of channels of one sample
    (GroupNorm), a constant plane (InstanceNorm), a zero row (RMSNorm); one element per
    group; shapes with C divisible by G and no two axes alike."""
    spec = SPECS[norm]
    word = group_word(spec)
    for seed in range(6):
        cases = make_cases(spec, seed=seed)
        by = {c.name: c for c in cases}
        first = f"zero-variance {word}" if spec.center else f"zero {word}"
        odd = by[first]
        assert odd.feature is not None
        xv = grouped(odd.x, spec)
        coords = iter(odd.feature)
        index = tuple(slice(None) if a in spec.view_axes else next(coords) for a in range(xv.ndim))
        values = xv[index]
        assert np.ptp(values) == 0 and (spec.center or np.all(values == 0))
        _, var = batch_stats(odd.x, spec)
        assert np.sum(var == 0) == 1  # that group alone
        assert any(spec.group_size(c.shape) == 1 for c in cases)
        for c in cases:
            spec.check_shape(c.shape)
            assert c.gamma.shape == spec.param_shape(c.shape)
            if spec.group_size(c.shape) > 1:
                assert len(set(c.shape)) == len(c.shape), c.shape


@pytest.mark.parametrize("norm", NEW)
def test_upstream_gradient_cannot_hide_a_bug(norm: str) -> None:
    """g = γ·dy has a part along 1 and along x̂ and a random rest in every group, even when
    γ varies inside the group (dx is (1/σ)·g projected off span{1, x̂})."""
    spec = SPECS[norm]
    for case in make_cases(spec, seed=50, degenerate=False):
        mu, var = batch_stats(case.x, spec)
        xhat = (grouped(case.x, spec) - mu) / np.sqrt(var + spec.eps)
        # γ·dy is built when γ varies inside a group; dy itself otherwise (γ scales it)
        gamma = expand(case.gamma, spec, case.shape) if spec.gamma_in_group else 1.0
        g = grouped(case.dy * gamma, spec)
        axes = spec.view_axes
        m = spec.group_size(case.shape)
        ones = g.sum(axis=axes, keepdims=True) / m
        assert np.all(np.abs(ones) > 0.2)
        rest = g - ones
        xhat_c = xhat - xhat.mean(axis=axes, keepdims=True)
        along = (rest * xhat_c).sum(axis=axes, keepdims=True) / (xhat_c * xhat_c).sum(
            axis=axes, keepdims=True
        )
        assert np.all(np.abs(along) > 0.2)
        rest = rest - along * xhat_c
        assert np.all(np.sqrt((rest * rest).mean(axis=axes)) > 0.5)
