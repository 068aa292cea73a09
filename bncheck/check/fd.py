"""Finite differences in float64: the referee.

Step size. For a central difference the best step is fixed *per element*, not
per direction: h = rel_step · σ of the element's group (σ = sqrt(var + eps)), so
it holds at every size and on every feature's scale. A fixed h = 1e-5 loses three
orders of magnitude at 1M elements (DESIGN.md, "Numerics").

Group structure. Elements of different groups do not interact, so perturbing
element k of *every* group at once and reading one loss per group,
ℓ_d = Σ dy·y over group d, gives a whole slice of dx: 2·m forwards (m with the
complex step) instead of 2·N·D.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np

from bncheck.check.reference import batch_stats, forward, group_loss
from bncheck.spec import NormSpec

__all__ = [
    "FDGradients",
    "FDOptions",
    "directional_check",
    "reference_gradients",
    "step_table",
]

COMPLEX_STEP = 1e-30  # no cancellation in Im f(x + i·h), so h can be tiny


@dataclass(frozen=True)
class FDOptions:
    method: Literal["central", "complex"] = "central"
    rel_step: float = 1e-5  # per-element step in units of the group's σ (float64)
    max_work: int = 20_000_000  # elements × forwards for dx; beyond it, sample positions
    directions: int = 4  # random directions in the ⟨w, J v⟩ = ⟨Jᵀw, v⟩ check

    def describe(self) -> str:
        if self.method == "complex":
            return f"complex step h={COMPLEX_STEP:g}"
        return f"central, step {self.rel_step:g}·σ"


@dataclass(frozen=True)
class FDGradients:
    dx: np.ndarray  # NaN at positions not computed (large tensors)
    dgamma: np.ndarray
    dbeta: np.ndarray
    positions: int  # positions per group computed
    m: int  # elements per group

    @property
    def complete(self) -> bool:
        return self.positions == self.m


def _positions(spec: NormSpec, shape: tuple[int, ...]) -> list[tuple[int, ...]]:
    return list(itertools.product(*(range(shape[a]) for a in spec.axes)))


def _index(spec: NormSpec, ndim: int, pos: tuple[int, ...]) -> tuple:
    """Element ``pos`` of every group: fixed coordinates on reduced axes, ':' on features."""
    coords = iter(pos)
    return tuple(next(coords) if a in spec.axes else slice(None) for a in range(ndim))


def reference_gradients(
    x: np.ndarray,
    gamma: np.ndarray,
    beta: np.ndarray,
    dy: np.ndarray,
    spec: NormSpec,
    options: FDOptions | None = None,
    rng: np.random.Generator | None = None,
) -> FDGradients:
    """dx, dgamma, dbeta of Σ dy·y by finite differences of the reference forward."""
    opts = options or FDOptions()
    x = np.asarray(x, dtype=np.float64)
    _, var = batch_stats(x, spec)
    sigma = np.sqrt(var + spec.eps)  # keepdims: one step per group
    positions = _positions(spec, x.shape)
    m = len(positions)
    forwards = m if opts.method == "complex" else 2 * m
    if forwards * x.size > opts.max_work:  # sample positions; report says how many
        keep = max(2, opts.max_work // (x.size * (forwards // m)))
        picker = rng or np.random.default_rng(0)
        chosen = sorted(picker.choice(m, size=min(keep, m), replace=False))
        positions = [positions[i] for i in chosen]

    def loss(xv: np.ndarray) -> np.ndarray:
        return group_loss(forward(xv, gamma, beta, spec), dy, spec)

    dx = np.full(x.shape, np.nan)
    if opts.method == "complex":
        xc = x.astype(np.complex128)
        for pos in positions:
            idx = _index(spec, x.ndim, pos)
            xc[idx] += 1j * COMPLEX_STEP
            dx[idx] = loss(xc).imag / COMPLEX_STEP
            xc[idx] = x[idx]
    else:
        h = np.broadcast_to(opts.rel_step * sigma, x.shape)
        xw = x.copy()
        for pos in positions:
            idx = _index(spec, x.ndim, pos)
            hi, lo = x[idx] + h[idx], x[idx] - h[idx]
            xw[idx] = hi
            up = loss(xw)
            xw[idx] = lo
            down = loss(xw)
            xw[idx] = x[idx]
            dx[idx] = (up - down) / (hi - lo)  # the step actually taken, exact in float64
    # ℓ_d is affine in gamma_d and beta_d: one central difference each is exact.
    one = np.ones_like(gamma, dtype=np.float64)

    def loss_at(g: np.ndarray, b: np.ndarray) -> np.ndarray:
        return group_loss(forward(x, g, b, spec), dy, spec)

    dgamma = (loss_at(gamma + one, beta) - loss_at(gamma - one, beta)) / 2
    dbeta = (loss_at(gamma, beta + one) - loss_at(gamma, beta - one)) / 2
    return FDGradients(dx, dgamma, dbeta, len(positions), m)


@dataclass(frozen=True)
class Directional:
    """⟨w, J v⟩ by finite differences of a forward against ⟨Jᵀw, v⟩ from its backward."""

    jvp: np.ndarray  # one per direction
    vjp: np.ndarray

    @property
    def rel_err(self) -> float:
        scale = np.maximum(np.abs(self.jvp), np.abs(self.vjp))
        return float(np.max(np.abs(self.jvp - self.vjp) / np.maximum(scale, 1e-300)))


def directions(
    x: np.ndarray, gamma: np.ndarray, spec: NormSpec, k: int, rng: np.random.Generator
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """k random directions (vx, vgamma, vbeta); vx scaled by each group's σ."""
    _, var = batch_stats(np.asarray(x, dtype=np.float64), spec)
    sigma = np.sqrt(var + spec.eps)
    return [
        (
            rng.standard_normal(x.shape) * sigma,
            rng.standard_normal(gamma.shape),
            rng.standard_normal(gamma.shape),
        )
        for _ in range(k)
    ]


