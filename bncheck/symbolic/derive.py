"""The backward pass of one normalization group, derived by SymPy step by step.

Each step starts from SymPy's own derivative of the forward definitions in
``graph.py`` (the chain-rule sum, with SymPy's Kronecker deltas), then applies the
rewrites of ``calculus.py``. Nothing on a right-hand side is typed in: the tests
prove the results against explicit-m derivatives, and compare the compact form
with the textbook one.
"""

from __future__ import annotations

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

__all__ = ["Derivation", "Step", "derive"]


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
    the compact results ``dx`` (for element j), ``dgamma`` and ``dbeta``."""

    spec: NormSpec
    f: Forward
    forward: tuple[Step, ...]
    staged: tuple[Step, ...]
    compact: tuple[Step, ...]
    dx: sp.Expr
    dgamma: sp.Expr
    dbeta: sp.Expr

    @property
    def steps(self) -> tuple[Step, ...]:
        return self.forward + self.staged + self.compact


def _forward_steps(f: Forward) -> tuple[Step, ...]:
    norm = "1/m, biased as in the paper" if f.variance == "biased" else "1/(m-1), unbiased"
    why = {
        "mu": "mini-batch mean over one normalization group",
        "var": f"mini-batch variance ({norm})",
        "xhat": "normalize; eps sits inside the square root",
        "y": "scale and shift",
    }
    steps = []
    for (lhs, rhs), key in zip(f.definitions(), ("mu", "var", "xhat", "y"), strict=True):
        steps.append(Step(key=key, title=f"forward: {key}", why=why[key], lhs=lhs, rhs=rhs))
    return tuple(steps)


def _staged(f: Forward) -> tuple[tuple[Step, ...], dict[str, sp.Expr]]:
    """The paper's chain-rule equations, each computed by SymPy."""
    i, j, k = f.i, f.j, f.k

    # ∂ℓ/∂x̂_j = Σ_k ∂ℓ/∂y_k · ∂y_k/∂x̂_j; SymPy gives ∂y_k/∂x̂_j = γ·δ_jk.
    chain_dxhat = f.sum(f.dy[k] * sp.diff(f.y_of(k), f.xhat[j]), k)
    dxhat = contract_deltas(chain_dxhat)

    # ∂ℓ/∂σ² = Σ_i ∂ℓ/∂x̂_i · ∂x̂_i/∂σ²
    chain_dvar = f.sum(f.dxhat[i] * sp.diff(f.xhat_of(i), f.var))
    dvar = pull_constants(chain_dvar)

    # ∂σ²/∂μ = -2/m · Σ (x_i - μ), and Σ (x_i - μ) = Σ x_i - m·μ = 0 since μ = Σ x_i / m.
    dvar_dmu = pull_constants(sp.diff(f.var_def, f.mu))
    deviations = f.sum(f.x[k] - f.mu, k)
    sum_x = f.sum(f.x[k], k)
    (sum_x_value,) = sp.solve(sp.Eq(f.mu, f.mu_def), sum_x)  # Σ x_k = m·μ
    vanished = sp.simplify(sum_of_sums(deviations).subs(sum_x, sum_x_value))
    dvar_dmu_value = sp.simplify(sum_of_sums(dvar_dmu).subs(sum_x, sum_x_value))

    # ∂ℓ/∂μ = Σ_i ∂ℓ/∂x̂_i · ∂x̂_i/∂μ + ∂ℓ/∂σ² · ∂σ²/∂μ
    through_xhat = f.sum(f.dxhat[i] * sp.diff(f.xhat_of(i), f.mu))
    chain_dmu = through_xhat + f.dvar * dvar_dmu
    dmu = sp.factor_terms(pull_constants(through_xhat)) + f.dvar * dvar_dmu_value

    # ∂ℓ/∂x_j = ∂ℓ/∂x̂_j · ∂x̂_j/∂x_j + ∂ℓ/∂σ² · ∂σ²/∂x_j + ∂ℓ/∂μ · ∂μ/∂x_j
    chain_dx = (
        f.sum(f.dxhat[i] * sp.diff(f.xhat_of(i), f.x[j]))
        + f.dvar * sp.diff(f.var_def, f.x[j])
        + f.dmu * sp.diff(f.mu_def, f.x[j])
    )
    dx = pull_constants(contract_deltas(chain_dx))

    chain_dgamma = f.sum(f.dy[i] * sp.diff(f.y_of(i), f.gamma))
    chain_dbeta = f.sum(f.dy[i] * sp.diff(f.y_of(i), f.beta))
    dgamma = pull_constants(chain_dgamma)
    dbeta = pull_constants(chain_dbeta)

    steps = (
        Step(
            "dxhat",
            "gradient of the normalized input",
            "y_k depends on x̂_j only when k = j (SymPy's δ_jk), so the sum over k collapses",
            f.dxhat[j],
            dxhat,
            chain_dxhat,
        ),
        Step(
            "dvar",
            "gradient of the variance",
            "every x̂_i depends on σ² through 1/sqrt(σ² + ε)",
            f.dvar,
            dvar,
            chain_dvar,
        ),
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
        Step(
            "dx",
            "gradient of the input (staged)",
            "x_j reaches ℓ three ways: through x̂_j directly, through σ² and through μ",
            f.dx[j],
            dx,
            chain_dx,
        ),
        Step(
            "dgamma",
            "gradient of the scale",
            "γ multiplies every x̂_i of the group",
            f.dgamma,
            dgamma,
            chain_dgamma,
        ),
        Step(
            "dbeta",
            "gradient of the shift",
            "β is added to every y_i of the group",
            f.dbeta,
            dbeta,
            chain_dbeta,
        ),
    )
    values = {"dxhat": dxhat, "dvar": dvar, "dmu": dmu, "dx": dx, "dgamma": dgamma, "dbeta": dbeta}
    return steps, values


def _compact(f: Forward, staged: dict[str, sp.Expr]) -> sp.Expr:
    """Substitute the stages into ∂ℓ/∂x_j and write it in x̂ and σ = sqrt(σ² + ε)."""
    dx = staged["dx"].subs({f.dmu: staged["dmu"], f.dvar: staged["dvar"]})
    dx = replace_indexed(dx, f.dxhat, lambda n: staged["dxhat"].subs(f.j, n))
    dx = dx.subs(f.var, f.sigma**2 - f.eps)
    dx = replace_indexed(dx, f.x, lambda n: f.mu + f.sigma * f.xhat[n])  # x - μ = σ·x̂
    return sp.factor_terms(sp.together(pull_constants(sp.expand(dx))))


@cache
def _derive(spec: NormSpec) -> Derivation:
    f = forward_for(spec)
    staged_steps, values = _staged(f)
    dx = _compact(f, values)
    compact = (
        Step(
            "sigma",
            "shorthand",
            "σ is what the forward pass divided by: sqrt(σ² + ε), not sqrt(σ²)",
            f.sigma,
            sp.sqrt(f.var + f.eps),
        ),
        Step(
            "dx_compact",
            "gradient of the input (compact)",
            "substitute ∂ℓ/∂x̂, ∂ℓ/∂σ², ∂ℓ/∂μ; write x_i − μ = σ·x̂_i; collect over m·σ",
            f.dx[f.j],
            dx,
        ),
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
    )


def derive(spec: NormSpec | None = None) -> Derivation:
    """Derive the backward pass for ``spec`` (batch norm on (N, D) by default)."""
    spec = NormSpec() if spec is None else spec
    return _derive(spec)
