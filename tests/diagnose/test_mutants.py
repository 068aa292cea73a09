"""The catalog's wrong gradients are derived, and derived right: each is proved against
SymPy's derivative of an explicit-m forward written with the same mistake."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

from bncheck.check import sources
from bncheck.check.inputs import make_case
from bncheck.check.reference import forward
from bncheck.diagnose.catalog import CATALOG, by_id, forms
from bncheck.diagnose.mutants import Change, evaluate, mutant
from bncheck.spec import SPECS, NormSpec
from bncheck.symbolic.calculus import replace_indexed
from bncheck.symbolic.derive import Chain

SHAPES = {"ND": (7, 5), "NCHW": (3, 4, 5, 2)}


def _case(spec: NormSpec, seed: int = 0):  # type: ignore[no-untyped-def]
    shape = SHAPES.get(spec.layout, (6, 9))
    return make_case(spec, shape, np.random.default_rng(seed))


@pytest.mark.parametrize("name", sorted(SPECS))
def test_no_change_gives_the_right_gradients(name: str) -> None:
    spec = SPECS[name]
    case = _case(spec)
    v = evaluate(mutant(spec, Change()), case, spec)
    d = sources.derived(spec, case)
    for got, want in ((v.dx, d.dx), (v.dgamma, d.dgamma), (v.dbeta, d.dbeta)):
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(v.out, forward(case.x, case.gamma, case.beta, spec), atol=1e-12)


@pytest.mark.parametrize("name", sorted(SPECS))
def test_every_applicable_mistake_changes_a_gradient(name: str) -> None:
    """A mistake that gave the right gradient could never be diagnosed."""
    spec = SPECS[name]
    case = _case(spec)
    right = evaluate(mutant(spec, Change()), case, spec)
    for m, label, change in forms(spec):
        v = evaluate(mutant(spec, change), case, spec)
        moved = [
            a.shape != b.shape or not np.allclose(a, b, rtol=1e-6, atol=1e-9)
            for a, b in ((v.dx, right.dx), (v.dgamma, right.dgamma), (v.dbeta, right.dbeta))
        ]
        assert any(moved), (m.id, label)


def test_entries_apply_where_the_mistake_makes_sense() -> None:
    rms = SPECS["rmsnorm"]
    assert not by_id("mean-path-dropped").derive(rms)  # RMSNorm has no mean
    assert not by_id("unbiased-variance").derive(rms)
    assert by_id("dgamma-per-group").derive(SPECS["groupnorm"])
    assert not by_id("dgamma-per-group").derive(SPECS["batchnorm"])
    ids = [m.id for m in CATALOG]
    assert len(ids) == len(set(ids)) and all(i == i.lower() and " " not in i for i in ids)


def _explicit_dx(m: int, mutate: str) -> list[sp.Expr]:
    """dx of batch norm over m explicit symbols, with the mistake written into the forward
    (the mean or variance detached) or into σ, by hand, independently of ``derive``."""
    xs = sp.symbols(f"x1:{m + 1}", real=True)
    gs = sp.symbols(f"g1:{m + 1}", real=True)
    gamma, eps = sp.Symbol("gamma", real=True), sp.Symbol("eps", positive=True)
    c_mu, c_var = sp.symbols("cmu cvar", real=True)  # detached copies: constants to diff
    mu = sum(xs) / m
    var = sum((x - mu) ** 2 for x in xs) / m
    if mutate == "eps-outside":
        ys = [gamma * (x - mu) / (sp.sqrt(var) + eps) for x in xs]
    else:
        mu_used = c_mu if mutate == "mean" else mu
        var_used = c_var if mutate == "var" else sum((x - mu_used) ** 2 for x in xs) / m
        ys = [gamma * (x - mu_used) / sp.sqrt(var_used + eps) for x in xs]
    dx = [sum(g * sp.diff(y, xj) for g, y in zip(gs, ys, strict=True)) for xj in xs]
    return [e.subs({c_mu: mu, c_var: var}) for e in dx]


def _general_dx(spec: NormSpec, change: Change, m: int) -> list[sp.Expr]:
    mut = mutant(spec, change)
    f = mut.f
    xs = sp.symbols(f"x1:{m + 1}", real=True)
    gs = sp.symbols(f"g1:{m + 1}", real=True)
    mu = sum(xs) / m
    var = sum((x - mu) ** 2 for x in xs) / m
    out = []
    for j in range(m):
        e = mut.dx.subs(f.m, m).doit()
        e = replace_indexed(
            e, f.x, lambda n: sp.Piecewise(*((xs[i], sp.Eq(n, i + 1)) for i in range(m)))
        )
        e = replace_indexed(
            e, f.dy, lambda n: sp.Piecewise(*((gs[i], sp.Eq(n, i + 1)) for i in range(m)))
        )
        e = e.subs(f.j, j + 1).doit()
        out.append(e.subs({f.mu: mu, f.var: var}))
    return out


@pytest.mark.parametrize(
    ("mistake", "mutate"),
    [
        ("mean-path-dropped", "mean"),
        ("variance-path-dropped", "var"),
        ("eps-outside-sqrt", "eps-outside"),
    ],
)
def test_derived_mistakes_equal_the_explicit_derivative_of_the_same_mistake(
    mistake: str, mutate: str
) -> None:
    spec = SPECS["batchnorm"]
    (_, change), *_ = by_id(mistake).derive(spec)  # the first form: derived consistently
    m = 3
    point = dict(
        zip(sp.symbols("x1:4 g1:4", real=True), (0.3, -1.2, 2.0, 0.7, -0.4, 1.1), strict=True)
    )
    point[sp.Symbol("gamma", real=True)] = 1.7
    point[sp.Symbol("eps", positive=True)] = 0.01
    general = _general_dx(spec, change, m)
    explicit = _explicit_dx(m, mutate)
    for a, b in zip(general, explicit, strict=True):
        assert abs(float(a.subs(point)) - float(b.subs(point))) < 1e-12


def test_a_chain_rule_edit_needs_a_known_edge() -> None:
    with pytest.raises(ValueError, match="unknown chain-rule edge"):
        Chain((("mu/y", lambda f, d: d),))


def test_two_changes_combine_or_refuse() -> None:
    a = Change(forward=(("eps_at", "outside"),))
    b = Change(forward=(("eps_at", "none"),))
    assert a + b is None
    both = Change(outputs=("swap",)) + a
    assert both is not None and both.forward == a.forward and both.outputs == ("swap",)
