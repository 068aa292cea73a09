"""cs231n style: objects whose unpickling would run code, in bn_param and in the cache."""

import numpy as np


class Evil:
    def __reduce__(self):
        return (open, ("{{MARKER}}", "w"))  # run in whoever unpickles this


def batchnorm_forward(x, gamma, beta, bn_param):
    mu, var = x.mean(0), x.var(0)
    xhat = (x - mu) / np.sqrt(var + bn_param.get("eps", 1e-5))
    bn_param["running_mean"] = Evil()
    bn_param["evil"] = Evil()
    return gamma * xhat + beta, (xhat, gamma, Evil())


def batchnorm_backward(dout, cache):
    xhat, gamma, _ = cache
    return dout * gamma, (dout * xhat).sum(0), dout.sum(0)  # wrong dx
