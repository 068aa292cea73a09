"""The paper's teaching demos in a terminal: rich tables, plain text off a TTY.

Every demo ends with a one-line conclusion that quotes its own numbers; the
``conclude_*`` functions build that line from the results (the JSON carries it too).
``print_demo`` prints any demo's result, chosen by its type.
"""

from __future__ import annotations

import functools
import math

import sympy as sp
from rich.console import Console
from rich.table import Table
from sympy.printing.str import StrPrinter

from bncheck.demos.mean_dependence import MeanDependence, Run
from bncheck.demos.scale_invariance import ScaleInvariance
from bncheck.demos.tiny_init import CHAOS, TinyInit, Trained
from bncheck.report.console import one_line, prose, rule

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


# ---------------------------------------------------------------- tiny init


def _last_loss(t: Trained) -> str:
    """The loss at the last step; none of its digits when they depend on the arithmetic."""
    return "a chaotic value" if t.chaotic else f"{t.last:.4f}"


def _accuracy(t: Trained, value: float) -> str:
    return "chaotic" if t.chaotic else f"{value:.0%}"


def conclude_tiny_init(r: TinyInit) -> str:
    none, every = r["none"], r["every"]
    last, last0 = r["last"], r["last-eps0"]
    if r.options.data == "digits":
        return (
            f"on {r.examples} real digits: without BN the last layer's pre-activations start at "
            f"{none.scales[-1]:.1e} and in {r.options.steps} steps the loss only falls from "
            f"{none.first:.4f} to {_last_loss(none)} (ln {r.classes} = {r.chance_loss:.4f}; the "
            f"logits' bias learns the class frequencies), {_accuracy(none, none.val_accuracy)} of "
            f"the {r.held_out} held-out digits right; with BN in every layer it falls to "
            f"{_last_loss(every)}, {_accuracy(every, every.val_accuracy)} of them right; with BN "
            f"only before the softmax it falls to {_last_loss(last0)} with eps = 0 but stays at "
            f"{_last_loss(last)} with eps = {last.config.eps:g}."
        )
    return (
        f"without BN the last layer's pre-activations start at {none.scales[-1]:.1e} and the loss "
        f"stays at {_last_loss(none)} (ln {r.options.classes} = {r.chance_loss:.4f}) after "
        f"{r.options.steps} steps; with BN in every layer it falls to {_last_loss(every)}; "
        f"with BN only before the softmax it falls to {_last_loss(last0)} with eps = 0 but stays "
        f"at {_last_loss(last)} with eps = {last.config.eps:g}."
    )


def print_tiny_init(console: Console, r: TinyInit) -> None:
    o, every = r.options, r["every"]
    factor = o.init / math.sqrt(3) * math.sqrt(o.width)  # std of U(−c, c) is c/√3
    digits = o.data == "digits"
    prose(
        console,
        f"A {o.depth}-layer network initialised with W ~ U(−{o.init:g}, {o.init:g})"
        + (" on real digits" if digits else ""),
        "bold",
    )
    task = (
        f"scikit-learn's 8×8 digits, {r.features} pixels, {r.classes} classes: {r.examples} "
        f"training images (a seeded subset, one batch), {r.held_out} held out"
        if digits
        else f"{r.classes} Gaussian blobs in {r.features} dimensions, {r.examples} examples "
        "(one batch)"
    )
    prose(
        console,
        f"Task: {task}; "
        f"{o.depth - 1} tanh layers of width {o.width}, softmax; gradient descent, lr = {o.lr}, "
        f"{o.steps} steps, seed {o.seed}. BN's backward is the code bncheck emits from SymPy.",
    )
    rule(console, "Scale of each layer's input to tanh / softmax at initialisation (std)")
    scales = Table(show_edge=False, pad_edge=False)
    scales.add_column("layer", justify="right")
    for t in r.results:
        scales.add_column(t.config.label, justify="right")
    for k in range(o.depth):
        scales.add_row(str(k + 1), *(f"{t.scales[k]:.1e}" for t in r.results))
    console.print(scales)
    rule(console, f"Cross-entropy after {o.steps} steps (ln {r.classes} = {r.chance_loss:.4f})")
    runs = Table(show_edge=False, pad_edge=False)
    headers = ["network", "loss at step 0", f"loss at step {o.steps}", "accuracy", "trained?"]
    if digits:
        headers[4:4] = ["held out"]  # accuracy on the held-out digits
    for header in headers:
        runs.add_column(header, justify="left" if header == "network" else "right")
    for t in r.results:
        accuracies = [_accuracy(t, t.accuracy)]
        if digits:
            accuracies.append(_accuracy(t, t.val_accuracy))
        runs.add_row(
            t.config.label,
            f"{t.first:.4f}",
            "chaotic" if t.chaotic else f"{t.last:.4f}",
            *accuracies,
            "yes" if t.trained else "no",
        )
    console.print(runs)
    for t in (t for t in r.results if t.chaotic):
        why = (
            f" With eps = 0 BN's gradient is ∝ 1/σ and σ of W·h starts at {t.raw_scales[-1]:.1e}: "
            "the first step multiplies the weights many times over."
            if t.config.eps == 0
            else ""
        )
        prose(
            console,
            f"{t.config.label} is chaotic: moving every input by one ulp moves its loss at step "
            f"{o.steps} by more than {CHAOS:g} of itself, so its digits and its accuracy depend on "
            f"the CPU's arithmetic (--json has them).{why}",
        )
    prose(
        console,
        f"Why: without BN each layer multiplies the scale by ~{o.init:g}/√3·√{o.width} = "
        f"{factor:.1e}, so the logits are ~0 and so is every gradient. BN restores the scale "
        f"whatever the scale of W·h (to below 1 here: eps = {every.config.eps:g} is comparable to "
        f"Var[W·h] ≈ {every.raw_scales[-1] ** 2:.0e}), and its gradient with respect to a tiny W "
        "is large (∝ 1/|W|, Section 3.3). Before the softmax alone it helps only if eps is below "
        f"the collapsed variance: eps = {r['last'].config.eps:g} against "
        f"~{r['none'].scales[-1] ** 2:.0e} just "
        "multiplies by 1/sqrt(eps).",
    )
    if digits:
        none = r["none"]
        prose(
            console,
            f"On the digits the loss without BN still moves, from {none.first:.4f} to "
            f"{_last_loss(none)}: the logits' bias gets a gradient that does not pass through "
            "the dead layers, and learns the class frequencies (the digits' classes are not "
            "exactly balanced; the blobs' are). accuracy: on the training batch; held out: on the "
            f"{r.held_out} held-out digits, which BN normalises with the training batch's "
            "statistics at the last step.",
        )
    if not math.isfinite(r["every"].last):
        prose(console, "  (BN in every layer diverged: try a smaller --lr)", "yellow")
    prose(console, conclude_tiny_init(r), "bold green")


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
