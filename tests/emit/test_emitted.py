"""The emitted functions: agreement with torch autograd, determinism, inspectability."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bncheck.emit import emit_source, load_backward
from bncheck.spec import SPECS, NormSpec

BN = SPECS["batchnorm"]
SPATIAL = SPECS["spatial_batchnorm"]


def _inputs(shape: tuple[int, ...], seed: int, offset: float = 0.0):
    rng = np.random.default_rng(seed)
    x = (
        rng.standard_normal(shape)
        * rng.uniform(0.1, 3.0, size=shape[1])[(slice(None),) + (None,) * (len(shape) - 2)]
        + offset
    )
    x[:, 0] = 2.5  # a zero-variance feature
    dy = rng.standard_normal(shape)
    gamma = rng.standard_normal(shape[1])
    return dy, x, gamma


def _autograd(dy, x, gamma, eps, spec: NormSpec):
    torch = pytest.importorskip("torch", reason="torch autograd is the reference here")
    xt = torch.tensor(x, requires_grad=True)
    gt = torch.tensor(gamma, requires_grad=True)
    bt = torch.zeros_like(gt, requires_grad=True)
    y = torch.nn.functional.batch_norm(xt, None, None, gt, bt, training=True, eps=eps)
    y.backward(torch.tensor(dy))
    return xt.grad.numpy(), gt.grad.numpy(), bt.grad.numpy()


def _rel(got, want) -> float:
    return float(np.max(np.abs(got - want)) / max(np.max(np.abs(want)), 1e-300))


@pytest.mark.parametrize("backend", ["numpy", "torch"])
@pytest.mark.parametrize(("spec", "shape"), [(BN, (7, 5)), (BN, (64, 3)), (SPATIAL, (3, 4, 5, 2))])
def test_emitted_agrees_with_autograd_to_1e_12(backend, spec, shape) -> None:
    dy, x, gamma = _inputs(shape, seed=1)
    want = _autograd(dy, x, gamma, 1e-5, spec)
    f = load_backward(spec, backend)
    if backend == "torch":
        torch = pytest.importorskip("torch")
        got = [t.numpy() for t in f(*(torch.tensor(a) for a in (dy, x, gamma)))]
    else:
        got = f(dy, x, gamma)
    for g, w, name in zip(got, want, ("dx", "dgamma", "dbeta"), strict=True):
        assert g.shape == w.shape, name
        assert g.dtype == np.float64, name
        assert _rel(g, w) < 1e-12, name


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(2, 40),
    d=st.integers(1, 12),
    eps=st.sampled_from([1e-5, 1e-3, 0.1]),
    seed=st.integers(0, 2**31 - 1),
)
def test_property_derived_equals_autograd(n: int, d: int, eps: float, seed: int) -> None:
    dy, x, gamma = _inputs((n, d), seed)
    want = _autograd(dy, x, gamma, eps, BN)
    got = load_backward(BN, "numpy")(dy, x, gamma, eps)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-12 * max(1.0, np.abs(w).max()))


@settings(max_examples=40, deadline=None)
@given(n=st.integers(2, 50), d=st.integers(1, 9), seed=st.integers(0, 2**31 - 1))
def test_property_dx_sums_to_zero_over_the_batch(n: int, d: int, seed: int) -> None:
    dy, x, gamma = _inputs((n, d), seed)
    dx, _, dbeta = load_backward(BN, "numpy")(dy, x, gamma)
    scale = np.abs(dy).sum(0) * np.abs(gamma) / np.sqrt(x.var(0) + 1e-5)
    assert np.all(np.abs(dx.sum(0)) <= 1e-12 * scale + 1e-300)
    assert np.all(np.abs(dbeta - dy.sum(0)) <= 1e-13 * np.abs(dy).sum(0))


def test_large_offset_keeps_its_digits() -> None:
    """Centred first: mean 1e4 with unit spread loses nothing against the centred input."""
    dy, x, gamma = _inputs((128, 6), seed=3)
    f = load_backward(BN, "numpy")
    far = f(dy, x + 1e4, gamma)
    near = f(dy, x, gamma)
    for a, b in zip(far, near, strict=True):
        assert _rel(a, b) < 1e-10


def test_unbiased_variance_is_emitted() -> None:
    spec = NormSpec(variance="unbiased")
    assert "/(m - 1)" in emit_source(spec, "numpy")
    dy, x, gamma = _inputs((9, 4), seed=2)
    x[:, 0] += np.arange(9)  # give every feature some variance
    dx, *_ = load_backward(spec, "numpy")(dy, x, gamma)
    dx_biased, *_ = load_backward(BN, "numpy")(dy, x, gamma)
    assert _rel(dx, dx_biased) > 1e-3  # the convention matters and is honoured


def test_source_is_deterministic_and_inspectable() -> None:
    assert emit_source(BN, "numpy") == emit_source(BN, "numpy")
    f = load_backward(BN, "numpy")
    source = inspect.getsource(f)
    assert source.startswith("def batchnorm_backward(dy, x, gamma, eps=1e-05):")
    assert "dx     = gamma*(dy*m - xhat*Σ(dy*xhat) - Σ(dy))/(m*sigma)" in f.__doc__


def test_tracebacks_point_into_the_emitted_source() -> None:
    f = load_backward(BN, "numpy")
    with pytest.raises(ValueError) as info:
        f(np.ones((3, 4)), np.ones((3, 5)), np.ones(5))
    frames = [fr for fr in info.traceback if "bncheck-emitted" in str(fr.path)]
    assert frames and frames[-1].statement is not None


def test_intermediate_names_are_the_fixed_ones() -> None:
    source = emit_source(BN, "numpy")
    for name in ("mu =", "xmu =", "var =", "inv_std =", "dbeta =", "dgamma =", "dx ="):
        assert f"    {name}" in source


def test_numpy_uses_einsum_and_torch_uses_addcmul() -> None:
    assert "np.einsum('nd,nd->d', dy, xmu)" in emit_source(BN, "numpy")
    torch_source = emit_source(BN, "torch")
    assert "torch.addcmul(" in torch_source and "np." not in torch_source
    spatial = emit_source(SPATIAL, "numpy")
    assert "keepdims=True" in spatial and "reshape(stat_shape)" in spatial


def test_disk_cache_is_keyed_by_the_producing_code(tmp_path, monkeypatch) -> None:
    from bncheck.emit import load as emit_load

    monkeypatch.setenv("BNCHECK_CACHE_DIR", str(tmp_path))
    source = emit_load.cached_source(BN, "numpy")
    assert source == emit_source(BN, "numpy")
    (path,) = tmp_path.glob("emitted-batchnorm-numpy-*.py")
    marked = "# from the cache\n" + source  # still the shape of emitted code
    path.write_text(marked, encoding="utf-8")
    assert emit_load.cached_source(BN, "numpy") == marked  # a hit reads the file
    # Another spec, backend or producing code gives another key, so a stale file is never used.
    assert emit_load._cache_file(BN, "torch") != path
    assert emit_load._cache_file(NormSpec(variance="unbiased"), "numpy") != path
    monkeypatch.setattr(emit_load, "_PACKAGE", tmp_path)  # as if the code had changed
    (tmp_path / "spec.py").write_text("changed", encoding="utf-8")
    (tmp_path / "names.py").write_text("", encoding="utf-8")
    assert emit_load._cache_file(BN, "numpy") != path


def test_disk_cache_key_covers_the_new_spec_fields(tmp_path, monkeypatch) -> None:
    from dataclasses import replace

    from bncheck.emit import load as emit_load

    monkeypatch.setenv("BNCHECK_CACHE_DIR", str(tmp_path))
    gn = SPECS["groupnorm"]
    key = emit_load._cache_file(gn, "numpy")
    for change in ({"groups": 4}, {"param_keepdims": False}, {"center": False}, {"eps": 1e-3}):
        assert emit_load._cache_file(replace(gn, **change), "numpy") != key, change
    ln = SPECS["layernorm"]
    assert emit_load._cache_file(replace(ln, param_axes=None, axes=(0,)), "numpy") != (
        emit_load._cache_file(ln, "numpy")
    )
