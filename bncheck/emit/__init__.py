"""From derivation to artifacts: numpy/torch source, LaTeX and Markdown."""

from bncheck.emit.codegen import emit_source
from bncheck.emit.load import load_backward

__all__ = ["emit_source", "load_backward"]
