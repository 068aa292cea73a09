# mypy: ignore-errors
"""Correct: plain batch norm backward, one feature (column) at a time in a Python loop."""

import numpy as np


def batchnorm_backward(dy, x, gamma, eps=1e-5):
    N, D = x.shape
    dx = np.zeros_like(x)
    dgamma = np.zeros(D, dtype=x.dtype)
    dbeta = np.zeros(D, dtype=x.dtype)
    for j in range(D):
        col = x[:, j]
        mu = col.sum() / N
        c = col - mu
        var = (c @ c) / N
        s = np.sqrt(var + eps)
        xh = c / s
        g = dy[:, j]
        dbeta[j] = g.sum()
        dgamma[j] = g @ xh
        dxh = g * gamma[j]
        dvar = -0.5 * (dxh @ c) / s**3
        dmu = -dxh.sum() / s
        dx[:, j] = dxh / s + dvar * 2 * c / N + dmu / N
    return dx, dgamma, dbeta
