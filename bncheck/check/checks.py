"""Checks of values: the forward, each gradient against each reference, shapes, dtypes, Σ dx.

Each function reads the ``Evidence`` and returns one row; ``bncheck.check.battery``
names them and decides which run. Every gradient row is per element (never random
directions alone); the random directions only check the submission's backward
against its own forward (``behaviour.directions_row``).
"""

from __future__ import annotations

import numpy as np

from bncheck.check.compare import (
    Where,
    comparable,
    compare,
    merge,
)
from bncheck.check.evidence import Evidence
from bncheck.check.inputs import Case, group_word
from bncheck.check.reference import (
    batch_stats,
    expand,
    forward,
    group_of,
    group_reduce,
    group_size,
    spread,
)
from bncheck.check.result import CheckResult
from bncheck.check.submission import SubmissionError
from bncheck.spec import NormSpec

__all__ = [
    "GRADS",
    "SOURCES",
    "dtypes_row",
    "first_nonfinite",
    "forward_row",
    "gradient_row",
    "referee_row",
    "shape_row",
    "sum_name",
    "sum_row",
    "where",
]

GRADS = ("dx", "dgamma", "dbeta")
# a reference's id (in check ids such as dx-vs-fd) -> its label in the report
SOURCES = {"derived": "derived", "fd": "finite differences", "autograd": "autograd"}


def cond(case: Case, spec: NormSpec, dtype: np.dtype, k: int = 0) -> np.ndarray | None:
    """float32 only: round-off in x - mu grows with |mean|/σ of the group.

    For x-shaped arrays (``k`` 0: dx, out) each element's group's; for dgamma and dbeta
    (``k`` 1, 2) the worst of the groups each parameter element touches. Not for a group
    of one element: there x - mu is exactly 0 and loses nothing (nor for RMSNorm, whose
    mu is 0).
    """
    if dtype != np.float32 or group_size(spec, case.x.shape) == 1:
        return None
    shape = case.x.shape
    mu, var = batch_stats(case.x.astype(np.float64), spec)
    c = np.maximum(1.0, np.abs(mu) / np.sqrt(var + spec.eps))  # keepdims, grouped view
    if (
        not spec.gamma_in_group
        and spec.groups is None
        and spec.feature_axes == (spec.parameter_axes)
    ):
        return c  # one group per parameter element (batch norm): the same array serves
    each = spread(c, spec, shape)
    if k == 0:
        return np.ascontiguousarray(each)
    return each.max(axis=spec.reduce_axes, keepdims=True).reshape(spec.param_shape(shape))


def path(dtype: np.dtype) -> str:
    return "float32, float32 tolerance" if dtype == np.float32 else str(dtype)


def group_axes(name: str, spec: NormSpec) -> tuple[int, ...]:
    """The group axes ``compare`` scales ``name`` by, in ``group_view``'s layout."""
    return spec.view_axes if name in ("dx", "out") else ()


def group_view(name: str, spec: NormSpec, shape: tuple[int, ...]) -> tuple[int, ...] | None:
    """The grouped view of an x-shaped array (GroupNorm's blocks); None for a parameter."""
    return spec.view_shape(shape) if name in ("dx", "out") else None


def _one_per_group(spec: NormSpec) -> bool:
    """Each parameter element is one group (batch norm): dgamma[d] belongs to group d."""
    return (
        spec.groups is None
        and not spec.param_keepdims
        and spec.feature_axes == (spec.parameter_axes)
    )


def where(ev: Evidence) -> Where:
    """Describe an element so that the label fits it: a degenerate case has one odd group
    (a feature of batch norm, a row of LayerNorm, a block of channels of GroupNorm), and an
    element of another group of that case is an ordinary one."""
    by_name = {c.name: c for c in ev.plan.cases}
    spec = ev.spec
    word = group_word(spec)

    def describe(name: str, index: tuple[int, ...] | None) -> str:
        at = "[]" if index is None else "[" + ", ".join(map(str, index)) + "]"
        case = by_name.get(name)
        if case is None or case.feature is None or index is None:
            return f"{at} in {name}"
        shape = case.x.shape
        if len(index) == spec.ndim:
            group = group_of(index, spec, shape)
        elif _one_per_group(spec):  # dgamma[d], dbeta[d]: group d
            group = index
        else:  # a parameter touches several groups, the odd one among them or not
            return f"{at} in {name}"
        if group == case.feature:
            return f"{at} in case '{name}' {shape}, in its odd {word} ({case.note})"
        odd = ", ".join(map(str, case.feature))
        return f"{at} in case '{name}' {shape}, an ordinary {word} (the odd one is {odd})"

    return describe


