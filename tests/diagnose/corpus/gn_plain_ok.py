# mypy: ignore-errors
"""Correct: plain spatial group norm backward, one row per (sample, group)."""

import numpy as np


def spatial_groupnorm_backward(dy, x, gamma, G, eps=1e-5):
    N, C, H, W = x.shape
    xg = x.reshape(N * G, -1)
    mean = xg.mean(axis=1, keepdims=True)
    xc = xg - mean
    var = (xc**2).mean(axis=1, keepdims=True)
    istd = 1.0 / np.sqrt(var + eps)
    xn = (xc * istd).reshape(N, C, H, W)
    dgamma = np.sum(dy * xn, axis=(0, 2, 3), keepdims=True)
    dbeta = np.sum(dy, axis=(0, 2, 3), keepdims=True)
    dxn = (dy * gamma).reshape(N * G, -1)
    m = dxn.shape[1]
    dvar = np.sum(dxn * xc, axis=1, keepdims=True) * -0.5 * istd**3
    dmean = -np.sum(dxn, axis=1, keepdims=True) * istd
    dx = dxn * istd + dvar * 2.0 * xc / m + dmean / m
    return dx.reshape(N, C, H, W), dgamma, dbeta
