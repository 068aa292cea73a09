"""Which calls to make of a submission, in which order, and what came back.

The calls are planned up front (a list of ops for ``bncheck.runner.calls.execute``), because
the submission runs in another process. Sections of the plan:

* main: each case once: forward then backward (cs231n), or one call; and case B below;
* hidden: case A, then an unrelated case B of the same shape, then A again with a
  new upstream gradient: a backward that keeps state answers with an old result; and A
  with the sum of the two upstream gradients (the diagnoser's test of linearity);
* running (cs231n batch norm only, ``spec.has_running``): train steps from empty and from
  given running statistics, and an eval ('test') forward with given running statistics;
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

A large case (more than LARGE elements: ``--shape 2048,2048``) gets one forward and
one backward, compared per element with every reference; case A of the other
sections is then a small case (the battery's first, or one drawn and put first), so
a check at (2048, 2048) holds a few arrays the size of x instead of some forty.

Every normalization is called with its own signature: the forward's last argument is the
norm's parameter dict (``bn_param`` with mode, eps, momentum and running statistics for batch
norm; ``ln_param``/``gn_param``, eps only, for the others: they have no running statistics),
and group norm's G (``op["groups"]``) is passed positionally before it (cs231n's
``spatial_groupnorm_forward(x, gamma, beta, G, gn_param)``), before eps (plain
``groupnorm_backward(dy, x, gamma, G, eps)``, torch ``forward(ctx, x, gamma, beta, G, eps)``).

Ops hold the cases' own arrays, never copies (a copy per op was 17 arrays the size of
x): the child reads its own from the request, and ``runner.calls.execute`` hands each
call a copy of its op's arrays, so a submission that writes to its input changes
neither a case nor another call's input.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bncheck.check.fd import directions
from bncheck.check.inputs import Case, make_case, small_case, upstream_gradient
from bncheck.check.submission import Target
from bncheck.spec import NormSpec

__all__ = ["DIRECTION_STEP", "LARGE", "Plan", "make_plan", "reply_bytes"]

# per element, in units of σ (the directions are scaled by σ); float32 needs a coarse step
DIRECTION_STEP = {"float64": 1e-5, "float32": 1e-2}
# Elements above which a case is too large to be case A (17 calls, each with its own copies
# of the input and output): (256, 256); the battery's own cases have at most 80·48.
LARGE = 1 << 16


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
    """The forward's parameter dict: bn_param for batch norm, ln_param/gn_param (eps) else."""
    if not spec.has_running:
        return {"eps": spec.eps}
    return {"mode": mode, "eps": spec.eps, "momentum": spec.effective_momentum, **running}


def _groups(spec: NormSpec) -> dict[str, Any]:
    """G for group norm's signatures, passed positionally (``op["groups"]``); {} otherwise."""
    return {} if spec.groups is None else {"groups": spec.groups}


def _gradient_call(plan: Plan, case: Case, key: str, dy: np.ndarray | None = None) -> int:
    """Ops for one gradient of ``case``; returns the index of the op that gives it."""
    dy = case.dy if dy is None else dy
    spec = plan.spec
    if plan.style == "plain":
        return plan.add(
            op="plain", dy=dy, x=case.x, gamma=case.gamma, eps=spec.eps, **_groups(spec)
        )
    if plan.style == "torch":
        return plan.add(
            op="torch",
            x=case.x,
            gamma=case.gamma,
            beta=case.beta,
            eps=spec.eps,
            dy=dy,
            **_groups(spec),
        )
    return plan.add(op="backward", dy=dy, cache=key)


def _forward(plan: Plan, case: Case, save: str = "", bn_param: dict[str, Any] | None = None) -> int:
    return plan.add(
        op="forward",
        x=case.x,
        gamma=case.gamma,
        beta=case.beta,
        bn_param=bn_param or _bn_param(plan.spec),
        save=save,
        **_groups(plan.spec),
    )


