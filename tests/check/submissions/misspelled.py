def batchnorm_backwards(dy, x, gamma, eps=1e-5):
    return dy, dy.sum(0), dy.sum(0)
