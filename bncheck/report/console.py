"""Console construction (called inside ``main``, never at import time), and the two ways
to print text: ``prose``, wrapped between words, and ``one_line`` (equations, code,
commands), never wrapped.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import IO

from rich.console import Console
from rich.text import Text

__all__ = ["make_console", "one_line", "prose", "rule", "wants_color"]

PLAIN_WIDTH = 100  # fixed off a TTY, so transcripts do not depend on the terminal


def wants_color(no_color: bool, tty: bool, environ: Mapping[str, str] | None = None) -> bool:
    """Colour or not, first rule that speaks wins.

    ``--no-color``; then ``NO_COLOR`` set and non-empty (no-color.org): no colour; then
    ``FORCE_COLOR`` set and non-empty (force-color.org): colour, even off a TTY; then
    colour only on a TTY.
    """
    env = os.environ if environ is None else environ
    if no_color or env.get("NO_COLOR"):
        return False
    return bool(env.get("FORCE_COLOR")) or tty


def make_console(no_color: bool = False, file: IO[str] | None = None) -> Console:
    """A console that is colourless and fixed-width when not on a TTY or with --no-color."""
    stream = sys.stdout if file is None else file
    tty = hasattr(stream, "isatty") and stream.isatty()
    color = wants_color(no_color, tty)
    # A terminal that says it is dumb still gets colour when FORCE_COLOR asks for it.
    dumb = os.environ.get("TERM", "").lower() in ("dumb", "unknown")
    return Console(
        file=stream,
        no_color=not color,
        color_system=("standard" if dumb else "auto") if color else None,
        highlight=False,
        emoji=False,
        width=None if tty else PLAIN_WIDTH,
        force_terminal=color,
        legacy_windows=False,
    )


def prose(console: Console, text: str, style: str = "") -> None:
    """Prose as it is (no rich markup, so E[x] stays E[x]), wrapped between words."""
    console.print(Text(text, style=style))


def one_line(console: Console, text: str, note: str = "", *, style: str = "", gap: int = 2) -> None:
    """An equation, code or a command: one line, never wrapped; a dim note ``gap`` spaces after."""
    line = Text(text, style=style)
    if note:
        line.append(" " * gap + note, style="dim")
    console.print(line, soft_wrap=True)


def rule(console: Console, title: str) -> None:
    """A section's title on a horizontal rule, as the demos' reports use it."""
    from rich.rule import Rule

    console.print(Rule(Text(title), style="cyan"))
