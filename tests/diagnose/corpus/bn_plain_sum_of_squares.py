# mypy: ignore-errors
"""Bug: the backward uses the sum of squared deviations as the variance (never divided by N)."""

import numpy as np


def batchnorm_backward(dy, x, gamma, eps=1e-5):
    N = x.shape[0]
    xc = x - x.mean(axis=0)
    var = np.sum(xc**2, axis=0)  # BUG
    istd = 1.0 / np.sqrt(var + eps)
    xhat = xc * istd
    dbeta = np.sum(dy, axis=0)
    dgamma = np.sum(dy * xhat, axis=0)
    dx = gamma * istd / N * (N * dy - dbeta - xhat * dgamma)
    return dx, dgamma, dbeta
