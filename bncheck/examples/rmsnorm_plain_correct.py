# mypy: ignore-errors
# (an example submission, written as a student would: no annotations, and bugs on purpose)
"""A correct plain-style RMSNorm backward: y = gamma * x / sqrt(mean(x²) + eps) + beta, per row."""

import numpy as np


def rmsnorm_backward(dy, x, gamma, eps=1e-5):
    """No mean is subtracted, so dx has one correction term (along xhat), not two."""
    D = x.shape[1]
    inv_rms = 1.0 / np.sqrt((x * x).mean(axis=1, keepdims=True) + eps)
    xhat = x * inv_rms
    dbeta = dy.sum(axis=0)
    dgamma = (dy * xhat).sum(axis=0)
    dxhat = dy * gamma
    dx = inv_rms * (dxhat - xhat * (dxhat * xhat).sum(axis=1, keepdims=True) / D)
    return dx, dgamma, dbeta
