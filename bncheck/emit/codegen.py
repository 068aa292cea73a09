"""Lower a Derivation to array statements and print them for numpy or torch.

Lowering is SymPy work, not string work:

* the statistics come from the forward definitions (Σ x / m, Σ (x - μ)² / m);
* x̂ is never materialised: x̂ = (x - μ)·(1/σ), and SymPy pulls 1/σ out of Σ g·x̂;
* ∂ℓ/∂x is affine in the two arrays g and x - μ with per-feature coefficients
  (``collect``): a·g + b·(x - μ) + c, or a·(g + (b/a)·(x - μ) + c/a) where the backend
  has no fused multiply-add (SymPy cancels γ from b/a and c/a, so nothing divides by γ).
  The element-wise tail runs in place in x - μ's memory, so dx is the only full-size
  array a call allocates; the coefficients go through ``cse(order='canonical')``.

Written in terms of x - μ (centred first), the code keeps its digits when the
mean is large against the spread.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from bncheck.emit.notation import to_code_text
from bncheck.emit.printers import BACKENDS, printer_for
from bncheck.errors import BncheckError, UsageError
from bncheck.spec import NormSpec
from bncheck.symbolic.calculus import pull_constants, replace_indexed
from bncheck.symbolic.derive import Derivation, derive

__all__ = ["Statement", "emit_source", "function_name", "lower"]


@dataclass(frozen=True)
class Statement:
    target: str
    expr: sp.Expr
    comment: str = ""


def function_name(spec: NormSpec) -> str:
    return f"{spec.name}_backward"


def lower(d: Derivation, factored: bool = False) -> tuple[list[Statement], dict[str, sp.Expr]]:
    """Statements up to the per-feature coefficients, and the coefficients a, b, c of
    dx = a*dy + b*xmu + c, or with ``factored`` of dx = a*(dy + b*xmu + c)."""
    f = d.f
    i, j = f.i, f.j
    var_def = replace_indexed(d.forward[1].rhs, f.x, lambda n: f.xmu[n] + f.mu)  # Σ xmu² / m
    sigma_def = d.compact[0].rhs  # sqrt(var + eps)

    # In the compact result, Σ g·x̂ and Σ g are dgamma and dbeta themselves.
    dx = d.dx.subs({d.dgamma: f.dgamma, d.dbeta: f.dbeta})
    dx = replace_indexed(dx, f.xhat, lambda n: f.xmu[n] * f.inv_std).subs(f.sigma, 1 / f.inv_std)
    dgamma = pull_constants(replace_indexed(d.dgamma, f.xhat, lambda n: f.xmu[n] * f.inv_std))
    terms = sp.collect(sp.expand(dx), [f.dy[j], f.xmu[j]], evaluate=False)
    if set(terms) - {f.dy[j], f.xmu[j], sp.S.One}:
        raise BncheckError(f"dx is not affine in dy and x - mu: {dx}", code="internal")

    names = ("a", "b", "c")
    a, b, c = (sp.factor_terms(terms.get(k, sp.S.Zero)) for k in (f.dy[j], f.xmu[j], sp.S.One))
    if factored:  # a = γ/σ is never zero symbolically; cancel takes γ out of b/a and c/a
        b, c = (sp.factor_terms(sp.cancel(e / a)) for e in (b, c))
    temps, reduced = sp.cse(
        [a, b, c],
        symbols=sp.numbered_symbols("c"),
        order="canonical",
    )
    statements = [
        Statement("mu", d.forward[0].rhs, "mean of each group"),
        Statement("xmu", f.x[i] - f.mu, "centred once; everything below uses x - mu"),
        Statement("var", var_def, _variance_comment(d.spec)),
        Statement("inv_std", 1 / sigma_def, "1/sigma, eps inside the square root"),
        Statement("dbeta", d.dbeta, "Σ dy"),
        Statement("dgamma", dgamma, "Σ dy*xhat, with xhat = xmu*inv_std"),
    ]
    statements += [Statement(str(s), e) for s, e in temps]
    return statements, dict(zip(names, reduced, strict=True))


def _variance_comment(spec: NormSpec) -> str:
    if spec.variance == "biased":
        return "biased variance (1/m), as in the paper"
    return "unbiased variance (1/(m-1))"


def _docstring(d: Derivation, backend: str) -> list[str]:
    spec = d.spec
    shape = "(" + ", ".join(spec.layout) + ")"
    features = "(" + ", ".join(spec.layout[a] for a in spec.feature_axes) + ",)"
    reduced = ", ".join(spec.layout[a] for a in spec.axes)
    array = BACKENDS[backend].array_type
    return [
        f'"""Backward of {spec.name} on {shape}, reduced over {reduced}; emitted by bncheck.',
        "",
        "Derived by SymPy for a group of m elements (Σ sums over one group):",
        "",
        f"    dx     = {to_code_text(d.dx)}",
        f"    dgamma = {to_code_text(d.dgamma)}",
        f"    dbeta  = {to_code_text(d.dbeta)}",
        "",
        f"with sigma = {to_code_text(d.compact[0].rhs)}, xhat = (x - mu)/sigma, dy = dl/dy.",
        f"Conventions: {_variance_comment(spec)}; eps inside the square root.",
        "",
        f"dy, x: {array} of shape {shape}; gamma: {features}.",
        "Returns (dx, dgamma, dbeta); batch statistics are recomputed from x.",
        '"""',
    ]


def _layout_lines(spec: NormSpec) -> list[str]:
    """Shape glue: group size and, when features are not trailing, broadcasting."""
    size = " * ".join(f"x.shape[{a}]" for a in spec.axes)
    lines = [f"m = {size}  # elements per group"]
    if not spec.features_trailing:
        dims = ", ".join("1" if a in spec.axes else f"x.shape[{a}]" for a in range(spec.ndim))
        lines += [f"stat_shape = ({dims})", "gamma = gamma.reshape(stat_shape)"]
    return lines


def emit_source(spec: NormSpec | None = None, backend: str = "numpy") -> str:
    """Deterministic source of ``<name>_backward(dy, x, gamma, eps)`` for ``backend``."""
    spec = NormSpec() if spec is None else spec
    if backend not in BACKENDS:
        raise UsageError(
            f"unknown emit target {backend!r}",
            f"choose one of: {', '.join(BACKENDS)}",
            code="unknown-target",
        )
    d = derive(spec)
    printer = printer_for(backend, spec)
    statements, coefficients = lower(d, BACKENDS[backend].factored)
    body = _docstring(d, backend) + _layout_lines(spec)
    for s in statements:
        line = f"{s.target} = {printer.doprint(s.expr)}"
        body.append(f"{line}  # {s.comment}" if s.comment else line)
    printed = {k: printer.doprint(v) for k, v in coefficients.items()}
    body += [line.format(**printed) for line in BACKENDS[backend].combine]
    returns = ("dx", "dgamma", "dbeta")
    if spec.features_trailing:
        body.append("return " + ", ".join(returns))
    else:
        shaped = [r if r == "dx" else f"{r}.reshape(-1)" for r in returns]
        body.append("return " + ", ".join(shaped))
    header = [
        f"# Emitted by bncheck from the SymPy derivation of {spec.name}. Do not edit:",
        f"# regenerate with `bncheck derive --norm {spec.name} --emit {backend}`.",
        BACKENDS[backend].import_line,
        "",
        "",
        f"def {function_name(spec)}(dy, x, gamma, eps={spec.eps!r}):",
    ]
    return "\n".join(header + ["    " + line if line else "" for line in body]) + "\n"
