"""Jupyter's views of a derivation and of a demo: Markdown with MathJax maths, LaTeX, HTML.

``Derivation._repr_markdown_`` / ``_repr_latex_`` and the demos' ``Shown._repr_html_`` hand
their object to the functions here, as ``_Reported._repr_html_`` does for a verify result.
Jupyter renders ``$$...$$`` with MathJax (not GitHub's ```math blocks), so every equation is
one ``$$\\begin{aligned} ... \\end{aligned}$$`` display.
"""

from __future__ import annotations

import base64
import html as _html
import io
import re
from collections.abc import Iterator
from typing import Any

from bncheck.emit.document import SECTIONS, group_notes
from bncheck.emit.notation import to_code_text, to_latex
from bncheck.symbolic.derive import Derivation, Step

__all__ = ["demo_html", "derivation_latex", "derivation_markdown"]

# Markdown would read these in prose: 0.9*running*... turns italic, a | ends a table cell.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>|$#])")
# What LaTeX's \text{} cannot hold as it is (MathJax would print the backslash of \_).
_TEXT_SPECIAL = re.compile(r"[\\{}$&#^_%~]")


def _md(text: str) -> str:
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text)


def _label(text: str) -> str:
    return _TEXT_SPECIAL.sub(" ", text)


def _rows(step: Step) -> list[str]:
    """``lhs = chain`` (SymPy's chain rule), then ``= rhs`` (simplified); a definition alone."""
    lhs = to_latex(step.lhs)
    if step.chain is None:
        return [rf"{lhs} &= {to_latex(step.rhs)}"]
    return [
        rf"{lhs} &= {to_latex(step.chain)} && \text{{chain rule}}",
        rf"&= {to_latex(step.rhs)} && \text{{simplified}}",
    ]


def _numbered(d: Derivation) -> Iterator[tuple[str, int, Step]]:
    number = 0
    for attr, title in SECTIONS:
        for step in getattr(d, attr):
            number += 1
            yield title, number, step


def derivation_markdown(d: Derivation) -> str:
    """The derivation for a notebook: each step's title and reason in prose, then its
    equation as display maths (chain rule, then simplified)."""
    spec = d.spec
    lines = [
        f"### The {_md(spec.name)} backward pass, derived by SymPy",
        "",
        f"One normalization group is {_md(spec.describe_group())}; m is a symbol, so every "
        "result below holds for every group size.",
        "",
        "| convention | value |",
        "|---|---|",
        *(f"| {_md(k)} | {_md(v)} |" for k, v in spec.conventions()),
        "",
        *[line for note in group_notes(spec) for line in (_md(note), "")],
        r"$g_i = \partial \ell / \partial y_i$ is the upstream gradient; "
        r"$\delta_{jk}$ is SymPy's Kronecker delta, $\partial x_k / \partial x_j$.",
        "",
    ]
    section = ""
    for title, number, step in _numbered(d):
        if title != section:
            section = title
            lines += [f"#### {_md(title)}", ""]
        lines += [f"**{number}. {_md(step.title)}**: {_md(step.why)}.", ""]
        lines += ["$$", r"\begin{aligned}", r" \\ ".join(_rows(step)), r"\end{aligned}", "$$", ""]
    lines += ["#### In code names", "", "```python"]
    lines += [f"{name:<6} = {to_code_text(expr)}" for name, expr in _code_names(d)]
    lines += ["```", ""]
    return "\n".join(lines)


def _code_names(d: Derivation) -> tuple[tuple[str, Any], ...]:
    return (("dx", d.dx), ("dgamma", d.dgamma), ("dbeta", d.dbeta))


def derivation_latex(d: Derivation) -> str:
    """Every step in one display (Jupyter's LaTeX renderer is MathJax: maths only), each
    introduced by its number and title."""
    rows: list[str] = []
    for _, number, step in _numbered(d):
        rows.append(rf"&\text{{{number}. {_label(step.title)}}}")
        rows += _rows(step)
    body = " \\\\\n".join(rows)
    return f"$$\\begin{{aligned}}\n{body}\n\\end{{aligned}}$$"


# ------------------------------------------------------------------ demos

# rich's own Jupyter format: the recorded console, with inline styles, as one <pre>.
_PRE = (
    '<pre style="white-space:pre;overflow-x:auto;line-height:normal;'
    "font-family:Menlo,'DejaVu Sans Mono',consolas,'Courier New',monospace\">{code}</pre>"
)
WIDTH = 100  # the console's width, as off a terminal (report.console.PLAIN_WIDTH)
NO_PLOT = "The plot needs matplotlib: pip install matplotlib (then run this cell again)."


def _report_html(result: object) -> str:
    from rich.console import Console

    from bncheck.report.demos import print_demo

    console = Console(
        record=True,
        file=io.StringIO(),  # recorded, never printed
        width=WIDTH,
        color_system="truecolor",
        force_terminal=True,
        force_jupyter=False,  # in a kernel rich would display each print as an output of its own
        highlight=False,
        emoji=False,
        legacy_windows=False,
    )
    print_demo(result, console)
    return console.export_html(inline_styles=True, code_format=_PRE)


def _plot_html(result: object) -> str:
    """The demo's figure as an inline PNG; a one-line note when matplotlib is missing."""
    from bncheck.demos import name_of
    from bncheck.errors import MissingDependencyError
    from bncheck.report import plots

    try:
        fig = plots.figure(name_of(result), result)  # no pyplot: the notebook's backend stays
    except MissingDependencyError:
        return f"<p><i>{_html.escape(NO_PLOT)}</i></p>"
    fig.tight_layout()
    png = io.BytesIO()
    fig.savefig(png, format="png", dpi=100)
    data = base64.b64encode(png.getvalue()).decode("ascii")
    alt = _html.escape(f"plot of the {name_of(result)} demo")
    return f'<img alt="{alt}" style="max-width:100%" src="data:image/png;base64,{data}"/>'


def demo_html(result: object) -> str:
    """A demo's result in Jupyter: its report (as printed by ``bncheck demo``) and its plot."""
    return f"<div>{_report_html(result)}{_plot_html(result)}</div>"
