def batchnorm_forward(x, gamma, beta, bn_param):
    return x


def batchnorm_backward(dout, cache):
    return dout, dout.sum(0), dout.sum(0)
