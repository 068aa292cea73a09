"""Section 2 of Ioffe & Szegedy (2015): a bias update that ignores the mean's dependence on b.

A layer x = u + b is normalized by subtracting the batch mean, x̂ = x − E[x]. If
gradient descent treats E[x] as a constant, it computes Δb ∝ −Σᵢ ∂ℓ/∂x̂ᵢ and moves
b; but then

    u + (b + Δb) − E[u + (b + Δb)] = u + b − E[u + b],

so x̂ and the loss do not change while b grows without bound. SymPy derives, for a
symbolic batch size m, that the full gradient is ∂ℓ/∂b = 0 (so b never moves), and
that the naive gradient is the constant −E[t]: b drifts by lr·E[t] every step.
The numeric runs update the parameters with the Jacobians ∂x̂ᵢ/∂b that SymPy
derived, not with formulas typed in here.

The scaled variant x̂ = (x − E[x]) / std(x) with x = w·u (eps = 0, as the paper's
Section 2 writes it) behaves the same way: the naive update grows |w| while x̂ and
the loss stay fixed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal

import numpy as np
import sympy as sp

from bncheck.demos import Shown
from bncheck.symbolic.calculus import contract_deltas, sum_of_sums

__all__ = [
    "MeanDependence",
    "Options",
    "Record",
    "Run",
    "Section2",
    "derive_section2",
    "mean_dependence",
]

Rule = Literal["naive", "full"]


@dataclass(frozen=True)
class Options:
    steps: int = 20
    lr: float = 0.1
    seed: int = 0
    m: int = 8  # batch size
    d: int = 3  # features; each feature is an independent copy of the scalar derivation


@dataclass(frozen=True)
class Section2:
    """The paper's algebra and both gradients, derived by SymPy for a symbolic m."""

    m: sp.Symbol
    mean_x: sp.Expr  # E[x] = Σ_k (u_k + b) / m
    xhat: sp.Expr  # x̂_i = u_i + b − E[u + b]
    dxhat_db_chain: sp.Expr  # SymPy's raw ∂x̂_i/∂b: 1 − Σ_k 1 / m
    dxhat_db: sp.Expr  # simplified: 0
    loss: sp.Expr  # ℓ = Σ_i (x̂_i − t_i)² / (2m)
    dl_db: sp.Expr  # the full gradient: 0
    dxhat_db_naive: sp.Expr  # with E[x] held constant: 1
    dl_db_naive: sp.Expr  # Σ_i ∂ℓ/∂x̂_i = −Σ t_k / m, since Σ x̂_k = 0
    update_lhs: sp.Expr  # u + (b + Δb) − E[u + (b + Δb)]
    update_rhs: sp.Expr  # u + b − E[u + b]
    update_difference: sp.Expr  # 0
    mean_of_db: tuple[sp.Expr, sp.Expr]  # (E[Δb], its value Δb)
    xhat_scaled: sp.Expr  # (w u_i − E[w u]) / sqrt(Var[w u]), w > 0
    dxhat_dw: sp.Expr  # simplified: 0
    dxhat_dw_naive: sp.Expr  # with E[x] and std(x) held constant: u_i / σ
    symbols: dict[str, sp.Expr] = field(repr=False)


def _canonical(expr: sp.Expr, index: sp.Symbol) -> sp.Expr:
    """Rename every summation index to ``index``, so Σ u_k and Σ u_j can cancel."""
    return expr.replace(
        lambda e: isinstance(e, sp.Sum), lambda s: s.xreplace({s.limits[0][0]: index})
    )


