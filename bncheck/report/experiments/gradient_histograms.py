"""The gradient-histograms demo's text, JSON and plot: ∂ℓ/∂W per layer at initialisation."""

from __future__ import annotations

import math
from dataclasses import asdict
from typing import Any

from rich.console import Console
from rich.table import Table

from bncheck.demos.gradient_histograms import GAUSSIAN_BEYOND_3SD, GradientHistograms, Network
from bncheck.report.console import prose, rule
from bncheck.spec import NormSpec

__all__ = ["body", "conclude", "draw", "show"]

_KIND = {"relu": "ReLU", "tanh": "tanh", "sigmoid": "sigmoid", "linear": "linear"}
_INIT = {"he": "He", "xavier": "Xavier"}


def _init(n: Network) -> str:
    """He, Xavier, U(±0.01)."""
    if isinstance(n.init, str):
        return _INIT.get(n.init, n.init)
    return f"U(±{n.init:g})"


def _setting(n: Network) -> str:
    """ReLU/He, tanh/Xavier, tanh/U(±0.01)."""
    return f"{_KIND.get(n.activation, n.activation)}/{_init(n)}"


def _tails(n: Network) -> str:
    """Words for a median excess kurtosis: a Gaussian's is 0, a Laplace's 3."""
    k = n.median("kurtosis")
    if k >= 3:
        return "heavy-tailed"
    return "close to Gaussian" if k < 0.5 else "mildly heavy-tailed"


def _pct(share: float) -> str:
    return f"{share:.2%}"


def _k(value: float) -> str:
    """An excess kurtosis, to two decimals."""
    return "—" if math.isnan(value) else f"{value:.2f}"


def _rms(value: float) -> str:
    return f"{value:.2e}"


def conclude(r: GradientHistograms) -> str:
    p, b, d = r.plain, r.bn, r.options.depth
    tails_hold = p.median("kurtosis") > b.median("kurtosis") and p.median("beyond_3sd") > b.median(
        "beyond_3sd"
    )
    scale_holds = b.growth < p.growth if p.growth >= 1 else b.growth <= 1 / p.growth
    text = (
        f"{_setting(p)} at initialisation: without BN the {d} layers' ∂ℓ/∂W are {_tails(p)} "
        f"(median excess kurtosis {_k(p.median('kurtosis'))}, {_pct(p.median('beyond_3sd'))} "
        f"beyond 3σ; a Gaussian: 0, {_pct(GAUSSIAN_BEYOND_3SD)}; "
        f"{p.median('zeros'):.1%} exactly 0), with BN {_tails(b)} "
        f"({_k(b.median('kurtosis'))}, {_pct(b.median('beyond_3sd'))}): the claim on tails "
        f"{'holds' if tails_hold else 'does not hold'}; "
        f"the scale {'concentrates' if scale_holds else 'does not concentrate'} with BN: "
        f"layer 1's RMS is {b.growth:.2f}× layer {d - 1}'s with BN, {p.growth:.2f}× without"
    )
    if r.control is not None:
        cp, cb = r.control
        text += (
            f"; with {_setting(cp)} the net without BN is {_tails(cp)} "
            f"({_k(cp.median('kurtosis'))}, {_pct(cp.median('beyond_3sd'))}), "
            f"with BN {_tails(cb)} ({_k(cb.median('kurtosis'))}, "
            f"{_pct(cb.median('beyond_3sd'))})"
        )
    return text + "."


def _layers_table(r: GradientHistograms) -> Table:
    table = Table(show_edge=False, pad_edge=False)
    table.add_column("layer", justify="right")
    for who in ("no BN", "BN"):
        table.add_column(f"{who}\nRMS", justify="right")
        table.add_column(f"{who}\nkurtosis", justify="right")
        if who == "no BN":
            table.add_column(f"{who}\nkurt. ≠ 0", justify="right")
        table.add_column(f"{who}\n>3σ", justify="right")
        table.add_column(f"{who}\nexact 0", justify="right")
    for p, b in zip(r.plain.layers, r.bn.layers, strict=True):
        table.add_row(
            str(p.index),
            _rms(p.rms),
            _k(p.kurtosis),
            _k(p.kurtosis_nonzero),
            _pct(p.beyond_3sd),
            f"{p.zeros:.1%}",
            _rms(b.rms),
            _k(b.kurtosis),
            _pct(b.beyond_3sd),
            f"{b.zeros:.1%}",
        )
    return table


