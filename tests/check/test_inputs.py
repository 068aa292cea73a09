from __future__ import annotations

import numpy as np

from bncheck.check.inputs import make_cases
from bncheck.check.reference import batch_stats
from bncheck.spec import NormSpec


def test_cases_are_seeded_and_not_square() -> None:
    a, b = make_cases(NormSpec(), seed=7), make_cases(NormSpec(), seed=7)
    for u, v in zip(a, b, strict=True):
        assert np.array_equal(u.x, v.x) and np.array_equal(u.dy, v.dy)
    assert all(c.shape[0] != c.shape[1] for c in a if c.shape[0] > 1)
    assert not np.array_equal(a[0].x, make_cases(NormSpec(), seed=8)[0].x)


def test_upstream_gradient_cannot_hide_a_bug() -> None:
    spec = NormSpec()
    for case in make_cases(spec, seed=0):
        if case.shape[0] < 3:
            continue
        mu, var = batch_stats(case.x, spec)
        xhat = (case.x - mu) / np.sqrt(var + spec.eps)
        ones_part = case.dy.mean(0)  # along 1: tests dbeta and the dmu path
        assert np.all(np.abs(ones_part) > 0.2), case.name
        rest = case.dy - ones_part
        if case.name != "zero-variance feature":
            xhat_part = (rest * xhat).sum(0) / (xhat * xhat).sum(0)  # along x̂: tests dvar
            assert np.all(np.abs(xhat_part) > 0.2), case.name
            rest = rest - xhat_part * xhat
        assert np.all(np.sqrt((rest * rest).mean(0)) > 0.5), case.name  # orthogonal part: dx ≠ 0


def test_degenerate_cases() -> None:
    cases = {c.name: c for c in make_cases(NormSpec(), seed=0)}
    assert np.var(cases["zero-variance feature"].x[:, 0]) == 0
    assert np.var(cases["variance far below eps"].x[:, 0]) < 1e-7
    assert abs(np.mean(cases["offset mean 1e4"].x[:, 0]) - 1e4) < 5
    assert cases["N = 1"].shape[0] == 1
    unbiased = {c.name for c in make_cases(NormSpec(variance="unbiased"), seed=0)}
    assert "N = 1" not in unbiased  # 1/(m-1) is not defined for m = 1
