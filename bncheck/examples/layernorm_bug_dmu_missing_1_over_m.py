# mypy: ignore-errors
# (an example submission, written as a student would: no annotations, and bugs on purpose)
"""Bug: the staged backward over each sample's D features; dmu's share is not divided by D."""

import numpy as np


def layernorm_forward(x, gamma, beta, ln_param):
    """Each sample (row) is normalized over its D features; gamma and beta are per feature."""
    eps = ln_param.get("eps", 1e-5)
    mu = x.mean(axis=1, keepdims=True)
    xmu = x - mu
    var = (xmu**2).mean(axis=1, keepdims=True)  # biased variance (1/D)
    inv_std = 1.0 / np.sqrt(var + eps)  # eps inside the square root
    xhat = xmu * inv_std
    out = gamma * xhat + beta
    cache = (xhat, xmu, inv_std, gamma)
    return out, cache


def layernorm_backward(dout, cache):
    """The chain rule step by step over axis 1: dxhat, dvar, dmu, then dx."""
    xhat, xmu, inv_std, gamma = cache
    D = dout.shape[1]
    dbeta = dout.sum(axis=0)
    dgamma = (dout * xhat).sum(axis=0)
    dxhat = dout * gamma
    dvar = (dxhat * xmu).sum(axis=1, keepdims=True) * -0.5 * inv_std**3
    dmu = -(dxhat * inv_std).sum(axis=1, keepdims=True) + dvar * -2.0 * xmu.mean(
        axis=1, keepdims=True
    )
    dx = dxhat * inv_std + dvar * 2.0 * xmu / D + dmu  # BUG: dmu / D
    return dx, dgamma, dbeta
