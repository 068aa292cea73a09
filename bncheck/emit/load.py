"""Turn emitted source into a live function that tracebacks and ``inspect`` can read."""

from __future__ import annotations

import linecache
from collections.abc import Callable
from functools import cache
from typing import Any

from bncheck.emit.codegen import emit_source, function_name
from bncheck.spec import NormSpec

__all__ = ["load_backward", "load_source"]


def load_source(source: str, name: str, filename: str) -> Callable[..., Any]:
    """Compile ``source``, register it in linecache under ``filename``, return ``name``."""
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    namespace: dict[str, Any] = {"__name__": filename}
    exec(compile(source, filename, "exec"), namespace)
    return namespace[name]


@cache
def load_backward(spec: NormSpec | None = None, backend: str = "numpy") -> Callable[..., Any]:
    """The emitted ``<name>_backward(dy, x, gamma, eps)`` for ``spec``, ready to call."""
    spec = NormSpec() if spec is None else spec
    source = emit_source(spec, backend)
    filename = f"<bncheck-emitted {backend} {spec.name} {spec.variance}>"
    return load_source(source, function_name(spec), filename)
