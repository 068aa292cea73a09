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

That is batch norm's form (``lower``), where γ is one value per group and the group's
sums are dγ and dβ themselves. Every other normalization (``lower_dxhat``) is emitted
from the compact result with ∂ℓ/∂x̂ kept as a name: dxhat = γ·dy (γ_i varies inside the
group), dx = a·dxhat + b·x̂ + c with per-group a, b, c, where x̂ is x - μ scaled in place;
dγ and dβ are sums over ``spec.reduce_axes`` (``REDUCE_INDEX``), not over the group.
dxhat is the one full-size temporary besides dx.

Where the statistics never span axis 0 (every norm but batch norm) and the backend says
so (``Backend.block_bytes``, numpy), those statements run on blocks of rows of about
256 KiB of x: x - mu is written into dx's rows (``Statement.in_dx``), dxhat is one
block's size, so the temporaries stay in cache and dx is the only full-size array;
dγ and dβ, which sum over axis 0, add up the blocks' shares. The loop is layout glue
(``_block_lines``); the statements inside are printed by the same printers, with x and
dy named by their block (``array_names``).
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from bncheck.emit.notation import to_code_text
from bncheck.emit.printers import BACKENDS, REDUCE_INDEX, View, printer_for
from bncheck.errors import BncheckError, UsageError
from bncheck.spec import NormSpec
from bncheck.symbolic.calculus import pull_constants, replace_indexed
from bncheck.symbolic.derive import Derivation, derive

__all__ = ["Statement", "emit_source", "function_name", "lower"]


@dataclass(frozen=True)
class Statement:
    """``target = expr``; with ``inplace``, ``target = inplace`` then ``target *= expr/inplace``
    (an array scaled in its own memory); with ``in_dx``, computed into dx's rows when blocked."""

    target: str
    expr: sp.Expr
    comment: str = ""
    inplace: sp.Expr | None = None
    in_dx: bool = False  # the full-size array that becomes dx: blocked code writes dx's rows


def function_name(spec: NormSpec) -> str:
    return f"{spec.name}_backward"


def lower(d: Derivation, factored: bool = False) -> tuple[list[Statement], dict[str, sp.Expr]]:
    """Statements up to the per-feature coefficients, and the coefficients a, b, c of
    dx = a*dy + b*xmu + c, or with ``factored`` of dx = a*(dy + b*xmu + c)."""
    f = d.f
    i, j = f.i, f.j
    var_def = replace_indexed(_forward(d, "var"), f.x, lambda n: f.xmu[n] + f.mu)  # Σ xmu² / m
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
        Statement("mu", _forward(d, "mu"), "mean of each group"),
        Statement("xmu", f.x[i] - f.mu, "centred once; everything below uses x - mu"),
        Statement("var", var_def, _variance_comment(d.spec)),
        Statement("inv_std", 1 / sigma_def, "1/sigma, eps inside the square root"),
        Statement("dbeta", d.dbeta, "Σ dy"),
        Statement("dgamma", dgamma, "Σ dy*xhat, with xhat = xmu*inv_std"),
    ]
    statements += [Statement(str(s), e) for s, e in temps]
    return statements, dict(zip(names, reduced, strict=True))


def _forward(d: Derivation, key: str) -> sp.Expr:
    """The right-hand side of one forward definition."""
    (rhs,) = [s.rhs for s in d.forward if s.key == key]
    return rhs


def _over_params(expr: sp.Expr, d: Derivation) -> sp.Expr:
    """dγ or dβ as one sum over every element that shares one γ (``REDUCE_INDEX``):
    one element's share summed, or one group's sum summed over the groups."""
    f = d.f
    if isinstance(expr, sp.Sum):  # the group's sum: the groups add up to one sum over r
        (index, _, _) = expr.limits[0]
        return sp.Sum(expr.function.subs(index, REDUCE_INDEX), (REDUCE_INDEX, 1, f.m))
    return sp.Sum(expr.subs(f.j, REDUCE_INDEX), (REDUCE_INDEX, 1, f.m))


