"""Checks of behaviour rather than of values: mutation, hidden state, running statistics,
eval mode, and the submission's backward against its own forward (random directions).

Running statistics and eval mode belong to batch norm only (``NormSpec.has_running``):
the battery runs those rows for it alone. The others hold for every normalization.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

import numpy as np

from bncheck.check.compare import comparable, compare, merge
from bncheck.check.fd import directional_check
from bncheck.check.plan import DIRECTION_STEP
from bncheck.check.reference import forward, forward_eval, running_update
from bncheck.check.replies import call_error
from bncheck.check.result import CheckResult
from bncheck.check.submission import SubmissionError
from bncheck.check.terms import running_terms
from bncheck.spec import NormSpec, Running

if TYPE_CHECKING:
    from bncheck.check.evidence import Evidence

__all__ = ["directions_row", "eval_row", "hidden_row", "mutation_row", "running_row"]


def _first_change(before: Any, after: Any) -> str:
    """The first array of the cache whose digest changed ([path, digest] lists, from the child)."""
    if not isinstance(before, list) or not isinstance(after, list):
        return "the cache" if before != after else ""
    later = {str(p[0]): p[1] for p in after if isinstance(p, list) and len(p) == 2}
    for entry in before:
        if isinstance(entry, list) and len(entry) == 2 and later.get(str(entry[0])) != entry[1]:
            return str(entry[0])
    return "the cache" if before != after else ""


def mutation_row(ev: Evidence) -> CheckResult:
    """Inputs come back from the child after each call; compare them with our originals."""
    found = []
    for op, reply in zip(ev.plan.ops, ev.replies, strict=True):
        after = dict(reply.get("inputs", {}))
        if "inputs_after" in reply:  # torch: the tensors the submission was given
            after = {
                **reply["inputs_after"],
                **({"dy": reply["dy_after"]} if "dy_after" in reply else {}),
            }
        for k, value in after.items():
            if k in op and not np.array_equal(value, op[k], equal_nan=True):
                found.append(f"{'dout' if k == 'dy' else k} (in a call to {op['op']})")
        if op["op"] == "backward":
            changed = _first_change(reply.get("cache_before"), reply.get("cache_after"))
            if changed:
                found.append(f"{changed} (in backward)")
    if found:
        return CheckResult(
            "mutation",
            False,
            "inputs and cache unchanged",
            message=f"the submission changed its input in place: {found[0]}; copy before writing "
            "(e.g. dxhat = dout * gamma, not dout *= gamma)",
        )
    return CheckResult("mutation", True, "inputs and cache unchanged")


def hidden_row(ev: Evidence) -> CheckResult:
    """Deterministic code answers the same call the same way, and a new call anew."""
    plan, spec = ev.plan, ev.spec
    a, first = plan.cases[0], ev.cases[0].submission
    pair = "repeated and interleaved calls"
    rtol = ev.options.tolerances.for_pair("derived", first.dtypes[0])

    def same(u: np.ndarray, v: np.ndarray) -> bool:
        if u.shape != v.shape:
            return False
        if u.dtype.kind == "b" or v.dtype.kind == "b":  # compare() takes numbers only
            return bool(np.array_equal(u, v))
        # a dx of another shape is judged per element: the groups are those of x
        if u.shape != a.x.shape:
            return compare(u, v, "", rtol).close
        return compare(u, v, "", rtol, spec.view_axes, view=spec.view_shape(u.shape)).close

    again, b = ev.grads(plan.hidden["A"]), ev.grads(plan.hidden["B"])
    between = "forward" if plan.style == "cs231n" else "call"
    if not same(again.arrays[0], first.arrays[0]):
        return CheckResult(
            "hidden state",
            False,
            pair,
            message=f"dx for the same input changed after another input's {between} ran in "
            "between: the backward reads state left by an earlier call (a global, or an attribute)",
        )
    later = ev.grads(plan.hidden["A2"]).arrays[0]
    assert ev.refs.derived_new_dout is not None  # computed with the references (evidence.py)
    want, want_first = ev.refs.derived_new_dout.dx, ev.cases[0].derived.dx
    stale = same(later, first.arrays[0]) or same(later, b.arrays[0])
    if stale and not same(want, want_first):
        return CheckResult(
            "hidden state",
            False,
            pair,
            message="a call with a new dout was answered with the result of an earlier call",
        )
    if same(first.arrays[0], want_first) and not same(later, want):
        return CheckResult(
            "hidden state",
            False,
            pair,
            message="dx was right on the first call and wrong on a later call with a new dout",
        )
    return CheckResult("hidden state", True, pair)


def _param(bn_param: dict[str, Any], key: str) -> np.ndarray | str:
    """A value the forward left in bn_param, as a float64 array, or what it was instead."""
    value = bn_param.get(key)
    if isinstance(value, dict):  # packed by the child: {"type": ..., "array": ... or None}
        array = value.get("array")
        if isinstance(array, np.ndarray):
            return array.astype(np.float64)
        return f"a {value.get('type', 'value')}"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            return np.asarray(float(value))
        except OverflowError:  # an int past float range: a value, but not a statistic
            return f"the int {str(value)[:12]}... ({len(str(value))} digits)"
    return "nothing" if value is None else f"a {type(value).__name__}"


def running_row(ev: Evidence) -> CheckResult:
    """One train step from empty and from given running statistics, in the spec's convention."""
    plan, spec, run = ev.plan, ev.spec, ev.plan.running
    a = plan.cases[0]
    zeros = np.zeros_like(a.gamma)
    starts: tuple[tuple[str, str, tuple[np.ndarray, np.ndarray]], ...] = (
        ("from empty", "fresh", (zeros, zeros)),
        ("from given", "given", (run["rm0"], run["rv0"])),
    )
    x = a.x.astype(np.float64)
    # the dtype the submission computes in, as for its gradients (float32: float32 tolerance)
    rtol = ev.options.tolerances.for_pair("reference", ev.dtype)
    notes: dict[str, str] = {}  # a harmless shape, noted once per key
    mistake = ""  # the catalog id of a convention it follows instead (bncheck.diagnose)
    for label, op, start in starts:
        bn = ev.replies[run[op]]["bn_param"]
        want = running_update(start[0], start[1], x, spec)
        stored = [_param(bn, k) for k in _RUNNING]
        problem = next(
            (
                why
                for k, g, w in zip(_RUNNING, stored, want, strict=True)
                if (why := _shape_problem(k, g, w.shape, x.shape))
            ),
            "",
        )
        if not problem:
            got = [np.asarray(g).reshape(w.shape) for g, w in zip(stored, want, strict=True)]
            if not _matches(got, want, running_terms(start[0], start[1], x, spec), rtol):
                which, mistake = _which_convention(got, start, x, spec, rtol)
                problem = "running_mean/running_var " + which
        if problem:
            return CheckResult(
                "running stats",
                False,
                f"{spec.running} convention",
                message=f"after one train step {label}: {problem}",
                mistake=mistake,
            )
        for k, g, w in zip(_RUNNING, stored, want, strict=True):
            if isinstance(g, np.ndarray) and g.shape != w.shape:
                notes.setdefault(k, _harmless(k, g.shape, w.shape))
    ev.notes.extend(notes.values())
    return CheckResult(
        "running stats", True, f"{spec.running} convention, momentum {spec.effective_momentum}"
    )