def first_nonfinite(ev: Evidence) -> None:
    """NaN or inf on an ordinary input: the submission cannot be judged (exit 2)."""
    first = ev.cases[0]
    for name, a in zip(GRADS, first.submission.arrays, strict=True):
        bad = np.argwhere(~np.isfinite(a.astype(np.float64)))
        if bad.size:
            at = "[" + ", ".join(map(str, bad[0])) + "]"
            value = a.flat[np.ravel_multi_index(tuple(bad[0]), a.shape)]
            raise SubmissionError(
                f"{ev.target.label} returned {value} in {name} at {at} on an ordinary input "
                f"({first.case.name})",
                "look for a division by zero or a log/sqrt of a negative number",
                code="not-finite",
            )


def gradient_row(ev: Evidence, k: int, source: str) -> CheckResult | None:
    """Gradient ``GRADS[k]`` of every case against one reference; None when it is not there."""
    name, label = GRADS[k], SOURCES[source]
    if source == "fd" and ev.options.fd.method == "complex":
        label = "complex step"
    if source == "autograd":
        if ev.options.autograd == "off":
            return None
        if ev.refs.autograd is None:  # torch is not installed: said once, on dx's row
            hint = "torch is not installed: pip install torch==2.13.0" if k == 0 else ""
            return CheckResult(name, None, "submission vs torch autograd", message=hint)
    dtype = ev.dtype
    rtol = ev.options.tolerances.for_pair(label, dtype)
    diffs = []
    for c in ev.cases:
        ref = c.reference(source)
        if ref is None:
            continue
        diffs.append(
            compare(
                c.submission.arrays[k],
                list(ref)[k],
                c.case.name,
                rtol,
                group_axes(name, ev.spec),
                cond(c.case, ev.spec, dtype, k),
                c.terms[k],
                group_view(name, ev.spec, c.case.shape),
            )
        )
    fixed = ", fixed cases" if source == "autograd" and len(diffs) < len(ev.cases) else ""
    pair = f"submission vs {label} ({path(dtype)}{fixed})"
    return merge(name, pair, diffs, ("submission", label.split(" ")[0]), where(ev))


def forward_row(ev: Evidence) -> CheckResult:
    plan = ev.plan
    diffs = []
    dtype = ev.cases[0].submission.dtypes[0]
    for case, op in zip(plan.cases, plan.forwards or plan.main, strict=True):
        out = ev.forward_out(op)
        judged = ev.judged(out.dtype)
        rtol = ev.options.tolerances.for_pair("reference", judged)
        c64 = case.astype(np.float64)
        want = forward(c64.x, c64.gamma, c64.beta, ev.spec)
        diffs.append(
            compare(
                out,
                want,
                case.name,
                rtol,
                group_axes("out", ev.spec),
                cond(case, ev.spec, judged),
                view=group_view("out", ev.spec, case.shape),
            )
        )
    pair = f"submission vs reference forward ({path(dtype)})"
    return merge("out", pair, diffs, ("submission", "reference"), where(ev))


def referee_row(ev: Evidence) -> CheckResult:
    """bncheck checks itself: the derived gradients against the referee, every case."""
    label = "complex step" if ev.options.fd.method == "complex" else "finite differences"
    rtol = ev.options.tolerances.for_pair(label, np.dtype(np.float64))
    diffs = [
        compare(
            d_arr,
            f_arr,
            f"{c.case.name} ({name})",
            rtol,
            group_axes(name, ev.spec),
            terms=t,
            view=group_view(name, ev.spec, c.case.shape),
        )
        for c in ev.cases
        for name, d_arr, f_arr, t in zip(GRADS, c.derived, c.fd, c.terms, strict=True)
    ]
    row = merge("derived", f"derived vs {label} (float64)", diffs, ("derived", "fd"))
    if row.passed is False:
        msg = (
            "bncheck's own derivation disagrees with its referee: please report this. "
            + row.message
        )
        return CheckResult(**{**row.__dict__, "message": msg})
    return row


def shape_row(ev: Evidence, k: int) -> CheckResult:
    """Strict: dx like x, dgamma and dbeta like gamma (``gamma -= lr * dgamma`` needs it)."""
    name = GRADS[k]
    like = "x" if k == 0 else "gamma"
    title = f"{name} shape"
    for c in ev.cases:
        a = c.submission.arrays[k]
        want = c.case.x.shape if k == 0 else c.case.gamma.shape
        if a.shape != want:
            why = ""
            if a.size == int(np.prod(want)) and k > 0 and ev.spec.param_keepdims:
                why = (
                    f": {like} has shape {want}, as CS231n's spatial group norm keeps it; "
                    "reduce with keepdims=True"
                )
            elif a.size == int(np.prod(want)) and k > 0:
                why = (
                    f": the update {like} -= lr * {name} fails on it ({like} has shape "
                    f"{want}); reduce without keepdims=True"
                )
            return CheckResult(
                title,
                False,
                f"like {like}",
                message=f"{name} has shape {a.shape} in {c.case.name}; expected {want}{why}",
            )
    return CheckResult(title, True, f"like {like}")


