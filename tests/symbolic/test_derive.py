"""The derivation: SymPy's results, checked against the textbook forms they must equal."""

from __future__ import annotations

import pytest
import sympy as sp

from bncheck.spec import SPECS, NormSpec
from bncheck.symbolic import derive


def _steps(d):
    return {s.key: s for s in d.steps}


def test_compact_dx_is_the_textbook_form() -> None:
    d = derive()
    f = d.f
    g, xhat, i = f.dy, f.xhat, f.i
    textbook = (
        f.gamma / (f.m * f.sigma) * (f.m * g[f.j] - f.sum(g[i]) - xhat[f.j] * f.sum(g[i] * xhat[i]))
    )
    assert sp.simplify(d.dx - textbook) == 0
    assert d.dgamma == f.sum(g[i] * xhat[i])
    assert d.dbeta == f.sum(g[i])


def test_unbiased_variance_changes_the_xhat_term_by_m_over_m_minus_1() -> None:
    d = derive(NormSpec(variance="unbiased"))
    f = d.f
    g, xhat, i, m = f.dy, f.xhat, f.i, f.m
    expected = (
        f.gamma
        / (m * f.sigma)
        * (m * g[f.j] - f.sum(g[i]) - m / (m - 1) * xhat[f.j] * f.sum(g[i] * xhat[i]))
    )
    assert sp.simplify(d.dx - expected) == 0


def test_results_hold_for_symbolic_m_and_contain_no_deltas() -> None:
    d = derive()
    for expr in (d.dx, d.dgamma, d.dbeta):
        assert not expr.has(sp.KroneckerDelta)
    assert d.f.m in d.dx.free_symbols  # a general result, not a fixed batch size


def test_staged_steps_are_the_papers_equations() -> None:
    d = derive()
    f = d.f
    steps = _steps(d)
    assert [s.key for s in d.staged] == [
        "dxhat",
        "dvar",
        "deviations",
        "dmu",
        "dx",
        "dgamma",
        "dbeta",
    ]
    # SymPy's raw chain rule carries Kronecker deltas; the result has contracted them.
    assert steps["dxhat"].chain.has(sp.KroneckerDelta)
    assert steps["dxhat"].rhs == f.gamma * f.dy[f.j]
    sd = sp.sqrt(f.var + f.eps)
    paper_dvar = f.sum(f.dxhat[f.i] * (f.x[f.i] - f.mu)) * sp.Rational(-1, 2) * sd**-3
    assert sp.simplify(steps["dvar"].rhs - paper_dvar) == 0
    # ∂ℓ/∂μ: the ∂ℓ/∂σ² term is present in the chain and gone from the result.
    assert steps["dmu"].chain.has(f.dvar)
    assert not steps["dmu"].rhs.has(f.dvar)
    assert sp.simplify(steps["dmu"].rhs + f.sum(f.dxhat[f.i]) / sd) == 0
    paper_dx = f.dxhat[f.j] / sd + f.dvar * 2 * (f.x[f.j] - f.mu) / f.m + f.dmu / f.m
    assert sp.simplify(steps["dx"].rhs - paper_dx) == 0


def test_deviation_sum_vanishes_by_the_definition_of_mu() -> None:
    step = _steps(derive())["deviations"]
    assert step.rhs == 0
    assert step.chain != 0  # Σx_k − m·μ: zero only once Σx_k = m·μ is used
    assert "Σx_i = m·μ" in step.why


def test_every_step_has_a_reason() -> None:
    for step in derive().steps:
        assert step.why and step.title


def test_gamma_inside_the_group_is_indexed_and_dgamma_is_one_elements_share() -> None:
    for name in ("layernorm", "groupnorm", "rmsnorm"):
        d = derive(SPECS[name])
        f = d.f
        assert f.gamma_inside and isinstance(f.gamma, sp.IndexedBase)
        assert d.dgamma == f.dy[f.j] * f.xhat[f.j]
        assert d.dbeta == f.dy[f.j]
        why = _steps(d)["dgamma"].why
        assert "one element's share" in why and "(N" in why


def test_layernorm_compact_dx_has_gamma_inside_the_sums() -> None:
    d = derive(SPECS["layernorm"])
    f = d.f
    g, xhat, i, j, gm = f.dy, f.xhat, f.i, f.j, f.gamma
    textbook = (
        f.m * gm[j] * g[j] - f.sum(gm[i] * g[i]) - xhat[j] * f.sum(gm[i] * g[i] * xhat[i])
    ) / (f.m * f.sigma)
    assert sp.simplify(d.dx - textbook) == 0
    assert _steps(d)["dxhat"].rhs == gm[j] * g[j]


def test_rmsnorm_has_no_mean_and_no_centring_term() -> None:
    d = derive(SPECS["rmsnorm"])
    f = d.f
    assert [s.key for s in d.forward] == ["ms", "xhat", "y"]
    assert [s.key for s in d.staged] == ["dxhat", "dms", "dx", "dgamma", "dbeta"]
    assert not any(e.has(f.mu) for e in (d.dx, *(s.rhs for s in d.steps)))
    g, xhat, i, j, gm = f.dy, f.xhat, f.i, f.j, f.gamma
    textbook = (f.m * gm[j] * g[j] - xhat[j] * f.sum(gm[i] * g[i] * xhat[i])) / (f.m * f.sigma)
    assert sp.simplify(d.dx - textbook) == 0


def test_instancenorm_sums_one_group_then_over_the_batch() -> None:
    d = derive(SPECS["instancenorm"])
    f = d.f
    assert not f.gamma_inside and d.dgamma == f.sum(f.dy[f.i] * f.xhat[f.i])
    assert "over (N, H, W) in all" in _steps(d)["dgamma"].why


@pytest.mark.parametrize("name", sorted(SPECS))
def test_every_preset_derives_without_deltas_for_symbolic_m(name: str) -> None:
    d = derive(SPECS[name])
    for expr in (d.dx, d.dgamma, d.dbeta, d.dx_dxhat):
        assert not expr.has(sp.KroneckerDelta)
    assert d.f.m in d.dx.free_symbols
    assert derive(SPECS[name]) is d  # cached
