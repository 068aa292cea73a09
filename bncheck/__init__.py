"""bncheck: derive, emit and verify the Batch Normalization backward pass.

Importing bncheck is cheap: numpy, sympy and torch load when a function that
needs them is first used.
"""

from __future__ import annotations

from typing import Any

from bncheck.errors import BncheckError
from bncheck.spec import SPECS, NormSpec, get_spec

__version__ = "0.1.0"

__all__ = [
    "SPECS",
    "BncheckError",
    "NormSpec",
    "__version__",
    "assert_gradients_close",
    "check_backward",
    "derive",
    "emit_source",
    "get_spec",
    "load_backward",
    "prove",
]

_LAZY = {
    "derive": "bncheck.symbolic",
    "prove": "bncheck.symbolic",
    "emit_source": "bncheck.emit",
    "load_backward": "bncheck.emit",
    "check_backward": "bncheck.check.api",
    "assert_gradients_close": "bncheck.check.api",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'bncheck' has no attribute {name!r}")
