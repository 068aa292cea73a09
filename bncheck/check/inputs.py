"""Seeded inputs that find bugs.

Two traps to avoid: an upstream gradient dout = ones, or dout ∝ x̂, makes the
true dx ≈ 0 (dx is (γ/σ)·(dout projected off span{1, x̂})), so nearly every
wrong backward "passes". Ours has a random part orthogonal to both, and non-zero
components along 1 and x̂, so a bug in the dmu or dvar path cannot hide either.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bncheck.check.reference import batch_stats, group_size, stat_shape
from bncheck.spec import NormSpec

__all__ = ["Case", "make_case", "make_cases", "upstream_gradient"]

# N ≠ D everywhere, so a transposed reduction cannot pass by accident.
SHAPES: dict[str, tuple[tuple[int, ...], ...]] = {
    "ND": ((8, 5), (3, 7), (32, 12)),
    "NCHW": ((4, 3, 2, 5), (2, 5, 3, 3)),
}


@dataclass(frozen=True)
class Case:
    """One input to a backward: x, gamma, beta and the upstream gradient dy."""

    name: str
    x: np.ndarray
    gamma: np.ndarray
    beta: np.ndarray
    dy: np.ndarray
    note: str = ""  # what the case is there to catch

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.x.shape)

    def astype(self, dtype: type | np.dtype) -> Case:
        """The same case in another dtype (references always work on the float64 upcast)."""
        x, gamma, beta, dy = (
            np.asarray(a, dtype=dtype) for a in (self.x, self.gamma, self.beta, self.dy)
        )
        return Case(self.name, x, gamma, beta, dy, self.note)


def _features(spec: NormSpec, shape: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(shape[a] for a in spec.feature_axes)


def upstream_gradient(x: np.ndarray, spec: NormSpec, rng: np.random.Generator) -> np.ndarray:
    """dy = a·1 + b·x̂ + r⊥ per group, with |a|, |b| in [0.3, 1] and r⊥ ⊥ {1, x̂}, rms 1."""
    mu, var = batch_stats(x, spec)
    xhat = (x - mu) / np.sqrt(var + spec.eps)
    r = rng.standard_normal(x.shape)
    ones = np.ones_like(x)
    for basis in (ones, xhat):  # Gram-Schmidt per group against 1, then x̂ (orthogonal to 1)
        norm2 = (basis * basis).sum(axis=spec.axes, keepdims=True)
        coef = (r * basis).sum(axis=spec.axes, keepdims=True) / np.where(norm2 > 0, norm2, 1.0)
        r = r - coef * basis
    rms = np.sqrt((r * r).mean(axis=spec.axes, keepdims=True))
    r = r / np.where(rms > 0, rms, 1.0)
    sign = rng.choice([-1.0, 1.0], size=(2, *stat_shape(spec, x.shape)))
    a, b = sign * rng.uniform(0.3, 1.0, size=sign.shape)
    return np.asarray(a * ones + b * xhat + r)


def _affine(spec: NormSpec, shape: tuple[int, ...], rng: np.random.Generator) -> tuple:
    d = _features(spec, shape)
    gamma = rng.choice([-1.0, 1.0], size=d) * rng.uniform(0.5, 2.0, size=d)  # never ones
    beta = rng.standard_normal(d)
    return gamma, beta


def make_case(
    spec: NormSpec, shape: tuple[int, ...], rng: np.random.Generator, name: str = ""
) -> Case:
    """An ordinary case: per-feature means and spreads that differ, gamma ≠ 1, beta ≠ 0."""
    stat = stat_shape(spec, shape)
    x = rng.normal(2.0, 1.0, size=stat) + np.exp(rng.normal(0, 0.5, size=stat)) * (
        rng.standard_normal(shape)
    )
    gamma, beta = _affine(spec, shape, rng)
    dy = upstream_gradient(x, spec, rng)
    return Case(name or f"random {shape}", x, gamma, beta, dy)


def _degenerate(spec: NormSpec, rng: np.random.Generator) -> list[Case]:
    """Features that break careless code, one per case so a failure names its cause."""
    shape = SHAPES[spec.layout][0] if spec.layout in SHAPES else (8,) + (3,) * (spec.ndim - 1)
    out = []
    specs = (
        ("zero-variance feature", lambda f: 0.0 * f + 3.0, "var = 0: needs eps inside the sqrt"),
        ("variance far below eps", lambda f: 1e-4 * f - 0.5, "var = 1e-8 ≪ eps = 1e-5"),
        ("offset mean 1e4", lambda f: f + 1e4, "mean 1e4, std 1: cancellation in raw sums"),
    )
    for name, transform, note in specs:
        base = make_case(spec, shape, rng)
        x = base.x.copy()
        first = tuple(0 if a in spec.feature_axes else slice(None) for a in range(spec.ndim))
        x[first] = transform(rng.standard_normal(x[first].shape))
        out.append(Case(name, x, base.gamma, base.beta, upstream_gradient(x, spec, rng), note))
    # N = 1 only where the convention defines it: not with 1/(m-1), nor with PyTorch's
    # unbiased running variance (PyTorch refuses a batch of one in training)
    if spec.variance == "biased" and spec.running == "cs231n":
        one = tuple(1 if a in spec.axes else n for a, n in enumerate(shape))
        if group_size(spec, one) == 1:
            c = make_case(spec, one, rng, name="N = 1")
            out.append(Case(c.name, c.x, c.gamma, c.beta, c.dy, "one element: xhat = 0, dx = 0"))
    return out


def make_cases(
    spec: NormSpec, seed: int = 0, degenerate: bool = True, dtype: type = np.float64
) -> tuple[Case, ...]:
    """The seeded battery: ordinary shapes, then the degenerate features."""
    rng = np.random.default_rng(seed)
    shapes = SHAPES.get(spec.layout, ((6,) + (4,) * (spec.ndim - 1),))
    cases = [make_case(spec, s, rng) for s in shapes]
    if degenerate:
        cases += _degenerate(spec, rng)
    return tuple(c.astype(dtype) for c in cases)
