# mypy: ignore-errors
"""Correct: plain layer norm backward with einsum reductions."""

import numpy as np


def layernorm_backward(dy, x, gamma, eps=1e-5):
    D = x.shape[1]
    mu = np.einsum("nd->n", x)[:, None] / D
    xc = x - mu
    var = np.einsum("nd,nd->n", xc, xc)[:, None] / D
    rstd = 1.0 / np.sqrt(var + eps)
    xhat = xc * rstd
    dgamma = np.einsum("nd,nd->d", dy, xhat)
    dbeta = np.einsum("nd->d", dy)
    g = dy * gamma
    proj = np.einsum("nd,nd->n", g, xhat)[:, None]
    dx = rstd * (g - g.mean(axis=1, keepdims=True) - xhat * proj / D)
    return dx, dgamma, dbeta
