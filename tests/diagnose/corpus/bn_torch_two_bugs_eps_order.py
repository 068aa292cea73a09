# mypy: ignore-errors
"""Two bugs: std = sqrt(var) + eps in the forward, and the backward returns dbeta before dgamma."""

import torch


class BatchNormFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, gamma, beta, eps=1e-5):
        mu = torch.mean(x, dim=0)
        var = torch.mean((x - mu) ** 2, dim=0)
        std = torch.sqrt(var) + eps  # BUG
        xhat = (x - mu) / std
        ctx.save_for_backward(xhat, std, gamma)
        return gamma * xhat + beta

    @staticmethod
    def backward(ctx, dy):
        xhat, std, gamma = ctx.saved_tensors
        g = dy * gamma
        dx = (g - g.mean(0) - xhat * (g * xhat).mean(0)) / std
        dgamma = torch.sum(dy * xhat, dim=0)
        dbeta = torch.sum(dy, dim=0)
        return dx, dbeta, dgamma, None  # BUG
