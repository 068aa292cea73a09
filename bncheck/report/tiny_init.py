"""tiny-init in a terminal: each layer's scale at initialisation, the losses, and why.

On synthetic blobs or on real digits (``--data digits``); ``report.demos`` registers
``print_tiny_init`` for a TinyInit and re-exports both functions.
"""

from __future__ import annotations

import math

from rich.console import Console
from rich.table import Table

from bncheck.demos.tiny_init import CHAOS, TinyInit, Trained
from bncheck.report.console import prose, rule

__all__ = ["conclude_tiny_init", "print_tiny_init"]


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
