"""Mutation, hidden state, running statistics, eval mode and degenerate inputs, in-process."""

from __future__ import annotations

import numpy as np
import pytest

from bncheck.check.api import check_backward
from bncheck.spec import NormSpec


def _stats(x, eps):  # type: ignore[no-untyped-def]
    xmu = x - x.mean(axis=0)
    inv_std = 1.0 / np.sqrt((xmu * xmu).mean(axis=0) + eps)
    return xmu, inv_std


def _backward(dout, xhat, inv_std, gamma):  # type: ignore[no-untyped-def]
    m = dout.shape[0]
    dbeta = dout.sum(axis=0)
    dgamma = (dout * xhat).sum(axis=0)
    return gamma * inv_std / m * (m * dout - dbeta - xhat * dgamma), dgamma, dbeta


def make_forward(running: str = "cs231n", eval_uses_batch: bool = False, mutate_x: bool = False):  # type: ignore[no-untyped-def]
    def batchnorm_forward(x, gamma, beta, bn_param):  # type: ignore[no-untyped-def]
        eps, k = bn_param.get("eps", 1e-5), bn_param.get("momentum", 0.9)
        d = x.shape[1]
        rm = bn_param.get("running_mean", np.zeros(d))
        rv = bn_param.get("running_var", np.zeros(d))
        if bn_param["mode"] == "train" or eval_uses_batch:
            xmu, inv_std = _stats(x, eps)
            xhat = xmu * inv_std
            m = x.shape[0]
            var = (xmu * xmu).mean(axis=0)
            if running == "cs231n":
                rm, rv = k * rm + (1 - k) * x.mean(0), k * rv + (1 - k) * var
            else:
                rm, rv = (1 - k) * rm + k * x.mean(0), (1 - k) * rv + k * var * m / (m - 1)
            if mutate_x:
                x -= x.mean(axis=0)  # BUG: centres the caller's x in place
            out, cache = gamma * xhat + beta, {"xhat": xhat, "inv_std": inv_std, "gamma": gamma}
        else:
            out, cache = gamma * (x - rm) / np.sqrt(rv + eps) + beta, None
        bn_param["running_mean"], bn_param["running_var"] = rm, rv
        return out, cache

    return batchnorm_forward


def backward(dout, cache):  # type: ignore[no-untyped-def]
    return _backward(dout, cache["xhat"], cache["inv_std"], cache["gamma"])


def failures(result) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {c.name: c.message for c in result.failures}


def test_reference_forward_and_backward_pass() -> None:
    assert check_backward(make_forward(), backward).passed


def test_backward_reading_the_last_forward_is_hidden_state() -> None:
    last = {}

    def forward(x, gamma, beta, bn_param):  # type: ignore[no-untyped-def]
        out, cache = make_forward()(x, gamma, beta, bn_param)
        last["cache"] = cache  # BUG: the backward below ignores its cache argument
        return out, cache

    def stale_backward(dout, cache):  # type: ignore[no-untyped-def]
        return backward(dout, last["cache"])

    msg = failures(check_backward(forward, stale_backward))["hidden state"]
    assert "another input's forward" in msg


def test_backward_that_mutates_the_cache() -> None:
    def backward_scaling_cache(dout, cache):  # type: ignore[no-untyped-def]
        grads = backward(dout, cache)
        cache["xhat"] *= 1.0 + 1e-3  # BUG
        return grads

    assert (
        "cache['xhat']"
        in failures(check_backward(make_forward(), backward_scaling_cache))["mutation"]
    )


def test_forward_that_mutates_x() -> None:
    msg = failures(check_backward(make_forward(mutate_x=True), backward))["mutation"]
    assert msg.startswith("the submission changed its input in place: x (in a call to forward)")


def test_running_statistics_in_the_pytorch_convention() -> None:
    pytorch = NormSpec(running="pytorch")
    assert check_backward(make_forward("pytorch"), backward, spec=pytorch).passed
    msg = failures(check_backward(make_forward("cs231n"), backward, spec=pytorch))["running stats"]
    assert "wrong" in msg
    msg = failures(check_backward(make_forward("pytorch"), backward))["running stats"]
    assert "momentum semantics swapped" in msg or "pytorch convention" in msg


def test_eval_mode_that_uses_batch_statistics() -> None:
    result = check_backward(make_forward(eval_uses_batch=True), backward)
    assert "eval mode" in failures(result)


def test_eps_left_out_fails_on_the_zero_variance_feature() -> None:
    def no_eps(dy, x, gamma, eps=1e-5):  # type: ignore[no-untyped-def]
        xmu, _ = _stats(x, eps)
        with np.errstate(divide="ignore", invalid="ignore"):
            inv_std = 1.0 / np.sqrt((xmu * xmu).mean(axis=0))  # BUG: no eps
            return _backward(dy, xmu * inv_std, inv_std, gamma)

    msg = failures(check_backward(no_eps))["dx"]
    assert "zero-variance feature" in msg or "variance far below eps" in msg


def test_raw_sums_lose_digits_but_stay_within_the_float64_tolerance() -> None:
    def raw_sums(dy, x, gamma, eps=1e-5):  # type: ignore[no-untyped-def]
        m = x.shape[0]
        mu = x.sum(0) / m
        var = (x * x).sum(0) / m - mu * mu  # cancellation at mean 1e4
        inv_std = 1 / np.sqrt(np.maximum(var, 0) + eps)
        return _backward(dy, (x - mu) * inv_std, inv_std, gamma)

    # mean 1e4, std 1: E[x²] - μ² loses 8 of 16 digits, still far inside 1e-7 of the scale
    assert check_backward(raw_sums).passed


def test_torch_backward_that_mutates_dy() -> None:
    torch = pytest.importorskip("torch", reason="a torch.autograd.Function needs torch")

    class MutatingBN(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x, gamma, beta, eps=1e-5):  # type: ignore[no-untyped-def]
            xmu = x - x.mean(0)
            inv_std = torch.rsqrt((xmu * xmu).mean(0) + eps)
            ctx.save_for_backward(xmu * inv_std, inv_std, gamma)
            return gamma * xmu * inv_std + beta

        @staticmethod
        def backward(ctx, dy):  # type: ignore[no-untyped-def]
            xhat, inv_std, gamma = ctx.saved_tensors
            m = dy.shape[0]
            dbeta = dy.sum(0)
            dgamma = (dy * xhat).sum(0)
            dy.mul_(m)  # BUG: in place
            return gamma * inv_std / m * (dy - dbeta - xhat * dgamma), dgamma, dbeta, None

    assert "dout" in failures(check_backward(MutatingBN))["mutation"]
