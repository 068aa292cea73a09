"""Every preset's emitted backward against torch's own functions and the reference forward.

torch's F.batch_norm, F.layer_norm, F.group_norm, F.instance_norm and F.rms_norm (+ β)
are independent implementations: their autograd is the referee, to 1e-12 normwise in
float64, on shapes with N ≠ D (C ≠ H ≠ W) and a zero-variance group in every input.
"""

from __future__ import annotations

import inspect
import re
from dataclasses import replace

import numpy as np
import pytest

from bncheck.check import reference
from bncheck.emit import emit_source, load_backward
from bncheck.spec import SPECS, NormSpec

SHAPES = {"ND": (6, 5), "NCHW": (3, 4, 5, 2)}
BACKENDS = ["numpy", "torch"]


def _inputs(spec: NormSpec, seed: int, dtype=np.float64):
    """dy, x, gamma, beta with one zero-variance group: a constant row (layernorm, rmsnorm:
    all zeros there, so ms = 0), a constant channel block (groupnorm), a constant feature."""
    shape = SHAPES[spec.layout]
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape) * 1.7 + 0.4
    if spec.name in ("layernorm", "rmsnorm"):
        x[2] = 0.0 if not spec.center else 2.5  # one whole group (a row)
    elif spec.groups is not None:
        x[1, : shape[1] // spec.groups] = -1.25  # the first channel block of sample 1
    elif spec.name == "instancenorm":
        x[0, 1] = 3.0  # one (sample, channel)
    else:
        x[:, 0] = 2.5  # one feature (batch norm)
    dy = rng.standard_normal(shape)
    pshape = spec.param_shape(shape)
    gamma, beta = rng.standard_normal(pshape), rng.standard_normal(pshape)
    return tuple(a.astype(dtype) for a in (dy, x, gamma, beta))


def _torch_native(spec: NormSpec, dy, x, gamma, beta):
    """Gradients by autograd through torch's own normalization function."""
    torch = pytest.importorskip("torch", reason="torch's own functions are the referee here")
    F = torch.nn.functional
    xt = torch.tensor(x, requires_grad=True)
    gt = torch.tensor(gamma.reshape(-1), requires_grad=True)
    bt = torch.tensor(beta.reshape(-1), requires_grad=True)
    eps = spec.eps
    if spec.name in ("batchnorm", "spatial_batchnorm"):
        y = F.batch_norm(xt, None, None, gt, bt, training=True, eps=eps)
    elif spec.name == "layernorm":
        y = F.layer_norm(xt, (x.shape[1],), gt, bt, eps=eps)
    elif spec.name == "groupnorm":
        y = F.group_norm(xt, spec.groups, gt, bt, eps=eps)
    elif spec.name == "instancenorm":
        y = F.instance_norm(xt, weight=gt, bias=bt, eps=eps)
    else:
        y = F.rms_norm(xt, (x.shape[1],), gt, eps=eps) + bt
    y.backward(torch.tensor(dy))
    shape = gamma.shape
    return xt.grad.numpy(), gt.grad.numpy().reshape(shape), bt.grad.numpy().reshape(shape)


def _call(spec: NormSpec, backend: str, dy, x, gamma, **kw):
    if backend == "torch":  # before loading: the emitted torch module imports torch
        torch = pytest.importorskip("torch", reason="the emitted torch code needs torch")
        f = load_backward(spec, backend)
        out = f(*(torch.tensor(a) for a in (dy, x, gamma)), **kw)
        return [t.numpy() for t in out]
    return [np.asarray(a) for a in load_backward(spec, backend)(dy, x, gamma, **kw)]


def _rel(got, want) -> float:
    return float(np.linalg.norm(got - want) / max(np.linalg.norm(want), 1e-300))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", sorted(SPECS))
def test_emitted_agrees_with_torchs_own_function(name: str, backend: str) -> None:
    spec = SPECS[name]
    dy, x, gamma, beta = _inputs(spec, seed=7)
    want = _torch_native(spec, dy, x, gamma, beta)
    got = _call(spec, backend, dy, x, gamma)
    for g, w, label in zip(got, want, ("dx", "dgamma", "dbeta"), strict=True):
        assert g.shape == w.shape, label
        assert g.dtype == np.float64, label
        assert _rel(g, w) < 1e-12, (label, _rel(g, w))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", sorted(SPECS))
def test_emitted_agrees_with_the_reference_forward_by_central_differences(
    name: str, backend: str
) -> None:
    """⟨∂ℓ/∂(x, γ, β), v⟩ along random directions v, ℓ = Σ dy·y of reference.forward.

    Without the zero-variance group: there the curvature is ~1/eps^1.5 and a central
    difference is not a referee (torch autograd through the same forward is, below)."""
    spec = SPECS[name]
    dy, x, gamma, beta = _inputs(spec, seed=11)
    x = np.random.default_rng(12).standard_normal(x.shape) * 1.3 - 0.2
    dx, dgamma, dbeta = _call(spec, backend, dy, x, gamma)
    rng = np.random.default_rng(3)

    def loss(x_, g_, b_):
        return float(np.sum(dy * reference.forward(x_, g_, b_, spec)))

    h = 1e-5
    scale = np.sqrt(np.sum(dx**2) + np.sum(dgamma**2) + np.sum(dbeta**2))
    for _ in range(3):
        vx, vg, vb = (rng.standard_normal(a.shape) for a in (x, gamma, beta))
        ahead = loss(x + h * vx, gamma + h * vg, beta + h * vb)
        behind = loss(x - h * vx, gamma - h * vg, beta - h * vb)
        exact = np.sum(dx * vx) + np.sum(dgamma * vg) + np.sum(dbeta * vb)
        assert abs((ahead - behind) / (2 * h) - exact) < 1e-8 * scale


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", sorted(SPECS))
def test_emitted_agrees_with_autograd_of_the_reference_forward(name: str, backend: str) -> None:
    torch = pytest.importorskip("torch", reason="torch autograd is the referee here")
    spec = SPECS[name]
    dy, x, gamma, beta = _inputs(spec, seed=13)
    xt, gt, bt = (torch.tensor(a, requires_grad=True) for a in (x, gamma, beta))
    reference.forward(xt, gt, bt, spec, xp=torch).backward(torch.tensor(dy))
    got = _call(spec, backend, dy, x, gamma)
    for g, t in zip(got, (xt, gt, bt), strict=True):
        assert _rel(g, t.grad.numpy()) < 1e-12


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", sorted(SPECS))
def test_float32_stays_float32(name: str, backend: str) -> None:
    spec = SPECS[name]
    dy, x, gamma, _ = _inputs(spec, seed=5, dtype=np.float32)
    got = _call(spec, backend, dy, x, gamma)
    want = _call(spec, backend, *(a.astype(np.float64) for a in (dy, x, gamma)))
    for g, w in zip(got, want, strict=True):
        assert g.dtype == np.float32
        assert _rel(g, w) < 1e-5


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("groups", [1, 4, 8])
def test_groups_is_a_parameter_not_baked_in(groups: int, backend: str) -> None:
    spec = SPECS["groupnorm"]
    rng = np.random.default_rng(groups)
    shape = (2, 8, 3, 5)
    dy, x = rng.standard_normal(shape), rng.standard_normal(shape)
    gamma, beta = rng.standard_normal((1, 8, 1, 1)), rng.standard_normal((1, 8, 1, 1))
    want = _torch_native(replace(spec, groups=groups), dy, x, gamma, beta)
    got = _call(spec, backend, dy, x, gamma, G=groups)
    for g, w in zip(got, want, strict=True):
        assert g.shape == w.shape and _rel(g, w) < 1e-12


@pytest.mark.parametrize("name", sorted(SPECS))
def test_signature_and_every_source_is_deterministic(name: str) -> None:
    spec = SPECS[name]
    for backend in BACKENDS:
        assert emit_source(spec, backend) == emit_source(spec, backend)
    params = list(inspect.signature(load_backward(spec, "numpy")).parameters.values())
    names = [p.name for p in params]
    if spec.groups is None:  # the plain style's signature
        assert names == ["dy", "x", "gamma", "eps"] and params[3].default == spec.eps
    else:  # (dy, x, gamma, G, eps), as CS231n's spatial_groupnorm_forward(x, gamma, beta, G, ...)
        assert names == ["dy", "x", "gamma", "G", "eps"] and params[3].default == spec.groups


def test_forms_in_dxhat_keep_one_temporary_and_centre_first() -> None:
    source = emit_source(SPECS["layernorm"], "numpy")
    # blocks of rows: x - mu is written into dx's rows (xb, dxb), and becomes xhat, then dx
    assert "xmu = np.subtract(xb, mu, out=dxb)" in source and "xhat *= inv_std" in source
    assert "dxhat = dyb*gamma" in source  # one block's size
    body = source.split('"""')[2]
    assert body.count("dx = np.empty_like(x)") == 1  # the only full-size array
    assert body.count("dxb = xhat") == 1
    assert "np.einsum('nd,nd->n', dxhat, xhat)" in body  # a group sum, no temporary
    assert "dgamma += np.einsum('nd,nd->d', dyb, xhat)" in body  # each block's share over N
    rms = emit_source(SPECS["rmsnorm"], "numpy")
    assert not re.search(r"\bx?mu\b", rms.split('"""')[2])  # no mean: neither mu nor xmu
    assert "xhat = np.multiply(inv_std, xb, out=dxb)" in rms


def test_torch_and_batch_norm_code_is_whole_array() -> None:
    for name in SPECS:  # torch.compile unrolls a Python loop (see printers.Backend)
        assert "for r in range" not in emit_source(SPECS[name], "torch")
    for name in ("batchnorm", "spatial_batchnorm"):  # statistics over axis 0: no blocks
        assert "for r in range" not in emit_source(SPECS[name], "numpy")


# Shapes with more rows than one block (~256 KiB of x) and a remainder block:
# (70, 1000) float64 is blocks of 32 rows (32, 32, 6); (5, 4, 48, 40) blocks of 4 (4, 1).
BLOCKED_SHAPES = {"ND": (70, 1000), "NCHW": (5, 4, 48, 40)}


def _rows_per_block(shape: tuple[int, ...], itemsize: int) -> int:
    return max(1, 256 * 1024 // (itemsize * int(np.prod(shape[1:]))))


@pytest.mark.parametrize("backend", BACKENDS)  # torch: whole-array code, same shapes
@pytest.mark.parametrize("name", ["groupnorm", "instancenorm", "layernorm", "rmsnorm"])
def test_blocked_rows_agree_with_torchs_own_function(
    name: str, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = SPECS[name]
    shape = BLOCKED_SHAPES[spec.layout]
    rows = _rows_per_block(shape, 8)
    assert 1 <= rows < shape[0] and shape[0] % rows != 0, "more than one block, and a remainder"
    if backend == "numpy":
        assert "for r in range(0, x.shape[0], rows):" in emit_source(spec, backend)
    monkeypatch.setitem(SHAPES, spec.layout, shape)
    dy, x, gamma, beta = _inputs(spec, seed=17)
    want = _torch_native(spec, dy, x, gamma, beta)
    got = _call(spec, backend, dy, x, gamma)
    for g, w, label in zip(got, want, ("dx", "dgamma", "dbeta"), strict=True):
        assert g.shape == w.shape and g.dtype == np.float64, label
        assert _rel(g, w) < 1e-12, (label, _rel(g, w))
    # float32 stays float32 across the blocks (twice the rows per block, still a remainder)
    assert shape[0] % _rows_per_block(shape, 4) != 0 or _rows_per_block(shape, 4) == 1
    got32 = _call(spec, backend, *(a.astype(np.float32) for a in (dy, x, gamma)))
    for g, w in zip(got32, want, strict=True):
        assert g.dtype == np.float32
        assert _rel(g, w) < 1e-5


def test_large_offset_keeps_its_digits_for_layernorm() -> None:
    spec = SPECS["layernorm"]
    dy, x, gamma, _ = _inputs(spec, seed=3)
    f = load_backward(spec, "numpy")
    far, near = f(dy, x + 1e4, gamma), f(dy, x, gamma)
    for a, b in zip(far, near, strict=True):
        assert _rel(a, b) < 1e-9
