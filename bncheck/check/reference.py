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

from bncheck.spec import NormSpec

__all__ = [
    "batch_stats",
    "expand",
    "forward",
    "forward_eval",
    "group_loss",
    "group_size",
    "running_update",
    "stat_shape",
]


def group_size(spec: NormSpec, shape: tuple[int, ...]) -> int:
    """m, the number of elements in one normalization group."""
    return int(np.prod([shape[a] for a in spec.axes]))


def stat_shape(spec: NormSpec, shape: tuple[int, ...]) -> tuple[int, ...]:
    """The shape of one statistic per group, keepdims: 1 on the reduced axes."""
    return tuple(1 if a in spec.axes else n for a, n in enumerate(shape))


def expand(v: Any, spec: NormSpec, shape: tuple[int, ...]) -> Any:
    """A per-feature vector, e.g. gamma of shape (D,), reshaped to broadcast against x."""
    return v.reshape(stat_shape(spec, tuple(shape)))


def batch_stats(x: Any, spec: NormSpec) -> tuple[Any, Any]:
    """mu and var of every group, keepdims; var by the spec's convention (1/m or 1/(m-1)).

    numpy arrays or torch tensors alike (``sum(axis=, keepdims=)`` is valid for both).
    """
    m = group_size(spec, tuple(x.shape))
    mu = x.sum(axis=spec.axes, keepdims=True) / m
    xmu = x - mu
    dof = m if spec.variance == "biased" else m - 1
    var = (xmu * xmu).sum(axis=spec.axes, keepdims=True) / dof  # complex-step safe
    return mu, var


def forward(x: Any, gamma: Any, beta: Any, spec: NormSpec, xp: Any = np) -> Any:
    """y = gamma * xhat + beta with batch statistics (train mode).

    ``xp``: numpy for arrays (and complex arrays: the complex step), torch for tensors
    (autograd differentiates this very function).
    """
    shape = tuple(x.shape)
    mu, var = batch_stats(x, spec)
    xhat = (x - mu) / xp.sqrt(var + spec.eps)  # eps inside the square root
    return expand(gamma, spec, shape) * xhat + expand(beta, spec, shape)


def forward_eval(
    x: np.ndarray,
    gamma: np.ndarray,
    beta: np.ndarray,
    running_mean: np.ndarray,
    running_var: np.ndarray,
    spec: NormSpec,
) -> np.ndarray:
    """y with the running statistics in place of the batch's (eval / 'test' mode)."""
    mean, var = expand(running_mean, spec, x.shape), expand(running_var, spec, x.shape)
    xhat = (x - mean) / np.sqrt(var + spec.eps)
    return expand(gamma, spec, x.shape) * xhat + expand(beta, spec, x.shape)


def running_update(
    running_mean: np.ndarray, running_var: np.ndarray, x: np.ndarray, spec: NormSpec
) -> tuple[np.ndarray, np.ndarray]:
    """One train step's running statistics, in the spec's convention.

    cs231n:  running = momentum*running + (1-momentum)*batch, biased batch variance
    pytorch: running = (1-momentum)*running + momentum*batch, UNBIASED batch variance
    """
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
    """ℓ_d = Σ over one group of dy·y: one loss per feature, since groups do not interact."""
    return (dy * y).sum(axis=spec.axes)
