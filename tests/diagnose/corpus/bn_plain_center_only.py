# mypy: ignore-errors
"""Bug: the variance is treated as a constant; dx only subtracts the mean of dy."""

import numpy as np


def batchnorm_backward(dy, x, gamma, eps=1e-5):
    m = len(x)
    mean = np.sum(x, axis=0) / m
    xmu = x - mean
    var = np.sum(xmu * xmu, axis=0) / m
    std = np.sqrt(var + eps)
    xhat = xmu / std
    dbeta = np.sum(dy, axis=0)
    dgamma = np.sum(dy * xhat, axis=0)
    dx = gamma / std * (dy - dbeta / m)  # BUG
    return dx, dgamma, dbeta
