# mypy: ignore-errors
"""Bug: layer norm dgamma and dbeta summed over axis 1 (the features) instead of the batch."""

import numpy as np


def layernorm_forward(x, gamma, beta, ln_param):
    eps = ln_param.get("eps", 1e-5)
    mu = np.mean(x, axis=1, keepdims=True)
    xmu = x - mu
    var = np.mean(xmu**2, axis=1, keepdims=True)
    istd = 1.0 / np.sqrt(var + eps)
    xhat = xmu * istd
    return gamma * xhat + beta, (xhat, xmu, istd, gamma)


def layernorm_backward(dout, cache):
    xhat, xmu, istd, gamma = cache
    D = dout.shape[1]
    dxhat = dout * gamma
    dvar = np.sum(dxhat * xmu, axis=1, keepdims=True) * -0.5 * istd**3
    dmu = np.sum(-dxhat * istd, axis=1, keepdims=True) + dvar * np.mean(
        -2 * xmu, axis=1, keepdims=True
    )
    dx = dxhat * istd + dvar * 2 * xmu / D + dmu / D
    dgamma = np.sum(dout * xhat, axis=1)  # BUG
    dbeta = np.sum(dout, axis=1)  # BUG
    return dx, dgamma, dbeta
