from __future__ import annotations

import numpy as np
import pytest

from bncheck.check.inputs import SIZES, make_cases
from bncheck.check.reference import batch_stats, group_size
from bncheck.spec import SPECS, NormSpec

SEEDS = range(40)


def _ordinary(spec: NormSpec, seed: int) -> list[tuple[int, ...]]:
    return [c.shape for c in make_cases(spec, seed, degenerate=False)]


def test_cases_are_seeded_and_not_square() -> None:
    a, b = make_cases(NormSpec(), seed=7), make_cases(NormSpec(), seed=7)
    for u, v in zip(a, b, strict=True):
        assert np.array_equal(u.x, v.x) and np.array_equal(u.dy, v.dy)
    assert not np.array_equal(a[0].x, make_cases(NormSpec(), seed=8)[0].x)
    for spec in SPECS.values():
        for seed in SEEDS:
            for case in make_cases(spec, seed):
                # (1, D), (1, C, 1, 1), LayerNorm's (N, 1): one element per group
                if group_size(spec, case.shape) > 1:
                    assert len(set(case.shape)) == len(case.shape), (seed, case.shape)


def test_shapes_and_the_number_of_cases_vary_with_the_seed() -> None:
    shapes = {tuple(_ordinary(NormSpec(), seed)) for seed in range(10)}
    assert len(shapes) == 10
    counts = {len(make_cases(NormSpec(), seed)) for seed in SEEDS}
    assert len(counts) > 1
    first = {make_cases(NormSpec(), seed)[0].shape for seed in range(10)}
    assert len(first) > 5  # case A of the hidden-state and running checks too


@pytest.mark.parametrize("name", sorted(SPECS))
def test_every_battery_has_small_wide_and_tall_cases_of_modest_size(name: str) -> None:
    spec = SPECS[name]
    for seed in SEEDS:
        shapes = _ordinary(spec, seed)
        features = [max(s[a] for a in spec.feature_axes) for s in shapes]
        groups = [group_size(spec, s) for s in shapes]
        assert any(d > 16 for d in features), (seed, shapes)  # a loop over range(16) fails
        assert any(m > 32 for m in groups), (seed, shapes)  # code right only for N <= 32 fails
        assert sum(m <= 24 and d <= 9 for m, d in zip(groups, features, strict=True)) >= 2
        assert all(3 <= m <= 80 for m in groups) and all(d <= 48 for d in features)
        assert len(set(shapes)) == len(shapes)


def test_given_shapes_come_first_then_the_degenerate_cases() -> None:
    cases = make_cases(NormSpec(), seed=3, shapes=((5, 3), (40, 19)))
    assert [c.shape for c in cases[:2]] == [(5, 3), (40, 19)]
    assert [c.name for c in cases[2:]] == [
        "zero-variance feature",
        "variance far below eps",
        "offset mean 1e4",
        "N = 1",
    ]


def test_upstream_gradient_cannot_hide_a_bug() -> None:
    spec = NormSpec()
    for seed in range(5):
        for case in make_cases(spec, seed=seed):
            if case.shape[0] < 3:
                continue
            mu, var = batch_stats(case.x, spec)
            xhat = (case.x - mu) / np.sqrt(var + spec.eps)
            ones_part = case.dy.mean(0)  # along 1: tests dbeta and the dmu path
            assert np.all(np.abs(ones_part) > 0.2), case.name
            rest = case.dy - ones_part
            norm2 = (xhat * xhat).sum(0)
            keep = norm2 > 0  # a zero-variance feature has x̂ = 0
            along = np.where(keep, (rest * xhat).sum(0), 0.0) / np.where(keep, norm2, 1.0)
            assert np.all(np.abs(along[keep]) > 0.2), case.name  # along x̂: tests dvar
            rest = rest - along * xhat
            assert np.all(np.sqrt((rest * rest).mean(0)) > 0.5), case.name  # dx ≠ 0


def test_degenerate_cases() -> None:
    for seed in range(10):
        cases = {c.name: c for c in make_cases(NormSpec(), seed=seed)}
        assert np.var(cases["zero-variance feature"].x, axis=0).min() == 0
        assert np.var(cases["variance far below eps"].x, axis=0).min() < 1e-7
        assert abs(np.mean(cases["offset mean 1e4"].x, axis=0).max() - 1e4) < 5
        assert cases["N = 1"].shape[0] == 1
        lo, hi = SIZES["degenerate"]["lone"]
        assert all(lo <= c.shape[0] <= hi for c in cases.values() if c.name != "N = 1" and c.note)
    zero = [c for s in SEEDS for c in make_cases(NormSpec(), s) if c.name.startswith("zero")]
    assert len({int(np.argmin(np.var(c.x, axis=0))) for c in zero}) > 1  # not always feature 0
    unbiased = {c.name for c in make_cases(NormSpec(variance="unbiased"), seed=0)}
    assert "N = 1" not in unbiased  # 1/(m-1) is not defined for m = 1
