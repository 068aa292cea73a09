# mypy: ignore-errors
# (an example submission, written as a student would: no annotations, and bugs on purpose)
"""A correct plain-style batch norm backward: batch statistics recomputed from x."""

import numpy as np


def batchnorm_backward(dy, x, gamma, eps=1e-5):
    m = x.shape[0]
    mu = x.mean(axis=0)
    xmu = x - mu
    var = (xmu * xmu).mean(axis=0)  # biased variance (1/m)
    inv_std = 1.0 / np.sqrt(var + eps)
    xhat = xmu * inv_std
    dbeta = dy.sum(axis=0)
    dgamma = (dy * xhat).sum(axis=0)
    dx = gamma * inv_std / m * (m * dy - dbeta - xhat * dgamma)
    return dx, dgamma, dbeta
