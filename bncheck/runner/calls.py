"""The calls made of a submission, and what they returned as plain data.

This module runs inside the sandboxed child (loaded by file path, before the
submission) and in-process for callables handed to the Python API. It imports
nothing from bncheck, so the child never has bncheck in ``sys.modules``.

A reply is data only: per returned item its type name and, when it is a numeric
array or a tensor, a copy of the array. The cache of a cs231n forward is never sent
back; the child reports a digest per array in it (before and after the backward), so
the mutation check costs no copy of a large cache in either process. An ``optional`` call
that raises is recorded in its reply (``{"error": call_error(exc)}``) and the calls go on.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import inspect
import os
import traceback
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["ERROR_CAPS", "CallFailed", "call_error", "execute", "failure", "pack", "snapshot"]

_NUMERIC = "biuf"  # bool, int, unsigned, float: what a gradient or an output may be
_MAX_ITEMS = 10_000  # entries walked in a cache before giving up on its snapshot
_MAX_DEPTH = 8
# an optional call that raised: the longest strings its reply's "error" may hold
ERROR_CAPS = {"type": 100, "message": 500, "where": 300}


class CallFailed(Exception):
    """The submission raised, or exited, while we ran call ``op``."""

    def __init__(self, info: dict[str, Any]) -> None:
        super().__init__(info.get("message", ""))
        self.info = info


def _type_name(v: Any) -> str:
    kind = type(v).__module__ + "." + type(v).__qualname__
    if isinstance(v, np.ndarray) and v.dtype.kind not in _NUMERIC:
        kind += f" of dtype {v.dtype}"
    return kind


def _as_array(v: Any) -> np.ndarray | None:
    """A numeric numpy copy of ``v`` (array, numpy scalar or tensor), else None."""
    array = None
    try:
        if hasattr(v, "detach") and hasattr(v, "numpy"):  # a torch tensor
            array = np.array(v.detach().cpu().numpy(), copy=True)
        elif isinstance(v, (np.ndarray, np.generic)):
            array = np.array(v, copy=True)
    except Exception:
        return None
    if array is None or array.dtype.kind not in _NUMERIC:
        return None
    return np.ascontiguousarray(array)


def pack(value: Any) -> dict[str, Any]:
    """What a call returned, as plain data: arity, type names, numeric arrays as copies."""
    is_tuple = isinstance(value, (tuple, list))
    items = list(value)[:16] if is_tuple else [value]
    packed = [{"type": _type_name(v), "array": _as_array(v)} for v in items]
    return {"tuple": is_tuple, "count": len(value) if is_tuple else 1, "items": packed}


def _digest(a: np.ndarray) -> str:
    h = hashlib.blake2b(digest_size=16)
    h.update(f"{a.dtype.str}{a.shape}".encode())
    h.update(np.ascontiguousarray(a).data)
    return h.hexdigest()


def snapshot(obj: Any) -> list[list[str]] | None:
    """[path, digest] of every array in a (nested) cache; None when it cannot be walked."""
    found: list[list[str]] = []

    def walk(o: Any, path: str, depth: int) -> None:
        if len(found) > _MAX_ITEMS or depth > _MAX_DEPTH:
            raise ValueError("cache too large to snapshot")
        if isinstance(o, np.ndarray):
            if o.dtype.kind in _NUMERIC:
                found.append([path, _digest(o)])
        elif isinstance(o, dict):
            for k in list(o)[:_MAX_ITEMS]:
                walk(o[k], f"{path}[{k!r}]"[:200], depth + 1)
        elif isinstance(o, (tuple, list)):
            for i, v in enumerate(o[:_MAX_ITEMS]):
                walk(v, f"{path}[{i}]", depth + 1)
        elif hasattr(o, "__dict__") and not callable(o) and depth < _MAX_DEPTH:
            for k, v in list(vars(o).items())[:_MAX_ITEMS]:
                walk(v, f"{path}.{k}"[:200], depth + 1)

    try:
        walk(obj, "cache", 0)
    except Exception:
        return None
    return found


def _pack_param(bn_param: Any) -> dict[str, Any]:
    """bn_param after a forward: arrays and numbers as data, anything else by type name."""
    if not isinstance(bn_param, dict):
        return {}
    out: dict[str, Any] = {}
    for k in list(bn_param)[:32]:
        if not isinstance(k, str):
            continue
        v = bn_param[k]
        if isinstance(v, (bool, int, float, str)) and not isinstance(v, np.generic):
            out[k] = v if not isinstance(v, str) else v[:100]
        else:
            out[k] = {"type": _type_name(v), "array": _as_array(v)}
    return out


def failure(
    exc: BaseException, where: str, files: set[str], display: dict[str, str] | None = None
) -> dict[str, Any]:
    """The submission's exception as data: its type, message and its own frames only."""
    if isinstance(exc, SystemExit):
        return {"kind": "exit", "where": where, "message": f"sys.exit({exc.code!r})"[:200]}
    # lines are looked up only for the submission's frames: reading bncheck's own files
    # from the sandbox would trip its audit hook
    summary = traceback.StackSummary.extract(
        traceback.walk_tb(exc.__traceback__), lookup_lines=False
    )
    frames = [f for f in summary if os.path.abspath(f.filename) in files]
    try:
        message = str(exc)
    except Exception:
        message = "<unprintable>"
    lines = traceback.format_list(frames[-20:])
    lines.append(f"{type(exc).__name__}: {message}")
    text = "".join(lines).rstrip()
    for full, shown in (display or {}).items():  # the path as the user typed it
        text = text.replace(f'File "{full}"', f'File "{shown}"')
    kind = "memory" if isinstance(exc, MemoryError) else "exception"
    return {
        "kind": kind,
        "where": where,
        "type": type(exc).__name__,
        "message": message[:2000],
        "traceback": text[-8000:],
    }


