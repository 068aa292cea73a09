"""The forward graph of one normalization group, as SymPy objects.

Everything is indexed by an integer over 1..m with m a *symbol*: the derivation
holds for every group size at once. ``Sum(x[k], (k, 1, m)) / m`` is the batch mean,
not x1 + ... + x8.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import sympy as sp

from bncheck.spec import NormSpec

__all__ = ["Forward", "forward_for"]


@dataclass(frozen=True)
class Forward:
    """Symbols and forward definitions (Ioffe & Szegedy 2015, Algorithm 1)."""

    variance: str
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
    var: sp.Symbol
    sigma: sp.Symbol  # sqrt(var + eps)
    inv_std: sp.Symbol
    eps: sp.Symbol
    gamma: sp.Symbol
    beta: sp.Symbol
    dvar: sp.Symbol
    dmu: sp.Symbol
    dgamma: sp.Symbol
    dbeta: sp.Symbol

    @property
    def n_var(self) -> sp.Expr:
        """The variance normalizer: m (biased, the paper) or m - 1 (unbiased)."""
        return self.m if self.variance == "biased" else self.m - 1

    def sum(self, term: sp.Expr, index: sp.Symbol | None = None) -> sp.Sum:
        """Σ over one normalization group."""
        index = self.i if index is None else index
        return sp.Sum(term, (index, 1, self.m))

    @property
    def mu_def(self) -> sp.Expr:
        return self.sum(self.x[self.k], self.k) / self.m

    @property
    def var_def(self) -> sp.Expr:
        # (x - mu)*(x - mu) would print the same; SymPy keeps the square canonical.
        return self.sum((self.x[self.k] - self.mu) ** 2, self.k) / self.n_var

    def xhat_of(self, n: sp.Expr) -> sp.Expr:
        """x̂_n as a function of x_n, mu and var (var and mu are symbols here)."""
        return (self.x[n] - self.mu) / sp.sqrt(self.var + self.eps)

    def y_of(self, n: sp.Expr) -> sp.Expr:
        return self.gamma * self.xhat[n] + self.beta

    def definitions(self) -> list[tuple[sp.Expr, sp.Expr]]:
        """The forward pass, in the paper's order."""
        j = self.j
        return [
            (self.mu, self.mu_def),
            (self.var, self.var_def),
            (self.xhat[j], self.xhat_of(j)),
            (sp.IndexedBase("y", real=True)[j], self.y_of(j)),
        ]


@cache
def _forward(variance: str) -> Forward:
    i, j, k = sp.symbols("i j k", integer=True, positive=True)
    real = {"real": True}
    return Forward(
        variance=variance,
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
        var=sp.Symbol("var", nonnegative=True),
        sigma=sp.Symbol("sigma", positive=True),
        inv_std=sp.Symbol("inv_std", positive=True),
        eps=sp.Symbol("eps", positive=True),
        gamma=sp.Symbol("gamma", real=True),
        beta=sp.Symbol("beta", real=True),
        dvar=sp.Symbol("dvar", real=True),
        dmu=sp.Symbol("dmu", real=True),
        dgamma=sp.Symbol("dgamma", real=True),
        dbeta=sp.Symbol("dbeta", real=True),
    )


def forward_for(spec: NormSpec) -> Forward:
    """The forward graph for a spec; only the variance convention changes the maths."""
    return _forward(spec.variance)