@lru_cache(maxsize=1)
def derive_section2() -> Section2:
    m = sp.Symbol("m", integer=True, positive=True)
    i, j, k = sp.symbols("i j k", integer=True, positive=True)
    u, t, xhat_ = (sp.IndexedBase(n, real=True) for n in ("u", "t", "xhat"))
    b, db, mu = sp.symbols("b Δb mu", real=True)
    w, sigma = sp.Symbol("w", positive=True), sp.Symbol("sigma", positive=True)

    def mean(term: sp.Expr, index: sp.Symbol = k) -> sp.Expr:
        return sp.Sum(term, (index, 1, m)) / m

    def simplified(expr: sp.Expr) -> sp.Expr:
        return sp.simplify(_canonical(sum_of_sums(expr), k))

    mean_x = mean(u[k] + b)
    xhat = u[i] + b - mean_x
    dxhat_db_chain = sp.diff(xhat, b)  # SymPy keeps Σ_k ∂(u_k + b)/∂b = Σ_k 1
    loss = sp.Sum((xhat - t[i]) ** 2, (i, 1, m)) / (2 * m)

    # Naive: E[x] is the constant μ, so x̂_i = u_i + b − μ and ∂x̂_i/∂b = 1.
    # Σ_j ∂ℓ/∂x̂_j = Σ_j (x̂_j − t_j)/m, and Σ_j x̂_j = 0 leaves −Σ t_j / m.
    dl_dxhat = contract_deltas(
        sp.diff(sp.Sum((xhat_[i] - t[i]) ** 2, (i, 1, m)) / (2 * m), xhat_[j])
    )
    naive_sum = _canonical(sum_of_sums(sp.Sum(dl_dxhat, (j, 1, m))), k)
    sum_xhat = simplified(sp.Sum(xhat.subs(i, j), (j, 1, m)))
    dl_db_naive = naive_sum.subs(sp.Sum(xhat_[k], (k, 1, m)), sum_xhat)

    update_lhs = u[i] + (b + db) - mean(u[k] + (b + db))
    update_rhs = u[i] + b - mean(u[k] + b)

    # Scaled variant: x = w·u; std(x) = sqrt(Var[x]) with eps = 0; w > 0 so sqrt(w²) = w.
    l_ = sp.Symbol("l", integer=True, positive=True)
    mean_wu = mean(w * u[k])
    var_wu = mean((w * u[l_] - mean_wu) ** 2, l_)
    xhat_scaled = (w * u[i] - mean_wu) / sp.sqrt(var_wu)

    return Section2(
        m=m,
        mean_x=mean_x,
        xhat=xhat,
        dxhat_db_chain=dxhat_db_chain,
        dxhat_db=simplified(dxhat_db_chain),
        loss=loss,
        dl_db=simplified(sp.diff(loss, b)),
        dxhat_db_naive=sp.diff(u[i] + b - mu, b),
        dl_db_naive=dl_db_naive,
        update_lhs=update_lhs,
        update_rhs=update_rhs,
        update_difference=simplified(update_lhs - update_rhs),
        mean_of_db=(mean(db), sp.Sum(db, (k, 1, m)).doit() / m),
        xhat_scaled=xhat_scaled,
        dxhat_dw=simplified(sp.diff(xhat_scaled, w)),
        dxhat_dw_naive=sp.diff((w * u[i] - mu) / sigma, w),
        symbols={"u_i": u[i], "sigma": sigma},
    )


@dataclass(frozen=True)
class Record:
    step: int
    param: tuple[float, ...]  # b (or w), one entry per feature
    norm: float  # |b| (or |w|)
    loss: float
    max_dxhat: float  # max |x̂(step) − x̂(0)| over the batch


@dataclass(frozen=True)
class Run:
    rule: Rule
    param: str  # "b" or "w"
    records: tuple[Record, ...]

    @property
    def drift(self) -> float:
        """|p(last) − p(0)|: how far the parameter moved."""
        first, last = self.records[0].param, self.records[-1].param
        return float(np.linalg.norm(np.subtract(last, first)))

    @property
    def loss_change(self) -> float:
        """max |ℓ(step) − ℓ(0)| / |ℓ(0)|."""
        ref = self.records[0].loss
        return max(abs(r.loss - ref) for r in self.records) / abs(ref)

    @property
    def max_dxhat(self) -> float:
        return max(r.max_dxhat for r in self.records)


@dataclass(frozen=True)
class MeanDependence(Shown):
    options: Options
    derivation: Section2
    naive: Run  # x̂ = x − E[x], x = u + b
    full: Run
    scaled_naive: Run  # x̂ = (x − E[x]) / std(x), x = w·u
    scaled_full: Run
    fd_dl_db: float  # central difference of ℓ in b at the start: max |·| over features


