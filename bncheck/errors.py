"""The one exception tree of bncheck.

A user-facing error carries a kebab-case ``code`` (stable, for scripts and JSON),
a ``message`` that says what is wrong, and a ``hint`` that says what to do. The CLI
prints the three and exits with status 2; it never shows a traceback for them.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = [
    "BncheckError",
    "MissingDependencyError",
    "SpecError",
    "SubmissionError",
    "UsageError",
    "did_you_mean",
]


def did_you_mean(name: str, choices: Iterable[str], n: int = 1, cutoff: float = 0.6) -> str:
    """The hint for a misspelt name: "did you mean batchnorm?" or "" when nothing is close."""
    close = difflib.get_close_matches(name, list(choices), n=n, cutoff=cutoff)
    return f"did you mean {' or '.join(close)}?" if close else ""


class BncheckError(Exception):
    """Base of every error bncheck raises on purpose."""

    code: str = "bncheck-error"

    def __init__(self, message: str, hint: str = "", *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        return f"{self.message}\n  hint: {self.hint}" if self.hint else self.message

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message, "hint": self.hint}


class UsageError(BncheckError):
    """A command-line or API argument that bncheck cannot act on."""

    code = "usage"


class SubmissionError(BncheckError):
    """The submission cannot be loaded, called or run to the end (exit 2)."""

    code = "submission"


class SpecError(BncheckError):
    """A NormSpec that does not describe a normalization bncheck can handle."""

    code = "bad-spec"


class MissingDependencyError(BncheckError):
    """An optional dependency (torch, matplotlib) is needed and not installed."""

    code = "missing-dependency"

    @classmethod
    def for_module(cls, module: str, extra: str, purpose: str) -> MissingDependencyError:
        """Commands that work from a clone; bncheck is not on a package index yet."""
        if module == "torch":  # pinned: an unpinned install pulls GBs of CUDA packages
            hint = "install torch's CPU wheel with: pip install torch==2.13.0"
        else:
            hint = (
                f"install it with: pip install {module}  "
                f"(or, in your clone of bncheck: pip install '.[{extra}]')"
            )
        return cls(f"{purpose} needs {module}, which is not installed", hint)
