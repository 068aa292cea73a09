"""The named battery: what a submission's replies are compared with, and how.

Every gradient row is per element (never random directions alone); the random
directions only check the submission's backward against its own forward.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bncheck.check import behaviour, sources
from bncheck.check.compare import (
    FLOAT32_NOTE,
    Tolerances,
    comparable,
    compare,
    computed_in,
    gradient_terms,
    merge,
)
from bncheck.check.fd import FDOptions
from bncheck.check.inputs import Case
from bncheck.check.plan import Plan
from bncheck.check.reference import batch_stats, group_size
from bncheck.check.replies import Returned, returned
from bncheck.check.result import CheckResult
from bncheck.check.submission import SubmissionError, Target
from bncheck.spec import NormSpec

__all__ = ["CheckOptions", "References", "references", "run_checks"]

GRADS = ("dx", "dgamma", "dbeta")


@dataclass(frozen=True)
class CheckOptions:
    fd: FDOptions = field(default_factory=FDOptions)
    tolerances: Tolerances = field(default_factory=Tolerances)
    autograd: str = "auto"  # auto: when torch is installed; off: never


@dataclass
class Ctx:
    """What every check reads: the plan, the replies in plan order, the options."""

    target: Target
    plan: Plan
    spec: NormSpec
    replies: list[dict[str, Any]]
    options: CheckOptions
    notes: list[str]

    def grads(self, op: int) -> Returned:
        return returned(self.target, self.replies[op], "backward")


def _cond(case: Case, spec: NormSpec, dtype: np.dtype) -> np.ndarray | None:
    """float32 only: round-off in x - mu grows with |mean|/σ of the group.

    Not for a group of one element: there x - mu is exactly 0 and loses nothing.
    """
    if dtype != np.float32 or group_size(spec, case.x.shape) == 1:
        return None
    mu, var = batch_stats(case.x.astype(np.float64), spec)
    return np.maximum(1.0, np.abs(mu) / np.sqrt(var + spec.eps))


def _path(dtype: np.dtype) -> str:
    return "float32, float32 tolerance" if dtype == np.float32 else str(dtype)


def _axes(name: str, spec: NormSpec) -> tuple[int, ...]:
    return spec.axes if name in ("dx", "out") else ()


def _first_nonfinite(target: Target, got: Returned, case: Case) -> None:
    for name, a in zip(GRADS, got.arrays, strict=True):
        bad = np.argwhere(~np.isfinite(a.astype(np.float64)))
        if bad.size:
            where = "[" + ", ".join(map(str, bad[0])) + "]"
            raise SubmissionError(
                f"{target.label} returned {a.flat[np.ravel_multi_index(tuple(bad[0]), a.shape)]} "
                f"in {name} at {where} on an ordinary input ({case.name})",
                "look for a division by zero or a log/sqrt of a negative number",
                code="not-finite",
            )


def _rows_vs(
    ctx: Ctx, label: str, refs: list[Any], subs: list[Returned], kind: str
) -> list[CheckResult]:
    rows = []
    dtype = computed_in(subs[0].dtypes[0], ctx.plan.cases[0].x.dtype)
    terms = [gradient_terms(c.x, c.gamma, c.dy, ctx.spec) for c in ctx.plan.cases]
    for k, name in enumerate(GRADS):
        rtol = ctx.options.tolerances.for_pair(kind, dtype)
        diffs = [
            compare(
                s.arrays[k],
                list(r)[k],
                c.name,
                rtol,
                _axes(name, ctx.spec),
                _cond(c, ctx.spec, dtype),
                t[k],
            )
            for c, s, r, t in zip(ctx.plan.cases, subs, refs, terms, strict=True)
            if r is not None
        ]
        pair = f"submission vs {label} ({_path(dtype)})"
        rows.append(merge(name, pair, diffs, ("submission", label.split(" ")[0])))
    return rows


@dataclass(frozen=True)
class References:
    """bncheck's own gradients for every case: they need the inputs, not the replies."""

    derived: list[Any]
    fd: list[Any]
    autograd: list[Any] | None  # None: off, or torch is not installed