def _summary_table(r: GradientHistograms) -> Table:
    d = r.options.depth
    table = Table(show_edge=False, pad_edge=False)
    headers = (
        "network",
        "loss",
        f"RMS 1/{d - 1}",
        "med. kurt.",
        "max kurt.",
        "med. >3σ",
        "med. exact 0",
    )
    for header in headers:
        table.add_column(header, justify="left" if header == "network" else "right")
    for n in r.networks:
        table.add_row(
            f"{_setting(n)}, {'BN' if n.bn else 'no BN'}",
            f"{n.loss:.4f}",
            f"{n.growth:.2f}",
            _k(n.median("kurtosis")),
            _k(n.most("kurtosis")),
            _pct(n.median("beyond_3sd")),
            f"{n.median('zeros'):.1%}",
        )
    return table


def show(console: Console, r: GradientHistograms) -> None:
    o, p = r.options, r.plain
    first, last = p.layers[0].shape, p.layers[-1].shape
    prose(
        console,
        f"Gradients at initialisation: a {o.depth}-layer MLP on real digits, with and without BN",
        "bold",
    )
    prose(
        console,
        f"scikit-learn's digits ({r.features} pixels, {r.classes} classes), {o.batches} fixed "
        f"batches of {o.batch} training images; {o.depth - 1} {_KIND.get(p.activation)} layers "
        f"of width {o.width} and softmax logits (layer 1: {first[0]}×{first[1]}, layer {o.depth}: "
        f"{last[0]}×{last[1]}), weights drawn with {_init(p)}'s init, biases 0. The same weights "
        "and batches with BN after every hidden linear layer (γ = 1, β = 0, the batch's "
        f"statistics, eps = {NormSpec().eps:g}; BN's backward is the code bncheck "
        f"emits from SymPy). Each layer's ∂ℓ/∂W (ℓ: the batch's mean cross-entropy), every entry "
        f"of the {o.batches} batches pooled; seed {o.seed}.",
    )
    rule(console, f"∂ℓ/∂W per layer at initialisation, {_setting(p)}")
    console.print(_layers_table(r))
    prose(
        console,
        "  RMS: sqrt(mean(g²)); kurtosis: excess kurtosis (a Gaussian's is 0, a Laplace's 3); "
        "kurt. ≠ 0: the same without the entries that are exactly 0; >3σ: the share more than 3 "
        f"standard deviations from the mean (a Gaussian's: {_pct(GAUSSIAN_BEYOND_3SD)}); exact 0: "
        "entries of a unit that is dead (ReLU) for every image of a batch, or of a pixel that is "
        f"constant (3 of {r.features}).",
        style="dim",
    )
    rule(console, f"Summary over the {o.depth} layers")
    console.print(_summary_table(r))
    prose(
        console,
        f"  loss: at initialisation, mean over the batches (ln {r.classes} = "
        f"{math.log(r.classes):.4f}); RMS 1/{o.depth - 1}: the first layer's RMS over the last "
        "hidden layer's, > 1 when gradients grow towards the input; med., max: over the layers.",
        style="dim",
    )
    prose(
        console,
        f"What this does not show: a {o.depth}-layer MLP of width {o.width} on 8×8 digits is not "
        "Inception on ImageNet (no convolutions, far less data and width), and this is "
        "initialisation only: one draw of weights with γ = 1, β = 0, not how the gradients evolve "
        "in training nor whether their tails help or hurt it. The entries of one ∂ℓ/∂W share their "
        "rows' and columns' units, so they are not independent samples, and much of the tail "
        "without BN is dead units' exact zeros (the kurt. ≠ 0 column leaves them out). Other "
        "activations and inits change the picture (the summary's last rows); other seeds: --seed.",
    )
    prose(console, conclude(r), "bold green")


