"""The m = 2..5 proofs: general results against explicit-symbol derivatives."""

from __future__ import annotations

import dataclasses

import pytest
import sympy as sp

from bncheck.spec import NormSpec
from bncheck.symbolic import derive, prove


@pytest.mark.slow
@pytest.mark.parametrize("variance", ["biased", "unbiased"])
def test_general_results_equal_explicit_derivatives_for_m_2_to_5(variance: str) -> None:
    proofs = prove(derive(NormSpec(variance=variance)), ms=(2, 3, 4, 5))
    assert {(p.m, p.quantity) for p in proofs} == {
        (m, q) for m in (2, 3, 4, 5) for q in ("dx", "dgamma", "dbeta")
    }
    failed = [p for p in proofs if not p.holds]
    assert not failed, failed


def test_a_wrong_result_fails_its_proof() -> None:
    d = derive()
    f = d.f
    # The classic bug: drop the x̂·Σg·x̂ term (what ignoring ∂ℓ/∂σ² gives).
    wrong = dataclasses.replace(d, dx=f.gamma / (f.m * f.sigma) * (f.m * f.dy[f.j] - d.dbeta))
    proofs = prove(wrong, ms=(2, 3))
    by = {(p.m, p.quantity): p for p in proofs}
    assert not by[(2, "dx")].holds and not by[(3, "dx")].holds
    assert by[(2, "dx")].residual != 0
    assert by[(2, "dgamma")].holds and by[(2, "dbeta")].holds


def test_proof_residual_is_exactly_zero() -> None:
    (p,) = [p for p in prove(derive(), ms=(3,)) if p.quantity == "dx"]
    assert p.residual == sp.S.Zero
