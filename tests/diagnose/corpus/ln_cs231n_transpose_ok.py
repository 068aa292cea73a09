# mypy: ignore-errors
"""Correct: CS231n layer norm done as batch norm on x.T (each sample becomes a column)."""

import numpy as np


def layernorm_forward(x, gamma, beta, ln_param):
    eps = ln_param.get("eps", 1e-5)
    xt = x.T  # (D, N)
    mu = xt.mean(axis=0)
    xc = xt - mu
    var = (xc**2).mean(axis=0)
    istd = 1.0 / np.sqrt(var + eps)
    xhat_t = xc * istd
    out = gamma * xhat_t.T + beta
    cache = (xhat_t, istd, gamma)
    return out, cache


def layernorm_backward(dout, cache):
    xhat_t, istd, gamma = cache
    dgamma = np.sum(dout * xhat_t.T, axis=0)
    dbeta = np.sum(dout, axis=0)
    dxhat_t = (dout * gamma).T  # (D, N)
    D = dxhat_t.shape[0]
    dx_t = (
        istd / D * (D * dxhat_t - dxhat_t.sum(axis=0) - xhat_t * np.sum(dxhat_t * xhat_t, axis=0))
    )
    return dx_t.T, dgamma, dbeta
