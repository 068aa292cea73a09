"""Turn emitted source into a live function that tracebacks and ``inspect`` can read.

Importing SymPy and deriving costs ~0.5 s, half of a ``bncheck verify``. The emitted
source only changes when the code that produces it (or SymPy) changes, so it is
cached on disk under a key made of exactly that: the bytes of ``bncheck/symbolic``,
``bncheck/emit``, ``spec.py`` and ``names.py``, the SymPy version and the spec. The
cache lives in ``~/.cache/bncheck`` (``BNCHECK_CACHE_DIR`` overrides), never in the
repository. This module imports no SymPy itself.
"""

from __future__ import annotations

import contextlib
import hashlib
import linecache
import os
from collections.abc import Callable
from functools import cache
from importlib.metadata import version
from pathlib import Path
from typing import Any

from bncheck.spec import NormSpec

__all__ = ["cached_source", "load_backward", "load_source"]

_PACKAGE = Path(__file__).resolve().parents[1]


def load_source(source: str, name: str, filename: str) -> Callable[..., Any]:
    """Compile ``source``, register it in linecache under ``filename``, return ``name``."""
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    namespace: dict[str, Any] = {"__name__": filename}
    exec(compile(source, filename, "exec"), namespace)
    fn: Callable[..., Any] = namespace[name]
    return fn


def _cache_file(spec: NormSpec, backend: str) -> Path:
    root = os.environ.get("BNCHECK_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "bncheck"
    )
    digest = hashlib.sha256(f"{spec!r} {backend} sympy {version('sympy')}".encode())
    producers = [*_PACKAGE.glob("symbolic/*.py"), *_PACKAGE.glob("emit/*.py")]
    for path in sorted([*producers, _PACKAGE / "spec.py", _PACKAGE / "names.py"]):
        digest.update(path.read_bytes())
    return Path(root) / f"emitted-{spec.name}-{backend}-{digest.hexdigest()[:20]}.py"


def cached_source(spec: NormSpec, backend: str) -> str:
    """``emit_source(spec, backend)``, from the disk cache when the producing code is unchanged."""
    cache = _cache_file(spec, backend)
    with contextlib.suppress(OSError):
        return cache.read_text(encoding="utf-8")
    from bncheck.emit.codegen import emit_source  # SymPy, only on a miss

    source = emit_source(spec, backend)
    with contextlib.suppress(OSError):  # a read-only home only costs time
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(source, encoding="utf-8")
        tmp.replace(cache)  # atomic: a concurrent reader sees all of it or none
    return source


@cache
def load_backward(spec: NormSpec | None = None, backend: str = "numpy") -> Callable[..., Any]:
    """The emitted ``<name>_backward(dy, x, gamma, eps)`` for ``spec``, ready to call."""
    spec = NormSpec() if spec is None else spec  # an unknown backend: emit_source says so
    filename = f"<bncheck-emitted {backend} {spec.name} {spec.variance}>"
    return load_source(cached_source(spec, backend), f"{spec.name}_backward", filename)
