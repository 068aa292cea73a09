"""compare() works in blocks of rows to bound its memory; it must agree with the plain
whole-array computation (kept here as the reference) on every field, for any block size."""

from __future__ import annotations

import numpy as np
import pytest

from bncheck.check import compare as compare_module
from bncheck.check.compare import Diff, comparable, compare, rel_error


def whole_array(got, want, case, rtol, axes=(), cond=None, terms=None) -> Diff:  # type: ignore[no-untyped-def]
    """compare() as it was written before blocks: every temporary the size of the array."""
    got = np.asarray(got)
    want = np.asarray(want, dtype=np.float64)
    assert comparable(got.shape, want.shape)
    got = got.reshape(want.shape)
    a = got.astype(np.float64)
    known = np.isfinite(want)
    local = np.abs(np.where(known, want, 0.0))
    if axes:
        local = np.broadcast_to(local.max(axis=axes, keepdims=True), want.shape)
    floor = max(1e-3 * float(local.max()) if local.size else 0.0, 1e-8)
    scale = np.maximum(local, floor)
    if terms is not None:
        scale = np.maximum(scale, np.asarray(terms, dtype=np.float64).reshape(want.shape))
    if cond is not None:
        cond = (
            cond.reshape(want.shape)
            if cond.size == want.size
            else np.broadcast_to(cond, want.shape)
        )
    tol = rtol * scale * (1.0 if cond is None else cond)
    diff = np.where(known, np.abs(a - np.where(known, want, 0.0)), 0.0)
    diff = np.where(known & ~np.isfinite(a), np.inf, diff)
    excess = diff / tol
    failing = excess > 1.0
    pick = np.where(failing, diff, -np.inf) if failing.any() else excess
    worst = np.unravel_index(int(np.argmax(pick)), want.shape) if want.size else None
    rel = np.where(known & np.isfinite(a), rel_error(a, np.where(known, want, 0.0)), 0.0)
    rel = np.where(known & ~np.isfinite(a), np.inf, rel)
    return Diff(
        case=case,
        exact=bool(np.array_equal(a[known], want[known])),
        close=bool(np.all(excess <= 1.0)),
        max_abs=float(diff.max()) if diff.size else 0.0,
        max_rel=float(rel.max()) if rel.size else 0.0,
        excess=float(excess.max()) if excess.size else 0.0,
        index=None if worst is None else tuple(int(i) for i in worst),
        got=float(a[worst]) if worst is not None else np.nan,
        want=float(want[worst]) if worst is not None else np.nan,
        tol=float(tol[worst]) if worst is not None else rtol,
    )


def _same(d: Diff, e: Diff) -> bool:
    return all(
        (x == y) or (isinstance(x, float) and np.isnan(x) and np.isnan(y))
        for x, y in zip(d.__dict__.values(), e.__dict__.values(), strict=True)
    )


def _inputs(rng: np.random.Generator):  # type: ignore[no-untyped-def]
    shape = tuple(int(n) for n in rng.integers(1, 7, size=rng.integers(1, 4)))
    want = rng.standard_normal(shape) * 10.0 ** rng.integers(-3, 3)
    got = want + rng.standard_normal(shape) * 10.0 ** rng.integers(-16, 0)
    if rng.random() < 0.3:  # exact in places, ties in |diff|
        got = np.where(rng.random(shape) < 0.5, want, want + 1.0)
    if rng.random() < 0.3:  # positions finite differences left out
        want = np.where(rng.random(shape) < 0.3, np.nan, want)
    if rng.random() < 0.3:  # a submission's NaN and inf
        got = np.where(rng.random(shape) < 0.2, rng.choice([np.nan, np.inf, -np.inf]), got)
    if rng.random() < 0.2:
        got = np.round(got).astype(np.int64) if np.isfinite(got).all() else got
    if rng.random() < 0.2:
        got = got.astype(np.float32)
    axes = tuple(a for a in range(len(shape)) if rng.random() < 0.5)
    terms = np.abs(rng.standard_normal(shape)) if rng.random() < 0.3 else None
    cond = None
    if rng.random() < 0.3:
        keep = tuple(1 if a in axes else n for a, n in enumerate(shape))
        cond = 1 + np.abs(rng.standard_normal(keep))
    rtol = float(rng.choice([1e-7, 1e-5, 1e-3, 0.0]))
    return got, want, rtol, axes, cond, terms


@pytest.mark.parametrize("block", [1, 2, 5, 1 << 18])
def test_blocks_agree_with_the_whole_array(block: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(compare_module, "_BLOCK", block)
    rng = np.random.default_rng(block)
    with np.errstate(all="ignore"):
        for trial in range(400):
            got, want, rtol, axes, cond, terms = _inputs(rng)
            d = compare(got, want, "c", rtol, axes, cond, terms)
            e = whole_array(got, want, "c", rtol, axes, cond, terms)
            assert _same(d, e), (trial, d, e)


def test_a_scalar_is_one_element() -> None:
    d = compare(np.float64(2.0), np.array(1.0), "c", 1e-7)
    assert not d.close and d.index == () and d.got == 2.0 and d.want == 1.0


def test_compare_does_not_write_to_its_arguments() -> None:
    rng = np.random.default_rng(0)
    got, want = rng.standard_normal((40, 3)), rng.standard_normal((40, 3))
    want[3, 1] = np.nan
    copies = got.copy(), want.copy()
    compare(got, want, "c", 1e-7, (0,), terms=np.abs(want))
    np.testing.assert_array_equal(got, copies[0])
    np.testing.assert_array_equal(want, copies[1])
