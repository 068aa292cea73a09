"""Never returns from import (a CPU loop): the wall deadline ends it."""

while True:
    pass


def batchnorm_backward(dy, x, gamma, eps=1e-5):
    return dy, gamma, gamma
