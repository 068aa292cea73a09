"""What a call of the submission returned, as arrays, or a SubmissionError saying why not.

A reply is plain data (see ``bncheck.runner.calls.pack``): per returned item its type
name and, when it was a numeric array (or a tensor), the array. Nothing in it is code.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from bncheck.check.submission import SubmissionError, Target

__all__ = ["ROLES", "Returned", "returned"]


@dataclass(frozen=True)
class Returned:
    """What one call returned, after the arity and type checks of the first call."""

    arrays: tuple[np.ndarray, ...]
    dtypes: tuple[np.dtype, ...]


ROLES = {"backward": ("dx", "dgamma", "dbeta"), "forward": ("out", "cache")}


def returned(target: Target, reply: dict[str, Any], what: str = "backward") -> Returned:
    """The arrays of a reply, or a SubmissionError for a wrong arity or a non-array."""
    if "grads" in reply and what == "backward":
        packed = reply["grads"]
    elif "out" in reply and what == "forward":
        packed = {
            "tuple": True,
            "items": [reply["out"]["items"][0], {"type": "cache", "array": None}],
        }
    else:
        packed = reply["returned"]
    names = ROLES[what]
    fn = target.names.get(what) or target.names.get("function", what)
    items = packed["items"]
    if what == "backward" and target.style == "torch":
        items = items[:3]
    if not packed["tuple"] or len(items) != len(names):
        count = len(items) if packed["tuple"] else 1
        raise SubmissionError(
            f"{fn} returned {count} value{'s' * (count != 1)}; expected ({', '.join(names)})",
            f"end {fn} with: return {', '.join(names)}",
            code="wrong-arity",
        )
    arrays = []
    for name, item in zip(names, items, strict=True):
        if name == "cache":
            continue
        array = item.get("array")
        if not isinstance(array, np.ndarray) or array.dtype.kind not in "biuf":
            raise SubmissionError(
                f"{fn} returned a {item['type']} for {name}; expected a numpy array",
                f"return {name} as an array with the shape of "
                + ("x" if name in ("dx", "out") else "gamma"),
                code="not-an-array",
            )
        arrays.append(array)
    return Returned(tuple(arrays), tuple(a.dtype for a in arrays))
