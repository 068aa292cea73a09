# mypy: ignore-errors
"""Bug: layer norm dx without the -mean(dxhat) correction (the row mean taken as a constant)."""

import numpy as np


def layernorm_backward(dy, x, gamma, eps=1e-5):
    mu = x.mean(axis=1, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=1, keepdims=True)
    inv_std = 1 / np.sqrt(var + eps)
    x_hat = (x - mu) * inv_std
    dx_hat = dy * gamma
    dx = inv_std * (dx_hat - x_hat * np.mean(dx_hat * x_hat, axis=1, keepdims=True))  # BUG
    return dx, np.sum(dy * x_hat, axis=0), np.sum(dy, axis=0)
