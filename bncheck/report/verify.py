"""Renderers of a verify result: plain text, rich and HTML, chosen by the result's type.

``bncheck.check.result`` holds the data; its ``__str__``, ``__rich__`` and ``_repr_html_``
only hand the object to the functions here.
"""

from __future__ import annotations

import html as _html
from functools import singledispatch
from typing import TYPE_CHECKING

from bncheck.check.result import CheckResult, FileResult, FunctionResult, VerifyResult
from bncheck.report import diagnosis as _diagnosis

if TYPE_CHECKING:
    from rich.console import RenderableType

__all__ = ["html", "render", "text"]

_STYLE = {True: "green", False: "bold red", None: "yellow"}
_SUMMARY = ("function", "normalization", "style", "verdict", "first failure")


def _summary_rows(r: FileResult) -> list[tuple[str, ...]]:
    """One row per function: function, normalization, style, verdict, first failing check."""
    return [
        (f.function, f.norm, f.style or "-", f.verdict, f.first_failure or "-") for f in r.functions
    ]


def _not_checked(f: FunctionResult) -> list[str]:
    error = f.error or {}
    lines = [f"{f.function}: {f.status} [{error.get('code', '')}]", f"  {error.get('message', '')}"]
    hint = str(error.get("hint") or "").splitlines()
    if hint:  # a traceback's hint is "its traceback:" and then the lines that matter
        lines.append(f"  hint: {hint[0]}")
        lines += [f"    {line}" for line in hint[1:_HINT_LINES]]
        if len(hint) > _HINT_LINES:
            lines.append(f"    ... ({len(hint) - _HINT_LINES} more lines in --json)")
    return lines


_HINT_LINES = 16


def _num(v: float | None, empty: str = "") -> str:
    return empty if v is None else f"{v:.1e}"


@singledispatch
def text(result: object) -> str:
    """Plain text, as printed off a terminal and in assertion messages."""
    raise TypeError(f"no text renderer for {type(result).__name__}")


@text.register
def _(c: CheckResult) -> str:
    line = f"[{c.status:>4}] {c.title}"
    if c.max_abs_err is not None:
        line += f"  max|diff| {_num(c.max_abs_err, '-')}  max rel {_num(c.max_rel_err, '-')}"
    if c.worst and c.passed is False and c.worst not in c.message:
        line += f"\n       worst {c.worst}"
    if c.message and c.passed is not True:
        line += f"\n       {c.message}"
    return line


@text.register
def _(r: VerifyResult) -> str:
    lines = [f"bncheck verify {r.target} (style {r.style}, seed {r.seed})"]
    lines += [text(c) for c in r.checks]
    lines += [f"  {label}: {value}" for label, value in r.conventions]
    lines += [f"  note: {n}" for n in r.notes]
    lines.append(r.verdict)
    if r.read_it:
        lines.append(r.read_it)
    if _diagnosis.shown(r.diagnosis):
        lines += ["", *_diagnosis.text(r.diagnosis)]
    return "\n".join(lines)


@text.register
def _(r: FileResult) -> str:
    rows = [_SUMMARY, *_summary_rows(r)]
    widths = [max(len(row[k]) for row in rows) for k in range(len(_SUMMARY))]
    lines = [f"bncheck verify {r.target} (seed {r.seed}): {len(r.functions)} functions"]
    lines += [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows
    ]
    for f in r.functions:
        lines.append("")
        lines += [text(f.result)] if f.result is not None else _not_checked(f)
    lines += ["", r.verdict]
    return "\n".join(lines)


# HTML colours that read on Jupyter's light and dark themes; a failing row is tinted.
_CSS_STATUS = {
    True: "color:#2e7d32",  # green
    False: "color:#c62828;font-weight:bold",  # red, bold
    None: "color:#808080",  # grey: skipped
}
_CSS_FAILED_ROW = "background:rgba(198,40,40,0.12)"
_CSS_FILE_STATUS = {"ok": _CSS_STATUS[True], "FAIL": _CSS_STATUS[False]}
_CSS_FILE_STATUS["error"] = _CSS_FILE_STATUS["FAIL"]  # "not implemented": grey, as a skip


def _verdict_html(passed: bool, verdict: str, read_it: str = "") -> str:
    """The verdict, large and coloured, with the "Read it:" sentence under it, before the
    table: what a student must not miss comes first."""
    esc = _html.escape
    colour = "#2e7d32" if passed else "#c62828"
    out = f"<p style='font-size:1.2em;color:{colour};margin:0.5em 0'><b>{esc(verdict)}</b></p>"
    if read_it:
        out += (
            f"<p style='border-left:4px solid {colour};padding:0.2em 0.6em;margin:0.5em 0'>"
            f"{esc(read_it)}</p>"
        )
    return out