def _one_line(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def call_error(
    exc: BaseException, files: set[str], display: dict[str, str] | None = None
) -> dict[str, str]:
    """An optional call's exception, as its reply records it: three one-line strings.

    ``{"type": "ValueError", "message": "...", "where": "layers.py, line 42"}``: the type's
    name, its message (whitespace collapsed, at most ERROR_CAPS characters each) and the
    submission's innermost line in the traceback ("" when none of its frames is there).
    """
    try:
        message = str(exc)
    except Exception:
        message = "<unprintable>"
    where = ""
    summary = traceback.StackSummary.extract(
        traceback.walk_tb(exc.__traceback__), lookup_lines=False
    )
    for frame in reversed(summary):
        full = os.path.abspath(frame.filename)
        if full in files:
            shown = os.path.basename((display or {}).get(full, full))
            where = f"{shown}, line {frame.lineno}"
            break
    return {
        "type": _one_line(type(exc).__name__, ERROR_CAPS["type"]),
        "message": _one_line(message, ERROR_CAPS["message"]),
        "where": _one_line(where, ERROR_CAPS["where"]),
    }


def _call(fn: Callable[..., Any], args: tuple[Any, ...]) -> Any:
    # A submission's own warnings (numpy's divide by zero...) are not errors: its results
    # are judged instead. Under pytest's "error" filter they would otherwise raise.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args)


def _takes_eps(fn: Any, groups: bool = False) -> bool:
    """forward(ctx, x, gamma, beta, eps) is given eps; forward(ctx, x, gamma, beta), with its
    eps fixed inside, is called with three tensors (its eps must then be the spec's).
    Group norm's take G after beta: forward(ctx, x, gamma, beta, G[, eps])."""
    try:
        params = list(inspect.signature(fn.forward).parameters.values())
    except (TypeError, ValueError, AttributeError):
        return True
    if any(p.kind == p.VAR_POSITIONAL for p in params):
        return True
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(positional) != 4 + groups


def _with_groups(op: dict[str, Any], *args: Any) -> tuple[Any, ...]:
    """``args`` with group norm's G inserted last (it comes before eps or the param dict)."""
    return (*args, op["groups"]) if "groups" in op else args


def _torch_call(fn: Any, op: dict[str, Any], mark: Callable[[str], None]) -> dict[str, Any]:
    import torch

    x, gamma, beta = (
        torch.tensor(np.asarray(op[k]), requires_grad=True) for k in ("x", "gamma", "beta")
    )
    dy = torch.tensor(np.asarray(op["dy"])) if "dy" in op else None
    dy_before = None if dy is None else dy.clone()
    args = _with_groups(op, x, gamma, beta)
    y = _call(fn.apply, (*args, op["eps"]) if _takes_eps(fn, "groups" in op) else args)
    reply: dict[str, Any] = {"out": pack(y)}
    if dy is not None:
        mark("b")
        _call(y.backward, (dy,))
        reply["grads"] = pack((x.grad, gamma.grad, beta.grad))
        reply["dy_after"] = dy.numpy().copy()
        reply["dy_mutated"] = bool(dy_before is not None and not torch.equal(dy, dy_before))
    tensors = {"x": x, "gamma": gamma, "beta": beta}
    reply["inputs_after"] = {k: t.detach().numpy().copy() for k, t in tensors.items()}
    return reply


def _copy(v: Any) -> Any:
    return np.array(v, copy=True) if isinstance(v, np.ndarray) else v


def _describe(op: dict[str, Any], funcs: dict[str, Any]) -> str:
    role = {"forward": "forward", "torch": "function"}.get(op["op"], "backward")
    name = getattr(funcs.get(role), "__name__", role)
    return name if isinstance(name, str) else role


def _one(
    op: dict[str, Any],
    n: int,
    funcs: dict[str, Any],
    saved: dict[str, Any],
    mark: Callable[[str], None],
) -> dict[str, Any]:
    kind = op["op"]
    if kind == "forward":  # cs231n: (out, cache) = forward(x, gamma, beta[, G], bn_param)
        bn_param = dict(op["bn_param"])  # or ln_param, gn_param: eps only
        args = _with_groups(op, op["x"], op["gamma"], op["beta"])
        result = _call(funcs["forward"], (*args, bn_param))
        reply: dict[str, Any] = {"returned": pack(result), "bn_param": _pack_param(bn_param)}
        if op.get("optional") and not op.get("save"):
            return reply  # nothing reads its cache: the parent judges what it returned
        if not (isinstance(result, (tuple, list)) and len(result) == 2):
            count = len(result) if isinstance(result, (tuple, list)) else 1
            info = {"kind": "arity", "where": _describe(op, funcs), "count": count}
            raise CallFailed({**info, "op": n, "message": f"{count} values"})
        if op.get("save"):
            saved[op["save"]] = result[1]
        return reply
    if kind == "backward":  # cs231n: (dx, dgamma, dbeta) = backward(dout, cache)
        cache = saved[op["cache"]]
        before = snapshot(cache)
        result = _call(funcs["backward"], (op["dy"], cache))
        return {"returned": pack(result), "cache_before": before, "cache_after": snapshot(cache)}
    if kind == "plain":  # plain: (dx, dgamma, dbeta) = backward(dy, x, gamma[, G], eps)
        args = _with_groups(op, op["dy"], op["x"], op["gamma"])
        result = _call(funcs["backward"], (*args, op["eps"]))
        return {"returned": pack(result)}
    if kind == "torch":
        return _torch_call(funcs["function"], op, mark)
    raise ValueError(f"unknown op {kind!r}")


def _no_progress(step: int, part: str = "") -> None:
    pass


def execute(
    ops: list[dict[str, Any]],
    funcs: dict[str, Any],
    files: set[str],
    display: dict[str, str] | None = None,
    progress: Callable[[int, str], None] = _no_progress,
) -> list[dict[str, Any]]:
    """Run ``ops`` in order; raise CallFailed on the first call that raises or exits.

    Each op's arrays are handed to the submission as they are, and come back in
    ``reply["inputs"]`` afterwards, so the parent sees any change made in place.
    An op marked ``optional`` (the eval-mode forward: a forward may not support it) that
    raises an Exception gets ``{"error": call_error(...), "inputs": ...}`` as its reply,
    and the calls go on; an exit or a MemoryError still ends the run.
    ``progress(k, part)`` is told the 1-based number of each call as it starts
    (``part`` "b": the backward of a torch call), for the message of a timeout.
    """
    saved: dict[str, Any] = {}
    replies: list[dict[str, Any]] = []
    for n, shared in enumerate(ops):
        # this call's own arrays: ops share the plan's (and in-process, the caller's), and
        # a submission that writes to its input must not change another call's
        op = copy.deepcopy(shared)
        progress(n + 1, "")
        mark = functools.partial(progress, n + 1)
        try:
            reply = _one(op, n, funcs, saved, mark)
        except CallFailed:
            raise
        except BaseException as exc:
            recorded = isinstance(exc, Exception) and not isinstance(exc, MemoryError)
            if not (op.get("optional") and recorded):
                info = failure(exc, _describe(op, funcs), files, display)
                info["op"] = n
                raise CallFailed(info) from None
            reply = {"error": call_error(exc, files, display)}
        # copied now: a submission that keeps a reference and writes to it later is caught
        # at the call that handed the array out or a later one, never missed
        reply["inputs"] = {k: _copy(op[k]) for k in ("x", "gamma", "beta", "dy") if k in op}
        replies.append(reply)
    return replies
