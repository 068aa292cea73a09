# mypy: ignore-errors
"""Bug: dbeta comes out with the wrong sign (minus the sum of dy)."""

import torch


class BatchNormFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, gamma, beta, eps=1e-5):
        mu = x.mean(0)
        var = x.var(0, unbiased=False)
        istd = torch.rsqrt(var + eps)
        xhat = (x - mu) * istd
        ctx.save_for_backward(xhat, istd, gamma)
        return gamma * xhat + beta

    @staticmethod
    def backward(ctx, dy):
        xhat, istd, gamma = ctx.saved_tensors
        m = dy.shape[0]
        dgamma = torch.sum(dy * xhat, 0)
        dbeta = -torch.sum(dy, 0)  # BUG
        dx = gamma * istd * (dy - dy.sum(0) / m - xhat * dgamma / m)
        return dx, dgamma, dbeta, None
