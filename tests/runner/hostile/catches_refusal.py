"""A correct backward that first tries to import bncheck, and carries on when refused."""

import numpy as np

try:
    import bncheck  # noqa: F401
except ImportError:
    pass


def batchnorm_backward(dy, x, gamma, eps=1e-5):
    m = x.shape[0]
    xmu = x - x.mean(0)
    inv_std = 1 / np.sqrt((xmu * xmu).mean(0) + eps)
    xhat = xmu * inv_std
    dgamma, dbeta = (dy * xhat).sum(0), dy.sum(0)
    dx = gamma * inv_std / m * (m * dy - dbeta - xhat * dgamma)
    return dx, dgamma, dbeta
