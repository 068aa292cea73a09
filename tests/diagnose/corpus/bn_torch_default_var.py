# mypy: ignore-errors
"""Bug: torch's x.var(dim=0) is unbiased by default, so training normalizes with 1/(N-1)."""

import torch


class BN(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, gamma, beta, eps=1e-5):
        mean = x.mean(dim=0)
        var = x.var(dim=0)  # BUG
        inv_std = 1.0 / torch.sqrt(var + eps)
        x_hat = (x - mean) * inv_std
        ctx.save_for_backward(x_hat, inv_std, gamma)
        return gamma * x_hat + beta

    @staticmethod
    def backward(ctx, dy):
        x_hat, inv_std, gamma = ctx.saved_tensors
        N = dy.shape[0]
        dbeta = dy.sum(dim=0)
        dgamma = (dy * x_hat).sum(dim=0)
        dx = gamma * inv_std / N * (N * dy - dbeta - x_hat * dgamma)
        return dx, dgamma, dbeta, None
