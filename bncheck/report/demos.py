"""The paper's teaching demos in a terminal: rich tables, plain text off a TTY.

Every demo ends with a one-line conclusion that quotes its own numbers; the
``conclude_*`` functions build that line from the results (the JSON carries it too).
``print_demo`` prints any demo's result, chosen by its type.
"""

from __future__ import annotations

import functools

import sympy as sp
from rich.console import Console
from rich.table import Table
from sympy.printing.str import StrPrinter

from bncheck.demos.mean_dependence import MeanDependence, Run
from bncheck.demos.scale_invariance import ScaleInvariance
from bncheck.demos.tiny_init import TinyInit
from bncheck.report.console import one_line, prose, rule
from bncheck.report.tiny_init import conclude_tiny_init, print_tiny_init

__all__ = [
    "conclude_mean_dependence",
    "conclude_scale_invariance",
    "conclude_tiny_init",
    "line",
    "print_demo",
    "print_mean_dependence",
    "print_scale_invariance",
    "print_tiny_init",
]

_SUB = str.maketrans("ijklmn0123456789", "ᵢⱼₖₗₘₙ₀₁₂₃₄₅₆₇₈₉")
_SPELL = {"xhat": "x̂", "mu": "μ", "sigma": "σ", "epsilon": "ε"}


class _LinePrinter(StrPrinter):
    """One-line formulas in the paper's symbols: Σₖ(uₖ)/m, x̂ᵢ, σ."""

    printmethod = "_bncheck_line"  # Indexed has its own _sympystr; bypass it

    def _print_Sum(self, expr: sp.Sum) -> str:
        (index, _, _) = expr.limits[0]
        return f"Σ{str(index).translate(_SUB)}({self._print(expr.function)})"

    def _print_Indexed(self, expr: sp.Indexed) -> str:
        label = str(expr.base.label)
        return _SPELL.get(label, label) + str(expr.indices[0]).translate(_SUB)

    def _print_Symbol(self, expr: sp.Symbol) -> str:
        return _SPELL.get(expr.name, expr.name)


def line(expr: sp.Expr) -> str:
    return _LinePrinter().doprint(expr).replace("**2", "²").replace("*", "·")


def _rounding(value: float) -> str:
    """A difference that is zero up to rounding: '0' or one significant digit."""
    return "0" if value == 0 else f"{value:.0e}"


