# mypy: ignore-errors
"""Bug: layer norm backward with dmu but no gradient through the variance."""

import numpy as np


def layernorm_forward(x, gamma, beta, ln_param):
    eps = ln_param.get("eps", 1e-5)
    mu = np.mean(x, axis=1, keepdims=True)
    xmu = x - mu
    var = np.mean(xmu**2, axis=1, keepdims=True)
    inv_sigma = 1.0 / np.sqrt(var + eps)
    xhat = xmu * inv_sigma
    out = xhat * gamma + beta
    return out, (xhat, xmu, inv_sigma, gamma)


def layernorm_backward(dout, cache):
    xhat, _, inv_sigma, gamma = cache
    D = dout.shape[1]
    dgamma = np.sum(dout * xhat, axis=0)
    dbeta = np.sum(dout, axis=0)
    dxhat = dout * gamma
    dmu = -np.sum(dxhat * inv_sigma, axis=1, keepdims=True)
    dx = dxhat * inv_sigma + dmu / D  # BUG
    return dx, dgamma, dbeta
