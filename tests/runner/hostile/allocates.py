"""Touches 20 GB: cut by the address-space limit."""

import numpy as np


def batchnorm_backward(dy, x, gamma, eps=1e-5):
    big = np.ones(20 * 10**9 // 8)
    return dy * big[0], gamma, gamma
