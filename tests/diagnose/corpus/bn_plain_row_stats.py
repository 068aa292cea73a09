# mypy: ignore-errors
"""Bug: batch norm statistics taken per sample (axis 1) instead of per feature; backward matches."""

import numpy as np


def batchnorm_backward(dy, x, gamma, eps=1e-5):
    D = x.shape[1]
    mu = x.mean(axis=1, keepdims=True)  # BUG
    var = x.var(axis=1, keepdims=True)  # BUG
    inv_std = 1 / np.sqrt(var + eps)
    xhat = (x - mu) * inv_std
    dxhat = dy * gamma
    dx = (
        inv_std
        / D
        * (
            D * dxhat
            - dxhat.sum(axis=1, keepdims=True)
            - xhat * (dxhat * xhat).sum(axis=1, keepdims=True)
        )
    )  # BUG
    return dx, (dy * xhat).sum(axis=0), dy.sum(axis=0)
