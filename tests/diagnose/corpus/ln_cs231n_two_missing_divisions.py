# mypy: ignore-errors
"""Two bugs: in the layer norm dx, neither the dmu share nor the dvar share is divided by D."""

import numpy as np


def layernorm_forward(x, gamma, beta, ln_param):
    eps = ln_param.get("eps", 1e-5)
    mu = x.mean(axis=1)[:, np.newaxis]
    xmu = x - mu
    var = (xmu**2).mean(axis=1)[:, np.newaxis]
    std = np.sqrt(var + eps)
    xhat = xmu / std
    out = gamma * xhat + beta
    return out, (xmu, std, xhat, gamma)


def layernorm_backward(dout, cache):
    xmu, std, xhat, gamma = cache
    dxhat = dout * gamma
    dvar = -0.5 * np.sum(dxhat * xmu, axis=1)[:, np.newaxis] / std**3
    dmu = -np.sum(dxhat, axis=1)[:, np.newaxis] / std
    dx = dxhat / std + dvar * 2 * xmu + dmu  # BUG
    dgamma = np.sum(dout * xhat, axis=0)
    dbeta = np.sum(dout, axis=0)
    return dx, dgamma, dbeta
