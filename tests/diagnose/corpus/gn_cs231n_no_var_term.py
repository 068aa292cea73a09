# mypy: ignore-errors
"""Bug: group norm backward without the gradient through each group's variance."""

import numpy as np


def spatial_groupnorm_forward(x, gamma, beta, G, gn_param):
    eps = gn_param.get("eps", 1e-5)
    N, C, H, W = x.shape
    xg = x.reshape(N * G, -1)  # one row per (sample, group)
    mean = xg.mean(axis=1, keepdims=True)
    xc = xg - mean
    var = (xc**2).mean(axis=1, keepdims=True)
    istd = 1.0 / np.sqrt(var + eps)
    xn = (xc * istd).reshape(N, C, H, W)
    out = gamma * xn + beta
    return out, (xn, istd, gamma, G)


def spatial_groupnorm_backward(dout, cache):
    xn, istd, gamma, G = cache
    N, C, H, W = dout.shape
    dgamma = np.sum(dout * xn, axis=(0, 2, 3), keepdims=True)
    dbeta = np.sum(dout, axis=(0, 2, 3), keepdims=True)
    dxn = (dout * gamma).reshape(N * G, -1)
    m = dxn.shape[1]
    dmean = -np.sum(dxn, axis=1, keepdims=True) * istd
    dx = dxn * istd + dmean / m  # BUG
    return dx.reshape(N, C, H, W), dgamma, dbeta
