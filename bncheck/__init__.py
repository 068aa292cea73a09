"""bncheck: derive, emit and verify the Batch Normalization backward pass.

Importing bncheck is cheap: even the standard-library modules behind NormSpec,
and numpy, sympy and torch, load when a name that needs them is first used.
"""

# ``python -m bncheck`` puts the current folder first on sys.path, and ``bncheck verify``
# runs in students' folders: their json.py, numpy.py or typing.py must never be imported
# by bncheck itself (our own modules load through ``bncheck.__path__``). So the folder
# leaves sys.path before any other import, and there is no ``from __future__`` import,
# which would have to come first. sys.argv[0] is "-m" only while -m imports the package.
import os as _os
import sys as _sys

if _sys.argv[:1] == ["-m"] and not getattr(_sys.flags, "safe_path", False):  # -P: no folder
    try:
        _here = _os.getcwd()
    except OSError:  # the folder was deleted under us
        _here = ""
    if _sys.path[:1] in ([""], [_here]):
        del _sys.path[0]
    del _here
del _os, _sys

from typing import TYPE_CHECKING  # noqa: E402  (after the sys.path fix, on purpose)

if TYPE_CHECKING:  # what type checkers and IDEs see; at run time __getattr__ loads on use
    from bncheck.check.api import (
        VerifyOptions,
        assert_gradients_close,
        check_backward,
        verify,
        verify_file,
    )
    from bncheck.check.battery import CHECKS, Check
    from bncheck.check.compare import Tolerances
    from bncheck.check.evidence import CheckOptions
    from bncheck.check.fd import FDOptions
    from bncheck.check.result import CheckResult, FileResult, FunctionResult, VerifyResult
    from bncheck.emit import emit_source, load_backward
    from bncheck.errors import BncheckError
    from bncheck.spec import SPECS, NormSpec, get_spec
    from bncheck.symbolic import derive, prove

__version__ = "0.1.0"

__all__ = [
    "CHECKS",
    "SPECS",
    "BncheckError",
    "Check",
    "CheckOptions",
    "CheckResult",
    "FDOptions",
    "FileResult",
    "FunctionResult",
    "NormSpec",
    "Tolerances",
    "VerifyOptions",
    "VerifyResult",
    "__version__",
    "assert_gradients_close",
    "check_backward",
    "derive",
    "emit_source",
    "get_spec",
    "load_backward",
    "prove",
    "verify",
    "verify_file",
]

# Everything loads on first use, so ``bncheck --help`` imports none of it.
_LAZY = {
    "BncheckError": "bncheck.errors",
    "NormSpec": "bncheck.spec",
    "SPECS": "bncheck.spec",
    "get_spec": "bncheck.spec",
    "derive": "bncheck.symbolic",
    "prove": "bncheck.symbolic",
    "emit_source": "bncheck.emit",
    "load_backward": "bncheck.emit",
    "check_backward": "bncheck.check.api",
    "assert_gradients_close": "bncheck.check.api",
    "VerifyOptions": "bncheck.check.api",
    "verify": "bncheck.check.api",
    "verify_file": "bncheck.check.api",
    "CHECKS": "bncheck.check.battery",
    "Check": "bncheck.check.battery",
    "Tolerances": "bncheck.check.compare",
    "CheckOptions": "bncheck.check.evidence",
    "FDOptions": "bncheck.check.fd",
    "CheckResult": "bncheck.check.result",
    "VerifyResult": "bncheck.check.result",
    "FileResult": "bncheck.check.result",
    "FunctionResult": "bncheck.check.result",
}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'bncheck' has no attribute {name!r}")