def _data(o: Options) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """u, a target t with mean ≈ 2 (so the naive gradient −E[t] is not zero), b₀, w₀."""
    rng = np.random.default_rng(o.seed)
    u = rng.normal(1.0, 0.5, size=(o.m, o.d))
    t = 2.0 + 0.3 * rng.normal(size=(o.m, o.d))
    return u, t, rng.normal(0.0, 0.5, size=o.d), rng.uniform(0.5, 1.5, size=o.d)


def _jacobian(expr: sp.Expr, s: Section2) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """SymPy's ∂x̂_i/∂p as a numpy function of (u, σ), broadcast to the batch."""
    ui = sp.Symbol("u_i", real=True)
    f = sp.lambdify((ui, s.symbols["sigma"]), expr.xreplace({s.symbols["u_i"]: ui}), "numpy")
    return lambda u, sigma: np.broadcast_to(f(u, sigma), u.shape)


def _bias_xhat(u: np.ndarray, b: np.ndarray) -> np.ndarray:
    x = u + b
    return x - x.mean(axis=0)


def _scaled_xhat(u: np.ndarray, w: np.ndarray) -> np.ndarray:
    x = w * u
    return (x - x.mean(axis=0)) / x.std(axis=0)  # biased std, eps = 0 as in Section 2


def _loss(xhat: np.ndarray, t: np.ndarray) -> float:
    return float(0.5 * np.mean(np.sum((xhat - t) ** 2, axis=1)))  # Σ_i ‖x̂_i − t_i‖² / (2m)


@dataclass(frozen=True)
class _Layer:
    """One layer of the demo: its parameter, x̂ as a function of it, and std(x) at it."""

    param: str  # "b" or "w"
    xhat: Callable[[np.ndarray], np.ndarray]
    sigma: Callable[[np.ndarray], np.ndarray]  # what the naive rule freezes (1 for the bias)


def _descend(
    o: Options, layer: _Layer, rule: Rule, jac: Callable, p0: np.ndarray, t: np.ndarray
) -> Run:
    """Gradient descent with Δp = −lr · Σ_i ∂ℓ/∂x̂_i · ∂x̂_i/∂p, the Jacobian from SymPy."""
    p, xhat0, records = p0.copy(), layer.xhat(p0), []
    for step in range(o.steps + 1):
        xhat = layer.xhat(p)
        records.append(
            Record(
                step=step,
                param=tuple(float(v) for v in p),
                norm=float(np.linalg.norm(p)),
                loss=_loss(xhat, t),
                max_dxhat=float(np.max(np.abs(xhat - xhat0))),
            )
        )
        dxhat = (xhat - t) / o.m  # ∂ℓ/∂x̂_i
        p = p - o.lr * np.sum(dxhat * jac(layer.sigma(p)), axis=0)
    return Run(rule=rule, param=layer.param, records=tuple(records))


def mean_dependence(options: Options | None = None) -> MeanDependence:
    o = Options() if options is None else options
    s = derive_section2()
    u, t, b0, w0 = _data(o)
    bias = _Layer("b", lambda b: _bias_xhat(u, b), lambda b: np.ones_like(b))
    scaled = _Layer("w", lambda w: _scaled_xhat(u, w), lambda w: (w * u).std(axis=0))

    def jac(expr: sp.Expr) -> Callable[[np.ndarray], np.ndarray]:
        f = _jacobian(expr, s)
        return lambda sigma: f(u, sigma)

    runs = {
        "naive": _descend(o, bias, "naive", jac(s.dxhat_db_naive), b0, t),
        "full": _descend(o, bias, "full", jac(s.dxhat_db), b0, t),
        "scaled_naive": _descend(o, scaled, "naive", jac(s.dxhat_dw_naive), w0, t),
        "scaled_full": _descend(o, scaled, "full", jac(s.dxhat_dw), w0, t),
    }
    h = 1e-6  # a cross-check that does not use SymPy: ℓ(b + h) − ℓ(b − h) over 2h
    fd = [
        (_loss(bias.xhat(b0 + h * e), t) - _loss(bias.xhat(b0 - h * e), t)) / (2 * h)
        for e in np.eye(o.d)
    ]
    return MeanDependence(options=o, derivation=s, fd_dl_db=float(np.max(np.abs(fd))), **runs)