def dtypes_row(ev: Evidence) -> CheckResult:
    for c in ev.cases:
        for name, dt in zip(GRADS, c.submission.dtypes, strict=True):
            if dt != c.case.x.dtype:
                return CheckResult(
                    "dtypes",
                    False,
                    "like the input",
                    message=f"{name} is {dt} for {c.case.x.dtype} input in {c.case.name}: "
                    "compute in the input's dtype (values were compared under the float32 "
                    "tolerance)",
                )
    return CheckResult("dtypes", True, f"like the input ({ev.cases[0].case.x.dtype})")


def sum_name(spec: NormSpec) -> str:
    """The row's name: Σ over what dx sums to zero ("Σ_batch dx = 0" for batch norm)."""
    return "Σ_batch dx = 0" if spec.has_running else f"Σ_{group_word(spec)} dx = 0"


def sum_row(ev: Evidence) -> CheckResult:
    """Train mode, centred norms: adding a constant to a group leaves y unchanged, so Σ dx
    over each group is 0 (over the batch for batch norm, a row for LayerNorm), whatever γ
    does inside it. Not RMSNorm: it subtracts no mean (``battery`` leaves the row out)."""
    spec, worst, at = ev.spec, 0.0, ""
    word = group_word(spec)
    name = sum_name(spec)
    pair = f"every {word}, every case"
    ulps = ev.options.tolerances.sum_eps
    for c in ev.cases:
        case, got = c.case, c.submission.arrays[0]
        if not comparable(got.shape, case.x.shape):
            over = "the batch" if spec.has_running else f"each {word}"
            return CheckResult(
                name,
                False,
                pair,
                message=f"dx has shape {got.shape} in {case.name}; expected "
                f"{case.x.shape}, so it cannot be summed over {over}",
            )
        shape = case.x.shape
        dx = got.astype(np.float64).reshape(shape)
        x = case.x.astype(np.float64)
        eps_dtype = float(np.finfo(got.dtype).eps) if got.dtype.kind == "f" else 2.2e-16
        total = np.abs(group_reduce(dx, spec))  # keepdims, grouped view
        # round-off is relative to the terms that cancel, of size |gamma|/σ·|dy|
        mu, var = batch_stats(x, spec)
        sigma = np.sqrt(var + spec.eps)
        g = np.abs(case.dy.astype(np.float64) * expand(np.abs(case.gamma), spec, shape))
        terms = group_reduce(g, spec) / sigma
        bound = ulps * eps_dtype * np.maximum(group_reduce(np.abs(dx), spec) + terms, 1e-300)
        bound = bound * np.maximum(1.0, np.abs(mu) / sigma)  # x - mu loses digits to a large mean
        ratio = total / bound
        ratio = np.where(np.isnan(ratio), np.inf, ratio)  # a NaN in dx sums to no 0
        k = int(np.argmax(ratio))
        if ratio.flat[k] > worst:
            worst = float(ratio.flat[k])
            at = f"{word} {_group_label(spec, ratio.shape, k)} in {case.name}: "
            at += f"Σ dx = {total.flat[k]:.3g}"
    if worst <= 1.0:
        return CheckResult(name, True, pair)
    why = (
        f"it must be 0 because adding a constant to a {word} leaves y unchanged "
        "(is the dmu path, with its 1/m, right?)"
        if np.isfinite(worst)
        else "dx is not finite there: look for a division by zero or a sqrt of a negative number"
    )
    return CheckResult(name, False, pair, message=f"{at}; {why}")


def _group_label(spec: NormSpec, shape: tuple[int, ...], k: int) -> str:
    """Group ``k`` (flat, of a keepdims per-group array): "3" for batch norm's feature 3
    or LayerNorm's row 3, "(2, 1)" for GroupNorm's sample 2, block 1."""
    index = np.unravel_index(k, shape)
    kept = [int(i) for a, i in enumerate(index) if a not in spec.view_axes]
    if spec.has_running:
        return str(k)  # batch norm's features, numbered flat as they always were
    return str(kept[0]) if len(kept) == 1 else "(" + ", ".join(map(str, kept)) + ")"
