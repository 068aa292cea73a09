"""The "Diagnosis" section of a verify report (plain text, rich, HTML), and the catalog of
mistakes as ``bncheck diagnose --list`` and ``--explain`` print it.

One list of lines (``lines``) is the section's content; the three renderers only style it,
so the terminal, an assertion message and a notebook say the same thing.
"""

from __future__ import annotations

import html as _html
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeGuard

if TYPE_CHECKING:
    from rich.console import Console, RenderableType

    # types only: importing bncheck.diagnose loads SymPy, which a report does not need
    from bncheck.diagnose.result import Attribution, Diagnosis, Finding

__all__ = [
    "AMBIGUOUS",
    "UNKNOWN",
    "CatalogRow",
    "ChangedStep",
    "Explanation",
    "html",
    "lines",
    "print_catalog",
    "print_explanation",
    "render",
    "shown",
]

TITLE = "Diagnosis"
AMBIGUOUS = "These mistakes give the same gradients on these inputs; bncheck cannot tell which:"
UNKNOWN = "No known mistake matches."
_TERMS = ("term", "derived coefficient", "yours / derived", "reading", "step")


def shown(d: Diagnosis | None) -> TypeGuard[Diagnosis]:
    """A report has a Diagnosis section when something failed (status other than none)."""
    return d is not None and d.status != "none"


def explain_command(mistake_id: str) -> str:
    return f"bncheck diagnose --explain {mistake_id}"


def _finding_lines(f: Finding, *, indent: str = "  ") -> list[tuple[str, str]]:
    """(style, text) lines of one finding: its id and name, then what matched and where."""
    out = [("bold", f"{f.id}: {f.name}")]
    if f.form:
        out.append(("", f"{indent}form: {f.form}"))
    if f.evidence:
        out.append(("", f"{indent}evidence: {f.evidence}"))
    if f.source not in ("", "derived"):
        out.append(("", f"{indent}seen by the check: {f.source}"))
    out.append(("", f"{indent}derivation step: {f.step} (see: {explain_command(f.id)})"))
    if f.hint:
        out.append(("italic", f"{indent}Look at: {f.hint}"))
    return out


def _ratio(v: float) -> str:
    return f"{v:.3g}" if math.isfinite(v) else "-"


def term_rows(a: Attribution) -> list[tuple[str, ...]]:
    """term | derived coefficient | yours / derived (ratio ± spread) | reading | step."""
    return [
        (t.term, t.derived, f"{_ratio(t.ratio)} ± {_ratio(t.spread)}", t.reading, t.step or "-")
        for t in a.terms
    ]


def _attribution_tail(a: Attribution) -> list[str]:
    linear = {True: "yes", False: "no", None: "not measurable here"}[a.linear]
    out = [
        f"residual outside these terms: {_ratio(a.residual)} of |dx|",
        f"dx linear in the upstream gradient: {linear}",
    ]
    return out + ([a.summary] if a.summary else [])


def lines(d: Diagnosis) -> list[tuple[str, str]]:
    """The section's content as (style, text) lines, the title first; the attribution's
    table comes after them (``term_rows``)."""
    out: list[tuple[str, str]] = [("bold", TITLE)]
    if d.status == "named":
        if d.message and len(d.findings) != 1:
            out.append(("", d.message))
        for f in d.findings:
            out += _finding_lines(f)
    elif d.status == "ambiguous":
        out.append(("", AMBIGUOUS))
        for f in d.findings:
            out += [(style, "  " + text) for style, text in _finding_lines(f)]
    else:
        out.append(("", UNKNOWN if not d.message else f"{UNKNOWN} {d.message}"))
    out += [("dim", f"note: {n}") for n in d.notes]
    return out


def _table_text(rows: Sequence[tuple[str, ...]]) -> list[str]:
    table = [_TERMS, *rows]
    widths = [max(len(r[k]) for r in table) for k in range(len(_TERMS))]
    return [
        "  " + "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in table
    ]


def text(d: Diagnosis) -> list[str]:
    """Plain text, as in ``str(result)``."""
    out = [line for _, line in lines(d)]
    if d.status == "unknown" and d.attribution is not None:
        out += _table_text(term_rows(d.attribution))
        out += [f"  {line}" for line in _attribution_tail(d.attribution)]
    return out


def render(d: Diagnosis) -> RenderableType:
    from rich.console import Group
    from rich.padding import Padding
    from rich.table import Table
    from rich.text import Text

    def indented(style: str, line: str) -> RenderableType:  # wrapped lines keep the indent
        body = line.lstrip(" ")
        return Padding(Text(body, style=style), (0, 0, 0, len(line) - len(body)), expand=False)

    parts = [indented(style, line) for style, line in lines(d)]
    if d.status == "unknown" and d.attribution is not None:
        table = Table(*_TERMS, show_edge=False, pad_edge=False, expand=False)
        for row in term_rows(d.attribution):
            table.add_row(*(Text(c) for c in row))
        parts.append(table)
        parts += [Text(f"  {line}") for line in _attribution_tail(d.attribution)]
    return Group(*parts)


