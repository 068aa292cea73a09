"""How large the terms are that cancel into each element of a gradient or an update.

Correct code that adds the same terms in another order is off by round-off of *their*
size, not of the result's: with one element per group the exact dx is 0, reached by
cancelling terms of size |γ·dy|/sqrt(eps) (DESIGN.md, Numerics). ``compare`` takes these
as each element's least scale, so an exact zero reached by cancellation does not demand
an exact zero back.
"""

from __future__ import annotations

import numpy as np

from bncheck.check.compare import row_blocks
from bncheck.check.reference import batch_stats, expand, group_size, grouped, param_reduce
from bncheck.spec import NormSpec

__all__ = ["gradient_terms", "running_terms"]


def gradient_terms(
    x: np.ndarray, gamma: np.ndarray, dy: np.ndarray, spec: NormSpec
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The size of the terms that cancel into each element of dx, dgamma and dbeta.

    With g = γ·dy (γ_i inside a group for LayerNorm, one γ per group for batch norm),
    dx = 1/(mσ)·(m·g − Σg − x̂·Σg·x̂·m/dof), without the Σg term for RMSNorm (no mean):
    correct code that adds these terms in another order is off by round-off of *their*
    size, not of dx's. With one element per group the exact dx is 0, reached by cancelling
    terms of size |γ·dy|/sqrt(eps) ≈ 1e2–1e3 (DESIGN.md, Numerics). dgamma = Σdy·x̂ and
    dbeta = Σdy are sums over the elements each parameter touches: their round-off is
    relative to Σ|dy·x̂|, Σ|dy|.
    """
    x, dy, g = (np.asarray(a, dtype=np.float64) for a in (x, dy, gamma))
    shape = x.shape
    m = group_size(spec, shape)
    mu, var = batch_stats(x, spec)
    inv_std = 1.0 / np.sqrt(var + spec.eps)
    dof = m if spec.variance == "biased" or not spec.center else max(m - 1, 1)
    axes = spec.view_axes  # statistics axes of the grouped view
    inside = spec.gamma_in_group  # γ varies inside a group: it goes into g = γ·dy
    # in place: a few arrays the size of x, |x̂| and |g| (which becomes dx's terms)
    xhat = np.subtract(grouped(x, spec), mu)
    np.abs(xhat, out=xhat)
    xhat *= inv_std
    ady = np.abs(grouped(dy, spec))
    if inside:  # dgamma's and dbeta's sums, before γ goes in
        sum_dyx_param = param_reduce((ady * xhat).reshape(shape), spec)
        sum_dy_param = param_reduce(ady.reshape(shape), spec)
        ady = ady * np.abs(grouped(expand(g, spec, shape), spec))
    sum_dy = ady.sum(axis=axes, keepdims=True)
    sum_dyx = _sum_of_product(ady, xhat, axes)
    xhat *= sum_dyx
    xhat /= dof
    dx = ady
    if spec.center:
        dx += sum_dy / m
    dx += xhat  # |g| + Σ|g|/m + |x̂|·Σ|g·x̂|/dof
    dx *= inv_std if inside else np.abs(grouped(expand(g, spec, shape), spec)) * inv_std
    dx = dx.reshape(shape)
    if inside:
        return dx, sum_dyx_param, sum_dy_param
    # one γ per group; several groups may share it (InstanceNorm's γ_c over N): add them up
    return dx, param_reduce(sum_dyx, spec), param_reduce(sum_dy, spec)


def _sum_of_product(a: np.ndarray, b: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    """Σ a·b over ``axes``, keepdims, one block of rows at a time (no temporary the size of a)."""
    if not axes or a.ndim == 0:
        return a * b
    out = None
    parts = []
    for block in row_blocks(a.shape):
        part = (a[block] * b[block]).sum(axis=axes, keepdims=True)
        if 0 in axes:
            out = part if out is None else out + part
        else:
            parts.append(part)
    return out if out is not None else np.concatenate(parts, axis=0)


def running_terms(
    running_mean: np.ndarray, running_var: np.ndarray, x: np.ndarray, spec: NormSpec
) -> tuple[np.ndarray, np.ndarray]:
    """The size of the terms of one update running = a·running + b·batch, per feature.

    |a·running| + |b|·mean|x| for the mean; |a·running| + |b|·mean(x²) for the variance
    (E[x²] − μ² is a correct way to compute it, with round-off of the size of E[x²]).
    """
    x = np.asarray(x, dtype=np.float64)
    m = group_size(spec, x.shape)
    k = spec.effective_momentum
    a, b = (k, 1 - k) if spec.running == "cs231n" else (1 - k, k)
    dof = m if spec.running == "cs231n" else max(m - 1, 1)  # PyTorch: unbiased
    mean_abs = np.abs(x).sum(axis=spec.axes) / m
    mean_sq = (x * x).sum(axis=spec.axes) / dof
    return (
        np.abs(a * np.asarray(running_mean, dtype=np.float64)) + abs(b) * mean_abs,
        np.abs(a * np.asarray(running_var, dtype=np.float64)) + abs(b) * mean_sq,
    )
