"""Rich rendering of a VerifyResult: the comparison table, the verdict, conventions and seed."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    from bncheck.check.result import VerifyResult

__all__ = ["render"]

_STYLE = {True: "green", False: "bold red", None: "yellow"}


def _num(v: float | None) -> str:
    return "" if v is None else f"{v:.1e}"


def _yes(v: bool | None) -> str:
    return {True: "yes", False: "no", None: ""}[v]


def render(result: VerifyResult) -> RenderableType:
    table = Table(title=None, show_edge=False, pad_edge=False, expand=False)
    table.add_column("", no_wrap=True)
    table.add_column("check")
    table.add_column("exact", justify="center")
    table.add_column("close", justify="center")
    table.add_column("max |diff|", justify="right", no_wrap=True)
    table.add_column("max rel", justify="right", no_wrap=True)
    for c in result.checks:
        close = c.passed if c.max_abs_err is not None else None
        table.add_row(
            Text(c.status, style=_STYLE[c.passed]),
            c.title,
            _yes(c.exact),
            _yes(close),
            _num(c.max_abs_err),
            _num(c.max_rel_err),
        )
    parts: list[RenderableType] = [
        Text(f"bncheck verify {result.target}  (style {result.style}, seed {result.seed})"),
        Text(""),
        table,
    ]
    problems = [c for c in result.checks if c.passed is not True and c.message]
    if problems:
        parts.append(Text(""))
    for c in problems:
        parts.append(Text(f"{c.status} {c.title}", style=_STYLE[c.passed]))
        parts.append(Text(f"  {c.message}"))
    if result.steps:
        steps = Table("h", "max error / max |dx|", show_edge=False)
        for h, err in result.steps:
            steps.add_row(f"{h:.0e}", f"{err:.1e}")
        parts += [
            Text(""),
            Text("central difference, error vs step h (one slice of dx, first case):"),
            steps,
            Text("large h: truncation error (∝ h²); small h: round-off (∝ 1e-16/h)"),
        ]
    parts.append(Text(""))
    parts += [Text(f"{label}: {value}", style="dim") for label, value in result.conventions]
    parts.append(Text(f"seed: {result.seed}", style="dim"))
    parts += [Text(f"note: {n}") for n in result.notes]
    parts.append(Text(result.verdict, style="bold green" if result.passed else "bold red"))
    return Group(*parts)