def directional_check(
    outputs: Callable[[int, int], np.ndarray],
    grads: tuple[np.ndarray, np.ndarray, np.ndarray],
    dy: np.ndarray,
    dirs: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
    h: float,
) -> Directional:
    """``outputs(i, ±1)`` is the forward at (x, gamma, beta) ± h·direction i."""
    jvp, vjp = [], []
    for i, v in enumerate(dirs):
        dout = np.asarray(outputs(i, +1), np.float64) - np.asarray(outputs(i, -1), np.float64)
        jvp.append(float(np.sum(dy * dout)) / (2 * h))
        vjp.append(sum(float(np.sum(g * vi)) for g, vi in zip(grads, v, strict=True)))
    return Directional(np.array(jvp), np.array(vjp))


def step_table(
    x: np.ndarray,
    gamma: np.ndarray,
    beta: np.ndarray,
    dy: np.ndarray,
    spec: NormSpec,
    exact_dx: np.ndarray,
) -> list[tuple[float, float]]:
    """(h, max |error| / max |dx|) of one central-difference slice, h from 1e-1 to 1e-12.

    Large h: truncation error ∝ h². Small h: round-off ∝ eps_machine / h.
    """
    pos = _positions(spec, x.shape)[0]
    idx = _index(spec, x.ndim, pos)
    scale = float(np.max(np.abs(exact_dx[idx]))) or 1.0
    rows = []
    for e in range(1, 13):
        h = 10.0**-e
        hi, lo = x.copy(), x.copy()
        hi[idx] += h
        lo[idx] -= h
        up = group_loss(forward(hi, gamma, beta, spec), dy, spec)
        down = group_loss(forward(lo, gamma, beta, spec), dy, spec)
        slice_ = (up - down) / (hi[idx] - lo[idx])
        rows.append((h, float(np.max(np.abs(slice_ - exact_dx[idx]))) / scale))
    return rows
