"""From derivation to artifacts: numpy/torch source, LaTeX and Markdown.

Importing this package is cheap; sympy is imported when source is first emitted
(``load_backward`` reads the on-disk cache first, see ``emit.load``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bncheck.emit.codegen import emit_source
    from bncheck.emit.load import load_backward

__all__ = ["emit_source", "load_backward"]


def __getattr__(name: str) -> Any:
    if name == "emit_source":
        from bncheck.emit.codegen import emit_source

        return emit_source
    if name == "load_backward":
        from bncheck.emit.load import load_backward

        return load_backward
    raise AttributeError(f"module 'bncheck.emit' has no attribute {name!r}")
