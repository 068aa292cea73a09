# mypy: ignore-errors
"""Bug: layer norm compact backward with m = dout.size (N*D) where the group size is D."""

import numpy as np


def layernorm_forward(x, gamma, beta, ln_param):
    eps = ln_param.get("eps", 1e-5)
    mu = x.mean(axis=1, keepdims=True)
    var = x.var(axis=1, keepdims=True)
    ivar = 1.0 / np.sqrt(var + eps)
    xhat = (x - mu) * ivar
    out = gamma * xhat + beta
    return out, (xhat, ivar, gamma)


def layernorm_backward(dout, cache):
    xhat, ivar, gamma = cache
    m = dout.size  # BUG
    dxhat = dout * gamma
    dx = (
        ivar
        / m
        * (
            m * dxhat
            - np.sum(dxhat, axis=1, keepdims=True)
            - xhat * np.sum(dxhat * xhat, axis=1, keepdims=True)
        )
    )
    return dx, np.sum(dout * xhat, axis=0), np.sum(dout, axis=0)
