"""Term attribution: the submission's dx, fitted term by term on the derived basis.

The derived dx is linear in the upstream gradient g and, per group, a combination of a
few terms: for batch norm dx = a·g + b·Σg + c·x̂·Σ(g·x̂) with a = γ/σ, b = c = −γ/(mσ).
The basis and the coefficients are read off SymPy's compact dx (``derive(spec).dx``,
expanded), for every preset, and each term's derivation step off the same compact dx
derived with one path left out (∂μ/∂x_j or ∂σ²/∂x_j taken as 0): the terms that vanish
came through that step.

Each group's coefficients are fitted by least squares to the submission's dx on the same
x and g; the report gives each coefficient as a multiple of the derived one (the median
over groups, and its spread), read as "sign flipped", "m times too large", "missing"
where it is one of those for every group; the residual says how much of dx lies outside
the basis. The hidden block's calls on one x (dy, dy2, dy + dy2) say whether the
backward is linear in g at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
import sympy as sp

from bncheck.check.compare import comparable, compare
from bncheck.check.evidence import Evidence
from bncheck.check.inputs import Case
from bncheck.check.plan import LARGE
from bncheck.diagnose.catalog import treated_as_constant
from bncheck.diagnose.mutants import right_values
from bncheck.diagnose.result import Attribution, Term
from bncheck.emit.notation import to_code_text
from bncheck.spec import NormSpec
from bncheck.symbolic.derive import Chain, compact_dx, derive, staged
from bncheck.symbolic.graph import forward_for

__all__ = ["attribute", "basis"]


@dataclass(frozen=True)
class _Basis:
    term: sp.Expr  # the part with g, x̂ and group sums
    coefficient: sp.Expr  # its derived coefficient (γ, σ, m)
    step: str  # the derivation step it comes through


def _split(dx: sp.Expr) -> dict[sp.Expr, sp.Expr]:
    """term -> coefficient, for the terms of an expanded dx."""
    out: dict[sp.Expr, sp.Expr] = {}
    for t in sp.Add.make_args(sp.expand(dx)):
        coefficient, term = t.as_independent(sp.Indexed, sp.Sum, as_Add=False)
        out[term] = out.get(term, sp.S.Zero) + coefficient
    return out


@cache
def basis(spec: NormSpec) -> tuple[_Basis, ...]:
    """The terms of the derived dx, their coefficients, and the step each comes through."""
    f = forward_for(spec)
    terms = _split(derive(spec).dx)
    steps = {}
    for edge, step in (("mu/x", "dmu"), ("var/x", "dvar")):
        if edge == "mu/x" and not f.center:
            continue
        _, values = staged(spec, f, Chain(((edge, treated_as_constant),)))
        without = _split(compact_dx(f, values))
        for term in terms:
            if term not in without:
                steps[term] = step
    return tuple(_Basis(t, c, steps.get(t, "dxhat")) for t, c in terms.items())


def _text(e: sp.Expr) -> str:
    s = to_code_text(e)
    for a, b in (("dy", "g"), ("xhat", "x̂"), ("gamma", "γ"), ("sigma", "σ"), ("*", "·")):
        s = s.replace(a, b)
    return s


def _groups_last(a: np.ndarray, spec: NormSpec, shape: tuple[int, ...]) -> np.ndarray:
    """A grouped-view array (x-shaped or keepdims) as (groups, elements of a group)."""
    view = spec.view_shape(shape)
    a = np.broadcast_to(a, view)
    rest = [i for i in range(len(view)) if i not in spec.view_axes]
    moved = np.transpose(a, rest + list(spec.view_axes))
    n = int(np.prod([view[i] for i in rest])) if rest else 1
    return moved.reshape(n, -1)


def _fit(
    spec: NormSpec, case: Case, dx: np.ndarray, parts: tuple[_Basis, ...]
) -> tuple[np.ndarray, np.ndarray, float, float] | None:
    """Per group: (fitted / derived coefficients (groups, K), usable groups, |residual|²,
    |dx|²), or None when dx is not x-shaped."""
    shape = case.x.shape
    if not comparable(dx.shape, shape):
        return None
    values = right_values(spec, case, [b.term for b in parts] + [b.coefficient for b in parts])
    k = len(parts)
    columns = np.stack([_groups_last(v, spec, shape) for v in values[:k]], axis=-1)  # (G, m, K)
    derived = np.stack([_groups_last(v, spec, shape)[:, 0] for v in values[k:]], axis=-1)
    y = _groups_last(
        np.asarray(dx, np.float64).reshape(shape).reshape(spec.view_shape(shape)), spec, shape
    )
    if columns.shape[1] <= k:
        return None  # m ≤ K: the fit says nothing
    coef = np.einsum("gkm,gm->gk", np.linalg.pinv(columns, rcond=1e-10), y)
    s = np.linalg.svd(columns, compute_uv=False)
    usable = (s[:, -1] > 1e-8 * s[:, 0]) & np.all(np.abs(derived) > 1e-12, axis=1)
    usable &= np.all(np.isfinite(y), axis=1)
    fitted = np.einsum("gmk,gk->gm", columns, coef)
    res = float(np.sum((y - fitted)[usable] ** 2))
    return coef / np.where(derived == 0, 1, derived), usable, res, float(np.sum(y[usable] ** 2))


# (name, multiple of the derived coefficient as a function of the group size m)
_READINGS = (
    ("as derived", lambda m: 1.0),
    ("sign flipped", lambda m: -1.0),
    ("missing", lambda m: 0.0),
    ("m times too large: a 1/m is missing", lambda m: float(m)),
    ("m times too small: a 1/m too many", lambda m: 1.0 / m),
    ("sign flipped and m times too large", lambda m: -float(m)),
    ("×m/(m−1): a 1/(m−1) where the derivation has 1/m", lambda m: m / (m - 1)),
    ("twice as large", lambda m: 2.0),
    ("half as large", lambda m: 0.5),
)


def _reading(ratios: list[tuple[float, int]]) -> str:
    """The reading nine groups in ten or more agree with (ratio within 2 %), or the median
    multiple. (A zero-variance group can stand apart: ε decides its σ.)"""
    for name, multiple in _READINGS:
        agree = sum(abs(r - multiple(m)) <= 0.02 * max(1.0, abs(multiple(m))) for r, m in ratios)
        if agree == len(ratios):
            return name
        if agree >= 0.9 * len(ratios):
            return f"{name} (in {agree} of {len(ratios)} groups)"
    return f"×{float(np.median([r for r, _ in ratios])):.3g}"


def _linear(ev: Evidence) -> bool | None:
    """dx(dy + dy2) = dx(dy) + dx(dy2) on the hidden block's case A; None if not there."""
    hidden = ev.plan.hidden
    if "A3" not in hidden:
        return None
    try:
        a, a2, a3 = (
            np.asarray(ev.grads(hidden[k]).arrays[0], np.float64) for k in ("A", "A2", "A3")
        )
    except Exception:  # a reply that is no gradient: nothing to say about linearity
        return None
    if not (a.shape == a2.shape == a3.shape):
        return None
    terms = np.abs(a) + np.abs(a2)
    # ten times a right match's tolerance for the dtype it computes in (float32: 1e-3)
    rtol = 10 * ev.options.tolerances.for_pair("derived", ev.dtype)
    return compare(a3, a + a2, "", rtol, terms=terms).close