def lower_dxhat(
    d: Derivation, factored: bool = False
) -> tuple[list[Statement], dict[str, sp.Expr]]:
    """Statements for every normalization but batch norm, and the per-group coefficients
    of dx = a*dxhat + b*xhat + c (with ``factored``, dx = a*(dxhat + b*xhat + c))."""
    f = d.f
    i, j = f.i, f.j
    assert d.dx_dxhat is not None
    over = ", ".join(d.spec.layout[a] for a in d.spec.reduce_axes)
    statements = []
    if f.center:
        var_def = replace_indexed(_forward(d, "var"), f.x, lambda n: f.xmu[n] + f.mu)
        statements += [
            Statement("mu", _forward(d, "mu"), "mean of each group"),
            Statement(
                "xmu", f.x[i] - f.mu, "centred once; everything below uses x - mu", in_dx=True
            ),
            Statement("var", var_def, _variance_comment(d.spec)),
        ]
        xhat = Statement("xhat", f.xmu[i] * f.inv_std, "normalized in x - mu's memory", f.xmu[i])
    else:
        statements.append(Statement("ms", _forward(d, "ms"), _variance_comment(d.spec)))
        xhat = Statement("xhat", f.x[i] * f.inv_std, "no mean subtracted", in_dx=True)
    (dxhat,) = [s.rhs for s in d.staged if s.key == "dxhat"]
    statements += [
        Statement("inv_std", 1 / d.compact[0].rhs, "1/sigma, eps inside the square root"),
        xhat,
        Statement("dxhat", dxhat.subs(j, i), "dl/dxhat = gamma*dy"),
        Statement("dbeta", _over_params(d.dbeta, d), f"Σ dy over {over}"),
        Statement("dgamma", _over_params(d.dgamma, d), f"Σ dy*xhat over {over}"),
    ]
    dx = d.dx_dxhat.subs(f.sigma, 1 / f.inv_std)
    terms = sp.collect(sp.expand(dx), [f.dxhat[j], f.xhat[j]], evaluate=False)
    if set(terms) - {f.dxhat[j], f.xhat[j], sp.S.One}:
        raise BncheckError(f"dx is not affine in dxhat and xhat: {dx}", code="internal")
    a, b, c = (sp.factor_terms(terms.get(k, sp.S.Zero)) for k in (f.dxhat[j], f.xhat[j], sp.S.One))
    if factored:  # a = 1/σ: b/a and c/a are the group means of -dxhat*xhat and -dxhat
        b, c = (sp.factor_terms(sp.cancel(e / a)) for e in (b, c))
    # Each group sum gets a name (sum_dxhat, sum_dxhat_xhat), computed once per group.
    sums = sorted({e for e in sp.Add(a, b, c).atoms(sp.Sum)}, key=sp.default_sort_key)
    named = {e: sp.Symbol("sum_" + "_".join(_code_names(e.function)), real=True) for e in sums}
    statements += [
        Statement(str(named[e]), e, f"Σ {to_code_text(e.function)} over each group") for e in sums
    ]
    a, b, c = (e.xreplace(named) for e in (a, b, c))
    temps, reduced = sp.cse([a, b, c], symbols=sp.numbered_symbols("c"), order="canonical")
    statements += [Statement(str(s), e) for s, e in temps]
    return statements, dict(zip(("a", "b", "c"), reduced, strict=True))


def _over_rows(expr: sp.Expr) -> bool:
    """Whether ``expr`` is a sum over every element that shares one γ (dγ, dβ), which
    spans axis 0 whenever the statistics do not."""
    return isinstance(expr, sp.Sum) and expr.limits[0][0] == REDUCE_INDEX


def _code_names(term: sp.Expr) -> list[str]:
    """The arrays of a product, by their code names: dxhat*xhat -> ['dxhat', 'xhat']."""
    return sorted(str(e.base.label) for e in sp.Mul.make_args(term) if isinstance(e, sp.Indexed))


def _variance_comment(spec: NormSpec) -> str:
    if not spec.center:
        return "mean square (1/m), no mean subtracted"
    if spec.variance == "biased":
        return "biased variance (1/m), as in the paper"
    return "unbiased variance (1/(m-1))"


