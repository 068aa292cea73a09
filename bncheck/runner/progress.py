"""Where the sandboxed child was when its deadline passed: a few bytes, for a message only.

The child writes, at offset 0 of ``IO_DIR/progress``, a fixed-width ASCII record of the
step it is starting, padded with spaces::

    0       importing the submission (its top-level code)
    k       call k of the n in the job (1-based)
    kb      the backward of call k (a torch call: ``y.backward(dy)`` after ``apply``)
    n+1     every call returned; the child is writing its reply

No file (or an empty one) means it was still starting Python and the preloaded modules,
or waiting for its request. The submission runs in the same process as the child and
can write to that file too, so the parent reads at most 9 bytes, accepts only this
grammar within range, says "unknown" otherwise, and uses the phase in the timeout
message and nowhere else. This module imports nothing from bncheck: the child loads it
by file path.
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["FILE", "Phase", "describe", "read", "writer"]

FILE = "progress"
_WIDTH = 8  # the record's size: a longer file was written to by someone else
_RECORD = re.compile(rb"([0-9]{1,7})(b?) *")


def writer(fd: int) -> Callable[[int, str], None]:
    """The child's ``mark(step, part="")``: overwrite the record; never raises.

    ``os.pwrite`` is taken now, before the submission can replace it; a submission that
    closes the descriptor, or writes to it, only makes the message less precise.
    """
    pwrite, suppress = os.pwrite, contextlib.suppress

    def mark(step: int, part: str = "") -> None:
        with suppress(OSError, ValueError):
            pwrite(fd, f"{step}{part}".ljust(_WIDTH).encode("ascii"), 0)

    return mark


Kind = Literal["start", "import", "call", "reply", "unknown"]


@dataclass(frozen=True)
class Phase:
    """What the child was doing: ``call`` is 1-based; ``backward`` for a torch call's backward."""

    kind: Kind
    call: int = 0
    backward: bool = False


def read(path: str | os.PathLike[str], calls: int) -> Phase:
    """The phase recorded at ``path`` for a job of ``calls`` calls; "unknown" if malformed."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        return Phase("start")
    except OSError:
        return Phase("unknown")
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return Phase("unknown")
        data = os.read(fd, _WIDTH + 1)
    except OSError:
        return Phase("unknown")
    finally:
        os.close(fd)
    if not data:
        return Phase("start")
    match = _RECORD.fullmatch(data) if len(data) <= _WIDTH else None
    if match is None:
        return Phase("unknown")
    step, backward = int(match[1]), bool(match[2])
    if 1 <= step <= calls:
        return Phase("call", step, backward)
    if backward:
        return Phase("unknown")
    if step == 0:
        return Phase("import")
    return Phase("reply") if step == calls + 1 else Phase("unknown")


_KIND_OF_CALL = {"backward": "a backward", "plain": "a backward"}
_MODE = {"train": "a train-mode forward", "test": "an eval-mode forward"}


def _call(
    phase: Phase, ops: Sequence[Mapping[str, Any]], names: Mapping[str, str], limit: str
) -> str:
    """'batchnorm_forward did not return ... (call 3 of 17, an eval-mode forward)'."""
    op = ops[phase.call - 1]
    kind = op.get("op")
    if kind == "torch":
        name = names.get("function", "the Function")
        if phase.backward:
            fn, what = f"{name}.backward", "the backward of a forward and backward"
        else:
            fn = f"{name}.forward"
            what = "a forward and backward" if "dy" in op else "a forward"
    elif kind == "forward":
        bn_param = op.get("bn_param")
        mode = bn_param.get("mode") if isinstance(bn_param, Mapping) else None
        fn, what = names.get("forward", "the forward"), _MODE.get(str(mode), "a forward")
    else:
        fn, what = names.get("backward", "the backward"), _KIND_OF_CALL.get(str(kind), "a call")
    return f"{fn} did not return within {limit} (call {phase.call} of {len(ops)}, {what})"


def describe(
    phase: Phase,
    shown: str,
    ops: Sequence[Mapping[str, Any]],
    names: Mapping[str, str],
    preload: Sequence[str],
    wall: float,
) -> tuple[str, str]:
    """The timeout's message and hint: the phase, the call and its kind, and what to do."""
    limit = f"{wall:g} s"
    raise_it = "--timeout SECONDS raises the limit"
    shared = f"the limit covers start-up, import and all {len(ops)} calls; {raise_it}"
    if phase.kind == "start":
        first = ", ".join(["Python", *preload[:-1]])
        modules = f"{first} and {preload[-1]}" if preload else "Python"
        return (
            f"{shown}: bncheck's sandboxed child was still starting {modules} "
            f"when the {limit} limit passed, before the submission was imported",
            f"its code had not run yet: the machine may be overloaded. Try again; {raise_it}",
        )
    if phase.kind == "import":
        return (
            f"{shown} did not finish importing within {limit}: its top-level code "
            "(outside any function) was still running",
            "look for a loop or a long computation at module level (a test or a training "
            'run?) and move it under `if __name__ == "__main__":`; ' + raise_it,
        )
    if phase.kind == "call":
        return (
            f"{shown}: {_call(phase, ops, names, limit)}",
            f"look for an infinite loop or a very slow loop over elements; {shared}",
        )
    if phase.kind == "reply":
        return (
            f"{shown} did not finish within {limit}: all {len(ops)} calls had returned and "
            "bncheck's child was writing their results",
            f"does the submission start a thread that keeps running? {raise_it}",
        )
    return (
        f"{shown} did not finish within {limit} (start-up, import and every call; "
        "which of them was running is unknown)",
        f"look for an infinite loop or a very slow loop over elements; {shared}",
    )
