"""The gradient a mistake produces: derived by SymPy from a changed forward graph or a
changed chain rule, then evaluated on a case's arrays.

A ``Change`` says what a hand derivation did differently, and nothing else:

* ``forward``: fields of the forward graph (``symbolic.graph.Forward``) set otherwise:
  ``eps_at="outside"`` (σ = sqrt(var) + ε), ``variance="unbiased"`` (1/(m−1));
* ``stale``: the backward is the right derivation, fed the changed forward's statistics
  (its σ), as code that keeps the paper's formula and caches a wrong σ does; without it,
  the backward is derived from the changed forward, consistently;
* ``chain``: partial derivatives taken otherwise (``symbolic.derive.Chain``): ∂μ/∂x_j
  taken as 0, the power rule's −3/2 written −1/2, ...;
* ``axes``: the statistics taken over other axes (a batch norm over the features);
* ``outputs``: what is done with the right values on the way out: dγ and dβ swapped,
  summed over the wrong axes, or over each group's channels.

``mutant`` runs the same ``symbolic.derive.staged`` as the right derivation, with the
change, and keeps the results in primitives (x, dy, γ, μ, var, ε, m and group sums);
``evaluate`` computes them on one case, in float64, in the grouped view of ``spec``.
No wrong formula is typed in anywhere.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
import sympy as sp

from bncheck.check.inputs import Case
from bncheck.check.reference import expand, grouped, param_reduce
from bncheck.spec import NormSpec
from bncheck.symbolic.calculus import replace_indexed
from bncheck.symbolic.derive import RIGHT, Chain, Step, staged
from bncheck.symbolic.graph import Forward, forward_for

__all__ = ["Change", "Mutant", "MutantValues", "evaluate", "mutant", "right_values"]


@dataclass(frozen=True)
class Change:
    """One mistake (or two, combined with ``+``), as a change to the derivation."""

    forward: tuple[tuple[str, str], ...] = ()  # Forward fields, e.g. (("eps_at", "outside"),)
    stale: bool = False
    chain: Chain = RIGHT
    axes: tuple[int, ...] | None = None  # the statistics' axes, if not the spec's
    # applied in order to the right values of dγ, dβ: "swap", "reduce:<axes>" (summed over
    # these axes of x instead), "group-sum" / "group-mean" (over each group's channels)
    outputs: tuple[str, ...] = ()

    def __add__(self, other: Change) -> Change | None:
        """Both changes at once; None when they set the same thing two ways."""
        fields = dict(self.forward)
        for key, value in other.forward:
            if fields.get(key, value) != value:
                return None
            fields[key] = value
        if self.axes is not None and other.axes is not None and self.axes != other.axes:
            return None
        if self.stale != other.stale and self.forward and other.forward:
            return None
        if self.outputs and other.outputs:
            return None
        return Change(
            forward=tuple(sorted(fields.items())),
            stale=self.stale or other.stale,
            chain=self.chain + other.chain,
            axes=self.axes if self.axes is not None else other.axes,
            outputs=self.outputs + other.outputs,
        )


@dataclass(frozen=True)
class Mutant:
    """A changed derivation: its staged steps and its results, in primitives."""

    spec: NormSpec  # the spec the statistics follow (another one for ``Change.axes``)
    f: Forward  # the changed forward: its μ, var and x̂ are what the submission computed
    steps: tuple[Step, ...]
    dx: sp.Expr  # for element j, with ∂ℓ/∂x̂, ∂ℓ/∂σ², ∂ℓ/∂μ substituted
    dgamma: sp.Expr  # one element's share (summed over the parameter's reduce axes later)
    dbeta: sp.Expr
    out: sp.Expr  # y_j
    outputs: tuple[str, ...]


def _stats_spec(spec: NormSpec, axes: tuple[int, ...] | None) -> NormSpec:
    """``spec`` with its statistics over ``axes``; γ keeps its own axes."""
    if axes is None or axes == spec.axes:
        return spec
    return dataclasses.replace(
        spec,
        name=f"{spec.name}-over-{spec._letters(axes)}",
        axes=axes,
        param_axes=spec.parameter_axes,
        groups=None,
    )


def _share(expr: sp.Expr) -> sp.Expr:
    """One element's share of a parameter gradient: Σ_i f(i) → f(i) (γ constant in the
    group); a share (γ_j inside the group) stays as it is."""
    return expr.replace(lambda e: isinstance(e, sp.Sum), lambda e: e.function)


@cache
def mutant(spec: NormSpec, change: Change) -> Mutant:
    """Derive the gradients ``change`` gives, for ``spec`` (cached per process)."""
    stats = _stats_spec(spec, change.axes)
    right = forward_for(stats)
    fields: dict[str, Any] = dict(change.forward)
    wrong = dataclasses.replace(right, **fields) if fields else right
    f = right if change.stale else wrong
    steps, values = staged(stats, f, change.chain)
    subs = {f.dvar: values["dvar"]}
    if f.center:
        subs[f.dmu] = values["dmu"]
    dx = values["dx"].subs(subs)  # ∂ℓ/∂μ may hold ∂ℓ/∂σ²: substitute twice
    dx = dx.subs(subs)
    dx = replace_indexed(dx, f.dxhat, lambda n: values["dxhat"].subs(f.j, n))
    if change.stale and change.forward:
        # the right formula, fed the σ the changed forward computed: sqrt(var + ε) → its σ
        dx = dx.subs(f.var, wrong.sigma_of**2 - f.eps)

    def xhat(e: sp.Expr) -> sp.Expr:  # the x̂ the (changed) forward computed
        return replace_indexed(e, f.xhat, wrong.xhat_of)

    return Mutant(
        spec=stats,
        f=wrong,
        steps=steps,
        dx=dx,
        dgamma=xhat(_share(values["dgamma"])),
        dbeta=xhat(_share(values["dbeta"])),
        out=xhat(wrong.y_of(f.j)),
        outputs=change.outputs,
    )


class EvaluationError(ValueError):
    """An expression this evaluator does not handle (a bncheck bug, not the user's)."""


@dataclass(frozen=True)
class _Env:
    spec: NormSpec
    arrays: dict[Any, np.ndarray]  # IndexedBase -> the grouped view of an x-shaped array
    symbols: dict[sp.Symbol, Any]

    def value(self, e: sp.Expr) -> Any:
        if e.is_Number:
            return float(e)
        if isinstance(e, sp.Symbol):
            return self.symbols[e]
        if isinstance(e, sp.Indexed):
            return self.arrays[e.base]
        if isinstance(e, sp.Add):
            out = 0.0
            for a in e.args:
                out = out + self.value(a)
            return out
        if isinstance(e, sp.Mul):
            out = 1.0
            for a in e.args:
                out = out * self.value(a)
            return out
        if isinstance(e, sp.Pow):
            return np.power(self.value(e.base), float(e.exp))
        if isinstance(e, sp.Sum):
            return self._sum(e)
        raise EvaluationError(f"cannot evaluate {type(e).__name__}: {e}")

    def _sum(self, e: sp.Sum) -> np.ndarray:
        (index, _, _) = e.limits[0]
        others = {i for t in e.function.atoms(sp.Indexed) for i in t.indices if i != index}
        if len(e.limits) != 1 or others:
            raise EvaluationError(f"a sum with a term outside its index: {e}")
        view = self.spec.view_shape(self._shape)
        v = np.broadcast_to(np.asarray(self.value(e.function), dtype=np.float64), view)
        return v.sum(axis=self.spec.view_axes, keepdims=True)

    @property
    def _shape(self) -> tuple[int, ...]:
        return self.symbols[_SHAPE]


_SHAPE = sp.Symbol("__shape__")


@dataclass(frozen=True)
class MutantValues:
    """A mutant's values on one case, in float64: the forward output and the gradients."""

    out: np.ndarray
    dx: np.ndarray
    dgamma: np.ndarray
    dbeta: np.ndarray


def right_values(spec: NormSpec, case: Case, exprs: Sequence[sp.Expr]) -> list[np.ndarray]:
    """Expressions of the right derivation (in x̂, σ, γ, g, m and group sums) on ``case``,
    each in the grouped view of ``spec``, keepdims where it is one value per group."""
    f = forward_for(spec)
    env = _environment(f, spec, case, spec)
    with np.errstate(all="ignore"):
        _statistics(env, f)
        env.symbols[f.sigma] = np.sqrt(env.symbols[f.var] + spec.eps)
        env.arrays[f.xhat] = env.value(f.xhat_of(f.j))
        return [np.asarray(env.value(e), np.float64) for e in exprs]


def _environment(f: Forward, stats: NormSpec, case: Case, spec: NormSpec) -> _Env:
    """x, dy, γ, β of ``case`` in the grouped view of ``stats``; m and ε."""
    x = np.asarray(case.x, dtype=np.float64)
    shape = x.shape

    def full(p: np.ndarray) -> np.ndarray:
        return grouped(
            np.broadcast_to(expand(np.asarray(p, np.float64), spec, shape), shape), stats
        )

    gamma, beta = full(case.gamma), full(case.beta)
    arrays: dict[Any, np.ndarray] = {
        f.x: grouped(x, stats),
        f.dy: grouped(np.asarray(case.dy, np.float64), stats),
    }
    symbols: dict[sp.Symbol, Any] = {_SHAPE: shape, f.m: stats.group_size(shape), f.eps: spec.eps}
    if f.gamma_inside:
        arrays[f.gamma], arrays[f.beta] = gamma, beta
    else:
        symbols[f.gamma], symbols[f.beta] = gamma, beta
    return _Env(stats, arrays, symbols)


def _statistics(env: _Env, f: Forward) -> None:
    """μ (when ``f`` centres) and var by ``f``'s own definitions, into ``env``."""
    if f.center:
        env.symbols[f.mu] = env.value(f.mu_def)
    env.symbols[f.var] = env.value(f.var_def)


def evaluate(mut: Mutant, case: Case, spec: NormSpec) -> MutantValues:
    """``mut`` on ``case`` (``spec``: the submission's, for γ's shape and its reduce axes)."""
    f, stats = mut.f, mut.spec
    shape = np.shape(case.x)
    env = _environment(f, stats, case, spec)
    with np.errstate(all="ignore"):
        _statistics(env, f)

        def x_shaped(e: sp.Expr) -> np.ndarray:
            v = np.broadcast_to(np.asarray(env.value(e), np.float64), stats.view_shape(shape))
            return v.reshape(shape)

        gshare, bshare = x_shaped(mut.dgamma), x_shaped(mut.dbeta)
        values = MutantValues(
            x_shaped(mut.out),
            x_shaped(mut.dx),
            param_reduce(gshare, spec),
            param_reduce(bshare, spec),
        )
        for step in mut.outputs:
            values = _output(step, values, gshare, bshare, spec)
    return values


def _output(
    step: str, v: MutantValues, gshare: np.ndarray, bshare: np.ndarray, spec: NormSpec
) -> MutantValues:
    """One output change: the right values, handed back wrongly."""
    if step == "swap":
        return dataclasses.replace(v, dgamma=v.dbeta, dbeta=v.dgamma)
    if step.startswith("reduce:"):
        axes = tuple(int(a) for a in step.removeprefix("reduce:").split(","))
        return dataclasses.replace(v, dgamma=gshare.sum(axis=axes), dbeta=bshare.sum(axis=axes))
    if step in ("group-sum", "group-mean") and spec.groups is not None:
        g = spec.groups
        per = v.dgamma.reshape(g, -1)
        total = per.sum(axis=1, keepdims=True)
        if step == "group-mean":
            total = total / per.shape[1]
        return dataclasses.replace(
            v, dgamma=np.broadcast_to(total, per.shape).reshape(v.dgamma.shape).copy()
        )
    raise EvaluationError(f"unknown output change {step!r}")
