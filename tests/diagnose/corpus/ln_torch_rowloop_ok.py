# mypy: ignore-errors
"""Correct: layer norm torch Function, backward staged one sample (row) at a time."""

import torch


class LayerNormFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, gamma, beta, eps=1e-5):
        mean = x.mean(dim=1, keepdim=True)
        var = x.var(dim=1, unbiased=False, keepdim=True)
        rstd = 1.0 / torch.sqrt(var + eps)
        x_norm = (x - mean) * rstd
        ctx.save_for_backward(x, mean, rstd, gamma)
        return gamma * x_norm + beta

    @staticmethod
    def backward(ctx, dy):
        x, mean, rstd, gamma = ctx.saved_tensors
        D = x.shape[1]
        rows = []
        for i in range(x.shape[0]):
            xc = x[i] - mean[i]
            dxn = dy[i] * gamma
            dvar = (dxn * xc).sum() * -0.5 * rstd[i] ** 3
            dmean = -dxn.sum() * rstd[i] + dvar * (-2.0 / D) * xc.sum()
            rows.append(dxn * rstd[i] + dvar * 2.0 * xc / D + dmean / D)
        dx = torch.stack(rows)
        x_norm = (x - mean) * rstd
        return dx, (dy * x_norm).sum(dim=0), dy.sum(dim=0), None
