# mypy: ignore-errors
"""Bug: layer norm staged backward; the dvar*2(x-mu)/D term is subtracted instead of added."""

import numpy as np


def layernorm_backward(dy, x, gamma, eps=1e-5):
    D = x.shape[1]
    xmu = x - x.mean(axis=1, keepdims=True)
    inv_std = 1.0 / np.sqrt(np.mean(xmu**2, axis=1, keepdims=True) + eps)
    xhat = xmu * inv_std
    dxhat = dy * gamma
    dvar = -0.5 * np.sum(dxhat * xmu, axis=1, keepdims=True) * inv_std**3
    dmu = -np.sum(dxhat, axis=1, keepdims=True) * inv_std
    dx = dxhat * inv_std - dvar * 2 * xmu / D + dmu / D  # BUG
    return dx, np.sum(dy * xhat, axis=0), np.sum(dy, axis=0)
