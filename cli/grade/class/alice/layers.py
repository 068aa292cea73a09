# mypy: ignore-errors
# (an example submission, written as a student would: no annotations, and bugs on purpose)
"""A correct CS231n-style batch norm: the staged equations of the paper, and the compact form."""

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
        mu = x.mean(axis=0)
        xmu = x - mu
        var = (xmu**2).mean(axis=0)  # biased variance (1/m), as in the paper
        inv_std = 1.0 / np.sqrt(var + eps)  # eps inside the square root
        xhat = xmu * inv_std
        out = gamma * xhat + beta
        cache = (xhat, xmu, inv_std, gamma)
        running_mean = momentum * running_mean + (1 - momentum) * mu
        running_var = momentum * running_var + (1 - momentum) * var
    elif mode == "test":
        out = gamma * (x - running_mean) / np.sqrt(running_var + eps) + beta
    else:
        raise ValueError(f"Invalid forward batchnorm mode {mode!r}")

    bn_param["running_mean"] = running_mean
    bn_param["running_var"] = running_var
    return out, cache


def batchnorm_backward(dout, cache):
    """The chain rule step by step: dxhat, dvar, dmu, then dx."""
    xhat, xmu, inv_std, gamma = cache
    m = dout.shape[0]
    dbeta = dout.sum(axis=0)
    dgamma = (dout * xhat).sum(axis=0)
    dxhat = dout * gamma
    dvar = (dxhat * xmu).sum(axis=0) * -0.5 * inv_std**3
    dmu = -(dxhat * inv_std).sum(axis=0) + dvar * -2.0 * xmu.mean(axis=0)
    dx = dxhat * inv_std + dvar * 2.0 * xmu / m + dmu / m
    return dx, dgamma, dbeta


def batchnorm_backward_alt(dout, cache):
    """The compact form: dx = (gamma/sigma/m) (m dout - Σ dout - xhat Σ dout·xhat)."""
    xhat, _, inv_std, gamma = cache
    m = dout.shape[0]
    dbeta = dout.sum(axis=0)
    dgamma = (dout * xhat).sum(axis=0)
    dx = gamma * inv_std / m * (m * dout - dbeta - xhat * dgamma)
    return dx, dgamma, dbeta
