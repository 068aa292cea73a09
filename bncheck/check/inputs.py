"""Seeded inputs that find bugs.

Two traps to avoid: an upstream gradient dout = ones, or dout ∝ x̂, makes the
true dx ≈ 0 (dx is (γ/σ)·(dout projected off span{1, x̂})), so nearly every
wrong backward "passes". Ours has a random part orthogonal to both, and non-zero
components along 1 and x̂, so a bug in the dmu or dvar path cannot hide either.

A third trap is a battery that never changes: a backward right only for the shapes
it was shown, or only for D ≤ 16 (a loop over ``range(16)``), or only for small
batches, passes a fixed battery. So the shapes, and how many cases there are, come
from the seed, and every battery still has small cases, a wide one (a feature axis
> 16) and a tall one (more than 32 elements per group), with no two axes of a shape
the same size (a transposed reduction cannot pass on a square shape). Sizes stay
modest (m ≤ 80, a feature axis ≤ 48): the referee takes 2·m forwards per case.

Torch autograd is the one reference that needs a 1–2 s ``import torch``, and its
gradients depend only on the inputs. So it is compared on ``fixed_cases``: a battery
drawn from one seed that no run draws, the same in every run, whose autograd
gradients are cached (``sources.autograd_all``). These cases are added to a run's
own battery, never in place of it, and are compared with every reference.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from bncheck.check.reference import batch_stats, expand, group_size, grouped
from bncheck.errors import SpecError
from bncheck.spec import NormSpec

__all__ = [
    "FIXED_SEED",
    "Case",
    "fixed_cases",
    "group_word",
    "make_case",
    "make_cases",
    "small_case",
    "upstream_gradient",
]

# Inclusive size ranges per kind of case: "group" bounds m, the elements of one group;
# "lone" is the size of a single reduced axis (N of (N, D)); "axis" each of several
# reduced axes (N, H, W of NCHW); "feature" each feature axis; "wide" the one feature
# axis of a wide case. m ≥ 3: with m = 2, x̂ = ±1 and span{1, x̂} is everything, so the
# true dx is ≈ 0 (of order eps/var) and hides bugs while finite differences lose it.
SIZES: dict[str, dict[str, tuple[int, int]]] = {
    "small": {"group": (3, 24), "lone": (3, 16), "axis": (1, 4), "feature": (2, 9)},
    "wide": {
        "group": (3, 32),
        "lone": (3, 24),
        "axis": (1, 4),
        "feature": (2, 6),
        "wide": (17, 48),
    },
    "tall": {"group": (33, 80), "lone": (33, 80), "axis": (2, 7), "feature": (2, 12)},
    "degenerate": {"group": (4, 24), "lone": (4, 12), "axis": (1, 4), "feature": (2, 8)},
}
# Every battery: two small cases, one wide, one tall, and 0 to EXTRA more of a random kind.
KINDS = ("small", "small", "wide", "tall")
EXTRA = 2
EXTRA_KINDS = ("small", "wide", "tall")


@dataclass(frozen=True)
class Case:
    """One input to a backward: x, gamma, beta and the upstream gradient dy."""

    name: str
    x: np.ndarray
    gamma: np.ndarray
    beta: np.ndarray
    dy: np.ndarray
    note: str = ""  # what the case is there to catch
    feature: tuple[int, ...] | None = None  # a degenerate case: the index of its odd feature
    fixed: bool = False  # one of ``fixed_cases``: the same in every run (autograd is cached)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.x.shape)

    def astype(self, dtype: type | np.dtype) -> Case:
        """The same case in another dtype (references always work on the float64 upcast)."""
        x, gamma, beta, dy = (
            np.asarray(a, dtype=dtype) for a in (self.x, self.gamma, self.beta, self.dy)
        )
        return replace(self, x=x, gamma=gamma, beta=beta, dy=dy)


def group_word(spec: NormSpec) -> str:
    """What one normalization group is called in case names and reports: a "feature" of
    batch norm (a channel of spatial batch norm, as CS231n says), a "row" (one sample) of
    LayerNorm and RMSNorm, a "group" of GroupNorm, a "plane" (one sample's channel) of
    InstanceNorm."""
    if spec.has_running:
        return "feature"
    if spec.groups is not None:
        return "group"
    if spec.feature_axes == (0,):
        return "row"
    return "plane"


def _draw_shape(
    spec: NormSpec, kind: str, rng: np.random.Generator, taken: tuple[tuple[int, ...], ...] = ()
) -> tuple[int, ...]:
    """A shape of ``kind`` (see SIZES), all axes of different sizes, not one of ``taken``."""
    sizes = SIZES[kind]
    lo, hi = sizes["group"]
    wide = rng.choice(spec.feature_axes) if "wide" in sizes else -1
    split = spec.axes[0] if spec.groups is not None else -1
    for attempt in range(2000):
        shape = []
        for a in range(spec.ndim):
            if a in spec.axes:
                key = "lone" if len(spec.axes) == 1 else "axis"
            else:
                key = "wide" if a == wide else "feature"
            n = int(rng.integers(sizes[key][0], sizes[key][1] + 1))
            # GroupNorm: the size drawn is the block's (C/G), so C is a multiple of G
            shape.append(n * spec.groups if a == split and spec.groups is not None else n)
        # distinct sizes first; a layout with many axes may have to give that up
        distinct = len(set(shape)) == len(shape) or attempt >= 1000
        if lo <= group_size(spec, tuple(shape)) <= hi and distinct and tuple(shape) not in taken:
            return tuple(shape)
    raise SpecError(f"cannot draw a {kind} shape for layout {spec.layout!r} axes {spec.axes}")


def small_case(spec: NormSpec, rng: np.random.Generator, name: str = "") -> Case:
    """An ordinary case of the "small" kind (see SIZES), drawn from ``rng``."""
    return make_case(spec, _draw_shape(spec, "small", rng), rng, name)


def upstream_gradient(
    x: np.ndarray, spec: NormSpec, rng: np.random.Generator, gamma: np.ndarray | None = None
) -> np.ndarray:
    """dy such that g = γ·dy is a·1 + b·x̂ + r⊥ per group, with |a|, |b| in [0.3, 1] and
    r⊥ ⊥ {1, x̂}, rms 1 (x̂ centred first for RMSNorm, whose x̂ has a mean).

    dx is (1/σ)·(g projected off span{1, x̂}) (off x̂ alone for RMSNorm), with g = γ·dy.
    With one γ per group (batch norm) g is dy scaled, so dy itself is built; when γ varies
    inside a group (LayerNorm's γ_i) and ``gamma`` is given, g is built and dy = g/γ
    (|γ| ≥ 0.5 on our cases), or γ would mix the parts and could hide one.
    """
    mu, var = batch_stats(x, spec)
    xv = grouped(x, spec)
    axes = spec.view_axes
    xhat = (xv - mu) / np.sqrt(var + spec.eps)
    if not spec.center:  # RMSNorm's x̂ has a mean: its part off 1, so a is g's mean
        xhat = xhat - xhat.mean(axis=axes, keepdims=True)
    r = rng.standard_normal(xv.shape)
    ones = np.ones_like(xv)
    for basis in (ones, xhat):  # Gram-Schmidt per group against 1, then x̂
        norm2 = (basis * basis).sum(axis=axes, keepdims=True)
        coef = (r * basis).sum(axis=axes, keepdims=True) / np.where(norm2 > 0, norm2, 1.0)
        r = r - coef * basis
    rms = np.sqrt((r * r).mean(axis=axes, keepdims=True))
    r = r / np.where(rms > 0, rms, 1.0)
    sign = rng.choice([-1.0, 1.0], size=(2, *spec.stat_shape(x.shape)))
    a, b = sign * rng.uniform(0.3, 1.0, size=sign.shape)
    g = np.asarray(a * ones + b * xhat + r).reshape(x.shape)
    if gamma is not None and spec.gamma_in_group:
        g = g / expand(np.asarray(gamma, dtype=np.float64), spec, x.shape)
    return g


def _affine(spec: NormSpec, shape: tuple[int, ...], rng: np.random.Generator) -> tuple:
    d = spec.param_shape(shape)  # (D,), (C,), or CS231n's (1, C, 1, 1)
    gamma = rng.choice([-1.0, 1.0], size=d) * rng.uniform(0.5, 2.0, size=d)  # never ones
    beta = rng.standard_normal(d)
    return gamma, beta


def make_case(
    spec: NormSpec, shape: tuple[int, ...], rng: np.random.Generator, name: str = ""
) -> Case:
    """An ordinary case: per-group means and spreads that differ, gamma ≠ 1, beta ≠ 0."""
    spec.check_shape(tuple(shape))
    stat = spec.stat_shape(shape)  # one mean and spread per group, in the grouped view
    x = rng.normal(2.0, 1.0, size=stat) + np.exp(rng.normal(0, 0.5, size=stat)) * (
        rng.standard_normal(spec.view_shape(shape))
    )
    x = x.reshape(shape)
    gamma, beta = _affine(spec, shape, rng)
    dy = upstream_gradient(x, spec, rng, gamma)
    return Case(name or f"random {shape}", x, gamma, beta, dy)


def _degenerate_kinds(spec: NormSpec) -> tuple[tuple[str, Any, str], ...]:
    """(name, transform of one group's values, what it catches), for the spec's statistics."""
    word = group_word(spec)
    if not spec.center:  # RMSNorm: no mean, so the traps are a small mean square and a mean
        return (
            (f"zero {word}", lambda f: 0.0 * f, "mean(x²) = 0: needs eps inside the sqrt"),
            (
                "mean square far below eps",
                lambda f: 1e-4 * f,
                "mean(x²) = 1e-8 ≪ eps = 1e-5",
            ),
            # RMSNorm subtracts no mean: code that centres gives x̂ = 0 here, RMSNorm ≈ ±1
            (f"constant {word}", lambda f: 0.0 * f + 3.0, "x̂ = 1: no mean is subtracted"),
        )
    return (
        (
            f"zero-variance {word}",
            lambda f: 0.0 * f + 3.0,
            "var = 0: needs eps inside the sqrt",
        ),
        # mean ≈ 0: at |mean| 0.5 float32 rounds x by up to 3e-8, 3e-4 of this spread,
        # and correct float32 code failed dgamma on ~5% of seeds
        ("variance far below eps", lambda f: 1e-4 * f - 1e-3, "var = 1e-8 ≪ eps = 1e-5"),
        # std exactly 1, so the loss of digits in raw sums (≈ 1e8·ε) is the same every seed
        (
            "offset mean 1e4",
            lambda f: (f - f.mean()) / f.std() + 1e4,
            "mean 1e4, std 1: cancellation in raw sums",
        ),
    )


def _degenerate(spec: NormSpec, rng: np.random.Generator) -> list[Case]:
    """Groups that break careless code (a feature of batch norm, a row of LayerNorm, a block
    of channels of GroupNorm), one per case so a failure names its cause."""
    out = []
    for name, transform, note in _degenerate_kinds(spec):
        shape = _draw_shape(spec, "degenerate", rng)
        base = make_case(spec, shape, rng)
        x = base.x.copy()
        xv = grouped(x, spec)  # a view of x: one group is fixed coordinates off view_axes
        # which group is degenerate is drawn too, so no code can special-case group 0
        group = tuple(
            int(rng.integers(n)) if a not in spec.view_axes else slice(None)
            for a, n in enumerate(xv.shape)
        )
        xv[group] = transform(rng.standard_normal(xv[group].shape))
        odd = tuple(int(i) for i in group if not isinstance(i, slice))
        dy = upstream_gradient(x, spec, rng, base.gamma)
        out.append(Case(name, x, base.gamma, base.beta, dy, note, odd))
    # One element per group, only where the convention defines it: not with 1/(m-1), nor
    # with PyTorch's unbiased running variance (PyTorch refuses a batch of one in training)
    if spec.has_running:
        defined = spec.variance == "biased" and spec.running == "cs231n"
    else:
        defined = spec.variance == "biased" or not spec.center
    if defined:
        one = [1 if a in spec.axes else n for a, n in enumerate(shape)]
        if spec.groups is not None:
            one[spec.axes[0]] = spec.groups  # a block of one channel
        one_shape = tuple(one)
        if group_size(spec, one_shape) == 1:
            c = make_case(spec, one_shape, rng, name=_one_name(spec))
            note = (
                "one element: xhat = 0, dx = 0"
                if spec.center
                else "one element: xhat = x/sqrt(x² + eps)"
            )
            out.append(Case(c.name, c.x, c.gamma, c.beta, c.dy, note))
    return out


def _one_name(spec: NormSpec) -> str:
    """The one-element case: "N = 1" for batch norm, "D = 1" for LayerNorm, ..."""
    if spec.has_running:
        return "N = 1"  # spatial batch norm's (1, C, 1, 1) too, as CS231n calls it
    if spec.groups is not None:
        letter = spec.layout[spec.axes[0]]
        rest = "".join(f" = {spec.layout[a]}" for a in spec.axes[1:])
        return f"{letter}/G{rest} = 1"
    return " = ".join(spec.layout[a] for a in spec.axes) + " = 1"


def make_cases(
    spec: NormSpec,
    seed: int = 0,
    degenerate: bool = True,
    dtype: type = np.float64,
    shapes: tuple[tuple[int, ...], ...] = (),
) -> tuple[Case, ...]:
    """The seeded battery: ordinary cases (``shapes``, or drawn), then the degenerate features.

    Drawn shapes: KINDS plus 0 to EXTRA cases of a random kind, in a random order, so
    that ``cases[0]`` (the case of the hidden-state, running and direction checks) varies too.
    """
    rng = np.random.default_rng(seed)
    if not shapes:
        kinds = [*KINDS, *rng.choice(EXTRA_KINDS, size=rng.integers(EXTRA + 1))]
        drawn: list[tuple[int, ...]] = []
        for kind in rng.permutation(kinds):
            drawn.append(_draw_shape(spec, str(kind), rng, tuple(drawn)))
        shapes = tuple(drawn)
    cases = [make_case(spec, s, rng) for s in shapes]
    if degenerate:
        cases += _degenerate(spec, rng)
    return tuple(c.astype(dtype) for c in cases)


# Fresh seeds are 32-bit (``api``), so no run's own battery is the fixed one.
FIXED_SEED = 2**32


def fixed_cases(
    spec: NormSpec, degenerate: bool = True, dtype: type = np.float64
) -> tuple[Case, ...]:
    """The same cases in every run (drawn shapes, ``FIXED_SEED``), marked ``fixed`` and named so.

    Torch autograd is compared on these, from the cache after the first run; a run adds
    them to its own battery (``make_cases``), whose cases the other references check.
    """
    return tuple(
        replace(c, name=_fixed_name(c.name), fixed=True)
        for c in make_cases(spec, FIXED_SEED, degenerate, dtype)
    )


def _fixed_name(name: str) -> str:
    """ "random (5, 7)" -> "fixed (5, 7)"; "zero-variance feature" -> "... (fixed)"."""
    if name.startswith("random "):
        return "fixed " + name.removeprefix("random ")
    return f"{name} (fixed)"
