def batchnorm_backward(dy, x, gamma, eps=1e-5):
    return dy, [1.0] * x.shape[1], dy.sum(0)
