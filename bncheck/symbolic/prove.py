"""Proofs: the general-m results against SymPy's derivative of an explicit forward.

For a fixed m we write the forward pass with plain symbols x1..xm (no Sum, no
IndexedBase), let SymPy differentiate it directly, and check that the general
result, instantiated at that m, differs from it by exactly zero.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import sympy as sp

from bncheck.symbolic.calculus import replace_indexed
from bncheck.symbolic.derive import Derivation

__all__ = ["Proof", "prove"]


@dataclass(frozen=True)
class Proof:
    m: int
    quantity: str  # "dx", "dgamma" or "dbeta"
    holds: bool
    residual: sp.Expr  # the simplified difference: 0 when the proof holds
    seconds: float


def _explicit(d: Derivation, m: int) -> tuple[dict[str, list[sp.Expr]], dict[str, object]]:
    """Gradients of the explicit-symbol forward, and the symbols used.

    γ inside the group is γ1..γm (β1..βm); without centring, μ is 0 and the statistic
    is the mean square. dgamma (dbeta) is then one entry per element: that element's share.
    """
    f = d.f
    xs = sp.symbols(f"x1:{m + 1}", real=True)
    gs = sp.symbols(f"g1:{m + 1}", real=True)
    if f.gamma_inside:
        gammas = list(sp.symbols(f"gamma1:{m + 1}", real=True))
        betas = list(sp.symbols(f"beta1:{m + 1}", real=True))
    else:
        gammas, betas = [f.gamma] * m, [f.beta] * m
    mu = sum(xs) / m if f.center else sp.S.Zero
    n_var = f.n_var.subs(f.m, m)
    var = sum((xn - mu) ** 2 for xn in xs) / n_var
    s = sp.Symbol("s", positive=True)  # stands for sqrt(var + eps)
    ys = [
        gn * (xn - mu) / sp.sqrt(var + f.eps) + bn
        for gn, xn, bn in zip(gammas, xs, betas, strict=True)
    ]

    def total(wrt: sp.Expr) -> sp.Expr:
        return sum(gn * sp.diff(yn, wrt) for gn, yn in zip(gs, ys, strict=True))

    params = (gammas, betas) if f.gamma_inside else ([f.gamma], [f.beta])
    grads = {
        "dx": [total(xj) for xj in xs],
        "dgamma": [total(p) for p in params[0]],
        "dbeta": [total(p) for p in params[1]],
    }
    return grads, {
        "xs": xs,
        "gs": gs,
        "gammas": gammas,
        "betas": betas,
        "mu": mu,
        "var": var,
        "s": s,
    }


def _instantiate(d: Derivation, expr: sp.Expr, m: int, j: int, sym: dict) -> sp.Expr:
    """The general result at group size m and element j, in the explicit symbols."""
    f = d.f
    e = expr.subs({f.m: m, f.j: j}).doit()  # Σ_{i=1}^{m} becomes an explicit sum
    e = replace_indexed(e, f.xhat, lambda n: (sym["xs"][int(n) - 1] - f.mu) / f.sigma)
    e = replace_indexed(e, f.dy, lambda n: sym["gs"][int(n) - 1])
    if f.gamma_inside:
        e = replace_indexed(e, f.gamma, lambda n: sym["gammas"][int(n) - 1])
        e = replace_indexed(e, f.beta, lambda n: sym["betas"][int(n) - 1])
    return e.subs(f.sigma, sp.sqrt(f.var + f.eps)).subs({f.mu: sym["mu"], f.var: sym["var"]})


def _residual(a: sp.Expr, b: sp.Expr, var: sp.Expr, eps: sp.Expr, s: sp.Symbol) -> sp.Expr:
    # Both sides are rational in sqrt(var + eps): name it s, then cancel as a rational function.
    base = sp.expand(var + eps)

    def named(e: sp.Expr) -> sp.Expr:
        return e.replace(
            lambda p: isinstance(p, sp.Pow) and sp.expand(p.base) == base,
            lambda p: s ** (2 * p.exp),
        )

    diff = sp.cancel(sp.together(named(a) - named(b)))
    return diff if diff == 0 else sp.simplify(diff.subs(s, sp.sqrt(base)))


def prove(d: Derivation, ms: tuple[int, ...] = (2, 3, 4, 5)) -> tuple[Proof, ...]:
    """Check dx, dgamma and dbeta (every element, or the group's one) for each explicit m."""
    proofs = []
    for m in ms:
        grads, sym = _explicit(d, m)
        general = {"dx": d.dx, "dgamma": d.dgamma, "dbeta": d.dbeta}
        for name, explicit in grads.items():
            start = time.perf_counter()
            residual: sp.Expr = sp.S.Zero
            for j, want in enumerate(explicit, start=1):
                got = _instantiate(d, general[name], m, j, sym)
                residual = _residual(got, want, sym["var"], d.f.eps, sym["s"])
                if residual != 0:
                    break
            proofs.append(Proof(m, name, residual == 0, residual, time.perf_counter() - start))
    return tuple(proofs)
