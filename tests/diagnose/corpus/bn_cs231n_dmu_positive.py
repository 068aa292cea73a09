# mypy: ignore-errors
"""Bug: dmu written without the minus sign that d(x - mu)/dmu brings."""

import numpy as np


def batchnorm_forward(x, gamma, beta, bn_param):
    mode = bn_param["mode"]
    eps = bn_param.get("eps", 1e-5)
    momentum = bn_param.get("momentum", 0.9)
    D = x.shape[1]
    running_mean = bn_param.get("running_mean", np.zeros(D, dtype=x.dtype))
    running_var = bn_param.get("running_var", np.zeros(D, dtype=x.dtype))
    out, cache = None, None
    if mode == "train":
        batch_mean = x.mean(axis=0)
        xc = x - batch_mean
        batch_var = (xc**2).mean(axis=0)
        inv_var = 1.0 / np.sqrt(batch_var + eps)
        xn = xc * inv_var
        out = gamma * xn + beta
        cache = (xc, inv_var, xn, gamma)
        running_mean = momentum * running_mean + (1.0 - momentum) * batch_mean
        running_var = momentum * running_var + (1.0 - momentum) * batch_var
    elif mode == "test":
        out = gamma * (x - running_mean) / np.sqrt(running_var + eps) + beta
    bn_param["running_mean"], bn_param["running_var"] = running_mean, running_var
    return out, cache


def batchnorm_backward(dout, cache):
    xc, inv_var, xn, gamma = cache
    N = dout.shape[0]
    dxn = dout * gamma
    dvar = np.sum(dxn * xc, axis=0) * -0.5 * inv_var**3
    dmu = np.sum(dxn * inv_var, axis=0) + dvar * np.mean(-2.0 * xc, axis=0)  # BUG
    dx = dxn * inv_var + dvar * 2.0 * xc / N + dmu / N
    return dx, np.sum(dout * xn, axis=0), np.sum(dout, axis=0)
