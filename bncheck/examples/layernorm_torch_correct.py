# mypy: ignore-errors
# (an example submission, written as a student would: no annotations, and bugs on purpose)
"""A correct layer norm as a torch.autograd.Function with a hand-written backward."""

import torch


class LayerNormFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, gamma, beta, eps=1e-5):
        mu = x.mean(dim=1, keepdim=True)
        xmu = x - mu
        var = (xmu * xmu).mean(dim=1, keepdim=True)  # biased variance (1/D)
        inv_std = torch.rsqrt(var + eps)
        xhat = xmu * inv_std
        ctx.save_for_backward(xhat, inv_std, gamma)
        return gamma * xhat + beta

    @staticmethod
    def backward(ctx, dy):
        xhat, inv_std, gamma = ctx.saved_tensors
        D = dy.shape[1]
        dxhat = dy * gamma
        dx = (
            inv_std
            / D
            * (
                D * dxhat
                - dxhat.sum(dim=1, keepdim=True)
                - xhat * (dxhat * xhat).sum(dim=1, keepdim=True)
            )
        )
        return dx, (dy * xhat).sum(dim=0), dy.sum(dim=0), None
