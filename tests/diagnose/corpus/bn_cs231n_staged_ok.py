# mypy: ignore-errors
"""Correct: CS231n batch norm, backward staged through dx_norm, dvar and dmean."""

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
        sample_mean = np.mean(x, axis=0)
        x_centered = x - sample_mean
        sample_var = np.mean(x_centered**2, axis=0)
        istd = 1.0 / np.sqrt(sample_var + eps)
        x_norm = x_centered * istd
        out = gamma * x_norm + beta
        running_mean = momentum * running_mean + (1 - momentum) * sample_mean
        running_var = momentum * running_var + (1 - momentum) * sample_var
        cache = (x_centered, istd, x_norm, gamma)
    elif mode == "test":
        out = gamma * (x - running_mean) / np.sqrt(running_var + eps) + beta
    else:
        raise ValueError(f'Invalid forward batchnorm mode "{mode}"')
    bn_param["running_mean"] = running_mean
    bn_param["running_var"] = running_var
    return out, cache


def batchnorm_backward(dout, cache):
    x_centered, istd, x_norm, gamma = cache
    N = dout.shape[0]
    dbeta = np.sum(dout, axis=0)
    dgamma = np.sum(dout * x_norm, axis=0)
    dx_norm = dout * gamma
    dvar = np.sum(dx_norm * x_centered, axis=0) * -0.5 * istd**3
    dmean = np.sum(-dx_norm * istd, axis=0) + dvar * np.mean(-2.0 * x_centered, axis=0)
    dx = dx_norm * istd + dvar * 2.0 * x_centered / N + dmean / N
    return dx, dgamma, dbeta
