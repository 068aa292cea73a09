"""The forward graph of one normalization group, as SymPy objects.

Everything is indexed by an integer over 1..m with m a *symbol*: the derivation
holds for every group size at once. ``Sum(x[k], (k, 1, m)) / m`` is the batch mean,
not x1 + ... + x8.

Two things change the maths of a right forward, and only these (``forward_for`` reads
them off the spec):

* **γ inside the group** (LayerNorm, GroupNorm, RMSNorm): γ and β are indexed
  (γ_i, β_i), one value per element of the group; otherwise they are one symbol.
* **no centring** (RMSNorm): no μ; the statistic is the mean square
  ms = Σ x² / m, and x̂ = x / sqrt(ms + ε). Its symbol is ``var``'s slot, named ``ms``.

``variance`` and ``eps_at`` are also how a *wrong* forward is written (``bncheck.diagnose``):
the variance with 1/(m−1), ε outside the square root or left out.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

import sympy as sp

from bncheck.spec import NormSpec

__all__ = ["Forward", "forward_for"]


@dataclass(frozen=True)
class Forward:
    """Symbols and forward definitions (Ioffe & Szegedy 2015, Algorithm 1)."""

    variance: str
    center: bool  # False: RMSNorm, no mean subtracted
    gamma_inside: bool  # True: γ_i, β_i vary inside the group
    m: sp.Symbol
    i: sp.Symbol  # summation index
    j: sp.Symbol  # the element whose gradient we take
    k: sp.Symbol  # summation index inside the statistics
    x: sp.IndexedBase
    dy: sp.IndexedBase  # g = dℓ/dy, the upstream gradient
    xhat: sp.IndexedBase
    dxhat: sp.IndexedBase
    dx: sp.IndexedBase
    xmu: sp.IndexedBase  # x - mu, used by emission
    mu: sp.Symbol
    var: sp.Symbol  # σ², or ms (the mean square) without centring
    sigma: sp.Symbol  # sqrt(var + eps)
    inv_std: sp.Symbol
    eps: sp.Symbol
    gamma: Any  # sp.Symbol, or sp.IndexedBase when gamma_inside
    beta: Any
    dvar: sp.Symbol
    dmu: sp.Symbol
    dgamma: Any  # sp.Symbol, or sp.IndexedBase when gamma_inside (one element's share)
    dbeta: Any
    # where ε sits: "inside" sqrt(var + ε) (right); "outside" sqrt(var) + ε; "none" sqrt(var)
    eps_at: str = "inside"

    @property
    def n_var(self) -> sp.Expr:
        """The normalizer of the statistic: m (biased, the paper; and the mean square)
        or m - 1 (unbiased variance)."""
        return self.m if self.variance == "biased" or not self.center else self.m - 1

    def sum(self, term: sp.Expr, index: sp.Symbol | None = None) -> sp.Sum:
        """Σ over one normalization group."""
        index = self.i if index is None else index
        return sp.Sum(term, (index, 1, self.m))

    def gamma_at(self, n: sp.Expr) -> sp.Expr:
        """γ of element n: γ_n inside the group, else the group's one γ."""
        return self.gamma[n] if self.gamma_inside else self.gamma

    def beta_at(self, n: sp.Expr) -> sp.Expr:
        return self.beta[n] if self.gamma_inside else self.beta

    @property
    def mu_def(self) -> sp.Expr:
        return self.sum(self.x[self.k], self.k) / self.m

    def centred(self, n: sp.Expr) -> sp.Expr:
        """x_n - μ, or x_n itself without centring."""
        return self.x[n] - self.mu if self.center else self.x[n]

    @property
    def var_def(self) -> sp.Expr:
        # (x - mu)*(x - mu) would print the same; SymPy keeps the square canonical.
        return self.sum(self.centred(self.k) ** 2, self.k) / self.n_var

    @property
    def sigma_of(self) -> sp.Expr:
        """What the forward divides by, in var and ε: sqrt(var + ε) unless ``eps_at`` says
        otherwise."""
        return {
            "inside": sp.sqrt(self.var + self.eps),
            "outside": sp.sqrt(self.var) + self.eps,
            "none": sp.sqrt(self.var),
        }[self.eps_at]

    def xhat_of(self, n: sp.Expr) -> sp.Expr:
        """x̂_n as a function of x_n, mu and var (var and mu are symbols here)."""
        return self.centred(n) / self.sigma_of

    def y_of(self, n: sp.Expr) -> sp.Expr:
        return self.gamma_at(n) * self.xhat[n] + self.beta_at(n)

    def definitions(self) -> list[tuple[str, sp.Expr, sp.Expr]]:
        """The forward pass, in the paper's order, as (key, lhs, rhs)."""
        j = self.j
        stats = [("mu", self.mu, self.mu_def)] if self.center else []
        return [
            *stats,
            ("var" if self.center else "ms", self.var, self.var_def),
            ("xhat", self.xhat[j], self.xhat_of(j)),
            ("y", sp.IndexedBase("y", real=True)[j], self.y_of(j)),
        ]


@cache
def _forward(variance: str, center: bool, gamma_inside: bool) -> Forward:
    i, j, k = sp.symbols("i j k", integer=True, positive=True)
    real = {"real": True}

    def param(name: str) -> Any:
        return sp.IndexedBase(name, **real) if gamma_inside else sp.Symbol(name, **real)

    stat = "var" if center else "ms"
    return Forward(
        variance=variance,
        center=center,
        gamma_inside=gamma_inside,
        m=sp.Symbol("m", integer=True, positive=True),
        i=i,
        j=j,
        k=k,
        x=sp.IndexedBase("x", **real),
        dy=sp.IndexedBase("dy", **real),
        xhat=sp.IndexedBase("xhat", **real),
        dxhat=sp.IndexedBase("dxhat", **real),
        dx=sp.IndexedBase("dx", **real),
        xmu=sp.IndexedBase("xmu", **real),
        mu=sp.Symbol("mu", real=True),
        var=sp.Symbol(stat, nonnegative=True),
        sigma=sp.Symbol("sigma", positive=True),
        inv_std=sp.Symbol("inv_std", positive=True),
        eps=sp.Symbol("eps", positive=True),
        gamma=param("gamma"),
        beta=param("beta"),
        dvar=sp.Symbol(f"d{stat}", real=True),
        dmu=sp.Symbol("dmu", real=True),
        dgamma=param("dgamma"),
        dbeta=param("dbeta"),
    )


def forward_for(spec: NormSpec) -> Forward:
    """The forward graph for a spec: its variance convention, whether it centres, and
    whether γ varies inside one group."""
    return _forward(spec.variance, spec.center, spec.gamma_in_group)
