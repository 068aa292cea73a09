# mypy: ignore-errors
"""Bug: compact batch norm dx written for dxhat = dy, so gamma never scales dx."""

import numpy as np


def batchnorm_backward(dy, x, gamma, eps=1e-5):
    m = x.shape[0]
    xmu = x - x.mean(0)
    inv_std = 1.0 / np.sqrt((xmu**2).mean(0) + eps)
    xhat = xmu * inv_std
    dbeta = dy.sum(0)
    dgamma = (dy * xhat).sum(0)
    dx = inv_std / m * (m * dy - dy.sum(0) - xhat * (dy * xhat).sum(0))  # BUG
    return dx, dgamma, dbeta