def html(d: Diagnosis) -> str:
    esc = _html.escape
    items = lines(d)
    body = "".join(
        f"<div style='margin-left:{2 * (len(t) - len(t.lstrip()))}ex'>"
        + (f"<b>{esc(t.strip())}</b>" if style == "bold" else esc(t.strip()))
        + "</div>"
        for style, t in items[1:]
    )
    table = ""
    if d.status == "unknown" and d.attribution is not None:
        head = "".join(f"<th>{esc(c)}</th>" for c in _TERMS)
        rows = "".join(
            "<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>"
            for row in term_rows(d.attribution)
        )
        tail = "".join(f"<div>{esc(x)}</div>" for x in _attribution_tail(d.attribution))
        table = f"<table><tr>{head}</tr>{rows}</table>{tail}"
    return f"<div><p><b>{TITLE}</b></p>{body}{table}</div>"


# ------------------------------------------------------------------ the catalog


@dataclass(frozen=True)
class CatalogRow:
    """One entry of ``bncheck diagnose --list``: where it applies, per preset."""

    id: str
    name: str
    step: str
    applies: tuple[tuple[str, str], ...]  # (preset, "yes" | "-" | "seen by running-stats")

    def to_dict(self) -> dict[str, object]:
        return {"id": self.id, "name": self.name, "step": self.step, "applies": dict(self.applies)}


@dataclass(frozen=True)
class ChangedStep:
    """A staged step the mistake changes: the right equation and the one with the mistake
    (as printed by ``emit.notation.equation_unicode``)."""

    key: str
    title: str
    right: str
    wrong: str


@dataclass(frozen=True)
class Explanation:
    """``bncheck diagnose --explain ID``: one entry, for one preset."""

    id: str
    name: str
    step: str
    hint: str
    norm: str
    seen_by: tuple[str, ...]
    forms: tuple[tuple[str, tuple[ChangedStep, ...]], ...]  # (label, steps it changes)


def _applies_to(names: list[str], every: Sequence[str]) -> str:
    if not names:
        return "-"
    if len(every) == 1:
        return "yes"
    if len(names) == len(every):
        return "every preset"
    rest = [n for n in every if n not in names]
    return f"all but {', '.join(rest)}" if len(rest) <= 2 else ", ".join(names)


def print_catalog(console: Console, rows: Sequence[CatalogRow], norms: Sequence[str]) -> None:
    """id | step | applies to | name: "every preset", "all but rmsnorm", "seen by ROWS; ..."."""
    from rich.table import Table
    from rich.text import Text

    table = Table(show_edge=False, pad_edge=False)
    table.add_column("id", no_wrap=True)
    table.add_column("step", no_wrap=True)
    table.add_column("applies to")
    table.add_column("name", ratio=1)
    for r in rows:
        cells = dict(r.applies)
        found = [n for n in norms if cells[n] != "-"]
        name = Text(r.name)
        seen = sorted({cells[n] for n in found if cells[n] != "yes"})
        if seen:
            name.append(f" ({seen[0]})", style="dim")
        table.add_row(Text(r.id), r.step, Text(_applies_to(found, norms)), name)
    console.print(table)
    console.print(
        Text(
            "Derived entries: SymPy derives the wrong gradient for each normalization they "
            'apply to. "seen by" entries are not a gradient: the battery rows named show '
            "them. One entry in the derivation: bncheck diagnose --explain ID"
        )
    )


def print_explanation(console: Console, e: Explanation) -> None:
    from rich.text import Text

    console.print(Text(f"{e.id}: {e.name}", style="bold"))
    console.print(Text(f"breaks the derivation step: {e.step}  (bncheck derive --norm {e.norm})"))
    console.print(Text(f"Look at: {e.hint}", style="italic"))
    if e.seen_by:
        console.print(Text(f"not a gradient: the battery's rows see it ({', '.join(e.seen_by)})"))
    for label, steps in e.forms:
        console.print()
        console.print(Text(f"form: {label}", style="bold"))
        if not steps:
            console.print(
                Text(
                    "  no step of the staged derivation changes: the mistake is in the "
                    "forward's statistics fed to the right formula, or in what is done "
                    "with the right values"
                )
            )
        for step in steps:
            console.print(Text(f"  step {step.key}: {step.title}", style="dim"))
            console.print(Text("right:"))
            console.print(Text(step.right), soft_wrap=True)
            console.print(Text("with the mistake:"))
            console.print(Text(step.wrong), soft_wrap=True)
