# mypy: ignore-errors
"""Bug: dmu is already averaged over the D features and then divided by D a second time."""

import numpy as np


def layernorm_backward(dy, x, gamma, eps=1e-5):
    D = x.shape[1]
    mu = x.mean(axis=1, keepdims=True)
    xmu = x - mu
    inv_std = 1.0 / np.sqrt((xmu**2).mean(axis=1, keepdims=True) + eps)
    xhat = xmu * inv_std
    dxhat = dy * gamma
    dvar = np.sum(dxhat * xmu, axis=1, keepdims=True) * -0.5 * inv_std**3
    dmu = -np.mean(dxhat * inv_std, axis=1, keepdims=True)
    dx = dxhat * inv_std + dvar * 2 * xmu / D + dmu / D  # BUG
    return dx, np.sum(dy * xhat, axis=0), np.sum(dy, axis=0)
