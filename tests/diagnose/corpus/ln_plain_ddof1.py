# mypy: ignore-errors
"""Bug: layer norm variance computed with ddof=1 (divides by D-1); backward is the usual formula."""

import numpy as np


def layernorm_backward(dy, x, gamma, eps=1e-5):
    D = x.shape[1]
    mu = x.mean(axis=1, keepdims=True)
    var = x.var(axis=1, ddof=1, keepdims=True)  # BUG
    rstd = 1.0 / np.sqrt(var + eps)
    xhat = (x - mu) * rstd
    g = dy * gamma
    dx = (
        rstd
        / D
        * (D * g - g.sum(axis=1, keepdims=True) - xhat * (g * xhat).sum(axis=1, keepdims=True))
    )
    dgamma = (dy * xhat).sum(axis=0)
    dbeta = dy.sum(axis=0)
    return dx, dgamma, dbeta
