"""Section 3.3: the scale-invariance identities, proved by SymPy and measured."""

from __future__ import annotations

import itertools

import pytest

from bncheck.demos import scale_invariance as si


@pytest.mark.slow
def test_sympy_proves_the_identities_when_eps_is_zero_or_scales_with_a_squared() -> None:
    proofs = si.prove(m=3, d_in=2, d_out=2)
    exact = {(p.name, p.eps_rule): p for p in proofs if p.eps_rule != "fixed eps"}
    assert set(exact) == {
        (name, rule)
        for name in ("forward", "d/du", "d/d(aW)")
        for rule in ("eps = 0", "eps -> a²·eps")
    }
    assert all(p.holds for p in exact.values())
    assert exact[("d/du", "eps = 0")].entries == 3 * 2 * 3 * 2  # every ∂y_ic/∂u_jn
    assert exact[("d/d(aW)", "eps = 0")].entries == 3 * 2 * 2 * 2


@pytest.mark.slow
def test_with_a_fixed_eps_the_forward_identity_is_not_exact() -> None:
    fixed = [p for p in si.prove(m=2, d_in=1, d_out=1) if p.eps_rule == "fixed eps"]
    assert [p.name for p in fixed] == ["forward"]
    assert not fixed[0].holds


def test_numbers_with_eps_zero_are_exact_to_rounding() -> None:
    rows = si.measure(si.Options())
    for row in rows:
        assert row.forward_eps0 < 1e-12
        assert row.du_eps0 < 1e-12
        assert row.dW_ratio_eps0 == pytest.approx(1.0, abs=1e-12)


def test_eps_breaks_the_identity_for_small_a_and_gradients_fall_as_one_over_a() -> None:
    rows = {row.a: row for row in si.measure(si.Options())}
    assert rows[0.01].forward > 1e-2  # a²·Var ≈ 1e-4 is comparable to eps = 1e-5
    assert rows[100.0].forward < 1e-4
    norms = [rows[a].dW_norm for a in sorted(rows)]
    assert all(b < a for a, b in itertools.pairwise(norms))
    assert rows[100.0].dW_norm * 100 == pytest.approx(rows[10.0].dW_norm * 10, rel=1e-4)