def eval_row(ev: Evidence) -> CheckResult:
    """An eval ('test') forward uses the running statistics it is given, not the batch's."""
    plan, spec, run = ev.plan, ev.spec, ev.plan.running
    pair = "submission vs reference with running stats"
    raised = call_error(ev.replies[run["eval"]])
    if raised is not None:
        fn = ev.target.names.get("forward", "the forward")
        return CheckResult(
            "eval mode",
            False,
            pair,
            message=f"bncheck made an eval-mode call (bn_param['mode'] = 'test') to check the "
            f"running statistics, and {fn} raised {raised}: in test mode it must normalize "
            "with bn_param's running_mean and running_var",
        )
    b = plan.hidden["case_b"].astype(np.float64)
    try:
        out = ev.forward_out(run["eval"])
    except SubmissionError as exc:  # None, or (None, None): the eval branch left unfinished
        return CheckResult(
            "eval mode",
            False,
            pair,
            message=f"bncheck made an eval-mode call (bn_param['mode'] = 'test') to check the "
            f"running statistics: {exc.message}",
        )
    y = forward_eval(b.x, b.gamma, b.beta, run["rm0"], run["rv0"], spec)
    judged = ev.judged(out.dtype)
    rtol = ev.options.tolerances.for_pair("reference", judged)
    diff = compare(out, y, "eval", rtol, spec.axes)
    row = merge("eval mode", pair, [diff], ("submission", "reference"))
    if not diff.close and compare(out, forward(b.x, b.gamma, b.beta, spec), "", rtol).close:
        return dataclasses.replace(
            row,
            message=(row.message + "; " if row.message else "")
            + "it equals the train-mode output: test mode normalized with the batch's statistics",
            mistake="eval-uses-batch-stats",
        )
    return row


_RUNNING = ("running_mean", "running_var")


def _shape_problem(
    key: str, got: np.ndarray | str, want: tuple[int, ...], x: tuple[int, ...]
) -> str:
    """Why what the forward stored cannot serve as the running statistic; "" when it can.

    Extra axes of length 1 are harmless when the array still broadcasts against x as
    the expected one does ((1, D) for (D,)); (D, 1) is not: x - running_mean is (D, D).
    """
    if isinstance(got, str):
        return f"bn_param[{key!r}] holds {got}, not an array of shape {want}"
    if got.shape == want:
        return ""
    if not comparable(got.shape, want):
        return f"bn_param[{key!r}] has shape {got.shape}; expected {want}"

    def against_x(shape: tuple[int, ...]) -> tuple[int, ...] | None:
        try:
            return tuple(np.broadcast_shapes(shape, x))
        except ValueError:
            return None

    if against_x(got.shape) in (against_x(want), x):
        return ""
    return (
        f"bn_param[{key!r}] has shape {got.shape}; expected {want}: the values are right, but "
        f"against x of shape {x} it broadcasts to {against_x(got.shape) or 'nothing (an error)'}"
    )


