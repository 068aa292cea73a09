"""Which calls to make of a submission, in which order, and what came back.

The calls are planned up front (a list of ops for ``worker.execute``), because
the submission runs in another process. Sections of the plan:

* main: each case once: forward then backward (cs231n), or one call;
* hidden: case A, then an unrelated case B of the same shape, then A again with a
  new upstream gradient: a backward that keeps state answers with an old result;
* running (cs231n only): train steps from empty and from given running statistics,
  and an eval ('test') forward with given running statistics;
* directions: the submission's own forward at inputs ± h·v, for ⟨w, J v⟩ = ⟨Jᵀw, v⟩.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bncheck.check.fd import directions
from bncheck.check.inputs import Case, make_case, upstream_gradient
from bncheck.check.submission import SubmissionError, Target
from bncheck.spec import NormSpec

__all__ = ["DIRECTION_STEP", "Plan", "Returned", "make_plan", "returned"]

# per element, in units of σ (the directions are scaled by σ); float32 needs a coarse step
DIRECTION_STEP = {"float64": 1e-5, "float32": 1e-2}


@dataclass
class Plan:
    style: str
    spec: NormSpec
    cases: tuple[Case, ...]
    ops: list[dict[str, Any]] = field(default_factory=list)
    main: list[int] = field(default_factory=list)  # op index of each case's gradients
    forwards: list[int] = field(default_factory=list)  # op index of each case's forward
    hidden: dict[str, Any] = field(default_factory=dict)
    running: dict[str, Any] = field(default_factory=dict)
    dirs: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = field(default_factory=list)
    dir_ops: list[tuple[int, int]] = field(default_factory=list)

    def add(self, **op: Any) -> int:
        self.ops.append(op)
        return len(self.ops) - 1


def _bn_param(spec: NormSpec, mode: str = "train", **running: np.ndarray) -> dict[str, Any]:
    return {"mode": mode, "eps": spec.eps, "momentum": spec.momentum, **running}


def _gradient_call(plan: Plan, case: Case, key: str, dy: np.ndarray | None = None) -> int:
    """Ops for one gradient of ``case``; returns the index of the op that gives it."""
    dy = case.dy if dy is None else dy
    spec = plan.spec
    if plan.style == "plain":
        return plan.add(
            op="plain", dy=dy.copy(), x=case.x.copy(), gamma=case.gamma.copy(), eps=spec.eps
        )
    if plan.style == "torch":
        return plan.add(
            op="torch",
            x=case.x.copy(),
            gamma=case.gamma.copy(),
            beta=case.beta.copy(),
            eps=spec.eps,
            dy=dy.copy(),
        )
    return plan.add(op="backward", dy=dy.copy(), cache=key)


def _forward(plan: Plan, case: Case, save: str = "", bn_param: dict[str, Any] | None = None) -> int:
    return plan.add(
        op="forward",
        x=case.x.copy(),
        gamma=case.gamma.copy(),
        beta=case.beta.copy(),
        bn_param=bn_param or _bn_param(plan.spec),
        save=save,
    )


def make_plan(
    target: Target, spec: NormSpec, cases: tuple[Case, ...], seed: int, k: int = 4
) -> Plan:
    plan = Plan(target.style, spec, cases)
    rng = np.random.default_rng(seed + 1)
    for i, case in enumerate(cases):
        if plan.style == "cs231n":
            plan.forwards.append(_forward(plan, case, save=f"c{i}"))
        plan.main.append(_gradient_call(plan, case, f"c{i}"))

    a = cases[0]
    b = make_case(spec, a.shape, rng, name=f"another {a.shape}").astype(a.x.dtype)
    dy2 = upstream_gradient(a.x.astype(np.float64), spec, rng).astype(a.x.dtype)
    if plan.style == "cs231n":
        _forward(plan, a, save="hA")
        _forward(plan, b, save="hB")
    plan.hidden = {
        "A": _gradient_call(plan, a, "hA"),
        "B": _gradient_call(plan, b, "hB"),
        "A2": _gradient_call(plan, a, "hA", dy=dy2),
        "case_b": b,
        "dy2": dy2,
    }

    if plan.style == "cs231n":
        d = a.gamma.shape
        rm0, rv0 = rng.standard_normal(d), rng.uniform(0.5, 2.0, d)
        plan.running = {
            "fresh": _forward(plan, a),
            "given": _forward(plan, a, bn_param=_bn_param(spec, running_mean=rm0, running_var=rv0)),
            "eval": _forward(
                plan, b, bn_param=_bn_param(spec, "test", running_mean=rm0, running_var=rv0)
            ),
            "rm0": rm0,
            "rv0": rv0,
        }

    if plan.style in ("cs231n", "torch"):
        plan.dirs = directions(a.x.astype(np.float64), a.gamma, spec, k, rng)
        for vx, vg, vb in plan.dirs:
            pair = []
            for sign in (1.0, -1.0):
                h = sign * DIRECTION_STEP[str(a.x.dtype)]
                moved = Case("direction", a.x + h * vx, a.gamma + h * vg, a.beta + h * vb, a.dy)
                moved = moved.astype(a.x.dtype)
                if plan.style == "cs231n":
                    pair.append(_forward(plan, moved))
                else:
                    pair.append(
                        plan.add(
                            op="torch", x=moved.x, gamma=moved.gamma, beta=moved.beta, eps=spec.eps
                        )
                    )
            plan.dir_ops.append((pair[0], pair[1]))
    return plan


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
        if item["array"] is None or item["array"].dtype == object:
            raise SubmissionError(
                f"{fn} returned a {item['type']} for {name}; expected a numpy array",
                f"return {name} as an array with the shape of "
                + ("x" if name in ("dx", "out") else "gamma"),
                code="not-an-array",
            )
        arrays.append(item["array"])
    return Returned(tuple(arrays), tuple(a.dtype for a in arrays))
