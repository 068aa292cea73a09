# mypy: ignore-errors
# (an example submission, written as a student would: no annotations, and bugs on purpose)
"""A correct plain-style instance norm backward: (N, C, H, W), each (sample, channel) over H, W."""

import numpy as np


def instancenorm_backward(dy, x, gamma, eps=1e-5):
    """gamma and beta have shape (C,); the statistics are recomputed from x."""
    axes = (2, 3)
    m = x.shape[2] * x.shape[3]
    mu = x.mean(axis=axes, keepdims=True)
    xmu = x - mu
    var = (xmu * xmu).mean(axis=axes, keepdims=True)  # biased variance (1/m)
    inv_std = 1.0 / np.sqrt(var + eps)
    xhat = xmu * inv_std
    dbeta = dy.sum(axis=(0, 2, 3))
    dgamma = (dy * xhat).sum(axis=(0, 2, 3))
    g = gamma.reshape(1, -1, 1, 1)  # constant inside a group: it factors out of the sums
    dx = (
        g
        * inv_std
        / m
        * (
            m * dy
            - dy.sum(axis=axes, keepdims=True)
            - xhat * (dy * xhat).sum(axis=axes, keepdims=True)
        )
    )
    return dx, dgamma, dbeta
