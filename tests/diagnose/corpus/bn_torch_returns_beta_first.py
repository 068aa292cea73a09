# mypy: ignore-errors
"""Bug: backward returns the gradients as (dx, dbeta, dgamma), swapped."""

import torch


class BatchNormFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, gamma, beta, eps=1e-5):
        mean = x.mean(0, keepdim=True)
        var = ((x - mean) ** 2).mean(0, keepdim=True)
        std = (var + eps).sqrt()
        xhat = (x - mean) / std
        ctx.save_for_backward(xhat, std, gamma)
        return xhat * gamma + beta

    @staticmethod
    def backward(ctx, dy):
        xhat, std, gamma = ctx.saved_tensors
        m = dy.shape[0]
        dbeta = dy.sum(0)
        dgamma = (dy * xhat).sum(0)
        dx = gamma / (m * std) * (m * dy - dbeta - xhat * dgamma)
        return dx, dbeta, dgamma, None  # BUG
