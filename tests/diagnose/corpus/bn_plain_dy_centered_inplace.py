# mypy: ignore-errors
"""Bug: the backward centres dy in place (dy -= ...), overwriting the caller's array."""

import numpy as np


def batchnorm_backward(dy, x, gamma, eps=1e-5):
    mu = x.mean(axis=0)
    inv_std = 1.0 / np.sqrt(((x - mu) ** 2).mean(axis=0) + eps)
    xhat = (x - mu) * inv_std
    dbeta = dy.sum(axis=0)
    dgamma = (dy * xhat).sum(axis=0)
    dy -= dy.mean(axis=0)  # BUG
    dx = gamma * inv_std * (dy - xhat * (dy * xhat).mean(axis=0))
    return dx, dgamma, dbeta
