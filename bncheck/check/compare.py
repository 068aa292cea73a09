"""Comparison rows, like makemore's ``cmp``: exact?, close?, max |diff|, max rel, worst index.

"close" is judged element by element against the *local* scale: the largest
|reference| in the element's normalization group, floored at 1e-3 of the whole
array's, so a tiny feature is not drowned by a large one; and at least the size of
the terms that cancel into the element (``terms.gradient_terms``, ``running_terms``), so
an exact zero reached by cancellation (dx with N = 1) does not demand an exact zero
back. The tolerance per dtype and per kind of reference comes from ``Tolerances``,
which every report prints and the user can override.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from bncheck.check.result import CheckResult

__all__ = [
    "Tolerances",
    "comparable",
    "compare",
    "computed_in",
    "merge",
    "rel_error",
    "row_blocks",
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
    # ⟨w, J v⟩ = ⟨Jᵀw, v⟩ with the submission's own forward at x ± h·v (h: plan.DIRECTION_STEP)
    directions: float = 1e-7
    directions_float32: float = 1e-2
    # Σ_batch dx = 0 up to this many ε of the dtype, times the terms that cancel into it
    sum_eps: float = 64.0

    def for_pair(self, reference: str, dtype: np.dtype) -> float:
        if dtype == np.float32 or dtype == np.float16:
            return self.float32
        return {"finite differences": self.central, "complex step": self.complex}.get(
            reference, self.analytic
        )

    def for_directions(self, dtype: np.dtype) -> float:
        return self.directions_float32 if dtype in (np.float32, np.float16) else self.directions

    def describe(self) -> str:
        """One line: relative to each element's scale, float64 unless it says float32."""
        kinds = (
            (self.analytic, "closed form"),
            (self.central, "central differences"),
            (self.complex, "complex step"),
            (self.float32, "float32"),
        )
        line = ", ".join(_short(t) + f" {k}" for t, k in kinds)
        return (
            f"{line}; self-consistency {_short(self.directions)} "
            f"({_short(self.directions_float32)} float32); Σ dx within {self.sum_eps:g} ε"
        )


def _short(t: float) -> str:
    return f"{t:.1e}".replace(".0e", "e")


def computed_in(*dtypes: np.dtype) -> np.dtype:
    """The least precise float dtype of those given (float64 if none): float32 input with a
    float64 result (an np.ones(...) on the way) was still computed in float32."""
    floats = [np.dtype(d) for d in dtypes if np.dtype(d).kind == "f"]
    return min(floats, key=lambda d: d.itemsize, default=np.dtype(np.float64))


