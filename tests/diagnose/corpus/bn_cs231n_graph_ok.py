# mypy: ignore-errors
"""Correct: CS231n batch norm as a computational graph, backpropagated step by step (9 to 1)."""

import numpy as np


def batchnorm_forward(x, gamma, beta, bn_param):
    mode = bn_param["mode"]
    eps = bn_param.get("eps", 1e-5)
    momentum = bn_param.get("momentum", 0.9)
    N, D = x.shape
    running_mean = bn_param.get("running_mean", np.zeros(D, dtype=x.dtype))
    running_var = bn_param.get("running_var", np.zeros(D, dtype=x.dtype))
    cache = None
    if mode == "train":
        mu = 1.0 / N * np.sum(x, axis=0)  # step 1
        xmu = x - mu  # step 2
        sq = xmu**2  # step 3
        var = 1.0 / N * np.sum(sq, axis=0)  # step 4
        sqrtvar = np.sqrt(var + eps)  # step 5
        ivar = 1.0 / sqrtvar  # step 6
        xhat = xmu * ivar  # step 7
        gammax = gamma * xhat  # step 8
        out = gammax + beta  # step 9
        cache = (xhat, gamma, xmu, ivar, sqrtvar, var, eps)
        bn_param["running_mean"] = momentum * running_mean + (1 - momentum) * mu
        bn_param["running_var"] = momentum * running_var + (1 - momentum) * var
    elif mode == "test":
        out = gamma * (x - running_mean) / np.sqrt(running_var + eps) + beta
    else:
        raise ValueError("bad mode " + str(mode))
    return out, cache


def batchnorm_backward(dout, cache):
    xhat, gamma, xmu, ivar, sqrtvar, var, eps = cache
    N, D = dout.shape
    dbeta = np.sum(dout, axis=0)  # step 9
    dgammax = dout
    dgamma = np.sum(dgammax * xhat, axis=0)  # step 8
    dxhat = dgammax * gamma
    divar = np.sum(dxhat * xmu, axis=0)  # step 7
    dxmu1 = dxhat * ivar
    dsqrtvar = -1.0 / (sqrtvar**2) * divar  # step 6
    dvar = 0.5 * 1.0 / np.sqrt(var + eps) * dsqrtvar  # step 5
    dsq = 1.0 / N * np.ones((N, D)) * dvar  # step 4
    dxmu2 = 2 * xmu * dsq  # step 3
    dx1 = dxmu1 + dxmu2  # step 2
    dmu = -1 * np.sum(dxmu1 + dxmu2, axis=0)
    dx2 = 1.0 / N * np.ones((N, D)) * dmu  # step 1
    dx = dx1 + dx2
    return dx, dgamma, dbeta
