# mypy: ignore-errors
"""Bug: layer norm via x.T with a staged backward; dmu's share of dx is not divided by D."""

import numpy as np


def layernorm_forward(x, gamma, beta, ln_param):
    eps = ln_param.get("eps", 1e-5)
    xt = x.T
    xc = xt - xt.mean(axis=0)
    var = np.mean(xc * xc, axis=0)
    istd = (var + eps) ** -0.5
    xhat = (xc * istd).T
    out = gamma * xhat + beta
    return out, (xc, istd, xhat, gamma)


def layernorm_backward(dout, cache):
    xc, istd, xhat, gamma = cache
    D = xc.shape[0]
    dgamma = np.sum(dout * xhat, axis=0)
    dbeta = np.sum(dout, axis=0)
    dxh = (dout * gamma).T
    dvar = np.sum(dxh * xc, axis=0) * -0.5 * istd**3
    dmu = -np.sum(dxh, axis=0) * istd + dvar * np.mean(-2 * xc, axis=0)
    dx = (dxh * istd + dvar * 2 * xc / D + dmu).T  # BUG
    return dx, dgamma, dbeta