def _row(cells: tuple[str, ...], status: int, css: str, failed: bool) -> str:
    """One <tr>: the cell ``status`` styled with ``css``, the whole row tinted if it failed."""
    esc = _html.escape
    tds = "".join(
        f"<td style='{css}'>{esc(c)}</td>" if k == status else f"<td>{esc(c)}</td>"
        for k, c in enumerate(cells)
    )
    return f"<tr style='{_CSS_FAILED_ROW}'>{tds}</tr>" if failed else f"<tr>{tds}</tr>"


def _check_row(c: CheckResult) -> str:
    cells = (
        c.status,
        c.title,
        _num(c.max_abs_err, "-"),
        _num(c.max_rel_err, "-"),
        c.worst if c.passed is False else "",
        c.message if c.passed is not True else "",
    )
    return _row(cells, 0, _CSS_STATUS[c.passed], c.passed is False)


def html(r: VerifyResult | FileResult) -> str:
    """A table for Jupyter (``VerifyResult._repr_html_``, ``FileResult._repr_html_``): the
    verdict and its reading first, then the rows (FAIL red and bold, its row tinted), the
    diagnosis, notes and conventions."""
    esc = _html.escape
    if isinstance(r, FileResult):
        head = "".join(f"<th>{esc(c)}</th>" for c in _SUMMARY)
        body = "".join(
            _row(row, 3, _CSS_FILE_STATUS.get(f.status, _CSS_STATUS[None]), f.passed is False)
            for f, row in zip(r.functions, _summary_rows(r), strict=True)
        )
        details = "".join(html(f.result) for f in r.functions if f.result is not None)
        return (
            f"<div><b>bncheck verify</b> {esc(r.target)} (seed {r.seed})"
            f"{_verdict_html(r.passed, r.verdict)}"
            f"<table><tr>{head}</tr>{body}</table>{details}</div>"
        )
    rows = "".join(_check_row(c) for c in r.checks)
    conv = "; ".join(f"{esc(k)}: {esc(v)}" for k, v in r.conventions)
    notes = "".join(f"<p>note: {esc(n)}</p>" for n in r.notes)
    found = _diagnosis.html(r.diagnosis) if _diagnosis.shown(r.diagnosis) else ""
    return (
        f"<div><b>bncheck verify</b> {esc(r.target)} "
        f"(style {esc(r.style)}, seed {r.seed})"
        f"{_verdict_html(r.passed, r.verdict, r.read_it)}"
        "<table><tr><th></th><th>check</th><th>max |diff|</th><th>max rel</th>"
        f"<th>worst</th><th>message</th></tr>{rows}</table>"
        f"{found}{notes}"
        f"<p><small>{conv}</small></p></div>"
    )


def _yes(v: bool | None) -> str:
    return {True: "yes", False: "no", None: ""}[v]


def render(result: VerifyResult | FileResult) -> RenderableType:
    """The terminal report: the comparison table, problems, conventions, verdict, reading.

    A FileResult: the summary table of its functions first, then each function's report.
    """
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    if isinstance(result, FileResult):
        return _render_file(result)

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
        label = f"{c.status} {c.title}" + (f"  [{c.id}]" if c.id else "")
        parts.append(Text(label, style=_STYLE[c.passed]))
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
    if result.read_it:
        parts.append(Text(result.read_it))
    if _diagnosis.shown(result.diagnosis):
        parts += [Text(""), _diagnosis.render(result.diagnosis)]
    return Group(*parts)


_STATUS_STYLE = {"ok": "green", "FAIL": "bold red", "error": "bold red"}


def _render_file(result: FileResult) -> RenderableType:
    from rich.console import Group
    from rich.rule import Rule
    from rich.table import Table
    from rich.text import Text

    table = Table(*_SUMMARY, show_edge=False, pad_edge=False, expand=False)
    for f, row in zip(result.functions, _summary_rows(result), strict=True):
        table.add_row(*row[:3], Text(row[3], style=_STATUS_STYLE.get(f.status, "yellow")), row[4])
    parts: list[RenderableType] = [
        Text(
            f"bncheck verify {result.target}  (seed {result.seed}): "
            f"{len(result.functions)} functions"
        ),
        Text(""),
        table,
    ]
    for f in result.functions:
        parts += [Text(""), Rule(Text(f.function), style="dim")]
        if f.result is not None:
            parts.append(render(f.result))
        else:
            parts += [Text(line) for line in _not_checked(f)]
    parts += [
        Text(""),
        Text(result.verdict, style="bold green" if result.passed else "bold red"),
    ]
    return Group(*parts)
