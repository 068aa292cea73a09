def batchnorm_backward(dy, x, gamma, eps=1e-5):
    var = x.var(axis=0) * 0.0
    dx = dy / var  # division by zero
    return dx, dy.sum(0), dy.sum(0)
