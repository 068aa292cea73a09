"""Finite differences in float64: the referee.

Step size. For a central difference the best step is fixed *per element*, not
per direction: h = rel_step · σ of the element's group (σ = sqrt(var + eps), or the
RMS for RMSNorm), so it holds at every size and on every group's scale. A fixed
h = 1e-5 loses three orders of magnitude at 1M elements (DESIGN.md, "Numerics").

dx: group structure. y of group d depends on the x of group d only (its own μ and σ),
whatever γ does, so perturbing element k of *every* group at once and reading one
loss per group, ℓ_d = Σ dy·y over group d, gives a whole slice of dx: 2·m forwards
(m with the complex step) instead of 2·(elements of x). This holds for every preset:
a group is a feature of batch norm, a row of LayerNorm and RMSNorm, one sample's block
of channels of GroupNorm, one sample's channel of InstanceNorm.

dγ, dβ: γ may vary inside a group (LayerNorm's γ_i), so one loss per *group* no longer
reads one γ. But every y_e = γ_p(e)·x̂_e + β_p(e) depends on one parameter element
p(e), and affinely. So the scheme "at once" moves every γ (then every β) by ±1 and reads
one loss per *parameter element*, ℓ_j = Σ dy·y over the elements γ_j scales: 4 forwards,
exact up to round-off, for every preset (for batch norm ℓ_j is ℓ_d). "one by one" moves
one parameter element at a time and reads the whole loss, assuming nothing about which
elements a parameter touches: 4·(elements of γ) forwards, an independent check.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np

from bncheck.check.reference import batch_stats, forward, group_loss, param_loss, spread
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
    # dγ, dβ (module docstring): "at once", one loss per parameter element, 4 forwards;
    # "one by one", the whole loss per parameter element moved, 4·(elements of γ) forwards
    params: Literal["at once", "one by one"] = "at once"

    def describe(self, spec: NormSpec | None = None) -> str:
        """The referee in one line; with ``spec``, how dγ and dβ were read where it matters
        (γ varies inside a group, or GroupNorm's blocks), and always for "one by one"."""
        if self.method == "complex":
            line = f"complex step h={COMPLEX_STEP:g}"
        else:
            line = f"central, step {self.rel_step:g}·σ"
        if self.params == "one by one":
            return f"{line}; dgamma, dbeta one element at a time, whole loss"
        if spec is not None and (spec.gamma_in_group or spec.groups is not None):
            return f"{line}; dgamma, dbeta all at once, one loss per parameter element"
        return line

    def forwards(self, spec: NormSpec, shape: tuple[int, ...], params: int) -> int:
        """Forwards of the reference for one case: dx's slices, then dγ and dβ."""
        m = spec.group_size(tuple(shape))
        dx = m if self.method == "complex" else 2 * m
        return dx + (4 if self.params == "at once" else 4 * params)


@dataclass(frozen=True)
class FDGradients:
    dx: np.ndarray  # NaN at positions not computed (large tensors)
    dgamma: np.ndarray
    dbeta: np.ndarray
    positions: int  # positions per group computed
    m: int  # elements per group
    forwards: int = 0  # of the reference forward, for dx, dgamma and dbeta together
    scheme: str = ""  # how dγ and dβ were read (FDOptions.params)

    @property
    def complete(self) -> bool:
        return self.positions == self.m


def _positions(spec: NormSpec, shape: tuple[int, ...]) -> list[tuple[int, ...]]:
    """The positions inside one group: coordinates on the grouped view's statistics axes."""
    view = spec.view_shape(tuple(shape))
    return list(itertools.product(*(range(view[a]) for a in spec.view_axes)))


def _index(spec: NormSpec, ndim: int, pos: tuple[int, ...]) -> tuple:
    """Element ``pos`` of every group, in the grouped view (``ndim`` axes): fixed coordinates
    on the statistics axes, ':' on the others."""
    coords = iter(pos)
    return tuple(next(coords) if a in spec.view_axes else slice(None) for a in range(ndim))


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
    x = np.ascontiguousarray(x, dtype=np.float64)
    view = spec.view_shape(x.shape)  # grouped view: its view_axes are exactly one group
    _, var = batch_stats(x, spec)
    sigma = np.sqrt(var + spec.eps)  # keepdims in the view: one step per group
    positions = _positions(spec, x.shape)
    m = len(positions)
    forwards = m if opts.method == "complex" else 2 * m
    if forwards * x.size > opts.max_work:  # sample positions; report says how many
        keep = max(2, opts.max_work // (x.size * (forwards // m)))
        picker = rng or np.random.default_rng(0)
        chosen = sorted(picker.choice(m, size=min(keep, m), replace=False))
        positions = [positions[i] for i in chosen]

    def loss(xw: np.ndarray) -> np.ndarray:
        return group_loss(forward(xw, gamma, beta, spec), dy, spec)

    dxv = np.full(view, np.nan)  # dx in the grouped view
    xv = x.reshape(view)
    if opts.method == "complex":
        xc = x.astype(np.complex128)
        xcv = xc.reshape(view)  # a view: writing to it moves xc
        for pos in positions:
            idx = _index(spec, len(view), pos)
            xcv[idx] += 1j * COMPLEX_STEP
            dxv[idx] = loss(xc).imag / COMPLEX_STEP
            xcv[idx] = xv[idx]
    else:
        h = np.broadcast_to(opts.rel_step * sigma, view)
        xw = x.copy()
        xwv = xw.reshape(view)
        for pos in positions:
            idx = _index(spec, len(view), pos)
            hi, lo = xv[idx] + h[idx], xv[idx] - h[idx]
            xwv[idx] = hi
            up = loss(xw)
            xwv[idx] = lo
            down = loss(xw)
            xwv[idx] = xv[idx]
            dxv[idx] = (up - down) / (hi - lo)  # the step actually taken, exact in float64
    dx = dxv.reshape(x.shape)
    gamma = np.asarray(gamma, dtype=np.float64)
    beta = np.asarray(beta, dtype=np.float64)
    if opts.params == "one by one":
        dgamma, dbeta = _params_one_by_one(x, gamma, beta, dy, spec)
    else:
        dgamma, dbeta = _params_at_once(x, gamma, beta, dy, spec)
    per_position = forwards // m
    params = 4 if opts.params == "at once" else 4 * gamma.size
    return FDGradients(
        dx,
        dgamma,
        dbeta,
        len(positions),
        m,
        forwards=len(positions) * per_position + params,
        scheme=opts.params,
    )


def _params_at_once(
    x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, dy: np.ndarray, spec: NormSpec
) -> tuple[np.ndarray, np.ndarray]:
    """Every γ (then every β) moved by ±1, one loss per parameter element: 4 forwards.

    ℓ_j is affine in γ_j and β_j and free of every other parameter element (module
    docstring), so one central difference of step 1 is exact.
    """
    one = np.ones_like(gamma)

    def loss_at(g: np.ndarray, b: np.ndarray) -> np.ndarray:
        return param_loss(forward(x, g, b, spec), dy, spec)

    dgamma = (loss_at(gamma + one, beta) - loss_at(gamma - one, beta)) / 2
    dbeta = (loss_at(gamma, beta + one) - loss_at(gamma, beta - one)) / 2
    return dgamma, dbeta


def _params_one_by_one(
    x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, dy: np.ndarray, spec: NormSpec
) -> tuple[np.ndarray, np.ndarray]:
    """One parameter element moved by ±1 at a time, the whole loss Σ dy·y read each time:
    4·(elements of γ) forwards, assuming only that the loss is affine in γ and β."""

    def total(g: np.ndarray, b: np.ndarray) -> float:
        return float(np.sum(dy * forward(x, g, b, spec)))

    dgamma, dbeta = np.empty_like(gamma), np.empty_like(beta)
    for j in range(gamma.size):
        for out, moved in ((dgamma, 0), (dbeta, 1)):
            plus, minus = [gamma.copy(), beta.copy()], [gamma.copy(), beta.copy()]
            plus[moved].flat[j] += 1.0
            minus[moved].flat[j] -= 1.0
            out.flat[j] = (total(*plus) - total(*minus)) / 2
    return dgamma, dbeta


@dataclass(frozen=True)
class Directional:
    """⟨w, J v⟩ by finite differences of a forward against ⟨Jᵀw, v⟩ from its backward."""

    jvp: np.ndarray  # one per direction
    vjp: np.ndarray

    @property
    def rel_err(self) -> float:
        """max |jvp − vjp| over the directions, relative to the largest |⟨w, J v⟩| of all.

        Not to each direction's own: a random direction can make ⟨w, J v⟩ nearly cancel
        (−0.028 from terms of size 400, where the other three gave 36 to 66), and its
        round-off, 4e-9 like theirs, would read as 1.5e-7 (a correct batch norm failed so,
        1 seed in 300)."""
        scale = float(np.max(np.maximum(np.abs(self.jvp), np.abs(self.vjp)), initial=0.0))
        return float(np.max(np.abs(self.jvp - self.vjp), initial=0.0)) / max(scale, 1e-300)


def directions(
    x: np.ndarray, gamma: np.ndarray, spec: NormSpec, k: int, rng: np.random.Generator
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """k random directions (vx, vgamma, vbeta); vx scaled by each group's σ."""
    _, var = batch_stats(np.asarray(x, dtype=np.float64), spec)
    sigma = spread(np.sqrt(var + spec.eps), spec, x.shape)
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
    view = spec.view_shape(tuple(x.shape))
    pos = _positions(spec, x.shape)[0]
    idx = _index(spec, len(view), pos)
    exact = np.asarray(exact_dx).reshape(view)[idx]
    scale = float(np.max(np.abs(exact))) or 1.0
    rows = []
    for e in range(1, 13):
        h = 10.0**-e
        hi, lo = np.array(x, dtype=np.float64), np.array(x, dtype=np.float64)
        hi.reshape(view)[idx] += h
        lo.reshape(view)[idx] -= h
        up = group_loss(forward(hi, gamma, beta, spec), dy, spec)
        down = group_loss(forward(lo, gamma, beta, spec), dy, spec)
        slice_ = (up - down) / (hi.reshape(view)[idx] - lo.reshape(view)[idx])
        rows.append((h, float(np.max(np.abs(slice_ - exact))) / scale))
    return rows
