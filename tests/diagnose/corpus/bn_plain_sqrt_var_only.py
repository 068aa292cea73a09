# mypy: ignore-errors
"""Bug: no eps at all: the standard deviation is sqrt(var)."""

import numpy as np


def batchnorm_backward(dy, x, gamma, eps=1e-5):
    N = x.shape[0]
    mu = np.mean(x, axis=0)
    sigma = np.sqrt(np.mean((x - mu) ** 2, axis=0))  # BUG
    x_hat = (x - mu) / sigma
    dbeta = np.sum(dy, axis=0)
    dgamma = np.sum(dy * x_hat, axis=0)
    dx_hat = dy * gamma
    dx = (N * dx_hat - np.sum(dx_hat, axis=0) - x_hat * np.sum(dx_hat * x_hat, axis=0)) / (
        N * sigma
    )
    return dx, dgamma, dbeta
