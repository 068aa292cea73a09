# mypy: ignore-errors
# (an example submission, written as a student would: no annotations, and bugs on purpose)
"""Bug: dgamma and dbeta summed over (N, H, W) without keepdims: shape (C,), not (1, C, 1, 1)."""

import numpy as np


def spatial_groupnorm_forward(x, gamma, beta, G, gn_param):
    """Each sample's C channels are cut into G groups of C/G; a group is normalized over
    its channels and H, W. gamma and beta have shape (1, C, 1, 1), one value per channel."""
    eps = gn_param.get("eps", 1e-5)
    N, C, H, W = x.shape
    xg = x.reshape(N, G, C // G, H, W)
    mu = xg.mean(axis=(2, 3, 4), keepdims=True)
    xmu = xg - mu
    var = (xmu**2).mean(axis=(2, 3, 4), keepdims=True)  # biased variance (1/m)
    inv_std = 1.0 / np.sqrt(var + eps)  # eps inside the square root
    xhat = (xmu * inv_std).reshape(N, C, H, W)
    out = gamma * xhat + beta
    cache = (xhat, xmu, inv_std, gamma, G)
    return out, cache


def spatial_groupnorm_backward(dout, cache):
    xhat, _, inv_std, gamma, G = cache
    N, C, H, W = dout.shape
    m = C // G * H * W
    dbeta = dout.sum(axis=(0, 2, 3))  # BUG: keepdims=True (gamma is (1, C, 1, 1))
    dgamma = (dout * xhat).sum(axis=(0, 2, 3))  # BUG: keepdims=True
    dxhat = (dout * gamma).reshape(N, G, C // G, H, W)
    xh = xhat.reshape(N, G, C // G, H, W)
    group = (2, 3, 4)
    dx = (
        inv_std
        / m
        * (
            m * dxhat
            - dxhat.sum(axis=group, keepdims=True)
            - xh * (dxhat * xh).sum(axis=group, keepdims=True)
        )
    )
    return dx.reshape(N, C, H, W), dgamma, dbeta
