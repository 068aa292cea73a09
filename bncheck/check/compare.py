"""Comparison rows, like makemore's ``cmp``: exact?, close?, max |diff|, max rel, worst index.

"close" is judged element by element against the *local* scale: the largest
|reference| in the element's normalization group, floored at 1e-3 of the whole
array's, so a tiny feature is not drowned by a large one and an exact zero does
not demand an exact zero back. The tolerance per dtype and per kind of reference
comes from ``Tolerances``, which the user can override.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bncheck.check.result import CheckResult

__all__ = ["Tolerances", "compare", "merge", "rel_error"]

FLOAT32_NOTE = (
    "the submission computes in float32 (ε = 1.2e-7), so it is compared with the float64 "
    "reference under the float32 tolerance ({tol:g} of each group's scale, times |mean|/σ where "
    "the mean is large): errors of that size are float32 round-off, not a wrong formula"
)


@dataclass(frozen=True)
class Tolerances:
    """Relative to the local scale (see the module docstring)."""

    analytic: float = 1e-7  # float64 against a float64 closed form: round-off only
    central: float = 1e-5  # against central differences with step 1e-5·σ
    complex: float = 1e-9  # against the complex step
    float32: float = 1e-4  # a float32 result, times max(1, |mean|/σ) of its group

    def for_pair(self, reference: str, dtype: np.dtype) -> float:
        if dtype == np.float32 or dtype == np.float16:
            return self.float32
        return {"finite differences": self.central, "complex step": self.complex}.get(
            reference, self.analytic
        )


def rel_error(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """CS231n's rel_error, element-wise: |a - b| / max(1e-8, |a| + |b|)."""
    return np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b))


@dataclass(frozen=True)
class Diff:
    """One comparison of one array on one case; ``merge`` folds cases into a row."""

    case: str
    exact: bool
    close: bool
    max_abs: float
    max_rel: float
    excess: float  # max |diff| / tolerance; > 1 fails
    index: tuple[int, ...] | None
    got: float
    want: float
    tol: float
    problem: str = ""  # why no numbers could be compared


def compare(
    got: np.ndarray,
    want: np.ndarray,
    case: str,
    rtol: float,
    axes: tuple[int, ...] = (),
    cond: np.ndarray | None = None,
) -> Diff:
    """Compare ``got`` with ``want``; ``axes`` are the group axes of ``want`` (none: per element)"""
    got = np.asarray(got)
    want = np.asarray(want, dtype=np.float64)
    if got.shape != want.shape:
        if got.size != want.size:
            msg = f"shape {got.shape} cannot be compared with {want.shape}"
            return Diff(case, False, False, np.inf, np.inf, np.inf, None, np.nan, np.nan, rtol, msg)
        got = got.reshape(want.shape)  # the shape check reports the shape itself
    if not np.issubdtype(got.dtype, np.number) or np.iscomplexobj(got):
        msg = f"dtype {got.dtype} is not a real number type"
        return Diff(case, False, False, np.inf, np.inf, np.inf, None, np.nan, np.nan, rtol, msg)
    a = got.astype(np.float64)
    known = np.isfinite(want)  # finite differences may leave positions out (NaN)
    local = np.abs(np.where(known, want, 0.0))
    if axes:
        local = np.broadcast_to(local.max(axis=axes, keepdims=True), want.shape)
    # floor: 1e-3 of the array's scale, and 1e-8 for an all-zero reference (N = 1)
    floor = max(1e-3 * float(local.max()) if local.size else 0.0, 1e-8)
    scale = np.maximum(local, floor)
    if cond is not None:  # per group, keepdims; a per-feature array takes it flat
        cond = (
            cond.reshape(want.shape)
            if cond.size == want.size
            else np.broadcast_to(cond, want.shape)
        )
    tol = rtol * scale * (1.0 if cond is None else cond)
    diff = np.where(known, np.abs(a - np.where(known, want, 0.0)), 0.0)
    diff = np.where(known & ~np.isfinite(a), np.inf, diff)
    excess = diff / tol
    worst = np.unravel_index(int(np.argmax(excess)), want.shape) if want.size else None
    rel = np.where(known & np.isfinite(a), rel_error(a, np.where(known, want, 0.0)), 0.0)
    rel = np.where(known & ~np.isfinite(a), np.inf, rel)
    return Diff(
        case=case,
        exact=bool(np.array_equal(a[known], want[known])),
        close=bool(np.all(excess <= 1.0)),
        max_abs=float(diff.max()) if diff.size else 0.0,
        max_rel=float(rel.max()) if rel.size else 0.0,
        excess=float(excess.max()) if excess.size else 0.0,
        index=None if worst is None else tuple(int(i) for i in worst),
        got=float(a[worst]) if worst is not None else np.nan,
        want=float(want[worst]) if worst is not None else np.nan,
        tol=float(tol[worst]) if worst is not None else rtol,
    )


def _fmt_index(index: tuple[int, ...] | None) -> str:
    return "[]" if index is None else "[" + ", ".join(map(str, index)) + "]"


def merge(name: str, pair: str, diffs: list[Diff], names: tuple[str, str]) -> CheckResult:
    """One row over several cases: the worst case decides and is named."""
    # a finite wrong value says more than a NaN from a degenerate case
    worst = max(diffs, key=lambda d: (np.isfinite(d.got) and np.isfinite(d.excess), d.excess))
    problems = [d for d in diffs if d.problem]
    close = all(d.close for d in diffs)
    where = f"{_fmt_index(worst.index)} in {worst.case}"
    got, want = names
    detail = f"{where}: {got} {worst.got:.6g} vs {want} {worst.want:.6g}"
    if problems:
        message = f"{name}: {problems[0].problem} (in {problems[0].case})"
    elif close:
        message = ""
    else:
        bad = sum(not d.close for d in diffs)
        gap = abs(worst.got - worst.want)
        message = (
            f"{name} differs at {where}: {got} {worst.got:.6g} vs {want} {worst.want:.6g} "
            f"(|diff| {gap:.2e} > tolerance {worst.tol:.1e}); wrong in {bad} of {len(diffs)} cases"
        )
    finite = [d for d in diffs if not d.problem]
    return CheckResult(
        name=name,
        passed=close,
        pair=pair,
        max_abs_err=max((d.max_abs for d in finite), default=None),
        max_rel_err=max((d.max_rel for d in finite), default=None),
        worst_index=worst.index,
        message=message,
        exact=all(d.exact for d in diffs),
        worst=detail,
    )
