from __future__ import annotations

import numpy as np

from bncheck.check.compare import Tolerances, compare, merge, rel_error


def test_rel_error_has_the_cs231n_floor() -> None:
    assert rel_error(np.array([0.0]), np.array([1e-12]))[0] == 1e-12 / 1e-8


def test_worst_index_and_values() -> None:
    want = np.arange(12.0).reshape(3, 4) + 1
    got = want.copy()
    got[2, 1] += 0.5
    d = compare(got, want, "case", 1e-7, axes=(0,))
    assert not d.close and d.index == (2, 1) and d.got == want[2, 1] + 0.5
    row = merge("dx", "submission vs derived (float64)", [d], ("submission", "derived"))
    assert row.passed is False and row.worst_index == (2, 1)
    assert "dx differs at [2, 1] in case" in row.message


def test_round_off_is_close_but_not_exact() -> None:
    want = np.random.default_rng(0).normal(size=(5, 3))
    d = compare(want * (1 + 1e-14), want, "c", 1e-7, axes=(0,))
    assert d.close and not d.exact


def test_small_feature_is_judged_on_its_own_scale() -> None:
    want = np.ones((4, 2))
    want[:, 1] = 1e-2  # a small feature
    got = want.copy()
    got[0, 1] *= 1.001  # 0.1% wrong on the small feature: far above the tolerance
    assert not compare(got, want, "c", 1e-7, axes=(0,)).close


def test_shape_mismatch_of_same_size_still_compares_values() -> None:
    want = np.arange(5.0)
    assert compare(want.reshape(1, 5), want, "c", 1e-7).close
    d = compare(np.arange(4.0), want, "c", 1e-7)
    assert not d.close and "cannot be compared" in d.problem


def test_nan_fails_and_is_located() -> None:
    got = np.ones(4)
    got[2] = np.nan
    d = compare(got, np.ones(4), "c", 1e-7)
    assert not d.close and d.index == (2,)


def test_tolerance_table() -> None:
    t = Tolerances()
    assert t.for_pair("derived", np.dtype(np.float64)) == t.analytic
    assert t.for_pair("finite differences", np.dtype(np.float64)) == t.central
    assert t.for_pair("derived", np.dtype(np.float32)) == t.float32
