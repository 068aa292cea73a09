"""Which calls to make of a submission, in which order, and what came back.

The calls are planned up front (a list of ops for ``bncheck.runner.calls.execute``), because
the submission runs in another process. Sections of the plan:

* main: each case once: forward then backward (cs231n), or one call; and case B below;
* hidden: case A, then an unrelated case B of the same shape, then A again with a
  new upstream gradient: a backward that keeps state answers with an old result;
* running (cs231n only): train steps from empty and from given running statistics,
  and an eval ('test') forward with given running statistics;
* directions: the submission's own forward at inputs ± h·v, for ⟨w, J v⟩ = ⟨Jᵀw, v⟩.

The order of the calls comes from the seed. A fixed order lets a backward be right
for exactly the calls it was shown (say the first 10) and wrong after, so the plan
is cut into independent blocks that are shuffled: each case's forward and backward,
the hidden block (A, B, A again, in that order), each running-statistics forward,
each direction forward. A cs231n backward runs right after the forward whose cache
it reads: a backward that reads the last forward's state instead of its cache is
then caught by the hidden block, which says so, rather than crashing on another
case's shapes. Every gradient call is checked against the references: case B is
also a main case, and A and A again are checked by the hidden-state row.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bncheck.check.fd import directions
from bncheck.check.inputs import Case, make_case, upstream_gradient
from bncheck.check.submission import Target
from bncheck.spec import NormSpec

__all__ = ["DIRECTION_STEP", "Plan", "make_plan"]

# per element, in units of σ (the directions are scaled by σ); float32 needs a coarse step
DIRECTION_STEP = {"float64": 1e-5, "float32": 1e-2}


@dataclass
class Plan:
    style: str
    spec: NormSpec
    cases: tuple[Case, ...]  # the battery's cases, then case B of the hidden block
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
    """The calls for ``cases`` (case B appended), in an order drawn from ``seed``."""
    rng = np.random.default_rng(seed + 1)
    a = cases[0]
    b = make_case(spec, a.shape, rng, name=f"another {a.shape}").astype(a.x.dtype)
    dy2 = upstream_gradient(a.x.astype(np.float64), spec, rng).astype(a.x.dtype)
    plan = Plan(target.style, spec, (*cases, b))
    cs231n = plan.style == "cs231n"
    blocks: list[list[int]] = []  # op indices as built; a block's ops run in order, together
    for i, case in enumerate(cases):
        block = [_forward(plan, case, save=f"c{i}")] if cs231n else []
        plan.forwards += block
        plan.main.append(_gradient_call(plan, case, f"c{i}"))
        blocks.append([*block, plan.main[-1]])

    hidden = [_forward(plan, a, save="hA"), _forward(plan, b, save="hB")] if cs231n else []
    plan.forwards += hidden[1:]
    plan.hidden = {
        "A": _gradient_call(plan, a, "hA"),
        "B": _gradient_call(plan, b, "hB"),
        "A2": _gradient_call(plan, a, "hA", dy=dy2),
        "case_b": b,
        "dy2": dy2,
    }
    plan.main.append(plan.hidden["B"])  # B's gradient is checked like any case's
    blocks.append(hidden + [plan.hidden[key] for key in ("A", "B", "A2")])

    if cs231n:
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
        blocks += [[plan.running[key]] for key in ("fresh", "given", "eval")]

    if plan.style in ("cs231n", "torch"):
        plan.dirs = directions(a.x.astype(np.float64), a.gamma, spec, k, rng)
        for vx, vg, vb in plan.dirs:
            pair = []
            for sign in (1.0, -1.0):
                h = sign * DIRECTION_STEP[str(a.x.dtype)]
                moved = Case("direction", a.x + h * vx, a.gamma + h * vg, a.beta + h * vb, a.dy)
                moved = moved.astype(a.x.dtype)
                if cs231n:
                    pair.append(_forward(plan, moved))
                else:
                    pair.append(
                        plan.add(
                            op="torch", x=moved.x, gamma=moved.gamma, beta=moved.beta, eps=spec.eps
                        )
                    )
            plan.dir_ops.append((pair[0], pair[1]))
            blocks += [[op] for op in pair]
    rng.shuffle(blocks)
    _reorder(plan, [op for block in blocks for op in block])
    return plan


def _reorder(plan: Plan, order: list[int]) -> None:
    """Issue the ops in ``order`` (indices as built) and renumber every index the checks read."""
    new = {old: n for n, old in enumerate(order)}
    plan.ops = [plan.ops[old] for old in order]
    plan.main = [new[i] for i in plan.main]
    plan.forwards = [new[i] for i in plan.forwards]
    plan.dir_ops = [(new[up], new[down]) for up, down in plan.dir_ops]
    for section, keys in (
        (plan.hidden, ("A", "B", "A2")),
        (plan.running, ("fresh", "given", "eval")),
    ):
        for key in keys:
            if key in section:
                section[key] = new[section[key]]
