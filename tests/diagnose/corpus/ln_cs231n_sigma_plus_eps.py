# mypy: ignore-errors
"""Bug: layer norm with sigma = sqrt(var) + eps; the compact backward uses that sigma."""

import numpy as np


def layernorm_forward(x, gamma, beta, ln_param):
    eps = ln_param.get("eps", 1e-5)
    mu = x.mean(axis=1, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=1, keepdims=True)
    sigma = np.sqrt(var) + eps  # BUG
    xhat = (x - mu) / sigma
    out = gamma * xhat + beta
    return out, (xhat, sigma, gamma)


def layernorm_backward(dout, cache):
    xhat, sigma, gamma = cache
    D = xhat.shape[1]
    dxhat = dout * gamma
    dx = (D * dxhat - dxhat.sum(1, keepdims=True) - xhat * (dxhat * xhat).sum(1, keepdims=True)) / (
        D * sigma
    )
    return dx, (dout * xhat).sum(0), dout.sum(0)
