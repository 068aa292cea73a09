import numpy as np


def helper(xmu, inv_std):
    return xmu @ inv_std  # wrong: matrix product of (N, D) and (D,)


def batchnorm_backward(dy, x, gamma, eps=1e-5):
    xmu = x - x.mean(0)
    inv_std = 1 / np.sqrt((xmu * xmu).mean(0) + eps)
    xhat = helper(xmu, inv_std.reshape(1, -1))
    return dy, (dy * xhat).sum(0), dy.sum(0)
