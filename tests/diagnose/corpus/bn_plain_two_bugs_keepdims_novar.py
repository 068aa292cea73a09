# mypy: ignore-errors
"""Two bugs: dx drops the variance's dependence on x, and dgamma/dbeta keep shape (1, D)."""

import numpy as np


def batchnorm_backward(dy, x, gamma, eps=1e-5):
    mu = np.mean(x, axis=0, keepdims=True)
    var = np.mean((x - mu) ** 2, axis=0, keepdims=True)
    inv_std = 1.0 / np.sqrt(var + eps)
    xhat = (x - mu) * inv_std
    dgamma = np.sum(dy * xhat, axis=0, keepdims=True)  # BUG
    dbeta = np.sum(dy, axis=0, keepdims=True)  # BUG
    dx = gamma * inv_std * (dy - np.mean(dy, axis=0, keepdims=True))  # BUG
    return dx, dgamma, dbeta
