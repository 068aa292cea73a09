"""The backward pass of one normalization group, derived by SymPy step by step.

Each step starts from SymPy's own derivative of the forward definitions in
``graph.py`` (the chain-rule sum, with SymPy's Kronecker deltas), then applies the
rewrites of ``calculus.py``. Nothing on a right-hand side is typed in: the tests
prove the results against explicit-m derivatives, and compare the compact form
with the textbook one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import sympy as sp

from bncheck.spec import NormSpec
from bncheck.symbolic.calculus import (
    contract_deltas,
    pull_constants,
    replace_indexed,
    sum_of_sums,
)
from bncheck.symbolic.graph import Forward, forward_for

__all__ = ["Chain", "Derivation", "Step", "compact_dx", "derive", "staged"]

# The partial derivatives the chain rule multiplies, by name "of/wrt": ∂y/∂x̂, ∂x̂/∂σ², ...
EDGES = ("y/xhat", "xhat/var", "xhat/x", "var/x", "mu/x", "xhat/mu", "var/mu", "y/gamma", "y/beta")


@dataclass(frozen=True)
class Chain:
    """How the chain rule takes each partial derivative: SymPy's own ``diff`` (the default),
    then the edits listed for its edge, in order.

    An edit ``(edge, fn)`` maps (forward, SymPy's partial) to the partial a hand derivation
    used instead: ∂μ/∂x_j taken as 0 (the mean treated as a constant), the power rule's
    −3/2 written −1/2. ``bncheck.diagnose`` derives each classic wrong gradient this way;
    the right derivation has no edits.
    """

    edits: tuple[tuple[str, Callable[[Forward, sp.Expr], sp.Expr]], ...] = ()

    def __post_init__(self) -> None:
        unknown = [edge for edge, _ in self.edits if edge not in EDGES]
        if unknown:
            raise ValueError(f"unknown chain-rule edge(s) {unknown}; known: {EDGES}")

    def partial(self, f: Forward, edge: str, expr: sp.Expr, wrt: sp.Expr) -> sp.Expr:
        d = sp.diff(expr, wrt)
        for name, edit in self.edits:
            if name == edge:
                d = edit(f, d)
        return d

    def __add__(self, other: Chain) -> Chain:
        return Chain(self.edits + other.edits)


RIGHT = Chain()


@dataclass(frozen=True)
class Step:
    """One equation: ``lhs = chain = rhs`` with a one-line reason.

    ``chain`` is SymPy's raw chain-rule expression (None for definitions);
    ``rhs`` is what SymPy simplified it to.
    """

    key: str
    title: str
    why: str
    lhs: sp.Expr
    rhs: sp.Expr
    chain: sp.Expr | None = None


@dataclass(frozen=True)
class Derivation:
    """The forward definitions, the staged backward (the paper's Section 3), and
    the compact results ``dx`` (for element j), ``dgamma`` and ``dbeta``.

    ``dgamma`` and ``dbeta`` are one group's sums when γ is constant in the group, and
    one element's share (g_j·x̂_j, g_j) when γ varies inside it; either way they are then
    summed over ``spec.reduce_axes``."""

    spec: NormSpec
    f: Forward
    forward: tuple[Step, ...]
    staged: tuple[Step, ...]
    compact: tuple[Step, ...]
    dx: sp.Expr
    dgamma: sp.Expr
    dbeta: sp.Expr
    dx_dxhat: sp.Expr | None = None  # the compact dx with ∂ℓ/∂x̂ kept as a name (emission)

    @property
    def steps(self) -> tuple[Step, ...]:
        return self.forward + self.staged + self.compact

    def __repr__(self) -> str:  # the whole dataclass would be pages of SymPy
        return (
            f"Derivation({self.spec.name}: {len(self.forward)} forward, "
            f"{len(self.staged)} staged, {len(self.compact)} compact steps)"
        )

    # Jupyter looks for these on the object; the renderers (bncheck.report.notebook) load on use.
    def _repr_markdown_(self) -> str:
        from bncheck.report.notebook import derivation_markdown

        return derivation_markdown(self)

    def _repr_latex_(self) -> str:
        from bncheck.report.notebook import derivation_latex

        return derivation_latex(self)


def _forward_steps(f: Forward) -> tuple[Step, ...]:
    norm = "1/m, biased as in the paper" if f.variance == "biased" else "1/(m-1), unbiased"
    why = {
        "mu": "mini-batch mean over one normalization group",
        "var": f"mini-batch variance ({norm})",
        "ms": "mean square over one normalization group (1/m); RMSNorm subtracts no mean",
        "xhat": "normalize; eps sits inside the square root",
        "y": "scale and shift",
    }
    if f.gamma_inside:
        why["y"] = "scale and shift by γ_j, β_j of element j: γ varies inside the group"
    return tuple(
        Step(key=key, title=f"forward: {key}", why=why[key], lhs=lhs, rhs=rhs)
        for key, lhs, rhs in f.definitions()
    )


def _param_why(spec: NormSpec, f: Forward, name: str, what: str, of: str) -> str:
    """Why dγ (dβ) is what it is, and what it is summed over afterwards."""
    over = ", ".join(spec.layout[a] for a in spec.reduce_axes)
    if f.gamma_inside:
        return (
            f"{name}_j {what} {of}_j only (SymPy's δ_jk): this is one element's share; "
            f"∂ℓ/∂{name} sums the shares of every element that shares one {name}, over ({over})"
        )
    why = f"{name} {what} every {of}_i of the group"
    if spec.reduce_axes != spec.axes or spec.groups is not None:
        why += f"; ∂ℓ/∂{name} adds up the groups that share one {name}: over ({over}) in all"
    return why


def staged(
    spec: NormSpec, f: Forward, chain: Chain = RIGHT
) -> tuple[tuple[Step, ...], dict[str, sp.Expr]]:
    """The paper's chain-rule equations, each computed by SymPy, and their right-hand sides
    by key (dxhat, dvar, dmu, dx, dgamma, dbeta).

    ``f`` and ``chain`` are the right forward graph and chain rule unless ``bncheck.diagnose``
    changes one of them to derive a mistake."""
    i, j, k = f.i, f.j, f.k
    d = chain.partial

    # ∂ℓ/∂x̂_j = Σ_k ∂ℓ/∂y_k · ∂y_k/∂x̂_j; SymPy gives ∂y_k/∂x̂_j = γ·δ_jk (γ_k·δ_jk).
    chain_dxhat = f.sum(f.dy[k] * d(f, "y/xhat", f.y_of(k), f.xhat[j]), k)
    dxhat = contract_deltas(chain_dxhat)

    # ∂ℓ/∂σ² = Σ_i ∂ℓ/∂x̂_i · ∂x̂_i/∂σ²  (∂ℓ/∂ms without centring)
    chain_dvar = f.sum(f.dxhat[i] * d(f, "xhat/var", f.xhat_of(i), f.var))
    dvar = pull_constants(chain_dvar)

    # ∂ℓ/∂x_j = ∂ℓ/∂x̂_j · ∂x̂_j/∂x_j + ∂ℓ/∂σ² · ∂σ²/∂x_j + ∂ℓ/∂μ · ∂μ/∂x_j
    chain_dx = f.sum(f.dxhat[i] * d(f, "xhat/x", f.xhat_of(i), f.x[j])) + f.dvar * d(
        f, "var/x", f.var_def, f.x[j]
    )
    if f.center:
        chain_dx += f.dmu * d(f, "mu/x", f.mu_def, f.x[j])
    dx = pull_constants(contract_deltas(chain_dx))

    # ∂ℓ/∂γ and ∂ℓ/∂β: of the group's one γ, or of γ_j (one element's share).
    at = j if f.gamma_inside else None
    gamma, beta = (f.gamma[j], f.beta[j]) if f.gamma_inside else (f.gamma, f.beta)
    chain_dgamma = f.sum(f.dy[i] * d(f, "y/gamma", f.y_of(i), gamma))
    chain_dbeta = f.sum(f.dy[i] * d(f, "y/beta", f.y_of(i), beta))
    dgamma = pull_constants(contract_deltas(chain_dgamma))
    dbeta = pull_constants(contract_deltas(chain_dbeta))
    lhs_dgamma = f.dgamma if at is None else f.dgamma[at]
    lhs_dbeta = f.dbeta if at is None else f.dbeta[at]

    stat = "variance" if f.center else "mean square"
    sd = "σ²" if f.center else "ms"
    steps = [
        Step(
            "dxhat",
            "gradient of the normalized input",
            "y_k depends on x̂_j only when k = j (SymPy's δ_jk), so the sum over k collapses",
            f.dxhat[j],
            dxhat,
            chain_dxhat,
        ),
        Step(
            "dvar" if f.center else "dms",
            f"gradient of the {stat}",
            f"every x̂_i depends on {sd} through 1/sqrt({sd} + ε)",
            f.dvar,
            dvar,
            chain_dvar,
        ),
    ]
    values = {"dxhat": dxhat, "dvar": dvar, "dx": dx, "dgamma": dgamma, "dbeta": dbeta}
    if f.center:
        steps += _mean_steps(f, chain)
        values["dmu"] = steps[-1].rhs
        ways = "three ways: through x̂_j directly, through σ² and through μ"
    else:
        ways = "two ways: through x̂_j directly and through ms (there is no mean)"
    steps += [
        Step(
            "dx", "gradient of the input (staged)", f"x_j reaches ℓ {ways}", f.dx[j], dx, chain_dx
        ),
        Step(
            "dgamma",
            "gradient of the scale",
            _param_why(spec, f, "γ", "multiplies", "x̂"),
            lhs_dgamma,
            dgamma,
            chain_dgamma,
        ),
        Step(
            "dbeta",
            "gradient of the shift",
            _param_why(spec, f, "β", "is added to", "y"),
            lhs_dbeta,
            dbeta,
            chain_dbeta,
        ),
    ]
    return tuple(steps), values


def _mean_steps(f: Forward, chain: Chain) -> list[Step]:
    """Σ(x_i − μ) = 0, and ∂ℓ/∂μ, where the ∂σ²/∂μ path vanishes because of it."""
    i, k = f.i, f.k
    d = chain.partial
    # ∂σ²/∂μ = -2/m · Σ (x_i - μ), and Σ (x_i - μ) = Σ x_i - m·μ = 0 since μ = Σ x_i / m.
    dvar_dmu = pull_constants(d(f, "var/mu", f.var_def, f.mu))
    deviations = f.sum(f.x[k] - f.mu, k)
    sum_x = f.sum(f.x[k], k)
    (sum_x_value,) = sp.solve(sp.Eq(f.mu, f.mu_def), sum_x)  # Σ x_k = m·μ
    vanished = sp.simplify(sum_of_sums(deviations).subs(sum_x, sum_x_value))
    dvar_dmu_value = sp.simplify(sum_of_sums(dvar_dmu).subs(sum_x, sum_x_value))

    # ∂ℓ/∂μ = Σ_i ∂ℓ/∂x̂_i · ∂x̂_i/∂μ + ∂ℓ/∂σ² · ∂σ²/∂μ
    through_xhat = f.sum(f.dxhat[i] * d(f, "xhat/mu", f.xhat_of(i), f.mu))
    chain_dmu = through_xhat + f.dvar * dvar_dmu
    dmu = sp.factor_terms(pull_constants(through_xhat)) + f.dvar * dvar_dmu_value
    return [
        Step(
            "deviations",
            "the deviations from the mean sum to zero",
            "Σ(x_i − μ) = Σx_i − m·μ, and Σx_i = m·μ by the definition of μ",
            deviations,
            vanished,
            sum_of_sums(deviations),
        ),
        Step(
            "dmu",
            "gradient of the mean",
            "the ∂ℓ/∂σ² · ∂σ²/∂μ part vanishes: ∂σ²/∂μ is a multiple of Σ(x_i − μ) = 0",
            f.dmu,
            dmu,
            chain_dmu,
        ),
    ]


def compact_dx(f: Forward, staged: dict[str, sp.Expr], through_dxhat: bool = True) -> sp.Expr:
    """Substitute the stages into ∂ℓ/∂x_j and write it in x̂ and σ = sqrt(σ² + ε).

    With ``through_dxhat`` False, ∂ℓ/∂x̂ stays a name (what emission computes first)."""
    subs = {f.dvar: staged["dvar"]}
    if f.center:
        subs[f.dmu] = staged["dmu"]
    dx = staged["dx"].subs(subs)
    if through_dxhat:
        dx = replace_indexed(dx, f.dxhat, lambda n: staged["dxhat"].subs(f.j, n))
    dx = dx.subs(f.var, f.sigma**2 - f.eps)
    if f.center:
        dx = replace_indexed(dx, f.x, lambda n: f.mu + f.sigma * f.xhat[n])  # x - μ = σ·x̂
    else:
        dx = replace_indexed(dx, f.x, lambda n: f.sigma * f.xhat[n])  # x = σ·x̂
    return sp.factor_terms(sp.together(pull_constants(sp.expand(dx))))


@cache
def _derive(spec: NormSpec) -> Derivation:
    f = forward_for(spec)
    staged_steps, values = staged(spec, f)
    dx = compact_dx(f, values)
    if f.center:
        sigma_why = "σ is what the forward pass divided by: sqrt(σ² + ε), not sqrt(σ²)"
        dx_why = "substitute ∂ℓ/∂x̂, ∂ℓ/∂σ², ∂ℓ/∂μ; write x_i − μ = σ·x̂_i; collect over m·σ"
    else:
        sigma_why = "σ is what the forward pass divided by: sqrt(ms + ε), the root mean square"
        dx_why = "substitute ∂ℓ/∂x̂ and ∂ℓ/∂ms; write x_i = σ·x̂_i; collect over m·σ"
    compact = (
        Step("sigma", "shorthand", sigma_why, f.sigma, sp.sqrt(f.var + f.eps)),
        Step("dx_compact", "gradient of the input (compact)", dx_why, f.dx[f.j], dx),
    )
    return Derivation(
        spec=spec,
        f=f,
        forward=_forward_steps(f),
        staged=staged_steps,
        compact=compact,
        dx=dx,
        dgamma=values["dgamma"],
        dbeta=values["dbeta"],
        dx_dxhat=compact_dx(f, values, through_dxhat=False),
    )


def derive(spec: NormSpec | None = None) -> Derivation:
    """Derive the backward pass for ``spec`` (batch norm on (N, D) by default)."""
    spec = NormSpec() if spec is None else spec
    return _derive(spec)
