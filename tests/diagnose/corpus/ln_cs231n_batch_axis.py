# mypy: ignore-errors
"""Bug: layer norm copied from batch norm: statistics over the batch (axis 0), backward to match."""

import numpy as np


def layernorm_forward(x, gamma, beta, ln_param):
    eps = ln_param.get("eps", 1e-5)
    mean = np.mean(x, axis=0, keepdims=True)  # BUG
    xc = x - mean
    var = np.mean(xc**2, axis=0, keepdims=True)  # BUG
    istd = 1.0 / np.sqrt(var + eps)
    xn = xc * istd
    out = gamma * xn + beta
    return out, (xc, istd, xn, gamma)


def layernorm_backward(dout, cache):
    xc, istd, xn, gamma = cache
    N = dout.shape[0]
    dgamma = np.sum(dout * xn, axis=0)
    dbeta = np.sum(dout, axis=0)
    dxn = dout * gamma
    dvar = np.sum(dxn * xc, axis=0, keepdims=True) * -0.5 * istd**3  # BUG
    dmean = -np.sum(dxn * istd, axis=0, keepdims=True)  # BUG
    dx = dxn * istd + dvar * 2 * xc / N + dmean / N  # BUG
    return dx, dgamma, dbeta