def references(plan: Plan, options: CheckOptions) -> References:
    """Computed while the submission's child runs (``api.verify``), or after it."""
    spec, cases = plan.spec, plan.cases
    use_torch = options.autograd != "off" and sources.torch_available()
    return References(
        derived=[sources.derived(spec, c) for c in cases],
        fd=[sources.finite_differences(spec, c, options.fd) for c in cases],
        autograd=[sources.autograd(spec, c) for c in cases] if use_torch else None,
    )


def run_checks(
    target: Target,
    plan: Plan,
    replies: list[dict[str, Any]],
    options: CheckOptions,
    refs: References | None = None,
) -> tuple[list[CheckResult], list[str]]:
    ctx = Ctx(target, plan, plan.spec, replies, options, [])
    subs = [ctx.grads(op) for op in plan.main]
    _first_nonfinite(target, subs[0], plan.cases[0])
    refs = refs or references(plan, options)
    # What the submission returned may be anything (inf, NaN, 1e308, int, bool): numpy's
    # warnings about arithmetic on it are not errors; the rows say what is wrong.
    with np.errstate(all="ignore"):
        rows = _battery(ctx, subs, refs)
    return rows, ctx.notes


def _battery(ctx: Ctx, subs: list[Returned], refs: References) -> list[CheckResult]:
    plan, options = ctx.plan, ctx.options
    rows: list[CheckResult] = []
    if plan.style in ("cs231n", "torch"):
        rows.append(_forward_row(ctx, subs[0].dtypes[0]))

    derived, fd = refs.derived, refs.fd
    rows += _rows_vs(ctx, "derived", derived, subs, "derived")
    fd_label = "finite differences" if options.fd.method == "central" else "complex step"
    rows += _rows_vs(ctx, fd_label, fd, subs, fd_label)
    rows += _autograd_rows(ctx, subs, refs.autograd)
    rows.append(_referee_row(ctx, derived, fd, fd_label))
    rows += [_shapes_row(ctx, subs), _dtypes_row(ctx, subs), _sum_row(ctx, subs)]
    rows += [behaviour.mutation_row(ctx), behaviour.hidden_row(ctx, subs[0])]
    if plan.style == "cs231n":
        rows += behaviour.running_rows(ctx)
    if plan.dirs:
        rows.append(behaviour.directions_row(ctx, subs[0]))
    if subs[0].dtypes[0] == np.float32:
        ctx.notes.append(FLOAT32_NOTE.format(tol=options.tolerances.float32))
    return rows


def _forward_row(ctx: Ctx, dtype: np.dtype) -> CheckResult:
    diffs = []
    for case, op in zip(ctx.plan.cases, ctx.plan.forwards or ctx.plan.main, strict=True):
        out = returned(ctx.target, ctx.replies[op], "forward").arrays[0]
        rtol = ctx.options.tolerances.for_pair("reference", out.dtype)
        want = sources.reference_out(ctx.spec, case)
        diffs.append(
            compare(out, want, case.name, rtol, ctx.spec.axes, _cond(case, ctx.spec, out.dtype))
        )
    return merge(
        "out",
        f"submission vs reference forward ({_path(dtype)})",
        diffs,
        ("submission", "reference"),
    )


def _autograd_rows(ctx: Ctx, subs: list[Returned], refs: list[Any] | None) -> list[CheckResult]:
    if ctx.options.autograd == "off":
        return []
    if refs is None:  # torch is not installed
        return [
            CheckResult(
                "autograd", None, "submission vs torch autograd", message=sources.TORCH_HINT
            )
        ]
    return _rows_vs(ctx, "autograd", refs, subs, "autograd")


def _referee_row(ctx: Ctx, derived: list[Any], fd: list[Any], label: str) -> CheckResult:
    """bncheck checks itself: the derived gradients against the referee, every case."""
    rtol = ctx.options.tolerances.for_pair(label, np.dtype(np.float64))
    diffs = [
        compare(d_arr, f_arr, f"{c.name} ({name})", rtol, _axes(name, ctx.spec), terms=t)
        for c, d, f in zip(ctx.plan.cases, derived, fd, strict=True)
        for name, d_arr, f_arr, t in zip(
            GRADS, d, f, gradient_terms(c.x, c.gamma, c.dy, ctx.spec), strict=True
        )
    ]
    row = merge("derived", f"derived vs {label} (float64)", diffs, ("derived", "fd"))
    if row.passed is False:
        msg = (
            "bncheck's own derivation disagrees with its referee: please report this. "
            + row.message
        )
        return CheckResult(**{**row.__dict__, "message": msg})
    return row


