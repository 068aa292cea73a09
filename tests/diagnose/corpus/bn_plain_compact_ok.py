# mypy: ignore-errors
"""Correct: plain batch norm backward in the compact form, written with means."""


def batchnorm_backward(dy, x, gamma, eps=1e-5):
    mean = x.mean(axis=0, keepdims=True)
    var = x.var(axis=0, keepdims=True)  # numpy's default ddof=0
    inv_std = (var + eps) ** -0.5
    x_hat = (x - mean) * inv_std
    dgamma = (dy * x_hat).sum(axis=0)
    dbeta = dy.sum(axis=0)
    dx = (
        gamma
        * inv_std
        * (dy - dy.mean(axis=0, keepdims=True) - x_hat * (dy * x_hat).mean(axis=0, keepdims=True))
    )
    return dx, dgamma, dbeta
