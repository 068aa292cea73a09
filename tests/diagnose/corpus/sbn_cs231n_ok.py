# mypy: ignore-errors
"""Correct: CS231n spatial batch norm, (N, C, H, W) flattened to (N*H*W, C)."""

import numpy as np


def spatial_batchnorm_forward(x, gamma, beta, bn_param):
    mode = bn_param["mode"]
    eps = bn_param.get("eps", 1e-5)
    momentum = bn_param.get("momentum", 0.9)
    N, C, H, W = x.shape
    rm = bn_param.get("running_mean", np.zeros(C, dtype=x.dtype))
    rv = bn_param.get("running_var", np.zeros(C, dtype=x.dtype))
    x2 = x.transpose(0, 2, 3, 1).reshape(-1, C)
    cache = None
    if mode == "train":
        mu = x2.mean(axis=0)
        var = x2.var(axis=0)
        inv = 1.0 / np.sqrt(var + eps)
        xhat = (x2 - mu) * inv
        cache = (xhat, inv, gamma)
        bn_param["running_mean"] = momentum * rm + (1 - momentum) * mu
        bn_param["running_var"] = momentum * rv + (1 - momentum) * var
    else:
        xhat = (x2 - rm) / np.sqrt(rv + eps)
    out2 = gamma * xhat + beta
    return out2.reshape(N, H, W, C).transpose(0, 3, 1, 2), cache


def spatial_batchnorm_backward(dout, cache):
    xhat, inv, gamma = cache
    N, C, H, W = dout.shape
    g = dout.transpose(0, 2, 3, 1).reshape(-1, C)
    m = g.shape[0]
    dbeta = g.sum(axis=0)
    dgamma = (g * xhat).sum(axis=0)
    dx2 = gamma * inv / m * (m * g - dbeta - xhat * dgamma)
    return dx2.reshape(N, H, W, C).transpose(0, 3, 1, 2), dgamma, dbeta
