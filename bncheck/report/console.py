"""Console construction: called inside ``main``, never at import time."""

from __future__ import annotations

import os
import sys
from typing import IO

from rich.console import Console

__all__ = ["make_console"]

PLAIN_WIDTH = 100  # fixed off a TTY, so transcripts do not depend on the terminal


def make_console(no_color: bool = False, file: IO[str] | None = None) -> Console:
    """A console that is colourless and fixed-width when not on a TTY or with --no-color."""
    stream = sys.stdout if file is None else file
    tty = hasattr(stream, "isatty") and stream.isatty()
    plain = no_color or not tty or "NO_COLOR" in os.environ
    return Console(
        file=stream,
        no_color=plain,
        color_system=None if plain else "auto",
        highlight=False,
        emoji=False,
        width=None if tty else PLAIN_WIDTH,
        force_terminal=False if plain else None,
        legacy_windows=False,
    )
