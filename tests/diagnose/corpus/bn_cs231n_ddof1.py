# mypy: ignore-errors
"""Bug: training variance with ddof=1 (divides by N-1); the backward follows it."""

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
        sample_var = np.var(x, axis=0, ddof=1)  # BUG
        x_centered = x - sample_mean
        inv_std = 1.0 / np.sqrt(sample_var + eps)
        x_norm = x_centered * inv_std
        out = gamma * x_norm + beta
        cache = (x_centered, inv_std, x_norm, gamma)
        running_mean = momentum * running_mean + (1 - momentum) * sample_mean
        running_var = momentum * running_var + (1 - momentum) * sample_var
    elif mode == "test":
        out = gamma * (x - running_mean) / np.sqrt(running_var + eps) + beta
    bn_param["running_mean"] = running_mean
    bn_param["running_var"] = running_var
    return out, cache


def batchnorm_backward(dout, cache):
    x_centered, inv_std, x_norm, gamma = cache
    N = dout.shape[0]
    dx_norm = dout * gamma
    dvar = np.sum(dx_norm * x_centered, axis=0) * -0.5 * inv_std**3
    dmean = -np.sum(dx_norm * inv_std, axis=0)
    dx = dx_norm * inv_std + dvar * 2 * x_centered / (N - 1) + dmean / N  # BUG
    return dx, np.sum(dout * x_norm, axis=0), np.sum(dout, axis=0)
