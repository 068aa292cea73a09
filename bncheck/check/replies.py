"""What a call of the submission returned, as arrays, or a SubmissionError saying why not.

A reply is plain data (see ``bncheck.runner.calls.pack``): per returned item its type
name and, when it was a numeric array (or a tensor), the array. Nothing in it is code.
An optional call (the eval-mode forward) that raised has, instead, the reply
``{"error": {"type": str, "message": str, "where": str}, "inputs": {...}}``;
``call_error`` words it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeGuard

import numpy as np

from bncheck.check.submission import SubmissionError, Target
from bncheck.runner import clean_text
from bncheck.runner.calls import ERROR_CAPS

__all__ = ["ROLES", "Returned", "call_error", "check_replies", "returned"]


@dataclass(frozen=True)
class Returned:
    """What one call returned, after the arity and type checks of the first call."""

    arrays: tuple[np.ndarray, ...]
    dtypes: tuple[np.dtype, ...]


ROLES = {"backward": ("dx", "dgamma", "dbeta"), "forward": ("out", "cache")}


def _is_error(value: Any) -> TypeGuard[dict[str, str]]:
    """What ``runner.calls.call_error`` makes: three strings, each within its cap."""
    return (
        isinstance(value, dict)
        and set(value) == set(ERROR_CAPS)
        and all(type(value[k]) is str and len(value[k]) <= cap for k, cap in ERROR_CAPS.items())
    )


def call_error(reply: dict[str, Any]) -> str | None:
    """'ValueError: Invalid forward batchnorm mode "test" (layers.py, line 42)', or None.

    The one-line description of an optional call that raised (its reply's "error"); None
    for a reply that holds what the call returned. The text came from the submission's
    process: it is cleaned of control characters and escape sequences here.
    """
    error = reply.get("error") if isinstance(reply, dict) else None
    if not _is_error(error):
        return None
    type_, message, where = (
        " ".join(clean_text(error[k], ERROR_CAPS[k]).split()) for k in ("type", "message", "where")
    )
    text = f"{type_ or 'an exception'}: {message}" if message else type_ or "an exception"
    return f"{text} ({where})" if where else text


def returned(target: Target, reply: dict[str, Any], what: str = "backward") -> Returned:
    """The arrays of a reply, or a SubmissionError for a wrong arity or a non-array
    (or for an optional call that raised: its reply holds no arrays)."""
    fn = target.names.get(what) or target.names.get("function", what)
    raised = call_error(reply)
    if raised is not None:
        raise SubmissionError(
            f"{fn} raised {raised}",
            f"{fn} is called in eval mode too (bn_param['mode'] = 'test'): it must then "
            "normalize with the running statistics and return out, cache"
            if what == "forward"
            else f"{fn} must return its results for every call bncheck makes",
            code="submission-raised",
        )
    if "grads" in reply and what == "backward":
        packed = reply["grads"]
    elif "out" in reply and what == "forward":  # torch: y alone (a tuple: its first item)
        first = reply["out"]["items"][:1] or [{"type": "tuple of no values", "array": None}]
        packed = {"tuple": True, "items": [*first, {"type": "cache", "array": None}]}
    else:
        packed = reply["returned"]
    names = ROLES[what]
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
    values = [item for name, item in zip(names, items, strict=True) if name != "cache"]
    # CS231n's starter code: dx, dgamma, dbeta = None, None, None (a forward that returns
    # None may just lack eval mode: the not-an-array message below says which call it was)
    if what == "backward" and all(item["type"] == "builtins.NoneType" for item in values):
        raise SubmissionError(
            f"{fn} is not implemented yet: it returned None for "
            + ", ".join(n for n in names if n != "cache"),
            f"write {fn}, then check it again",
            code="not-implemented",
        )
    arrays = []
    for name, item in zip(names, items, strict=True):
        if name == "cache":
            continue
        array = item.get("array")
        if not isinstance(array, np.ndarray) or array.dtype.kind not in "biuf":
            raise SubmissionError(
                f"{fn} returned a {clean_text(item['type'], 200)} for {name}; "
                "expected a numpy array",
                f"return {name} as an array with the shape of "
                + ("x" if name in ("dx", "out") else "gamma"),
                code="not-an-array",
            )
        arrays.append(array)
    return Returned(tuple(arrays), tuple(a.dtype for a in arrays))


def _is_packed(value: Any) -> bool:
    """What ``runner.calls.pack`` makes: a tuple flag and items of type name + array or None."""
    if not isinstance(value, dict) or not isinstance(value.get("tuple"), bool):
        return False
    items = value.get("items")
    return isinstance(items, list) and all(
        isinstance(i, dict)
        and isinstance(i.get("type"), str)
        and (i.get("array") is None or isinstance(i.get("array"), np.ndarray))
        for i in items
    )


def _arrays(value: Any) -> bool:
    return isinstance(value, dict) and all(isinstance(v, np.ndarray) for v in value.values())


def _snapshot(value: Any) -> bool:
    return value is None or (
        isinstance(value, list)
        and all(isinstance(p, list) and all(isinstance(s, str) for s in p) for p in value)
    )


_SHAPE = {  # op kind -> what its reply must hold
    "forward": lambda r: _is_packed(r.get("returned")) and isinstance(r.get("bn_param"), dict),
    "backward": lambda r: (
        _is_packed(r.get("returned"))
        and _snapshot(r.get("cache_before"))
        and _snapshot(r.get("cache_after"))
    ),
    "plain": lambda r: _is_packed(r.get("returned")),
    "torch": lambda r: (
        _is_packed(r.get("out"))
        and _arrays(r.get("inputs_after"))
        and ("grads" not in r or _is_packed(r["grads"]))
        and ("dy_after" not in r or isinstance(r["dy_after"], np.ndarray))
    ),
}


def _is_error_reply(reply: dict[str, Any]) -> bool:
    """An optional call that raised: its error and the inputs as they were after the call."""
    return set(reply) == {"error", "inputs"} and _is_error(reply["error"])


def check_replies(target: Target, ops: list[dict[str, Any]], replies: Any) -> None:
    """The replies have the structure of the calls made, or a SubmissionError (exit 2).

    A reply comes from the submission's process: a submission that replaced bncheck's
    writer can send any well-formed message. Checked here, the checks can trust its shape.
    Only an op marked ``optional`` may have an error in place of its results.
    """
    ok = isinstance(replies, list) and len(replies) == len(ops)
    for op, reply in zip(ops, replies if ok else [], strict=False):
        if not ok:
            break
        ok = (
            isinstance(reply, dict)
            and _arrays(reply.get("inputs", {}))
            and (
                ("error" not in reply and _SHAPE[op["op"]](reply))
                or (op.get("optional") is True and _is_error_reply(reply))
            )
        )
    if not ok:
        raise SubmissionError(
            f"{target.path}: the sandboxed child's reply does not match the calls bncheck made",
            "the submission interfered with bncheck's child process (its reply writer?)",
            code="bad-reply",
        )
