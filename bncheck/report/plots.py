"""Plots of the demos (matplotlib, the optional extra ``plot``), made without pyplot.

The figures are ``matplotlib.figure.Figure`` objects that no backend manages: nothing global
changes (no backend switch, no figure left open, no window), so ``bncheck demo --plot`` and a
demo's result shown in a notebook draw the same way, and the notebook's own plots still show.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bncheck.errors import MissingDependencyError

__all__ = ["figure", "require_matplotlib", "save_plot"]


class _Figures:
    """The one piece of pyplot the draw functions use, ``subplots``, without pyplot."""

    @staticmethod
    def subplots(*args: Any, figsize: tuple[float, float] | None = None, **kwargs: Any) -> Any:
        from matplotlib.figure import Figure

        fig = Figure(figsize=figsize)
        return fig, fig.subplots(*args, **kwargs)


def require_matplotlib() -> Any:
    """What the draw functions take as ``plt``; a MissingDependencyError saying what to install."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise MissingDependencyError.for_module("matplotlib", "plot", "--plot") from None
    return _Figures()


def _mean_dependence(plt: Any, r: Any) -> Any:
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for run, style in ((r.naive, "-o"), (r.full, "--s")):
        steps = [rec.step for rec in run.records]
        left.plot(steps, [rec.norm for rec in run.records], style, label=f"{run.rule} |b|")
        right.plot(steps, [rec.loss for rec in run.records], style, label=f"{run.rule} loss")
    left.set(xlabel="step", ylabel="|b|", title="b drifts under the naive update")
    right.set(xlabel="step", ylabel="loss", title="the loss does not change")
    return fig, (left, right)


def _scale_invariance(plt: Any, r: Any) -> Any:
    fig, ax = plt.subplots(figsize=(6, 4))
    a = [row.a for row in r.rows]
    ax.loglog(a, [row.dW_norm for row in r.rows], "-o", label="‖∂ℓ/∂(aW)‖")
    ax.loglog(a, [r.rows[0].dW_norm * r.rows[0].a / x for x in a], ":", label="∝ 1/a")
    ax.set(xlabel="a", ylabel="gradient norm", title="larger weights, smaller gradients")
    return fig, (ax,)


def _tiny_init(plt: Any, r: Any) -> Any:
    fig, ax = plt.subplots(figsize=(6, 4))
    styles = (
        "--",
        "-",
        ":",
        "-.",
    )  # no BN and BN-before-softmax with eps overlap: keep both visible
    for t, style in zip(r.results, styles, strict=False):
        ax.plot(range(len(t.losses)), t.losses, style, linewidth=2, label=t.config.label)
    o = r.options
    data = f"{r.examples} real digits" if o.data == "digits" else "synthetic blobs"
    title = f"W ~ U(−{o.init:g}, {o.init:g}), {o.depth} layers, {data}"
    ax.set(xlabel="step", ylabel="cross-entropy", title=title)
    return fig, (ax,)


def _legends(draw: Any) -> Any:
    """The three Section demos' figures, each axis with its legend."""

    def drawn(plt: Any, result: Any) -> Any:
        fig, axes = draw(plt, result)
        for ax in axes:
            ax.legend()
        return fig

    return drawn


def figure(name: str, result: Any) -> Any:
    """The demo's matplotlib figure (the caller saves or shows it, then closes it)."""
    from bncheck.report.experiments import MODULES

    plt = require_matplotlib()
    if name in MODULES:
        return MODULES[name].draw(plt, result)
    draw = {
        "mean-dependence": _mean_dependence,
        "scale-invariance": _scale_invariance,
        "tiny-init": _tiny_init,
    }[name]
    return _legends(draw)(plt, result)


def save_plot(name: str, result: Any, path: Path, dpi: int = 100) -> None:
    fig = figure(name, result)
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
