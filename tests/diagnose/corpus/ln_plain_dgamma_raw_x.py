# mypy: ignore-errors
"""Bug: layer norm dgamma = sum(dy * x) over the batch, not sum(dy * xhat)."""

import numpy as np


def layernorm_backward(dy, x, gamma, eps=1e-5):
    D = x.shape[1]
    xc = x - x.mean(axis=1, keepdims=True)
    istd = 1.0 / np.sqrt((xc * xc).mean(axis=1, keepdims=True) + eps)
    dxhat = dy * gamma
    dvar = (dxhat * xc).sum(axis=1, keepdims=True) * -0.5 * istd**3
    dmu = -(dxhat * istd).sum(axis=1, keepdims=True)
    dx = dxhat * istd + 2 * dvar * xc / D + dmu / D
    dgamma = (dy * x).sum(axis=0)  # BUG
    dbeta = dy.sum(axis=0)
    return dx, dgamma, dbeta
