# mypy: ignore-errors
"""Bug: dx = gamma * dout / std, as if mean and variance did not depend on x."""

import numpy as np


def batchnorm_forward(x, gamma, beta, bn_param):
    mode = bn_param["mode"]
    eps = bn_param.get("eps", 1e-5)
    momentum = bn_param.get("momentum", 0.9)
    D = x.shape[1]
    rm = bn_param.get("running_mean", np.zeros(D, dtype=x.dtype))
    rv = bn_param.get("running_var", np.zeros(D, dtype=x.dtype))
    if mode == "train":
        mu = x.mean(0)
        var = x.var(0)
        std = np.sqrt(var + eps)
        xhat = (x - mu) / std
        bn_param["running_mean"] = momentum * rm + (1 - momentum) * mu
        bn_param["running_var"] = momentum * rv + (1 - momentum) * var
        cache = (xhat, std, gamma)
    else:
        xhat = (x - rm) / np.sqrt(rv + eps)
        cache = None
    return gamma * xhat + beta, cache


def batchnorm_backward(dout, cache):
    xhat, std, gamma = cache
    dx = dout * gamma / std  # BUG
    dgamma = np.sum(dout * xhat, axis=0)
    dbeta = np.sum(dout, axis=0)
    return dx, dgamma, dbeta
