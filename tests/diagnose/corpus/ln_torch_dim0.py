# mypy: ignore-errors
"""Bug: layer norm torch Function normalizing over dim 0 (the batch) instead of each sample."""

import torch


class LayerNormFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, gamma, beta, eps=1e-5):
        mu = x.mean(0)  # BUG
        var = ((x - mu) ** 2).mean(0)  # BUG
        rstd = (var + eps).rsqrt()
        xhat = (x - mu) * rstd
        ctx.save_for_backward(xhat, rstd, gamma)
        return gamma * xhat + beta

    @staticmethod
    def backward(ctx, dy):
        xhat, rstd, gamma = ctx.saved_tensors
        g = dy * gamma
        dx = rstd * (g - g.mean(0) - xhat * (g * xhat).mean(0))  # BUG
        return dx, (dy * xhat).sum(0), dy.sum(0), None
