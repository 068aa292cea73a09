# mypy: ignore-errors
"""Bug: accumulated over samples in loops; dmu is added to every dx row without dividing by N."""

import numpy as np


def batchnorm_backward(dy, x, gamma, eps=1e-5):
    N, D = x.shape
    mu = x.mean(axis=0)
    xmu = x - mu
    inv_std = 1.0 / np.sqrt(np.mean(xmu**2, axis=0) + eps)
    xhat = xmu * inv_std
    dxhat = dy * gamma
    dvar = np.zeros(D)
    for i in range(N):
        dvar += dxhat[i] * xmu[i]
    dvar *= -0.5 * inv_std**3
    dmu = np.zeros(D)
    for i in range(N):
        dmu += -dxhat[i] * inv_std - 2.0 * dvar * xmu[i] / N
    dx = np.empty_like(x)
    for i in range(N):
        dx[i] = dxhat[i] * inv_std + 2.0 * dvar * xmu[i] / N + dmu  # BUG
    return dx, (dy * xhat).sum(axis=0), dy.sum(axis=0)
