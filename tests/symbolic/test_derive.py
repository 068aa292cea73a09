"""The derivation: SymPy's results, checked against the textbook forms they must equal."""

from __future__ import annotations

import sympy as sp

from bncheck.spec import NormSpec
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
