# mypy: ignore-errors
# (an example submission, written as a student would: no annotations, and bugs on purpose)
"""A correct batch norm as a torch.autograd.Function with a hand-written backward."""

import torch


class BatchNorm(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, gamma, beta, eps=1e-5):
        mu = x.mean(dim=0)
        xmu = x - mu
        var = (xmu * xmu).mean(dim=0)  # biased variance (1/m)
        inv_std = torch.rsqrt(var + eps)
        xhat = xmu * inv_std
        ctx.save_for_backward(xhat, inv_std, gamma)
        return gamma * xhat + beta

    @staticmethod
    def backward(ctx, dy):
        xhat, inv_std, gamma = ctx.saved_tensors
        m = dy.shape[0]
        dbeta = dy.sum(dim=0)
        dgamma = (dy * xhat).sum(dim=0)
        dx = gamma * inv_std / m * (m * dy - dbeta - xhat * dgamma)
        return dx, dgamma, dbeta, None
