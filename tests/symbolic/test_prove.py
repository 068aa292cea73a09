"""The m = 2..5 proofs: general results against explicit-symbol derivatives."""

from __future__ import annotations

import dataclasses

import pytest
import sympy as sp

from bncheck.spec import SPECS
from bncheck.symbolic import derive, prove

CASES = [
    (name, variance)
    for name, spec in sorted(SPECS.items())
    for variance in ("biased", "unbiased")
    if spec.center or variance == "biased"  # RMSNorm's mean square has no variance convention
]


@pytest.mark.slow
@pytest.mark.parametrize(("name", "variance"), CASES)
def test_general_results_equal_explicit_derivatives_for_m_2_to_5(name: str, variance: str) -> None:
    spec = dataclasses.replace(SPECS[name], variance=variance)
    proofs = prove(derive(spec), ms=(2, 3, 4, 5))
    assert {(p.m, p.quantity) for p in proofs} == {
        (m, q) for m in (2, 3, 4, 5) for q in ("dx", "dgamma", "dbeta")
    }
    failed = [p for p in proofs if not p.holds]
    assert not failed, failed
    assert sum(p.seconds for p in proofs) < 10  # m = 5 included


def test_gamma_inside_is_proved_with_one_gamma_per_element() -> None:
    d = derive(SPECS["layernorm"])
    f = d.f
    # γ taken out of the sums, as if it were constant in the group: wrong for γ_i.
    wrong = dataclasses.replace(
        d,
        dx=f.gamma[f.j]
        / (f.m * f.sigma)
        * (f.m * f.dy[f.j] - f.sum(f.dy[f.i]) - f.xhat[f.j] * f.sum(f.dy[f.i] * f.xhat[f.i])),
    )
    by = {(p.m, p.quantity): p for p in prove(wrong, ms=(2, 3))}
    assert not by[(2, "dx")].holds and not by[(3, "dx")].holds
    assert by[(3, "dgamma")].holds and by[(3, "dbeta")].holds


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