def attribute(ev: Evidence) -> Attribution | None:
    """Fit the submission's dx on the derived basis over the evidence's cases."""
    spec = ev.spec
    parts = basis(spec)
    per_term: list[list[tuple[float, int]]] = [[] for _ in parts]
    res = total = 0.0
    for c in ev.cases:
        if c.case.x.size > LARGE:
            continue
        fit = _fit(spec, c.case, np.asarray(c.submission.arrays[0]), parts)
        if fit is None:
            continue
        ratios, usable, r, t = fit
        m = spec.group_size(c.case.x.shape)
        for i in range(len(parts)):
            per_term[i] += [(float(v), m) for v in ratios[usable, i]]
        res, total = res + r, total + t
    if not per_term[0]:
        return None
    residual = float(np.sqrt(res / total)) if total > 0 else 0.0
    terms = []
    for b, pairs in zip(parts, per_term, strict=True):
        values = np.array([r for r, _ in pairs])
        median = float(np.median(values))
        lo, hi = np.quantile(values, [0.1, 0.9])
        terms.append(
            Term(
                term=_text(b.term),
                derived=_text(b.coefficient),
                ratio=median,
                spread=float(max(hi - median, median - lo)),
                reading=_reading(pairs) if residual < 1e-3 else f"×{median:.3g} (approximate)",
                step=b.step,
            )
        )
    linear = _linear(ev)
    return Attribution(tuple(terms), residual, linear, _summary(terms, residual, linear))


def _summary(terms: list[Term], residual: float, linear: bool | None) -> str:
    if linear is False:
        return (
            "dx is not linear in the upstream gradient: dx(g1 + g2) differs from "
            "dx(g1) + dx(g2), which no chain rule gives; look for a nonlinear use of dout "
            "(abs, a square, a division by it) or for state kept between calls"
        )
    if residual > 0.05:
        return (
            f"{residual:.0%} of dx lies outside the terms of the derived dx: the mistake "
            "is more than a wrong coefficient; compare your terms with the derivation's"
        )
    wrong = [t for t in terms if not t.reading.startswith("as derived")]
    if not wrong:
        return "every term's coefficient is as derived; the difference is elsewhere"
    return "; ".join(
        f"the {t.term} term (through {t.step}) is {t.reading} (derived coefficient {t.derived})"
        for t in wrong
    )
