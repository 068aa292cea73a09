def batchnorm_backward(dy, x, gamma, eps=1e-5):
    return dy, dy.sum(0)
