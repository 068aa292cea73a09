"""Section 2: the naive bias update drifts while the loss is fixed; the full gradient is 0."""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pytest
import sympy as sp

from bncheck.demos import mean_dependence as md


@pytest.fixture(scope="module")
def result() -> md.MeanDependence:
    return md.mean_dependence(md.Options(steps=20))


def test_sympy_derives_the_full_gradient_as_zero() -> None:
    s = md.derive_section2()
    assert s.dxhat_db_chain.has(sp.Sum)  # SymPy's raw chain rule, not a typed-in 0
    assert s.dxhat_db == 0
    assert s.dl_db == 0
    assert s.dxhat_dw == 0  # the scaled variant: x̂ does not depend on w > 0


@pytest.mark.parametrize("m", [2, 3, 5])
def test_general_m_result_agrees_with_an_explicit_batch(m: int) -> None:
    # Independent of the Sum machinery: plain symbols u1..um, t1..tm.
    b = sp.Symbol("b", real=True)
    us, ts = sp.symbols(f"u1:{m + 1}", real=True), sp.symbols(f"t1:{m + 1}", real=True)
    xs = [u + b for u in us]
    xhat = [x - sum(xs) / m for x in xs]
    loss = sum((xh - t) ** 2 for xh, t in zip(xhat, ts, strict=True)) / (2 * m)
    assert sp.expand(sp.diff(loss, b)) == 0
    s = md.derive_section2()
    t = sp.IndexedBase("t", real=True)
    naive = s.dl_db_naive.subs(s.m, m).doit()
    naive = naive.replace(
        lambda e: isinstance(e, sp.Indexed) and e.base == t, lambda e: ts[int(e.indices[0]) - 1]
    )
    assert sp.simplify(naive + sum(ts) / m) == 0  # naive gradient = −E[t]


def test_the_papers_algebra_and_the_mean_of_delta_b() -> None:
    s = md.derive_section2()
    assert s.update_difference == 0
    mean, value = s.mean_of_db
    assert mean.has(sp.Sum) and value == sp.Symbol("Δb", real=True)


def test_done_when_numbers(result: md.MeanDependence) -> None:
    naive, full = result.naive, result.full
    assert len(naive.records) == 21
    assert naive.drift > 1e-2  # |b| drifts by more than 1e-2 in 20 steps ...
    assert naive.loss_change < 1e-9  # ... while the loss stays constant to 1e-9 relative
    assert naive.max_dxhat < 1e-12  # and x̂ itself does not move
    assert full.drift == 0.0  # the full gradient is exactly 0: b never moves
    assert {r.norm for r in full.records} == {full.records[0].norm}
    assert full.loss_change == 0.0


def test_naive_drift_is_lr_times_mean_target_every_step() -> None:
    o = md.Options(steps=40, lr=0.05, seed=3)
    _, t, _, _ = md._data(o)
    r = md.mean_dependence(o)
    expected = o.lr * o.steps * np.linalg.norm(t.mean(axis=0))
    assert r.naive.drift == pytest.approx(expected, rel=1e-12)
    norms = [rec.norm for rec in r.naive.records]
    assert norms[-1] > norms[len(norms) // 2] > norms[0]


def test_scaled_variant_grows_w_with_the_output_fixed(result: md.MeanDependence) -> None:
    naive, full = result.scaled_naive, result.scaled_full
    norms = [r.norm for r in naive.records]
    assert all(b > a for a, b in itertools.pairwise(norms))
    assert naive.drift > 1.0
    assert naive.loss_change < 1e-9 and naive.max_dxhat < 1e-12
    assert full.drift == 0.0


def test_finite_differences_agree_that_the_gradient_is_zero(result: md.MeanDependence) -> None:
    assert result.fd_dl_db < 1e-6


def test_seeded_and_frozen() -> None:
    a = md.mean_dependence(md.Options(steps=3, seed=1))
    assert a == md.mean_dependence(md.Options(steps=3, seed=1))
    assert a.naive.records != md.mean_dependence(md.Options(steps=3, seed=2)).naive.records
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.naive.records[0].loss = 0.0  # type: ignore[misc]
