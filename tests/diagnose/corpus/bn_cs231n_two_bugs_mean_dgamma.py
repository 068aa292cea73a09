# mypy: ignore-errors
"""Two bugs: dx treats the mean as a constant, and dgamma sums dout * x, not dout * xhat."""

import numpy as np


def batchnorm_forward(x, gamma, beta, bn_param):
    mode = bn_param["mode"]
    eps = bn_param.get("eps", 1e-5)
    momentum = bn_param.get("momentum", 0.9)
    D = x.shape[1]
    running_mean = bn_param.get("running_mean", np.zeros(D, dtype=x.dtype))
    running_var = bn_param.get("running_var", np.zeros(D, dtype=x.dtype))
    cache = None
    if mode == "train":
        mean = x.mean(axis=0)
        var = x.var(axis=0)
        inv_std = 1 / np.sqrt(var + eps)
        xhat = (x - mean) * inv_std
        out = gamma * xhat + beta
        cache = (x, xhat, inv_std, gamma)
        running_mean = momentum * running_mean + (1 - momentum) * mean
        running_var = momentum * running_var + (1 - momentum) * var
    elif mode == "test":
        out = gamma * (x - running_mean) / np.sqrt(running_var + eps) + beta
    bn_param.update(running_mean=running_mean, running_var=running_var)
    return out, cache


def batchnorm_backward(dout, cache):
    x, xhat, inv_std, gamma = cache
    N = x.shape[0]
    dxhat = dout * gamma
    dx = inv_std * (dxhat - xhat * (dxhat * xhat).sum(axis=0) / N)  # BUG
    dgamma = (dout * x).sum(axis=0)  # BUG
    dbeta = dout.sum(axis=0)
    return dx, dgamma, dbeta
