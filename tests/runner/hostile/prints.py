"""Prints 1 GB (in 1 MB pieces): cut by the file-size limit of its output."""

import sys

CHUNK = "x" * (1 << 20)


def batchnorm_backward(dy, x, gamma, eps=1e-5):
    for _ in range(1024):
        sys.stdout.write(CHUNK)
    return dy, gamma, gamma