def _harmless(key: str, got: tuple[int, ...], want: tuple[int, ...]) -> str:
    return (
        f"{key} has shape {got}; expected {want}: harmless here, but code that reads it back "
        "(a saved model, a test of its shape) expects the shape of gamma: reduce without "
        "keepdims=True"
    )


def _matches(
    got: list[np.ndarray], want: tuple[np.ndarray, ...], terms: tuple[np.ndarray, ...], rtol: float
) -> bool:
    """Every value within the tolerance, on the scale of the terms of the update."""
    return all(
        compare(g, w, "", rtol, terms=t).close for g, w, t in zip(got, want, terms, strict=True)
    )


def _which_convention(
    got: list[np.ndarray],
    start: tuple[np.ndarray, np.ndarray],
    x: np.ndarray,
    spec: NormSpec,
    rtol: float,
) -> tuple[str, str]:
    """Name the convention the submission's running statistics follow, if it is a known one,
    and its mistake id in ``bncheck.diagnose.catalog`` ("" if none)."""
    other: Running = "pytorch" if spec.running == "cs231n" else "cs231n"
    swapped = (
        f"momentum semantics swapped (momentum {spec.effective_momentum} used as 1 - momentum)"
    )
    candidates = {
        swapped: (
            dataclasses.replace(spec, momentum=1 - spec.effective_momentum),
            "running-momentum-swapped",
        ),
        f"the {other} convention": (
            dataclasses.replace(spec, running=other, momentum=None),
            "running-other-convention",
        ),
        f"the {other} convention with momentum {spec.effective_momentum}": (
            dataclasses.replace(spec, running=other, momentum=spec.effective_momentum),
            "running-other-convention",
        ),
    }
    for name, (alt, mistake) in candidates.items():
        want = running_update(start[0], start[1], x, alt)
        if _matches(got, want, running_terms(start[0], start[1], x, alt), rtol):
            return f"are wrong: they follow {name}", mistake
    return "are wrong", ""


def directions_row(ev: Evidence) -> CheckResult:
    """The backward against the submission's own forward: ⟨w, J v⟩ = ⟨Jᵀw, v⟩."""
    plan, a, first = ev.plan, ev.plan.cases[0], ev.cases[0].submission
    name, pair = "self-consistency", f"⟨w, J v⟩ = ⟨Jᵀw, v⟩ on {len(plan.dirs)} random directions"
    dtype = first.dtypes[0]
    if dtype != a.x.dtype:
        skipped = (
            f"skipped: the submission computes in {dtype}; run with --dtype {dtype}"
            if dtype in (np.float32, np.float64)
            else f"skipped: dx is {dtype}, not {a.x.dtype} (see the dtypes row)"
        )
        return CheckResult(name, None, pair, message=skipped)
    wants = {"dx": a.x.shape, "dgamma": a.gamma.shape, "dbeta": a.gamma.shape}
    for (grad, want), g in zip(wants.items(), first.arrays, strict=True):
        if not comparable(g.shape, want):
            return CheckResult(
                name,
                False,
                pair,
                message=f"{grad} has shape {g.shape} in {a.name}; expected {want}, "
                "so ⟨Jᵀw, v⟩ cannot be formed",
            )
    dx, dgamma, dbeta = (
        np.asarray(g, np.float64).reshape(w)
        for g, w in zip(first.arrays, wants.values(), strict=True)
    )
    outs: dict[tuple[int, int], np.ndarray] = {}  # its own forward at x ± h·v, per direction
    for i, ops in enumerate(plan.dir_ops):
        for sign, op in zip((1, -1), ops, strict=True):
            out = ev.forward_out(op)
            if not comparable(out.shape, a.x.shape):
                return CheckResult(
                    name,
                    False,
                    pair,
                    message=f"out has shape {out.shape} at x {'+' if sign > 0 else '−'} h·v; "
                    f"expected {a.x.shape}, the shape of x, so ⟨w, J v⟩ cannot be formed",
                )
            outs[i, sign] = np.asarray(out, np.float64).reshape(a.x.shape)
    step = DIRECTION_STEP[str(a.x.dtype)]
    check = directional_check(
        lambda i, sign: outs[i, sign], (dx, dgamma, dbeta), a.dy.astype(np.float64), plan.dirs, step
    )
    limit = ev.options.tolerances.for_directions(a.x.dtype)
    if check.rel_err <= limit:
        return CheckResult(name, True, pair, max_rel_err=check.rel_err)
    return CheckResult(
        name,
        False,
        pair,
        max_rel_err=check.rel_err,
        message="the backward does not match the submission's own forward "
        f"(rel. error {check.rel_err:.1e} > {limit:g})",
    )