def _shapes_row(ctx: Ctx, subs: list[Returned]) -> CheckResult:
    for case, sub in zip(ctx.plan.cases, subs, strict=True):
        want = (case.x.shape, case.gamma.shape, case.gamma.shape)
        for name, a, w in zip(GRADS, sub.arrays, want, strict=True):
            if a.shape != w:
                hint = (
                    " ((D,) is not (1, D): sum with axis=0, not keepdims)"
                    if a.size == int(np.prod(w))
                    else ""
                )
                return CheckResult(
                    "shapes",
                    False,
                    "strict",
                    message=f"{name} has shape {a.shape} in {case.name}; expected {w}{hint}",
                )
    return CheckResult("shapes", True, "strict: dx like x; dgamma, dbeta like gamma")


def _dtypes_row(ctx: Ctx, subs: list[Returned]) -> CheckResult:
    for case, sub in zip(ctx.plan.cases, subs, strict=True):
        for name, dt in zip(GRADS, sub.dtypes, strict=True):
            if dt != case.x.dtype:
                return CheckResult(
                    "dtypes",
                    False,
                    "like the input",
                    message=f"{name} is {dt} for {case.x.dtype} input in {case.name}: compute "
                    "in the input's dtype (values were compared under the float32 tolerance)",
                )
    return CheckResult("dtypes", True, f"like the input ({ctx.plan.cases[0].x.dtype})")


def _sum_row(ctx: Ctx, subs: list[Returned]) -> CheckResult:
    """Train mode: adding a constant to a feature leaves y unchanged, so Σ_batch dx = 0."""
    spec, worst, where = ctx.spec, 0.0, ""
    name, pair = "Σ_batch dx = 0", "every feature, every case"
    for case, sub in zip(ctx.plan.cases, subs, strict=True):
        if not comparable(sub.arrays[0].shape, case.x.shape):
            return CheckResult(
                name,
                False,
                pair,
                message=f"dx has shape {sub.arrays[0].shape} in {case.name}; expected "
                f"{case.x.shape}, so it cannot be summed over the batch",
            )
        dx = sub.arrays[0].astype(np.float64).reshape(case.x.shape)
        eps_dtype = (
            float(np.finfo(sub.arrays[0].dtype).eps) if sub.arrays[0].dtype.kind == "f" else 2.2e-16
        )
        total = np.abs(dx.sum(axis=spec.axes))
        # round-off is relative to the terms that cancel, of size |gamma|/σ·|dy|
        _, var = batch_stats(case.x.astype(np.float64), spec)
        terms = np.abs(case.gamma).reshape(-1) / np.sqrt(var + spec.eps).reshape(-1)
        terms = terms.reshape(total.shape) * np.abs(case.dy).sum(axis=spec.axes)
        bound = 64 * eps_dtype * np.maximum(np.abs(dx).sum(axis=spec.axes) + terms, 1e-300)
        mu = np.abs(case.x.astype(np.float64).mean(axis=spec.axes)).reshape(bound.shape)
        bound = bound * np.maximum(1.0, mu / np.sqrt(var + spec.eps).reshape(bound.shape))  # x - mu
        ratio = total / bound
        ratio = np.where(np.isnan(ratio), np.inf, ratio)  # a NaN in dx sums to no 0
        k = int(np.argmax(ratio))
        if ratio.flat[k] > worst:
            worst = float(ratio.flat[k])
            where = f"feature {k} in {case.name}: Σ dx = {total.flat[k]:.3g}"
    if worst <= 1.0:
        return CheckResult(name, True, pair)
    why = (
        "it must be 0 because adding a constant to a feature leaves y unchanged "
        "(is the dmu path, with its 1/m, right?)"
        if np.isfinite(worst)
        else "dx is not finite there: look for a division by zero or a sqrt of a negative number"
    )
    return CheckResult(name, False, pair, message=f"{where}; {why}")
