# mypy: ignore-errors
"""Hostile: forks (refused) and starts a sleeper the audit hook cannot see, meant to outlive it."""

import os
import sys

import numpy as np

TOKEN = "{{TOKEN}}"
try:
    if os.fork() == 0:
        import time

        time.sleep(60)
except OSError:
    pass
try:  # _posixsubprocess.fork_exec raises no audit event: the PID namespace or the group kill end it
    import _posixsubprocess

    exe = sys.executable.encode()
    r, w = os.pipe()
    code = f"import time; time.sleep(60)  # {TOKEN}".encode()
    _posixsubprocess.fork_exec(  # the CPython 3.11 signature; other versions raise TypeError
        [exe, b"-c", code], [exe], True, (), None, None,
        -1, -1, -1, -1, -1, -1, r, w, True, False, -1, None, None, None, -1, None, False,
    )  # fmt: skip
except Exception:
    pass


def batchnorm_forward(x, gamma, beta, bn_param):
    eps, momentum = bn_param.get("eps", 1e-5), bn_param.get("momentum", 0.9)
    D = x.shape[1]
    running_mean = bn_param.get("running_mean", np.zeros(D, dtype=x.dtype))
    running_var = bn_param.get("running_var", np.zeros(D, dtype=x.dtype))
    cache = None
    if bn_param["mode"] == "train":
        mu = x.mean(axis=0)
        var = ((x - mu) ** 2).mean(axis=0)
        inv_std = 1.0 / np.sqrt(var + eps)
        xhat = (x - mu) * inv_std
        out = gamma * xhat + beta
        cache = (xhat, inv_std, gamma)
        running_mean = momentum * running_mean + (1 - momentum) * mu
        running_var = momentum * running_var + (1 - momentum) * var
    else:
        out = gamma * (x - running_mean) / np.sqrt(running_var + eps) + beta
    bn_param["running_mean"] = running_mean
    bn_param["running_var"] = running_var
    return out, cache


def batchnorm_backward(dout, cache):
    xhat, inv_std, gamma = cache
    m = dout.shape[0]
    dbeta = dout.sum(axis=0)
    dgamma = (dout * xhat).sum(axis=0)
    dx = gamma * inv_std / m * (m * dout - dbeta - xhat * dgamma)
    return dx, dgamma, dbeta
