"""The child calls every normalization's signature: group norm's G positionally, eps or not."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from bncheck.runner import calls

X, GAMMA, BETA = np.ones((2, 4, 3, 3)), np.ones((1, 4, 1, 1)), np.zeros((1, 4, 1, 1))


def _record(seen: list[tuple[Any, ...]], result: Any) -> Any:
    def fn(*args: Any) -> Any:
        seen.append(args)
        return result

    return fn


def test_cs231n_group_norm_forward_gets_g_before_gn_param() -> None:
    seen: list[tuple[Any, ...]] = []
    op = {"op": "forward", "x": X, "gamma": GAMMA, "beta": BETA, "bn_param": {"eps": 1e-5}}
    calls.execute([{**op, "groups": 2}], {"forward": _record(seen, (X, None))}, set())
    x, _, _, g, param = seen[0]
    assert g == 2 and param == {"eps": 1e-5} and x.shape == X.shape


def test_a_forward_without_g_gets_four_arguments() -> None:
    seen: list[tuple[Any, ...]] = []
    op = {"op": "forward", "x": X, "gamma": GAMMA, "beta": BETA, "bn_param": {"eps": 1e-5}}
    calls.execute([op], {"forward": _record(seen, (X, None))}, set())
    assert len(seen[0]) == 4


def test_plain_group_norm_gets_dy_x_gamma_g_eps() -> None:
    seen: list[tuple[Any, ...]] = []
    op = {"op": "plain", "dy": X, "x": X, "gamma": GAMMA, "eps": 1e-3, "groups": 2}
    calls.execute([op], {"backward": _record(seen, (X, GAMMA, BETA))}, set())
    assert seen[0][3:] == (2, 1e-3)


class _WithEps:
    @staticmethod
    def forward(ctx, x, gamma, beta, G, eps):  # type: ignore[no-untyped-def]
        return x


class _WithoutEps:
    @staticmethod
    def forward(ctx, x, gamma, beta, G):  # type: ignore[no-untyped-def]
        return x


def test_a_torch_group_norm_forward_may_leave_eps_out() -> None:
    assert calls._takes_eps(_WithEps, groups=True)
    assert not calls._takes_eps(_WithoutEps, groups=True)
    assert calls._takes_eps(_WithoutEps)  # five parameters without G: x, gamma, beta, eps


def test_a_torch_group_norm_function_is_applied_with_g() -> None:
    torch = pytest.importorskip("torch", reason="a torch.autograd.Function needs torch")

    class GN(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x, gamma, beta, G, eps):  # type: ignore[no-untyped-def]
            ctx.G = G
            return torch.nn.functional.group_norm(x, G, gamma.reshape(-1), beta.reshape(-1), eps)

        @staticmethod
        def backward(ctx, dy):  # type: ignore[no-untyped-def]
            return dy, None, None, None, None

    x = np.random.default_rng(0).standard_normal((2, 4, 3, 3))
    op = {"op": "torch", "x": x, "gamma": GAMMA, "beta": BETA, "eps": 1e-5, "groups": 2}
    (reply,) = calls.execute([op], {"function": GN}, set())
    out = reply["out"]["items"][0]["array"]
    assert out.shape == x.shape and abs(out.reshape(2, 2, -1).mean(axis=2)).max() < 1e-12
