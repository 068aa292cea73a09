# mypy: ignore-errors
"""Bug: layer norm backward subtracts the mean from x in place, changing the caller's x."""

import numpy as np


def layernorm_backward(dy, x, gamma, eps=1e-5):
    D = x.shape[1]
    x_centered = x
    x_centered -= x.mean(axis=1, keepdims=True)  # BUG
    inv_std = 1.0 / np.sqrt((x_centered**2).mean(axis=1, keepdims=True) + eps)
    x_norm = x_centered * inv_std
    dxn = dy * gamma
    dx = (
        inv_std
        / D
        * (
            D * dxn
            - dxn.sum(axis=1, keepdims=True)
            - x_norm * (dxn * x_norm).sum(axis=1, keepdims=True)
        )
    )
    return dx, (dy * x_norm).sum(axis=0), dy.sum(axis=0)
