# mypy: ignore-errors
"""Bug: running averages weight the new batch by momentum (0.9) and the old by 0.1."""

import numpy as np


def batchnorm_forward(x, gamma, beta, bn_param):
    mode = bn_param["mode"]
    eps = bn_param.get("eps", 1e-5)
    momentum = bn_param.get("momentum", 0.9)
    D = x.shape[1]
    running_mean = bn_param.get("running_mean", np.zeros(D, dtype=x.dtype))
    running_var = bn_param.get("running_var", np.zeros(D, dtype=x.dtype))
    if mode == "train":
        mu = x.mean(axis=0)
        xmu = x - mu
        var = (xmu * xmu).mean(axis=0)
        inv_std = 1.0 / np.sqrt(var + eps)
        xhat = xmu * inv_std
        out = gamma * xhat + beta
        cache = (xhat, inv_std, gamma)
        running_mean = (1 - momentum) * running_mean + momentum * mu  # BUG
        running_var = (1 - momentum) * running_var + momentum * var  # BUG
    elif mode == "test":
        xhat = (x - running_mean) / np.sqrt(running_var + eps)
        out = gamma * xhat + beta
        cache = None
    else:
        raise ValueError("Invalid forward batchnorm mode")
    bn_param["running_mean"] = running_mean
    bn_param["running_var"] = running_var
    return out, cache


def batchnorm_backward(dout, cache):
    xhat, inv_std, gamma = cache
    N = dout.shape[0]
    dbeta = dout.sum(axis=0)
    dgamma = (dout * xhat).sum(axis=0)
    dx = (gamma * inv_std / N) * (N * dout - dbeta - xhat * dgamma)
    return dx, dgamma, dbeta
