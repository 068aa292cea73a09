"""The trusted reference forward, for any NormSpec: one for numpy and torch alike.

``xp`` is the array namespace: numpy (the default) for the references and the
finite differences, torch for autograd (``sources.autograd``). Only what both
accept is used: ``a.sum(axis=..., keepdims=True)`` (torch takes numpy's names),
``a.reshape(shape)`` and ``xp.sqrt``.

Written to be complex-step safe: (x - mu) * (x - mu), never abs() or x**2 of a
conjugate, so ``forward`` accepts complex input and ``fd`` can differentiate it
with Im f(x + i·h·e) / h.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bncheck.errors import SpecError
from bncheck.spec import NormSpec

__all__ = [
    "batch_stats",
    "expand",
    "forward",
    "forward_eval",
    "group_loss",
    "group_of",
    "group_reduce",
    "group_size",
    "grouped",
    "normalize",
    "param_loss",
    "param_reduce",
    "running_update",
    "spread",
    "stat_shape",
]


def group_size(spec: NormSpec, shape: tuple[int, ...]) -> int:
    """m, the number of elements in one normalization group."""
    return spec.group_size(tuple(shape))


def stat_shape(spec: NormSpec, shape: tuple[int, ...]) -> tuple[int, ...]:
    """The shape of a per-parameter vector broadcast against x: 1 off the parameter axes.

    (Batch norm's parameter axes are its feature axes, so this is also the keepdims
    shape of its statistics.)
    """
    return spec.param_broadcast_shape(tuple(shape))


def expand(v: Any, spec: NormSpec, shape: tuple[int, ...]) -> Any:
    """A parameter, e.g. gamma of shape (D,) or (1, C, 1, 1), reshaped to broadcast against x."""
    return v.reshape(stat_shape(spec, tuple(shape)))


def grouped(a: Any, spec: NormSpec) -> Any:
    """``a`` (x's shape) as a view whose ``spec.view_axes`` are exactly one group."""
    return a.reshape(spec.view_shape(tuple(a.shape)))


def group_reduce(a: Any, spec: NormSpec, keepdims: bool = True) -> Any:
    """Σ over each group of an x-shaped array; keepdims in the grouped view's layout."""
    return grouped(a, spec).sum(axis=spec.view_axes, keepdims=keepdims)


def param_reduce(a: Any, spec: NormSpec) -> Any:
    """Σ of an x-shaped array over the axes γ is not indexed by, shaped like γ (dγ, dβ)."""
    shape = tuple(a.shape)
    return a.sum(axis=spec.reduce_axes, keepdims=True).reshape(spec.param_shape(shape))


def spread(stat: np.ndarray, spec: NormSpec, shape: tuple[int, ...]) -> np.ndarray:
    """A per-group array (keepdims in the grouped view, like ``batch_stats``) repeated over
    x's elements, in x's shape: each element gets its group's value (numpy only)."""
    view = spec.view_shape(tuple(shape))
    if spec.groups is None:  # keepdims in x's own layout: broadcasting is enough
        return np.broadcast_to(stat, view)
    return np.broadcast_to(stat, view).reshape(shape)


def group_of(index: tuple[int, ...], spec: NormSpec, shape: tuple[int, ...]) -> tuple[int, ...]:
    """The group of element ``index`` of x: its coordinates on the grouped view's kept axes
    (one per group, as ``group_reduce(..., keepdims=False)`` lays them out)."""
    if spec.groups is None:
        return tuple(int(index[a]) for a in spec.feature_axes)
    g = spec.axes[0]
    block = shape[g] // spec.groups
    view = (*index[:g], index[g] // block, index[g] % block, *index[g + 1 :])
    return tuple(int(i) for a, i in enumerate(view) if a not in spec.view_axes)


def batch_stats(x: Any, spec: NormSpec) -> tuple[Any, Any]:
    """mu and var of every group, keepdims in the grouped view (``grouped``).

    var by the spec's convention (1/m or 1/(m-1)); without centring (RMSNorm) mu is 0
    and var is the mean square, mean(x²). numpy arrays or torch tensors alike
    (``sum(axis=, keepdims=)`` is valid for both).
    """
    m = group_size(spec, tuple(x.shape))
    xv = grouped(x, spec)
    if not spec.center:  # RMSNorm: the mean square; mu = 0 in var's shape, type and dtype
        var = (xv * xv).sum(axis=spec.view_axes, keepdims=True) / m  # complex-step safe
        return 0 * var, var
    mu = xv.sum(axis=spec.view_axes, keepdims=True) / m
    xmu = xv - mu
    dof = m if spec.variance == "biased" else m - 1
    var = (xmu * xmu).sum(axis=spec.view_axes, keepdims=True) / dof  # complex-step safe
    return mu, var


def normalize(x: Any, spec: NormSpec, xp: Any = np) -> Any:
    """x̂ in x's shape: (x - mu) / sqrt(var + eps) per group, x / sqrt(mean(x²) + eps) for RMS."""
    shape = tuple(x.shape)
    mu, var = batch_stats(x, spec)
    xhat = (grouped(x, spec) - mu) / xp.sqrt(var + spec.eps)  # eps inside the square root
    return xhat.reshape(shape)


def forward(x: Any, gamma: Any, beta: Any, spec: NormSpec, xp: Any = np) -> Any:
    """y = gamma * xhat + beta with batch statistics (train mode).

    ``xp``: numpy for arrays (and complex arrays: the complex step), torch for tensors
    (autograd differentiates this very function).
    """
    shape = tuple(x.shape)
    return expand(gamma, spec, shape) * normalize(x, spec, xp) + expand(beta, spec, shape)


def _batch_norm_only(spec: NormSpec, what: str) -> None:
    if not spec.has_running:
        raise SpecError(f"{spec.name} has no running statistics, so no {what}")


def forward_eval(
    x: np.ndarray,
    gamma: np.ndarray,
    beta: np.ndarray,
    running_mean: np.ndarray,
    running_var: np.ndarray,
    spec: NormSpec,
) -> np.ndarray:
    """y with the running statistics in place of the batch's (eval / 'test' mode).

    Batch norm only (``spec.has_running``): its statistics are one per γ.
    """
    _batch_norm_only(spec, "eval mode")
    mean, var = expand(running_mean, spec, x.shape), expand(running_var, spec, x.shape)
    xhat = (x - mean) / np.sqrt(var + spec.eps)
    return expand(gamma, spec, x.shape) * xhat + expand(beta, spec, x.shape)


def running_update(
    running_mean: np.ndarray, running_var: np.ndarray, x: np.ndarray, spec: NormSpec
) -> tuple[np.ndarray, np.ndarray]:
    """One train step's running statistics, in the spec's convention.

    cs231n:  running = momentum*running + (1-momentum)*batch, biased batch variance
    pytorch: running = (1-momentum)*running + momentum*batch, UNBIASED batch variance

    Batch norm only (``spec.has_running``).
    """
    _batch_norm_only(spec, "running statistics")
    m = group_size(spec, x.shape)
    mu = x.sum(axis=spec.axes) / m
    xmu = x - expand(mu, spec, x.shape)
    ss = (xmu * xmu).sum(axis=spec.axes)
    k = spec.effective_momentum
    if spec.running == "cs231n":
        return k * running_mean + (1 - k) * mu, k * running_var + (1 - k) * ss / m
    unbiased = ss / (m - 1) if m > 1 else np.full_like(ss, np.nan)
    return (1 - k) * running_mean + k * mu, (1 - k) * running_var + k * unbiased


def group_loss(y: np.ndarray, dy: np.ndarray, spec: NormSpec) -> np.ndarray:
    """ℓ_d = Σ over group d of dy·y: one loss per group (per feature for batch norm).

    y of group d depends on x of group d only (its own statistics), whatever γ does, so
    ℓ_d reads the effect of moving x inside group d alone (``fd``). Laid out as
    ``group_reduce(..., keepdims=False)``: the grouped view's kept axes.
    """
    return group_reduce(dy * y, spec, keepdims=False)


def param_loss(y: np.ndarray, dy: np.ndarray, spec: NormSpec) -> np.ndarray:
    """ℓ_j = Σ of dy·y over the elements that γ_j and β_j scale and shift: one loss per
    parameter element, shaped like γ.

    y_e = γ_p(e)·x̂_e + β_p(e) with x̂ free of γ and β, so ℓ_j reads the effect of moving
    γ_j (or β_j) alone even when every parameter moves at once (``fd``), and whether or
    not γ varies inside a group. For batch norm it is ``group_loss``.
    """
    return param_reduce(dy * y, spec)
