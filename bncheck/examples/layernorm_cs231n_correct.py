# mypy: ignore-errors
# (an example submission, written as a student would: no annotations, and bugs on purpose)
"""A correct CS231n-style layer norm: batch norm's equations over the features of one sample."""

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
    """The compact form over axis 1: dx = inv_std/D (D dxhat - Σ dxhat - xhat Σ dxhat·xhat)."""
    xhat, _, inv_std, gamma = cache
    D = dout.shape[1]
    dbeta = dout.sum(axis=0)  # gamma, beta are per feature: sum over the samples
    dgamma = (dout * xhat).sum(axis=0)
    dxhat = dout * gamma  # gamma varies inside a group: it multiplies before the sums
    dx = (
        inv_std
        / D
        * (
            D * dxhat
            - dxhat.sum(axis=1, keepdims=True)
            - xhat * (dxhat * xhat).sum(axis=1, keepdims=True)
        )
    )
    return dx, dgamma, dbeta
