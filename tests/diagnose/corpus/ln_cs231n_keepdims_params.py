# mypy: ignore-errors
"""Bug: layer norm dgamma and dbeta kept as (1, D) arrays by keepdims=True."""

import numpy as np


def layernorm_forward(x, gamma, beta, ln_param):
    eps = ln_param.get("eps", 1e-5)
    mean = x.mean(axis=1, keepdims=True)
    std = np.sqrt(x.var(axis=1, keepdims=True) + eps)
    x_hat = (x - mean) / std
    return gamma * x_hat + beta, (x_hat, std, gamma)


def layernorm_backward(dout, cache):
    x_hat, std, gamma = cache
    dgamma = np.sum(dout * x_hat, axis=0, keepdims=True)  # BUG
    dbeta = np.sum(dout, axis=0, keepdims=True)  # BUG
    g = dout * gamma
    dx = (g - g.mean(axis=1, keepdims=True) - x_hat * (g * x_hat).mean(axis=1, keepdims=True)) / std
    return dx, dgamma, dbeta