def body(r: GradientHistograms) -> dict[str, Any]:
    def network(n: Network, role: str) -> dict[str, Any]:
        return {
            "role": role,
            "activation": n.activation,
            "init": n.init,
            "bn": n.bn,
            "loss": n.loss,
            # RMS of layer 1 over the last hidden layer's: > 1 when gradients grow to the input
            "growth": n.growth,
            "median_kurtosis": n.median("kurtosis"),
            "median_beyond_3sd": n.median("beyond_3sd"),
            "median_zeros": n.median("zeros"),
            # counts: histogram of (g − mean)/std on histogram_edges
            "layers": [asdict(layer) for layer in n.layers],
        }

    networks = [network(r.plain, "main"), network(r.bn, "main")]
    networks += [network(n, "control") for n in r.control or ()]
    return {
        "features": r.features,
        "classes": r.classes,
        "gaussian_beyond_3sd": GAUSSIAN_BEYOND_3SD,
        # in units of each layer's own standard deviation, around its mean
        "histogram_edges": list(r.options.edges),
        "networks": networks,
        "conclusion": conclude(r),
    }


def draw(plt: Any, r: GradientHistograms) -> Any:
    import numpy as np

    edges = np.asarray(r.options.edges)
    fig, axes = plt.subplots(2, 2, figsize=(9, 6.5))
    panels = list(axes.ravel())
    # P(bin) for a Gaussian: the dotted reference, scaled to the layer's number of entries
    gaussian = np.diff([0.5 * math.erfc(-e / math.sqrt(2)) for e in edges])
    for ax, k in zip(panels, r.shown_layers, strict=False):
        p, b = r.plain.layers[k - 1], r.bn.layers[k - 1]
        # steps are axis-aligned: no anti-aliasing keeps them sharp and the PNG small
        for layer, label in ((p, "no BN"), (b, "BN")):
            ax.stairs(
                layer.counts,
                edges,
                label=f"{label}, kurtosis {_k(layer.kurtosis)}",
                linewidth=1.2,
                antialiased=False,
            )
        expected = (sum(p.counts) + p.outside) * gaussian
        ax.stairs(
            np.where(expected >= 0.1, expected, np.nan),
            edges,
            color="k",
            linestyle=":",
            label="Gaussian",
            antialiased=False,
        )
        ax.set_yscale("log")
        ax.set_ylim(bottom=0.5)
        where = "logits" if k == r.options.depth else "hidden"
        ax.set(
            xlabel="(∂ℓ/∂W − mean) / std",
            ylabel="entries",
            title=f"layer {k} ({where}, {p.shape[0]}×{p.shape[1]})",
        )
        ax.legend(fontsize=8)
    scale = panels[len(r.shown_layers)]
    layers = [layer.index for layer in r.plain.layers]
    for i, (n, style) in enumerate(zip(r.networks, ("-", "-", ":", "--"), strict=False)):
        thin = i >= 2  # the control setting
        scale.stairs(
            [layer.rms for layer in n.layers],
            np.arange(0.5, len(layers) + 1),  # one step per layer
            linestyle=style,
            linewidth=1 if thin else 1.2,
            label=f"{_setting(n)}, {'BN' if n.bn else 'no BN'}",
            baseline=None,  # no drop to the axis at either end
            antialiased=False,
        )
    scale.set_yscale("log")
    scale.set(xlabel="layer (1: input side)", ylabel="RMS of ∂ℓ/∂W", title="gradient scale")
    scale.xaxis.get_major_locator().set_params(integer=True)
    scale.legend(fontsize=8)
    for ax in panels[len(r.shown_layers) + 1 :]:
        ax.set_visible(False)
    fig.suptitle(f"{r.options.depth}-layer {_setting(r.plain)} MLP at initialisation")
    return fig
