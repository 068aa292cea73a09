# mypy: ignore-errors
"""Bug: dvar uses (var + eps)^(-1/2) where the power rule gives (var + eps)^(-3/2)."""

import torch


class BatchNormFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, gamma, beta, eps=1e-5):
        mu = x.mean(dim=0)
        xmu = x - mu
        var = (xmu**2).mean(dim=0)
        xhat = xmu / torch.sqrt(var + eps)
        ctx.eps = eps
        ctx.save_for_backward(xmu, var, xhat, gamma)
        return gamma * xhat + beta

    @staticmethod
    def backward(ctx, dy):
        xmu, var, xhat, gamma = ctx.saved_tensors
        eps = ctx.eps
        N = dy.shape[0]
        dxhat = dy * gamma
        dvar = -0.5 * (dxhat * xmu).sum(0) * (var + eps) ** -0.5  # BUG
        dmu = -(dxhat / torch.sqrt(var + eps)).sum(0) + dvar * (-2.0 * xmu).mean(0)
        dx = dxhat / torch.sqrt(var + eps) + dvar * 2 * xmu / N + dmu / N
        return dx, (dy * xhat).sum(0), dy.sum(0), None
