from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from bncheck.check.inputs import make_cases
from bncheck.check.reference import batch_stats, forward, forward_eval, group_loss, running_update
from bncheck.check.sources import derived_function
from bncheck.spec import SPECS, NormSpec
from tests.check.test_family_references import derived_or_skip


def test_forward_normalizes_each_feature() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(3.0, 2.0, size=(50, 4))
    y = forward(x, np.ones(4), np.zeros(4), NormSpec())
    np.testing.assert_allclose(y.mean(0), 0, atol=1e-12)
    np.testing.assert_allclose(y.var(0), 1, rtol=1e-5)  # eps 1e-5 shrinks it slightly


@pytest.mark.parametrize(
    ("norm", "shape", "mu_shape"),
    [
        ("layernorm", (5, 7), (5, 1)),
        ("rmsnorm", (5, 7), (5, 1)),
        ("instancenorm", (2, 3, 4, 5), (2, 3, 1, 1)),
        ("groupnorm", (2, 6, 4, 5), (2, 2, 1, 1, 1)),  # the grouped view (N, G, C/G, H, W)
    ],
)
def test_statistics_of_every_preset(norm: str, shape: tuple[int, ...], mu_shape: tuple) -> None:
    spec = SPECS[norm]
    x = np.random.default_rng(1).normal(2.0, 1.5, size=shape)
    mu, var = batch_stats(x, spec)
    assert mu.shape == var.shape == mu_shape
    flat = x.reshape(mu_shape[0], -1) if norm != "instancenorm" else x.reshape(6, -1)
    if norm == "groupnorm":
        flat = x.reshape(2 * 2, -1)  # (sample, block): C/G·H·W elements each
    want = flat.var(1) if spec.center else (flat * flat).mean(1)
    np.testing.assert_allclose(var.reshape(-1), want, rtol=1e-13)
    assert group_loss(x, np.ones_like(x), spec).shape == tuple(n for n in mu_shape if n != 1)


def test_spatial_groups_are_channels() -> None:
    spec = SPECS["spatial_batchnorm"]
    x = np.random.default_rng(1).normal(size=(2, 3, 4, 5))
    mu, var = batch_stats(x, spec)
    assert mu.shape == (1, 3, 1, 1)
    np.testing.assert_allclose(var.reshape(-1), x.transpose(1, 0, 2, 3).reshape(3, -1).var(1))


def test_forward_accepts_complex_input() -> None:
    x = np.random.default_rng(2).normal(size=(6, 3)).astype(complex)
    y = forward(x, np.ones(3), np.zeros(3), NormSpec())
    assert np.iscomplexobj(y) and np.allclose(y.imag, 0)


def test_running_update_conventions() -> None:
    x = np.random.default_rng(3).normal(size=(10, 2))
    rm, rv = np.array([1.0, 2.0]), np.array([3.0, 4.0])
    cs = running_update(rm, rv, x, NormSpec())  # momentum 0.9, biased var
    np.testing.assert_allclose(cs[0], 0.9 * rm + 0.1 * x.mean(0))
    np.testing.assert_allclose(cs[1], 0.9 * rv + 0.1 * x.var(0))
    pt = running_update(rm, rv, x, NormSpec(running="pytorch"))  # momentum 0.1, unbiased var
    np.testing.assert_allclose(pt[0], 0.9 * rm + 0.1 * x.mean(0))
    np.testing.assert_allclose(pt[1], 0.9 * rv + 0.1 * x.var(0, ddof=1))
    half = dataclasses.replace(NormSpec(running="pytorch"), momentum=0.5)
    np.testing.assert_allclose(
        running_update(rm, rv, x, half)[1], 0.5 * rv + 0.5 * x.var(0, ddof=1)
    )


def test_eval_uses_running_statistics() -> None:
    x = np.arange(6.0).reshape(3, 2)
    y = forward_eval(x, np.ones(2), np.zeros(2), np.zeros(2), np.ones(2), NormSpec(eps=1e-9))
    np.testing.assert_allclose(y, x, rtol=1e-8)


@pytest.mark.parametrize("norm", sorted(SPECS))
def test_one_forward_for_numpy_and_torch(norm: str) -> None:
    """The trusted forward runs on torch tensors too (``xp=torch``): the same numbers, and
    autograd through it is the derived gradient."""
    torch = pytest.importorskip("torch", reason="the torch namespace needs torch")
    spec = SPECS[norm]
    case = make_cases(spec, seed=5)[0]
    y = forward(case.x, case.gamma, case.beta, spec)
    t = [torch.tensor(a, requires_grad=True) for a in (case.x, case.gamma, case.beta)]
    yt = forward(*t, spec, xp=torch)
    np.testing.assert_allclose(yt.detach().numpy(), y, rtol=1e-13, atol=1e-13)
    yt.backward(torch.tensor(case.dy))
    if spec.has_running:
        dx, dgamma, dbeta = derived_function(spec)(case.dy, case.x, case.gamma, spec.eps)
    else:  # the other presets: once their emitted backward exists (skipped until then)
        dx, dgamma, dbeta = derived_or_skip(spec)(case)
    np.testing.assert_allclose(t[0].grad.numpy(), dx, atol=1e-12 * np.abs(dx).max())
    np.testing.assert_allclose(t[1].grad.numpy(), dgamma, atol=1e-12 * np.abs(dgamma).max())
    np.testing.assert_allclose(t[2].grad.numpy(), dbeta, atol=1e-12 * np.abs(dbeta).max())


def test_the_complex_step_through_the_forward_is_the_gradient() -> None:
    """Complex-step safe: Im f(x + i·h·e_k)/h is the exact derivative, to round-off."""
    spec = NormSpec()
    case = make_cases(spec, seed=6)[0]
    k = (2, 1)
    xc = case.x.astype(complex)
    xc[k] += 1e-30j
    slope = group_loss(forward(xc, case.gamma, case.beta, spec), case.dy, spec).imag / 1e-30
    dx = derived_function(spec)(case.dy, case.x, case.gamma, spec.eps)[0]
    assert abs(slope[k[1]] - dx[k]) < 1e-12 * np.abs(dx).max()
