"""What a sandboxed run may use (``Limits``) and do (``Policy``), and text from it made safe.

Both are small frozen tables that ``verify`` passes as they are and that ``grade``'s
rubric will tighten or loosen.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from bncheck.errors import UsageError

__all__ = ["Limits", "Policy", "clean_text"]

_MiB = 1 << 20


@dataclass(frozen=True)
class Limits:
    """Resource limits of one run; ``wall`` covers start-up, import and every call."""

    wall: float = 60.0  # seconds, one deadline for the whole run
    memory: int = 4096 * _MiB  # address space (RLIMIT_AS); torch alone maps ~1.5 GiB
    files: int = 64 * _MiB  # the largest file the child may write (its output included)
    open_files: int = 256
    processes: int = 64  # RLIMIT_NPROC, for a non-root user (the root user is not bound)
    copy: int = 64 * _MiB  # bytes of the submission's folder copied into the sandbox
    reply: int = 256 * _MiB  # the largest reply read back

    def __post_init__(self) -> None:
        if not (isinstance(self.wall, (int, float)) and math.isfinite(self.wall)):
            raise UsageError(f"the time limit must be a number of seconds, not {self.wall!r}")
        if not 0 < self.wall <= 86_400:  # a day: beyond it the deadline arithmetic overflows
            raise UsageError(
                f"the time limit must be above 0 and at most 86400 s, not {self.wall:g}"
            )
        for name in ("memory", "files", "open_files", "copy", "reply"):
            if getattr(self, name) <= 0:
                raise UsageError(f"the {name} limit must be positive")

    @property
    def cpu(self) -> int:
        """CPU seconds: a backstop behind the wall deadline, which the parent enforces."""
        return math.ceil(self.wall) + 1

    def for_child(self) -> dict[str, Any]:
        return {
            "memory": self.memory,
            "cpu": self.cpu,
            "files": self.files,
            "open_files": self.open_files,
            "processes": self.processes,
        }

    def describe(self) -> str:
        return (
            f"{self.wall:g} s, {self.memory // _MiB} MiB address space, "
            f"{self.files // _MiB} MiB per file"
        )


@dataclass(frozen=True)
class Policy:
    """The audit hook's table: what a submission may not do (see ``runner/hook.py``)."""

    forbid_imports: tuple[str, ...] = ("bncheck",)
    network: bool = False
    processes: bool = False
    ctypes: bool = False
    signals: bool = False
    readable: tuple[str, ...] = field(default=())  # more folders it may read
    # False (grade): the working copy is read-only; only its own TMPDIR and HOME are
    # writable, so a results.json written into its cwd is refused (and flagged)
    write_copy: bool = True

    def table(self) -> dict[str, Any]:
        return {
            "forbid_imports": list(self.forbid_imports),
            "network": self.network,
            "processes": self.processes,
            "ctypes": self.ctypes,
            "signals": self.signals,
        }


# CSI and OSC escape sequences whole, then any other control character; bidi overrides
# too, which can make text read differently from what it is.
_ESCAPES = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def clean_text(text: str, limit: int = 4000) -> str:
    """Text from a submission, safe to print: no escape sequences, at most ``limit`` chars."""
    text = _CONTROL.sub("", _ESCAPES.sub("", text.replace("\r\n", "\n").replace("\r", "\n")))
    return text if len(text) <= limit else "…" + text[-limit:]
