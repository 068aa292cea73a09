# mypy: ignore-errors
"""Bug: gradients computed once, kept in a module global and returned on later calls."""

import numpy as np

_saved = None


def batchnorm_backward(dy, x, gamma, eps=1e-5):
    global _saved
    if _saved is not None and _saved[0].shape == x.shape:  # BUG
        return _saved
    N = x.shape[0]
    mu = x.mean(axis=0)
    std = np.sqrt(x.var(axis=0) + eps)
    xhat = (x - mu) / std
    dbeta = dy.sum(axis=0)
    dgamma = (dy * xhat).sum(axis=0)
    dx = gamma / (N * std) * (N * dy - dbeta - xhat * dgamma)
    _saved = (dx, dgamma, dbeta)  # BUG
    return dx, dgamma, dbeta