def _docstring(d: Derivation, backend: str) -> list[str]:
    spec = d.spec
    shape = "(" + ", ".join(spec.layout) + ")"
    reduced = ", ".join(spec.layout[a] for a in spec.axes)
    array = BACKENDS[backend].array_type
    if spec.is_batchnorm:
        features = "(" + ", ".join(spec.layout[a] for a in spec.feature_axes) + ",)"
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
    f = d.f
    over = ", ".join(spec.layout[a] for a in spec.reduce_axes)
    share = "one element's share" if f.gamma_inside else "one group's sum"
    xhat = "(x - mu)/sigma" if f.center else "x/sigma"
    params = _tuple([n if a in spec.parameter_axes else "1" for a, n in enumerate(spec.layout)])
    if not spec.param_keepdims:
        params = _tuple([spec.layout[a] for a in spec.parameter_axes])
    grouped = f"; groups: G, which divides {spec.layout[spec.axes[0]]}" if spec.groups else ""
    return [
        f'"""Backward of {spec.name} on {shape}, reduced over {reduced}; emitted by bncheck.',
        "",
        f"One group is {spec.describe_group()}.",
        "Derived by SymPy for a group of m elements (Σ sums over one group):",
        "",
        f"    dx     = {to_code_text(d.dx)}",
        f"    dgamma = {to_code_text(d.dgamma)}  ({share}, then summed over {over})",
        f"    dbeta  = {to_code_text(d.dbeta)}  ({share}, then summed over {over})",
        "",
        f"with sigma = {to_code_text(d.compact[0].rhs)}, xhat = {xhat}, dy = dl/dy.",
        "Computed as dx = " + to_code_text(d.dx_dxhat) + ", with dxhat = dl/dxhat = gamma*dy.",
        f"Conventions: {_variance_comment(spec)}; eps inside the square root.",
        "",
        f"dy, x: {array} of shape {shape}; gamma: {params}{grouped}.",
        "Returns (dx, dgamma, dbeta), dgamma and dbeta shaped like gamma;",
        "the statistics are recomputed from x.",
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


def _tuple(items: list[str]) -> str:
    return f"({items[0]},)" if len(items) == 1 else f"({', '.join(items)})"


def _view_lines(spec: NormSpec, backend: str) -> list[str]:
    """Shape glue of the forms in dxhat: the grouped view, m, γ broadcast (stat_shape is
    ``_stat_shape_lines``)."""
    view = View.of(spec)
    lines = []
    if spec.groups is not None:
        g = spec.axes[0]
        dims = [f"x.shape[{a}]" for a in range(spec.ndim)]
        dims[g : g + 1] = ["G", f"x.shape[{g}] // G"]
        lines += [
            "shape = x.shape",
            "gamma_shape = gamma.shape",
            f"view = {_tuple(dims)}  # {spec.layout[g]} cut into groups: one group is whole axes",
            "x = x.reshape(view)",
            "dy = dy.reshape(view)",
        ]
    elif spec.param_keepdims:
        lines.append("gamma_shape = gamma.shape")
    size = " * ".join(f"x.shape[{a}]" for a in view.group_axes)
    lines.append(f"m = {size}  # elements per group")
    if spec.groups is not None or not (spec.features_trailing or spec.param_keepdims):
        dims = [f"x.shape[{a}]" if a in view.param_axes else "1" for a in range(view.ndim)]
        lines.append(f"gamma = gamma.reshape({_tuple(dims)})  # broadcasts against x")
    return lines


def _stat_shape_lines(spec: NormSpec, backend: str, x: str = "x") -> list[str]:
    """The shape of one statistic per group of ``x`` (x, or a block of its rows), for the
    sums that come out of einsum without the group's axes."""
    if BACKENDS[backend].dot is None:
        return []
    view = View.of(spec)
    dims = ["1" if a in view.group_axes else f"{x}.shape[{a}]" for a in range(view.ndim)]
    return [f"stat_shape = {_tuple(dims)}  # one statistic per group"]


# Blocked code: the name of one block's rows of each array.
_BLOCK_NAMES = {"x": "xb", "dy": "dyb", "dx": "dxb"}


def _blocked(spec: NormSpec, backend: str) -> bool:
    """Whether the statements run on blocks of rows: the backend blocks and no statistic
    spans axis 0 (batch norm's do; its code is whole-array)."""
    table = BACKENDS[backend]
    return table.block_bytes is not None and table.blocks is not None and 0 not in spec.axes


def _block_lines(spec: NormSpec, backend: str, accumulated: list[str]) -> list[str]:
    """Glue before the loop over blocks of rows, and the loop's head: dx allocated once,
    the ``accumulated`` sums (dγ, dβ) zeroed, and each block's rows named."""
    view, backend_table = View.of(spec), BACKENDS[backend]
    assert backend_table.blocks is not None and backend_table.block_bytes is not None
    table = backend_table.blocks
    params = _tuple([f"x.shape[{a}]" for a in view.param_axes])
    rows = spec.layout[0]
    steps = "x - mu, then xhat, then dx" if spec.center else "xhat, then dx"
    lines = [
        f"# Blocks of rows ({rows}) so the temporaries stay in cache: {steps}",
        "# are computed in dx's rows, and dxhat is one block's size. dx is the only",
        f"# full-size array; the sums over {rows} (dgamma, dbeta) add up the blocks' shares.",
        f"dx = {table['empty'].format(a='x')}",
    ]
    zeros = table["zeros"].format(shape=params, a="x")
    lines += [f"{name} = {zeros}" for name in accumulated]
    lines += [
        "row_bytes = max(1, x[:1].nbytes)  # one row of x (x may have none)",
        f"rows = max(1, {backend_table.block_bytes // 1024} * 1024 // row_bytes)"
        "  # rows per block, at least 1",
        "for r in range(0, x.shape[0], rows):",
    ]
    names = _BLOCK_NAMES
    head = [f"{names[a]} = {a}[r : r + rows]" for a in ("x", "dy", "dx")]
    head[0] += "  # this block's rows of x, dy and dx: views, not copies"
    return lines + ["    " + line for line in head + _stat_shape_lines(spec, backend, names["x"])]


def _returns(spec: NormSpec) -> str:
    if spec.is_batchnorm:
        if spec.features_trailing:
            return "return dx, dgamma, dbeta"
        return "return dx, dgamma.reshape(-1), dbeta.reshape(-1)"
    dx = "dx.reshape(shape)" if spec.groups is not None else "dx"
    if spec.groups is None and not spec.param_keepdims:
        return f"return {dx}, dgamma, dbeta"
    return f"return {dx}, dgamma.reshape(gamma_shape), dbeta.reshape(gamma_shape)"


def emit_source(spec: NormSpec | None = None, backend: str = "numpy") -> str:
    """Deterministic source of ``<name>_backward(dy, x, gamma, eps)`` for ``backend``
    (``G`` before eps for a spec with groups: ``(dy, x, gamma, G, eps)``)."""
    spec = NormSpec() if spec is None else spec
    if backend not in BACKENDS:
        raise UsageError(
            f"unknown emit target {backend!r}",
            f"choose one of: {', '.join(BACKENDS)}",
            code="unknown-target",
        )
    d = derive(spec)
    table = BACKENDS[backend]
    blocked = not spec.is_batchnorm and _blocked(spec, backend)
    printer = printer_for(backend, spec, _BLOCK_NAMES if blocked else None)
    dx = _BLOCK_NAMES["dx"] if blocked else "dx"
    if spec.is_batchnorm:
        statements, coefficients = lower(d, table.factored)
        head = _docstring(d, backend) + _layout_lines(spec)
        combine = table.combine
    else:
        statements, coefficients = lower_dxhat(d, table.factored)
        head = _docstring(d, backend) + _view_lines(spec, backend)
        combine = table.combine_dxhat[coefficients["c"] != 0]
    # With blocks, a sum over the rows (dγ, dβ) adds each block's share to its total.
    accumulated = [s.target for s in statements if blocked and _over_rows(s.expr)]
    body: list[str] = []
    for s in statements:
        if s.inplace is not None:
            lines = [f"{s.target} = {printer.doprint(s.inplace)}"]
            lines.append(f"{s.target} *= {printer.doprint(sp.cancel(s.expr / s.inplace))}")
        elif blocked and s.in_dx:
            lines = [f"{s.target} = {printer.into(s.expr, dx)}"]
        else:
            op = "+=" if s.target in accumulated else "="
            lines = [f"{s.target} {op} {printer.doprint(s.expr)}"]
        if s.comment:
            lines[0] += f"  # {s.comment}"
        body += lines
    printed = {k: printer.doprint(v) for k, v in coefficients.items()}
    body += [line.format(dx=dx, **printed) for line in combine]
    if blocked:
        head += _block_lines(spec, backend, accumulated)
        body = ["    " + line if line else "" for line in body]
    elif not spec.is_batchnorm:
        head += _stat_shape_lines(spec, backend)
    body = head + body + [_returns(spec)]
    # GroupNorm: G before eps, as the plain style (dy, x, gamma, G, eps) and CS231n's forward
    groups = "" if spec.groups is None else f"G={spec.groups!r}, "
    header = [
        f"# Emitted by bncheck from the SymPy derivation of {spec.name}. Do not edit:",
        f"# regenerate with `bncheck derive --norm {spec.name} --emit {backend}`.",
        table.import_line,
        "",
        "",
        f"def {function_name(spec)}(dy, x, gamma, {groups}eps={spec.eps!r}):",
    ]
    return "\n".join(header + ["    " + line if line else "" for line in body]) + "\n"
