# mypy: ignore-errors
"""Bug: layer norm torch Function; the dvar term of dx uses 2*(x-mu) without dividing by D."""

import torch


class LayerNormFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, gamma, beta, eps=1e-5):
        mu = x.mean(1, keepdim=True)
        xc = x - mu
        var = (xc * xc).mean(1, keepdim=True)
        rstd = torch.rsqrt(var + eps)
        ctx.save_for_backward(xc, rstd, gamma)
        return gamma * (xc * rstd) + beta

    @staticmethod
    def backward(ctx, dy):
        xc, rstd, gamma = ctx.saved_tensors
        D = xc.shape[1]
        dxhat = dy * gamma
        dvar = -0.5 * (dxhat * xc).sum(1, keepdim=True) * rstd**3
        dmean = -(dxhat * rstd).sum(1, keepdim=True)
        dx = dxhat * rstd + dvar * 2 * xc + dmean / D  # BUG
        return dx, (dy * xc * rstd).sum(0), dy.sum(0), None
