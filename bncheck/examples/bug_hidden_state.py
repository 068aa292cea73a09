# mypy: ignore-errors
# (an example submission, written as a student would: no annotations, and bugs on purpose)
"""Bug: the backward remembers its first answer in a global and returns it for later calls."""

import numpy as np

_memo = {}


def batchnorm_backward(dy, x, gamma, eps=1e-5):
    key = x.shape  # BUG: keyed on the shape, so a new dy or x with the same shape is ignored
    if key in _memo:
        return _memo[key]
    m = x.shape[0]
    xmu = x - x.mean(axis=0)
    inv_std = 1.0 / np.sqrt((xmu * xmu).mean(axis=0) + eps)
    xhat = xmu * inv_std
    dbeta = dy.sum(axis=0)
    dgamma = (dy * xhat).sum(axis=0)
    dx = gamma * inv_std / m * (m * dy - dbeta - xhat * dgamma)
    _memo[key] = (dx, dgamma, dbeta)
    return dx, dgamma, dbeta