def _shown_steps(n: int, brief: bool) -> list[int | None]:
    """Which record indices to print; None marks an elision row."""
    if brief:
        picks = sorted({0, 1, 2, n // 4, n // 2, (3 * n) // 4, n - 1})
    elif n <= 25:
        return list(range(n))
    else:
        picks = [*range(10), None, *range(n - 5, n)]  # type: ignore[list-item]
    return [p for p in picks if p is None or 0 <= p < n]


def _eq(console: Console, lhs: str, rhs: str, note: str = "") -> None:
    one_line(console, f"  {lhs} = {rhs}", note, gap=4)


@functools.singledispatch
def print_demo(result: object, console: Console) -> None:
    """Print a demo's result (from ``bncheck.demos.DEMOS``); the renderer follows its type."""
    raise TypeError(f"not a demo's result: {type(result).__name__}")


# ---------------------------------------------------------------- Section 2


def conclude_mean_dependence(r: MeanDependence) -> str:
    n, f = r.naive, r.full
    return (
        f"naive: b moved {n.drift:.4g} in {r.options.steps} steps while the loss stayed at "
        f"{n.records[0].loss:.4f} (relative change {_rounding(n.loss_change)}); "
        f"full gradient (SymPy: ∂ℓ/∂b = {line(r.derivation.dl_db)}): b moved {f.drift:.4g}."
    )


def _runs_table(naive: Run, full: Run, brief: bool) -> Table:
    p = naive.param
    table = Table(show_edge=False, pad_edge=False)
    table.add_column("step", justify="right")
    table.add_column(f"naive |{p}|", justify="right")
    table.add_column("naive loss", justify="right")
    table.add_column("max |Δx̂|", justify="right")
    table.add_column(f"full |{p}|", justify="right")
    table.add_column("full loss", justify="right")
    for index in _shown_steps(len(naive.records), brief):
        if index is None:
            table.add_row("…", "…", "…", "…", "…", "…")
            continue
        a, b = naive.records[index], full.records[index]
        table.add_row(
            str(a.step),
            f"{a.norm:.4f}",
            f"{a.loss:.10f}",
            _rounding(a.max_dxhat),
            f"{b.norm:.4f}",
            f"{b.loss:.10f}",
        )
    return table


def print_mean_dependence(console: Console, r: MeanDependence, brief: bool = False) -> None:
    s, o = r.derivation, r.options
    prose(console, "Section 2: a bias update that ignores how E[x] depends on b", "bold")
    prose(
        console,
        "Layer x = u + b, normalized x̂ = x − E[x], loss ℓ = Σᵢ (x̂ᵢ − tᵢ)² / (2m) per feature; "
        f"m = {o.m} examples, {o.d} features, target t with mean ≈ 2, lr = {o.lr}, seed {o.seed}.",
    )
    rule(console, "SymPy, for a symbolic batch size m")
    _eq(console, "x̂ᵢ", line(s.xhat))
    _eq(console, "∂x̂ᵢ/∂b", f"{line(s.dxhat_db_chain)} = {line(s.dxhat_db)}", "E[x] moves with b")
    _eq(console, "∂ℓ/∂b", line(s.dl_db), "the full gradient: b never moves")
    _eq(console, "∂x̂ᵢ/∂b |E[x] fixed", line(s.dxhat_db_naive), "the naive Jacobian")
    _eq(console, "∂ℓ/∂b |E[x] fixed", line(s.dl_db_naive), "= −E[t]: constant, never zero")
    if not brief:
        prose(console, "The paper's algebra: after a step Δb the output is the same,", "bold")
        _eq(console, line(s.update_lhs), line(s.update_rhs))
        _eq(console, "difference", line(s.update_difference), "SymPy, after splitting the sums")
        prose(console, "Is E[Δb] = Δb?", "bold")
        _eq(console, line(s.mean_of_db[0]), line(s.mean_of_db[1]))
        prose(
            console,
            "  Yes: Δb is one number per feature, added to every example, so its batch mean "
            "is m·Δb/m = Δb. That is why it cancels in x + Δb − E[x + Δb].",
        )
    rule(console, "Gradient descent on b")
    console.print(_runs_table(r.naive, r.full, brief))
    prose(
        console,
        f"  finite-difference ∂ℓ/∂b at the start (no SymPy): {_rounding(r.fd_dl_db)}",
        style="dim",
    )
    if not brief:
        rule(console, "The scaled variant: x = w·u, x̂ = (x − E[x]) / std(x), eps = 0")
        _eq(console, "∂x̂ᵢ/∂w", line(s.dxhat_dw), "SymPy, w > 0: x̂ does not depend on w")
        _eq(console, "∂x̂ᵢ/∂w |E[x], std fixed", line(s.dxhat_dw_naive), "the naive Jacobian")
        console.print(_runs_table(r.scaled_naive, r.scaled_full, brief))
        sn = r.scaled_naive
        prose(
            console,
            f"  naive: |w| grew from {sn.records[0].norm:.4f} to {sn.records[-1].norm:.4f} "
            f"(it keeps growing, like √step) while x̂ and the loss stayed fixed.",
        )
    prose(console, conclude_mean_dependence(r), "bold green")


# ---------------------------------------------------------------- Section 3.3

_RULES = ("eps = 0", "eps -> a²·eps", "fixed eps")
_NAMES = {
    "forward": "BN((aW)u) = BN(Wu)",
    "d/du": "∂BN((aW)u)/∂u = ∂BN(Wu)/∂u",
    "d/d(aW)": "∂BN((aW)u)/∂(aW) = (1/a)·∂BN(Wu)/∂W",
}


def conclude_scale_invariance(r: ScaleInvariance) -> str:
    exact = [i for i in r.identities if i.eps_rule != "fixed eps"]
    proved = all(i.holds for i in exact)
    lo, hi = r.rows[0], r.rows[-1]
    eps0 = max(max(row.forward_eps0, row.du_eps0, abs(row.dW_ratio_eps0 - 1)) for row in r.rows)
    worst = max(r.rows, key=lambda row: row.forward)
    return (
        f"SymPy {'proved' if proved else 'FAILED to prove'} all three identities for eps = 0 "
        f"and eps -> a²·eps ({sum(i.entries for i in exact)} entries); numerically they hold "
        f"to {_rounding(eps0)} with eps = 0, and with eps = {r.options.eps:g} BN moves by up to "
        f"{worst.forward:.2g} (at a = {worst.a:g}); ‖∂ℓ/∂(aW)‖ falls from {lo.dW_norm:.4g} at "
        f"a = {lo.a:g} to {hi.dW_norm:.4g} at a = {hi.a:g}, as 1/a."
    )


def print_scale_invariance(console: Console, r: ScaleInvariance) -> None:
    o = r.options
    prose(console, "Section 3.3: back-propagation through BN is scale invariant", "bold")
    prose(
        console,
        "For z = W·u followed by BN and any a > 0 the paper states three identities. "
        "The trap is eps: Var[aWu] = a²·Var[Wu], but sqrt(a²·Var + eps) ≠ a·sqrt(Var + eps), "
        "so they are exact only when eps = 0 or eps scales with a² (eps -> a²·eps).",
    )
    m, d_in, d_out = r.sizes
    rule(console, f"SymPy, every entry, batch {m}, W of shape {d_in}×{d_out}")
    proofs = Table(show_edge=False, pad_edge=False)
    proofs.add_column("identity")
    for eps_rule in _RULES:
        proofs.add_column(eps_rule, justify="center")
    for name, spelled in _NAMES.items():
        cells = []
        for eps_rule in _RULES:
            found = [i for i in r.identities if i.name == name and i.eps_rule == eps_rule]
            if not found:
                cells.append("—")
            elif found[0].holds:
                cells.append(f"exact ({found[0].entries} entries)")
            else:
                cells.append("not an identity")
        proofs.add_row(spelled, *cells)
    console.print(proofs)
    prose(
        console,
        "  exact: every entry of the difference cancels to 0 as a rational function; "
        "not an identity: the difference is non-zero at a point (a = 2).",
        style="dim",
    )
    rule(console, f"Numbers: batch {o.m}, W of shape {o.d_in}×{o.d_out}, seed {o.seed}")
    table = Table(show_edge=False, pad_edge=False)
    e = f"{o.eps:g}"
    headers = (
        "a",
        f"BN ε={e}",
        "BN ε=0",
        f"∂u ε={e}",
        "∂u ε=0",
        f"∂W ε={e}",
        "∂W ε=0",
        "‖∂ℓ/∂(aW)‖",
    )
    for header in headers:
        table.add_column(header, justify="right")
    for row in r.rows:
        table.add_row(
            f"{row.a:g}",
            f"{row.forward:.2e}",
            _rounding(row.forward_eps0),
            f"{row.du:.2e}",
            _rounding(row.du_eps0),
            f"{row.dW_ratio:.6f}",
            f"{row.dW_ratio_eps0:.6f}",
            f"{row.dW_norm:.4g}",
        )
    console.print(table)
    prose(
        console,
        "  BN: max |BN((aW)u) − BN(Wu)|;  ∂u: max |Δ∂ℓ/∂u| / max |∂ℓ/∂u|;  "
        "∂W: a·‖∂ℓ/∂(aW)‖ / ‖∂ℓ/∂W‖, which is 1 when the 1/a law holds; "
        "ℓ = Σ g·BN with a random upstream g.",
        style="dim",
    )
    prose(
        console,
        "What it means: the layer's Jacobian with respect to its input does not depend on the "
        "scale of W, and the gradient with respect to W shrinks as W grows (×1/a). A weight that "
        "grows large slows its own growth, so BN stabilises training and tolerates larger learning "
        "rates.",
    )
    prose(console, conclude_scale_invariance(r), "bold green")


@print_demo.register
def _(result: MeanDependence, console: Console) -> None:
    print_mean_dependence(console, result)


@print_demo.register
def _(result: ScaleInvariance, console: Console) -> None:
    print_scale_invariance(console, result)


@print_demo.register
def _(result: TinyInit, console: Console) -> None:
    print_tiny_init(console, result)


# ---------------------------------------------------------------- on real digits


def _register_experiments() -> None:
    """The experiments' reports (``report.experiments``): ``show`` for their result types."""
    from bncheck.demos import batch_noise, gradient_histograms, learning_rate
    from bncheck.report import experiments as e

    for result, module in (
        (learning_rate.LearningRate, e.learning_rate),
        (gradient_histograms.GradientHistograms, e.gradient_histograms),
        (batch_noise.BatchNoise, e.batch_noise),
    ):
        print_demo.register(result, lambda r, console, show=module.show: show(console, r))


_register_experiments()