def make_plan(
    target: Target, spec: NormSpec, cases: tuple[Case, ...], seed: int, k: int = 4
) -> Plan:
    """The calls for ``cases`` (a small case first when cases[0] is large; case B appended),
    in an order drawn from ``seed``."""
    rng = np.random.default_rng(seed + 1)
    cases = _small_first(spec, cases, rng)
    a = cases[0]
    b = make_case(spec, a.shape, rng, name=f"another {a.shape}").astype(a.x.dtype)
    dy2 = upstream_gradient(np.asarray(a.x, np.float64), spec, rng).astype(a.x.dtype)
    plan = Plan(target.style, spec, (*cases, b))
    cs231n = plan.style == "cs231n"
    blocks: list[list[int]] = []  # op indices as built; a block's ops run in order, together
    for i, case in enumerate(cases):
        block = [_forward(plan, case, save=f"c{i}")] if cs231n else []
        plan.forwards += block
        plan.main.append(_gradient_call(plan, case, f"c{i}"))
        blocks.append([*block, plan.main[-1]])

    dy3 = a.dy + dy2
    hidden = [_forward(plan, a, save="hA"), _forward(plan, b, save="hB")] if cs231n else []
    plan.forwards += hidden[1:]
    plan.hidden = {
        "A": _gradient_call(plan, a, "hA"),
        "B": _gradient_call(plan, b, "hB"),
        "A2": _gradient_call(plan, a, "hA", dy=dy2),
        # A once more with dy + dy2: a backward is linear in dy (bncheck.diagnose reads it)
        "A3": _gradient_call(plan, a, "hA", dy=dy3),
        "case_b": b,
        "dy2": dy2,
        "dy3": dy3,
    }
    plan.main.append(plan.hidden["B"])  # B's gradient is checked like any case's
    blocks.append(hidden + [plan.hidden[key] for key in ("A", "B", "A2", "A3")])

    if cs231n and spec.has_running:
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
        # a forward without test mode raises here: recorded in its reply, the run goes on
        plan.ops[plan.running["eval"]]["optional"] = True
        blocks += [[plan.running[key]] for key in ("fresh", "given", "eval")]

    if plan.style in ("cs231n", "torch"):
        plan.dirs = directions(np.asarray(a.x, np.float64), a.gamma, spec, k, rng)
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
                            op="torch",
                            x=moved.x,
                            gamma=moved.gamma,
                            beta=moved.beta,
                            eps=spec.eps,
                            **_groups(spec),
                        )
                    )
            plan.dir_ops.append((pair[0], pair[1]))
            blocks += [[op] for op in pair]
    rng.shuffle(blocks)
    _reorder(plan, [op for block in blocks for op in block])
    return plan


def reply_bytes(plan: Plan) -> int:
    """A bound on the size of the child's reply to ``plan``'s calls, for its file-size limit.

    A reply sends back each op's arrays (for the mutation check) and what the call
    returned, which is at most as large again for a submission that returns what it
    should (out like x, dx like dy, dgamma and dbeta like gamma; torch: the tensors after
    the call too): at most 3x each op's arrays, plus room for one extra array as large as
    its largest (a (D, D) dgamma) and 64 KiB of structure.
    """

    def arrays(value: Any) -> list[np.ndarray]:
        if isinstance(value, np.ndarray):
            return [value]
        if isinstance(value, dict):
            return [a for v in value.values() for a in arrays(v)]
        return []

    total = 0
    for op in plan.ops:
        sizes = [a.nbytes for a in arrays(op)]
        total += 3 * sum(sizes) + max(sizes, default=0) + (64 << 10)
    return total


def _small_first(
    spec: NormSpec, cases: tuple[Case, ...], rng: np.random.Generator
) -> tuple[Case, ...]:
    """``cases``, with an ordinary case of at most LARGE elements first (case A): the first
    such case (not a degenerate one: case A must be ordinary), or a small one drawn from
    ``rng``. Unchanged when cases[0] is not large."""
    if cases[0].x.size <= LARGE:
        return cases
    small = next((c for c in cases if c.x.size <= LARGE and not c.note), None)
    if small is None:
        return (small_case(spec, rng).astype(cases[0].x.dtype), *cases)
    return (small, *(c for c in cases if c is not small))


def _reorder(plan: Plan, order: list[int]) -> None:
    """Issue the ops in ``order`` (indices as built) and renumber every index the checks read."""
    new = {old: n for n, old in enumerate(order)}
    plan.ops = [plan.ops[old] for old in order]
    plan.main = [new[i] for i in plan.main]
    plan.forwards = [new[i] for i in plan.forwards]
    plan.dir_ops = [(new[up], new[down]) for up, down in plan.dir_ops]
    for section, keys in (
        (plan.hidden, ("A", "B", "A2", "A3")),
        (plan.running, ("fresh", "given", "eval")),
    ):
        for key in keys:
            if key in section:
                section[key] = new[section[key]]
