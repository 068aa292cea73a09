import time


def batchnorm_backward(dy, x, gamma, eps=1e-5):
    time.sleep(30)