def rel_error(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """CS231n's rel_error, element-wise: |a - b| / max(1e-8, |a| + |b|)."""
    num = np.abs(np.subtract(a, b, dtype=np.float64))
    den = np.abs(a, dtype=np.float64)
    den += np.abs(b)
    np.maximum(den, 1e-8, out=den)
    num /= den
    return num


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
    view: tuple[int, ...] | None = None,
) -> Diff:
    """Compare ``got`` with ``want``; ``axes`` are the group axes of ``want`` (none: per element).

    ``view``: a shape of ``want`` whose ``axes`` are exactly one group, when x's own axes
    cannot say it (GroupNorm's (N, G, C/G, H, W): ``NormSpec.view_shape``); None: ``want``'s.
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
    if want.size == 0:
        return Diff(case, True, True, 0.0, 0.0, 0.0, None, np.nan, np.nan, rtol)
    scalar = want.ndim == 0  # compared as one element of shape (1,); its index stays ()
    if scalar:
        want = want.reshape(1)
    got = got.reshape(want.shape)  # (1, D) for (D,): the shape check reports the shape itself
    # In blocks of rows, so that its temporaries stay small whatever the size: at (2048, 2048)
    # a whole-array version held ~10 arrays the size of x at once. Blocks are cut along axis
    # 0, in C order, so the element a report names is the one np.argmax would name.
    blocks = row_blocks(want.shape)
    if view is not None and tuple(view) != want.shape and axes:
        grouped_want = want.reshape(view)
        scale = _group_scale(grouped_want, axes, row_blocks(grouped_want.shape))
        group = None if scale is None else np.ascontiguousarray(scale).reshape(want.shape)
    else:
        group = _group_scale(want, axes, blocks)  # None: per element
    # floor: 1e-3 of the array's scale, and 1e-8 for an all-zero reference (N = 1)
    floor = max(1e-3 * _largest(want, blocks), 1e-8)
    if terms is not None:
        terms = np.asarray(terms, dtype=np.float64).reshape(want.shape)
    if cond is not None:  # per group, keepdims; a per-feature array takes it flat
        cond = (
            cond.reshape(want.shape)
            if cond.size == want.size
            else np.broadcast_to(cond, want.shape)
        )
    exact, close = True, True
    tops: list[tuple[float, float, float]] = []  # per block: max |diff|, max rel, max excess
    failing_at: tuple[float, tuple[int, ...], float, float, float] | None = None
    nearest_at: tuple[float, tuple[int, ...], float, float, float] | None = None
    for block in blocks:
        w = want[block]
        a = np.asarray(got[block], dtype=np.float64)  # a view when it is float64: read only
        known = np.isfinite(w)  # finite differences may leave positions out (NaN)
        w0 = np.where(known, w, 0.0)
        scale = np.abs(w0) if group is None else group[block].copy()
        np.maximum(scale, floor, out=scale)
        if terms is not None:
            np.maximum(scale, terms[block], out=scale)
        tol = scale
        tol *= rtol
        if cond is not None:
            tol *= cond[block]
        bad = known & ~np.isfinite(a)
        diff = np.subtract(a, w0)
        np.abs(diff, out=diff)
        diff[~known] = 0.0
        diff[bad] = np.inf
        excess = diff / tol
        rel = rel_error(a, w0)
        rel[~known] = 0.0
        rel[bad] = np.inf
        exact = exact and bool(np.array_equal(a[known], w[known]))
        close = close and bool(np.all(excess <= 1.0))
        tops.append((diff.max(), rel.max(), excess.max()))
        # the element a report names: the largest |diff| among the failing ones (so the
        # message and the table's max |diff| agree), or the closest to failing when all pass
        failing = excess > 1.0
        if failing.any():
            k = int(np.argmax(np.where(failing, diff, -np.inf)))
            if failing_at is None or diff.flat[k] > failing_at[0]:
                failing_at = (
                    diff.flat[k],
                    _at(block, w.shape, k),
                    a.flat[k],
                    w.flat[k],
                    tol.flat[k],
                )
        elif failing_at is None:
            k = int(np.argmax(excess))  # NaN counts as the largest, as in np.argmax
            e = excess.flat[k]
            if nearest_at is None or (
                not np.isnan(nearest_at[0]) and (np.isnan(e) or e > nearest_at[0])
            ):
                nearest_at = (e, _at(block, w.shape, k), a.flat[k], w.flat[k], tol.flat[k])
    _, index, got_at, want_at, tol_at = failing_at or nearest_at  # type: ignore[misc]
    max_abs, max_rel, max_excess = (float(np.max(column)) for column in zip(*tops, strict=True))
    return Diff(
        case=case,
        exact=exact,
        close=close,
        max_abs=max_abs,
        max_rel=max_rel,
        excess=max_excess,
        index=() if scalar else index,
        got=float(got_at),
        want=float(want_at),
        tol=float(tol_at),
    )


_BLOCK = 1 << 16  # elements per block of compare(): each temporary 512 KiB, not x's size


def row_blocks(shape: tuple[int, ...]) -> list[tuple[slice, ...]]:
    """Index tuples cutting an array of ``shape`` into blocks of whole rows (axis 0), in order."""
    if not shape:
        return [()]
    row = max(1, int(np.prod(shape[1:])))
    step = max(1, _BLOCK // row)
    return [(slice(i, min(i + step, shape[0])),) for i in range(0, shape[0], step)]


def _at(block: tuple[slice, ...], shape: tuple[int, ...], k: int) -> tuple[int, ...]:
    """The index in the whole array of element ``k`` (flat) of ``block``, of shape ``shape``."""
    index = [int(i) for i in np.unravel_index(k, shape)]
    if block:
        index[0] += block[0].start
    return tuple(index)


def _largest(want: np.ndarray, blocks: list[tuple[slice, ...]]) -> float:
    """max |want| over its finite elements (0 when none is)."""
    top = 0.0
    for block in blocks:
        w = np.abs(want[block])
        top = max(top, float(np.max(w, where=np.isfinite(w), initial=0.0)))
    return top


def _group_scale(
    want: np.ndarray, axes: tuple[int, ...], blocks: list[tuple[slice, ...]]
) -> np.ndarray | None:
    """The largest finite |want| of each element's group, broadcast to want's shape (a view);
    None without ``axes`` (each element is its own scale)."""
    if not axes:
        return None
    parts = []
    for block in blocks:
        w = np.abs(want[block])
        w[~np.isfinite(w)] = 0.0
        parts.append(w.max(axis=axes, keepdims=True))
    # axis 0 reduced (a batch): the blocks' maxima combine; else they are rows of the result
    group = np.maximum.reduce(parts) if 0 in axes else np.concatenate(parts, axis=0)
    return np.broadcast_to(group, want.shape)


def comparable(shape: tuple[int, ...], want: tuple[int, ...]) -> bool:
    """The same elements in the same order, up to axes of length 1: (1, D) for (D,)."""
    return [n for n in shape if n != 1] == [n for n in want if n != 1]


def _fmt_index(index: tuple[int, ...] | None) -> str:
    return "[]" if index is None else "[" + ", ".join(map(str, index)) + "]"


Where = Callable[[str, "tuple[int, ...] | None"], str]


def _plain_where(case: str, index: tuple[int, ...] | None) -> str:
    return f"{_fmt_index(index)} in {case}"


def _worst(diffs: list[Diff]) -> Diff:
    """The comparison a row names: the largest |diff| among failing elements, so the message
    agrees with the table's max |diff|; a finite wrong value before a NaN from a degenerate case.
    """
    failing = [d for d in diffs if not d.close and not d.problem]
    if failing:
        return max(failing, key=lambda d: (np.isfinite(d.got), abs(d.got - d.want)))
    return max(diffs, key=lambda d: (np.isfinite(d.got) and np.isfinite(d.excess), d.excess))


def merge(
    name: str,
    pair: str,
    diffs: list[Diff],
    names: tuple[str, str],
    where: Where = _plain_where,
) -> CheckResult:
    """One row over several cases: the worst case decides and is named.

    ``where(case, index)`` describes an element ("[3, 1] in random (7, 8)"); the battery
    passes one that knows which feature of a degenerate case is the odd one.
    """
    worst = _worst(diffs)
    problems = [d for d in diffs if d.problem]
    close = all(d.close for d in diffs)
    at = where(worst.case, worst.index)
    got, want = names
    detail = "" if worst.problem else f"{at}: {got} {worst.got:.6g} vs {want} {worst.want:.6g}"
    if problems:
        message = f"{name} {problems[0].problem}"
    elif close:
        message = ""
    else:
        bad = sum(not d.close for d in diffs)
        gap = abs(worst.got - worst.want)
        message = (
            f"{name} differs at {at}: {got} {worst.got:.6g} vs {want} {worst.want:.6g} "
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
