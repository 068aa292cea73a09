"""Comparison rows, like makemore's ``cmp``: exact?, close?, max |diff|, max rel, worst index.

"close" is judged element by element against the *local* scale: the largest
|reference| in the element's normalization group, floored at 1e-3 of the whole
array's, so a tiny feature is not drowned by a large one; and at least the size of
the terms that cancel into the element (``gradient_terms``, ``running_terms``), so
an exact zero reached by cancellation (dx with N = 1) does not demand an exact zero
back. The tolerance per dtype and per kind of reference comes from ``Tolerances``,
which every report prints and the user can override.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bncheck.check.reference import batch_stats, expand, group_size
from bncheck.check.result import CheckResult
from bncheck.spec import NormSpec

__all__ = [
    "Tolerances",
    "comparable",
    "compare",
    "computed_in",
    "gradient_terms",
    "merge",
    "rel_error",
    "running_terms",
]

FLOAT32_NOTE = (
    "the submission computes in float32 (ε = 1.2e-7), so it is compared with the float64 "
    "reference under the float32 tolerance ({tol:g} of each group's scale, times |mean|/σ where "
    "the mean is large): errors of that size are float32 round-off, not a wrong formula"
)


@dataclass(frozen=True)
class Tolerances:
    """Per dtype and kind of reference, relative to each element's scale (module docstring).

    The comparisons with a reference read this table (gradients, the forward, eval mode,
    the running statistics); ``describe`` is the line every report prints, and
    ``CheckOptions(tolerances=Tolerances(...))`` overrides it.
    """

    # float64 against a float64 closed form (derived, autograd, the reference forward,
    # the running statistics): round-off only
    analytic: float = 1e-7
    central: float = 1e-5  # against central differences with step 1e-5·σ
    complex: float = 1e-9  # against the complex step
    float32: float = 1e-4  # a float32 result, times max(1, |mean|/σ) of its group

    def for_pair(self, reference: str, dtype: np.dtype) -> float:
        if dtype == np.float32 or dtype == np.float16:
            return self.float32
        return {"finite differences": self.central, "complex step": self.complex}.get(
            reference, self.analytic
        )

    def describe(self) -> str:
        """One line: relative to each element's scale, float64 unless it says float32."""
        kinds = (
            (self.analytic, "closed form"),
            (self.central, "central differences"),
            (self.complex, "complex step"),
            (self.float32, "float32"),
        )
        return ", ".join(f"{t:.1e}".replace(".0e", "e") + f" {k}" for t, k in kinds)


def computed_in(*dtypes: np.dtype) -> np.dtype:
    """The least precise float dtype of those given (float64 if none): float32 input with a
    float64 result (an np.ones(...) on the way) was still computed in float32."""
    floats = [np.dtype(d) for d in dtypes if np.dtype(d).kind == "f"]
    return min(floats, key=lambda d: d.itemsize, default=np.dtype(np.float64))


def gradient_terms(
    x: np.ndarray, gamma: np.ndarray, dy: np.ndarray, spec: NormSpec
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The size of the terms that cancel into each element of dx, dgamma and dbeta.

    dx = γ/(mσ)·(m·dy − Σdy − x̂·Σdy·x̂): correct code that adds these terms in another
    order is off by round-off of *their* size, not of dx's. With N = 1 the exact dx is 0,
    reached by cancelling terms of size |γ·dy|/sqrt(eps) ≈ 1e2–1e3 (DESIGN.md, Numerics).
    dgamma = Σdy·x̂ and dbeta = Σdy are sums: their round-off is relative to Σ|dy·x̂|, Σ|dy|.
    """
    x, dy, g = (np.asarray(a, dtype=np.float64) for a in (x, dy, gamma))
    m = group_size(spec, x.shape)
    mu, var = batch_stats(x, spec)
    inv_std = 1.0 / np.sqrt(var + spec.eps)
    xhat, ady = np.abs(x - mu) * inv_std, np.abs(dy)
    dof = m if spec.variance == "biased" else max(m - 1, 1)  # Σdy·x̂ comes with 1/dof
    sum_dy = ady.sum(axis=spec.axes, keepdims=True)
    sum_dyx = (ady * xhat).sum(axis=spec.axes, keepdims=True)
    dx = np.abs(expand(g, spec, x.shape)) * inv_std * (ady + sum_dy / m + xhat * sum_dyx / dof)
    return dx, sum_dyx.reshape(g.shape), sum_dy.reshape(g.shape)


def running_terms(
    running_mean: np.ndarray, running_var: np.ndarray, x: np.ndarray, spec: NormSpec
) -> tuple[np.ndarray, np.ndarray]:
    """The size of the terms of one update running = a·running + b·batch, per feature.

    |a·running| + |b|·mean|x| for the mean; |a·running| + |b|·mean(x²) for the variance
    (E[x²] − μ² is a correct way to compute it, with round-off of the size of E[x²]).
    """
    x = np.asarray(x, dtype=np.float64)
    m = group_size(spec, x.shape)
    k = spec.momentum
    a, b = (k, 1 - k) if spec.running == "cs231n" else (1 - k, k)
    dof = m if spec.running == "cs231n" else max(m - 1, 1)  # PyTorch: unbiased
    mean_abs = np.abs(x).sum(axis=spec.axes) / m
    mean_sq = (x * x).sum(axis=spec.axes) / dof
    return (
        np.abs(a * np.asarray(running_mean, dtype=np.float64)) + abs(b) * mean_abs,
        np.abs(a * np.asarray(running_var, dtype=np.float64)) + abs(b) * mean_sq,
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
    terms: np.ndarray | None = None,
) -> Diff:
    """Compare ``got`` with ``want``; ``axes`` are the group axes of ``want`` (none: per element).

    ``terms``, shaped like ``want``: the size of the terms that cancel into each element;
    an element's scale is at least that (``gradient_terms``).
    """
    got = np.asarray(got)
    want = np.asarray(want, dtype=np.float64)
    msg = ""
    if not comparable(got.shape, want.shape):
        # transposed, (D, D) for (D,), another case's shape: no element matches another
        msg = f"has shape {got.shape} in {case}; expected {want.shape}, so it cannot be compared"
    elif not np.issubdtype(got.dtype, np.number) or np.iscomplexobj(got):
        msg = f"has dtype {got.dtype} in {case}; expected real numbers"
    if msg:
        return Diff(case, False, False, np.inf, np.inf, np.inf, None, np.nan, np.nan, rtol, msg)
    got = got.reshape(want.shape)  # (1, D) for (D,): the shape check reports the shape itself
    a = got.astype(np.float64)
    known = np.isfinite(want)  # finite differences may leave positions out (NaN)
    local = np.abs(np.where(known, want, 0.0))
    if axes:
        local = np.broadcast_to(local.max(axis=axes, keepdims=True), want.shape)
    # floor: 1e-3 of the array's scale, and 1e-8 for an all-zero reference (N = 1)
    floor = max(1e-3 * float(local.max()) if local.size else 0.0, 1e-8)
    scale = np.maximum(local, floor)
    if terms is not None:
        scale = np.maximum(scale, np.asarray(terms, dtype=np.float64).reshape(want.shape))
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


def comparable(shape: tuple[int, ...], want: tuple[int, ...]) -> bool:
    """The same elements in the same order, up to axes of length 1: (1, D) for (D,)."""
    return [n for n in shape if n != 1] == [n for n in want if n != 1]


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
    detail = "" if worst.problem else f"{where}: {got} {worst.got:.6g} vs {want} {worst.want:.6g}"
    if problems:
        message = f"{name} {problems[0].problem}"
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
