"""Print the SymPy derivation of the backward pass, step by step, or the code emitted from it.

examples:
  bncheck derive                         the derivation in the terminal
  bncheck derive --format markdown       the same as Markdown with LaTeX math
  bncheck derive --format latex          a LaTeX document (pdflatex, lualatex, xelatex)
  bncheck derive --format html           a web page; MathJax typesets the equations
  bncheck derive --emit numpy            the emitted batchnorm_backward for numpy
  bncheck derive --norm layernorm        LayerNorm: γ varies inside the group (γ_i)
  bncheck derive --norm all --write derivations
                                         write derivation.md and the emitted code
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

HELP = "show the SymPy derivation of the backward pass; emit numpy/torch code"
FORMATS = ("text", "markdown", "latex", "html")
TARGETS = ("numpy", "torch")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--norm",
        default="batchnorm",
        help="normalization to derive: batchnorm, spatial_batchnorm, layernorm, groupnorm, "
        "instancenorm, rmsnorm, or all (default batchnorm)",
    )
    parser.add_argument("--variance", choices=("biased", "unbiased"), default="biased")
    parser.add_argument("--format", default="text", help=f"one of {', '.join(FORMATS)}")
    parser.add_argument(
        "--emit", metavar="TARGET", help=f"print emitted code: {', '.join(TARGETS)}"
    )
    parser.add_argument("--write", metavar="DIR", help="write all artifacts under DIR/<norm>/")


def run(args: argparse.Namespace, console: Any) -> int:
    import dataclasses
    from pathlib import Path

    from bncheck.cli import check_choice
    from bncheck.spec import SPECS, get_spec

    check_choice("format", args.format, FORMATS)
    if args.emit is not None:
        check_choice("target", args.emit, TARGETS)
    names = list(SPECS) if args.norm == "all" else [args.norm]
    specs = [dataclasses.replace(get_spec(n), variance=args.variance) for n in names]

    if args.write is not None:
        from bncheck.emit.artifacts import write_artifacts

        for spec in specs:
            for path in write_artifacts(spec, Path(args.write)):
                console.print(f"wrote {path}", markup=False)
        return 0

    from bncheck.symbolic import derive

    for spec in specs:
        if args.emit is not None:
            from bncheck.emit import emit_source

            console.out(emit_source(spec, args.emit), end="")
        elif args.format == "text":
            from bncheck.report.derivation import print_derivation

            print_derivation(console, derive(spec))
        else:
            console.out(_render(args.format)(derive(spec)), end="")
    return 0


def _render(fmt: str) -> Callable[..., str]:
    """The document renderer of one format: Derivation -> str."""
    if fmt == "html":
        from bncheck.emit.html import render_html

        return render_html
    from bncheck.emit.document import render_latex, render_markdown

    return render_markdown if fmt == "markdown" else render_latex
