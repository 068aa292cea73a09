"""The few rewrites the derivation needs on top of SymPy's own differentiation.

SymPy differentiates ``x[k]`` with respect to ``x[j]`` as ``KroneckerDelta(j, k)``
but leaves ``Sum(f(k) * KroneckerDelta(j, k), (k, 1, m))`` alone; contracting such
sums is the step every hand derivation does silently.
"""

from __future__ import annotations

from collections.abc import Callable

import sympy as sp

__all__ = ["contract_deltas", "pull_constants", "replace_indexed", "sum_of_sums"]


def _contract_sum(s: sp.Sum) -> sp.Expr:
    """Σ_k f(k)·δ(k, j) → f(j), term by term; terms without a delta stay summed.

    The index j is assumed to lie in the summation range, as every index of one
    normalization group does.
    """
    if len(s.limits) != 1:
        return s
    (index, lo, hi) = s.limits[0]
    contracted: sp.Expr = sp.S.Zero
    kept: sp.Expr = sp.S.Zero
    for term in sp.Add.make_args(sp.expand(s.function)):
        deltas = [
            f
            for f in sp.Mul.make_args(term)
            if isinstance(f, sp.KroneckerDelta) and index in f.free_symbols
        ]
        if not deltas:
            kept += term
            continue
        delta = deltas[0]
        other = delta.args[1] if delta.args[0] == index else delta.args[0]
        contracted += (term / delta).subs(index, other)
    if kept != 0:
        contracted += sp.Sum(kept, (index, lo, hi))
    return contracted


def contract_deltas(expr: sp.Expr) -> sp.Expr:
    """Contract every Σ_k f(k)·δ(k, j) in ``expr`` to f(j)."""
    return expr.replace(lambda e: isinstance(e, sp.Sum), _contract_sum)


def _pull(s: sp.Sum) -> sp.Expr:
    """Σ(a + b) → Σa + Σb, and Σ c·f(k) → c·Σ f(k) for c free of k; products stay unexpanded."""
    if len(s.limits) != 1:
        return s
    index = s.limits[0][0]
    out: sp.Expr = sp.S.Zero
    for term in sp.Add.make_args(sp.factor_terms(s.function)):
        const, rest = term.as_independent(index, as_Add=False)
        out += const * (sp.Sum(rest, *s.limits).doit() if rest == 1 else sp.Sum(rest, *s.limits))
    return out


def pull_constants(expr: sp.Expr) -> sp.Expr:
    """Split sums over additions and move factors that do not depend on the index out."""
    return expr.replace(lambda e: isinstance(e, sp.Sum), _pull)


def sum_of_sums(expr: sp.Expr) -> sp.Expr:
    """Expand, split every sum into sums of single terms, and evaluate Σ_k c = m·c."""
    return pull_constants(sp.expand(expr))


def replace_indexed(
    expr: sp.Expr, base: sp.IndexedBase, by: Callable[[sp.Expr], sp.Expr]
) -> sp.Expr:
    """Replace every ``base[n]`` in ``expr`` by ``by(n)``."""
    return expr.replace(
        lambda e: isinstance(e, sp.Indexed) and e.base == base,
        lambda e: by(e.indices[0]),
    )
