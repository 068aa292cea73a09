# mypy: ignore-errors
# (an example submission, written as a student would: no annotations, and bugs on purpose)
"""Bug: batch norm copied as it is: the statistics over the batch (axis 0), not each sample."""

import numpy as np


def layernorm_forward(x, gamma, beta, ln_param):
    eps = ln_param.get("eps", 1e-5)
    mu = x.mean(axis=0)  # BUG: axis=1, keepdims=True (one mean per sample)
    xmu = x - mu
    var = (xmu**2).mean(axis=0)  # BUG: axis=1, keepdims=True
    inv_std = 1.0 / np.sqrt(var + eps)
    xhat = xmu * inv_std
    out = gamma * xhat + beta
    cache = (xhat, xmu, inv_std, gamma)
    return out, cache


def layernorm_backward(dout, cache):
    xhat, _, inv_std, gamma = cache
    N = dout.shape[0]
    dbeta = dout.sum(axis=0)
    dgamma = (dout * xhat).sum(axis=0)
    dx = gamma * inv_std / N * (N * dout - dbeta - xhat * dgamma)  # BUG: batch norm's dx
    return dx, dgamma, dbeta
