# mypy: ignore-errors
"""Bug: the mean is treated as a constant; dx gets no contribution through dmean."""

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
        sample_mean = x.mean(axis=0)
        x_centered = x - sample_mean
        sample_var = (x_centered**2).mean(axis=0)
        istd = 1.0 / np.sqrt(sample_var + eps)
        x_norm = x_centered * istd
        out = gamma * x_norm + beta
        running_mean = momentum * running_mean + (1 - momentum) * sample_mean
        running_var = momentum * running_var + (1 - momentum) * sample_var
        cache = (x_centered, istd, x_norm, gamma)
    elif mode == "test":
        out = gamma * (x - running_mean) / np.sqrt(running_var + eps) + beta
    else:
        raise ValueError(mode)
    bn_param["running_mean"] = running_mean
    bn_param["running_var"] = running_var
    return out, cache


def batchnorm_backward(dout, cache):
    x_centered, istd, x_norm, gamma = cache
    N = dout.shape[0]
    dbeta = dout.sum(axis=0)
    dgamma = (dout * x_norm).sum(axis=0)
    dx_norm = dout * gamma
    dvar = np.sum(dx_norm * x_centered, axis=0) * -0.5 * istd**3
    dx = dx_norm * istd + dvar * 2.0 * x_centered / N  # BUG
    return dx, dgamma, dbeta
