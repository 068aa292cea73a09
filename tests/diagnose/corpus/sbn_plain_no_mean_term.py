# mypy: ignore-errors
"""Bug: spatial batch norm backward with no gradient through the per-channel mean."""

import numpy as np


def spatial_batchnorm_backward(dy, x, gamma, eps=1e-5):
    N, C, H, W = x.shape
    axes = (0, 2, 3)
    m = N * H * W
    mu = x.mean(axis=axes, keepdims=True)
    xmu = x - mu
    var = (xmu**2).mean(axis=axes, keepdims=True)
    inv_std = 1.0 / np.sqrt(var + eps)
    xhat = xmu * inv_std
    dxhat = dy * gamma.reshape(1, C, 1, 1)
    dvar = (dxhat * xmu).sum(axis=axes, keepdims=True) * -0.5 * inv_std**3
    dx = dxhat * inv_std + dvar * 2 * xmu / m  # BUG
    return dx, (dy * xhat).sum(axis=axes), dy.sum(axis=axes)
