# mypy: ignore-errors
"""Bug: layer norm staged backward starts from dxhat = dout, leaving gamma out of dx."""

import numpy as np


def layernorm_forward(x, gamma, beta, ln_param):
    eps = ln_param.get("eps", 1e-5)
    sample_mean = x.mean(axis=1, keepdims=True)
    x_centered = x - sample_mean
    sample_var = x_centered.var(axis=1, keepdims=True)
    std = np.sqrt(sample_var + eps)
    x_norm = x_centered / std
    out = gamma * x_norm + beta
    return out, (x_centered, std, x_norm, gamma)


def layernorm_backward(dout, cache):
    x_centered, std, x_norm = cache[:3]
    D = dout.shape[1]
    dgamma = np.sum(dout * x_norm, axis=0)
    dbeta = np.sum(dout, axis=0)
    dx_norm = dout  # BUG
    dvar = np.sum(dx_norm * x_centered, axis=1, keepdims=True) * -0.5 / std**3
    dmean = -np.sum(dx_norm / std, axis=1, keepdims=True) - 2 * dvar * x_centered.mean(
        axis=1, keepdims=True
    )
    dx = dx_norm / std + dvar * 2 * x_centered / D + dmean / D
    return dx, dgamma, dbeta
