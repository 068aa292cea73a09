"""The child process that runs a submission: ``python -m bncheck.check.worker DIR``.

It reads DIR/request.pkl, runs the requested calls in order and writes DIR/reply.pkl.
It compares nothing: every verdict is made in the parent, so a submission that
monkeypatches numpy or builtins here cannot make a wrong gradient pass. The same
``execute`` runs in-process for callables handed to the Python API.
"""

from __future__ import annotations

import importlib.util
import io
import os
import pickle
import sys
import traceback
import warnings
from collections.abc import Callable
from typing import Any

# Taken before the submission is imported, so it cannot swap them under us.
_dump, _load, _open, _dumps = pickle.dump, pickle.load, io.open, pickle.dumps


class CallFailed(Exception):
    """The submission raised, or exited, while we ran call ``op``."""

    def __init__(self, info: dict[str, Any]) -> None:
        super().__init__(info.get("message", ""))
        self.info = info


def _failure(
    exc: BaseException, where: str, files: set[str], display: dict[str, str] | None = None
) -> dict[str, Any]:
    if isinstance(exc, SystemExit):
        return {
            "kind": "exit",
            "where": where,
            "code": exc.code,
            "message": f"sys.exit({exc.code!r})",
        }
    frames = [
        f for f in traceback.extract_tb(exc.__traceback__) if os.path.abspath(f.filename) in files
    ]
    lines = traceback.format_list(frames) + traceback.format_exception_only(type(exc), exc)
    text = "".join(lines).rstrip()
    for full, shown in (display or {}).items():  # the path as the user typed it
        text = text.replace(f'File "{full}"', f'File "{shown}"')
    return {
        "kind": "exception",
        "where": where,
        "type": type(exc).__name__,
        "message": str(exc),
        "traceback": text,
    }


def load_module(path: str) -> Any:
    """Import the file at ``path`` as module ``submission``, its folder first on sys.path."""
    folder = os.path.dirname(os.path.abspath(path))
    sys.path.insert(0, folder)
    spec = importlib.util.spec_from_file_location("submission", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["submission"] = module
    spec.loader.exec_module(module)
    return module


def pack(value: Any) -> dict[str, Any]:
    """What a call returned, as plain data: arity, type names, arrays as numpy copies."""
    items = list(value) if isinstance(value, (tuple, list)) else [value]
    packed = []
    for v in items:
        kind = type(v).__module__ + "." + type(v).__qualname__
        array = None
        if hasattr(v, "detach") and hasattr(v, "numpy"):  # a torch tensor
            array = v.detach().cpu().numpy().copy()
        elif hasattr(v, "__array__") and hasattr(v, "dtype"):
            import numpy as np

            array = np.array(v, copy=True)
        packed.append({"type": kind, "array": array})
    return {"tuple": isinstance(value, (tuple, list)), "items": packed}


def _snapshot(obj: Any) -> bytes | None:
    try:
        return _dumps(obj)
    except Exception:
        return None


def _call(fn: Callable[..., Any], args: tuple[Any, ...]) -> Any:
    # A submission's own warnings (numpy's divide by zero...) are not errors: its results
    # are judged instead. Under pytest's "error" filter they would otherwise raise.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args)


def _torch_call(fn: Any, op: dict[str, Any]) -> dict[str, Any]:
    import torch

    x, gamma, beta = (torch.tensor(op[k], requires_grad=True) for k in ("x", "gamma", "beta"))
    dy = torch.tensor(op["dy"]) if "dy" in op else None
    dy_before = None if dy is None else dy.clone()
    y = _call(fn.apply, (x, gamma, beta, op["eps"]))
    reply: dict[str, Any] = {"out": pack(y)}
    if dy is not None:
        _call(y.backward, (dy,))
        reply["grads"] = pack((x.grad, gamma.grad, beta.grad))
        reply["dy_after"] = dy.numpy().copy()
        reply["dy_mutated"] = dy_before is not None and not torch.equal(dy, dy_before)
    tensors = {"x": x, "gamma": gamma, "beta": beta}
    reply["inputs_after"] = {k: t.detach().numpy().copy() for k, t in tensors.items()}
    return reply


def execute(
    ops: list[dict[str, Any]],
    funcs: dict[str, Any],
    files: set[str],
    display: dict[str, str] | None = None,
) -> list[dict[str, Any]]:
    """Run ``ops`` in order; raise CallFailed on the first call that raises or exits."""
    saved: dict[str, Any] = {}
    replies: list[dict[str, Any]] = []
    for n, op in enumerate(ops):
        kind = op["op"]
        try:
            if kind == "forward":  # cs231n: (out, cache) = forward(x, gamma, beta, bn_param)
                bn_param = dict(op["bn_param"])
                args = (op["x"], op["gamma"], op["beta"], bn_param)
                result = _call(funcs["forward"], args)
                reply: dict[str, Any] = {"returned": pack(result), "bn_param": bn_param}
                if not (isinstance(result, (tuple, list)) and len(result) == 2):
                    count = len(result) if isinstance(result, (tuple, list)) else 1
                    info = {"kind": "arity", "where": _describe(op, funcs), "count": count}
                    raise CallFailed({**info, "op": n, "message": f"{count} values"})
                if op.get("save"):
                    saved[op["save"]] = result[1]
            elif kind == "backward":  # cs231n: (dx, dgamma, dbeta) = backward(dout, cache)
                cache = saved[op["cache"]]
                before = _snapshot(cache)
                result = _call(funcs["backward"], (op["dy"], cache))
                reply = {
                    "returned": pack(result),
                    "cache_before": before,
                    "cache_after": _snapshot(cache),
                }
            elif kind == "plain":  # plain: (dx, dgamma, dbeta) = backward(dy, x, gamma, eps)
                result = _call(funcs["backward"], (op["dy"], op["x"], op["gamma"], op["eps"]))
                reply = {"returned": pack(result)}
            elif kind == "torch":
                reply = _torch_call(funcs["function"], op)
            else:
                raise ValueError(f"unknown op {kind!r}")
        except CallFailed:
            raise
        except BaseException as exc:
            info = _failure(exc, _describe(op, funcs), files, display)
            info["op"] = n
            raise CallFailed(info) from None
        reply["inputs"] = {k: op[k] for k in ("x", "gamma", "beta", "dy") if k in op}
        replies.append(reply)
    return replies


def _describe(op: dict[str, Any], funcs: dict[str, Any]) -> str:
    role = {"forward": "forward", "torch": "function"}.get(op["op"], "backward")
    fn = funcs.get(role)
    return getattr(fn, "__name__", role)


def main(argv: list[str]) -> int:
    folder = argv[0]
    with _open(os.path.join(folder, "request.pkl"), "rb") as f:
        request = _load(f)
    path = request["path"]
    files = {os.path.abspath(path)}
    display = {os.path.abspath(path): request.get("display", path)}
    try:
        try:
            module = load_module(path)
        except BaseException as exc:
            raise CallFailed(_failure(exc, "import", files, display)) from None
        funcs = {role: getattr(module, name) for role, name in request["names"].items()}
        replies = execute(request["ops"], funcs, files, display)
        reply: dict[str, Any] = {"ok": True, "replies": replies}
    except CallFailed as failed:
        reply = {"ok": False, "error": failed.info}
    with _open(os.path.join(folder, "reply.pkl"), "wb") as f:
        _dump(reply, f)
    return 0


if __name__ == "__main__":
    # Our own folder must not shadow the submission's imports (fd.py, inputs.py, ...).
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != here]
    raise SystemExit(main(sys.argv[1:]))
