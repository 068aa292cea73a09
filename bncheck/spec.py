"""NormSpec: what is normalized, over which axes, and under which conventions.

A normalization has two sets of axes, and the whole family differs only in them:

* the **statistics axes** (``axes``): one group is the elements that share every
  other coordinate, and μ, σ² are computed over it;
* the **parameter axes** (``param_axes``): γ and β are indexed by these.

Batch norm reduces over N and indexes γ by D, so γ is constant inside a group;
LayerNorm reduces over D and indexes γ by D too, so γ varies inside a group (γ_i);
GroupNorm splits the channel axis into ``groups`` contiguous blocks and reduces over
one block and H, W; RMSNorm does not subtract the mean (``center=False``). The
derivation is written for "the m elements of one group", with γ_i inside the group
where the spec says so; only emission and the checker read the axes. The presets are
data (``SPECS``), not code paths.

Running statistics (and eval mode) belong to batch norm only: a spec has them when
it reduces over the batch axis N (``has_running``).

Every convention that peers disagree on is a field here and is printed in every
report (``NormSpec.conventions``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Literal

from bncheck.errors import SpecError, UsageError, did_you_mean

__all__ = ["SPECS", "NormSpec", "get_spec"]

Variance = Literal["biased", "unbiased"]
Mode = Literal["train", "eval"]
Running = Literal["cs231n", "pytorch"]

# Momentum default of each running-statistics convention (see DESIGN.md):
#   cs231n:  running = momentum*running + (1-momentum)*batch, momentum 0.9, biased var
#   pytorch: running = (1-momentum)*running + momentum*batch, momentum 0.1, unbiased var
_DEFAULT_MOMENTUM: dict[str, float] = {"cs231n": 0.9, "pytorch": 0.1}


@dataclass(frozen=True)
class NormSpec:
    """One normalization: its statistics axes, parameter axes, eps and conventions.

    ``axes`` are the axes of ``x`` reduced into one group. ``param_axes`` index γ and
    β; None means "every axis that is not reduced" (batch norm). With ``groups`` = G,
    the first statistics axis (it must also be a parameter axis: the channels) is cut
    into G contiguous blocks and a group covers one block, not the whole axis.
    ``param_keepdims`` gives γ the shape of x with 1 on the other axes, (1, C, 1, 1) as
    CS231n's spatial group norm, instead of (C,).
    """

    name: str = "batchnorm"
    layout: str = "ND"
    axes: tuple[int, ...] = (0,)
    param_axes: tuple[int, ...] | None = None
    groups: int | None = None
    center: bool = True  # False: RMSNorm, x / sqrt(mean(x²) + eps), no mean subtracted
    param_keepdims: bool = False
    eps: float = 1e-5  # inside the square root: sqrt(var + eps)
    variance: Variance = "biased"  # 1/m, as in the paper and PyTorch's training mode
    affine: bool = True
    mode: Mode = "train"
    running: Running = "cs231n"
    # None: the running convention's default. Stored as given, so replace(spec, running=...)
    # changes the default too; every reader uses effective_momentum.
    momentum: float | None = None

    def __post_init__(self) -> None:
        ndim = len(self.layout)
        if ndim == 0 or len(set(self.layout)) != ndim:
            raise SpecError(
                f"layout {self.layout!r} must name each axis once", "use letters like 'ND'"
            )
        for label, axes in (("axes", self.axes), ("param_axes", self.param_axes)):
            if axes is None:
                continue
            if not axes or any(not 0 <= a < ndim for a in axes):
                raise SpecError(
                    f"{label} {axes} do not fit layout {self.layout!r}",
                    f"give axes between 0 and {ndim - 1}, at least one",
                )
            if len(set(axes)) != len(axes) or list(axes) != sorted(axes):
                raise SpecError(f"{label} {axes} must be sorted and distinct", "e.g. (0, 2, 3)")
        if len(self.axes) == ndim and self.param_axes is None:
            raise SpecError(
                "every axis is reduced and no param_axes are given, so γ has no axis",
                "give param_axes, e.g. (1,) for a layer norm over D",
            )
        if self.groups is not None:
            if self.groups < 1:
                raise SpecError(f"groups must be at least 1, got {self.groups}")
            if self.axes[0] not in self.parameter_axes:
                raise SpecError(
                    f"groups split axis {self.axes[0]} ({self.layout[self.axes[0]]}), "
                    "which must also index gamma",
                    "e.g. layout 'NCHW', axes (1, 2, 3), param_axes (1,), groups G",
                )
        if not self.eps >= 0:  # 0 is allowed for teaching (the paper's Section 2 has no eps)
            raise SpecError(f"eps must be non-negative, got {self.eps}", "the default is 1e-5")
        choices: dict[str, tuple[str, ...]] = {
            "variance": ("biased", "unbiased"),
            "mode": ("train", "eval"),
            "running": tuple(_DEFAULT_MOMENTUM),
        }
        for attr, allowed in choices.items():
            if getattr(self, attr) not in allowed:
                raise SpecError(f"{attr} must be one of {allowed}, got {getattr(self, attr)!r}")
        if self.mode == "eval" and not self.has_running:
            raise SpecError(
                f"{self.name} has no running statistics, so it has no eval mode",
                "eval mode applies to batch norm (statistics over the batch axis N)",
            )
        if self.momentum is not None and not 0.0 <= self.momentum <= 1.0:
            raise SpecError(
                f"momentum must lie in [0, 1], got {self.momentum}",
                f"leave it out for the {self.running} default, {_DEFAULT_MOMENTUM[self.running]}",
            )

    @property
    def effective_momentum(self) -> float:
        """The momentum in force: the one given, else the running convention's default."""
        return _DEFAULT_MOMENTUM[self.running] if self.momentum is None else self.momentum

    @property
    def ndim(self) -> int:
        return len(self.layout)

    @property
    def feature_axes(self) -> tuple[int, ...]:
        """The axes that are not reduced: one group per coordinate on them."""
        return tuple(a for a in range(self.ndim) if a not in self.axes)

    @property
    def parameter_axes(self) -> tuple[int, ...]:
        """The axes γ and β are indexed by (``param_axes``, or the feature axes)."""
        return self.feature_axes if self.param_axes is None else self.param_axes

    @property
    def gamma_in_group(self) -> bool:
        """True when γ varies inside one group (γ_i): a parameter axis is also reduced."""
        return any(a in self.axes for a in self.parameter_axes)

    @property
    def has_running(self) -> bool:
        """Running statistics and an eval mode: batch norm, whose groups span the batch N."""
        return 0 in self.axes and self.groups is None and not self.gamma_in_group

    @property
    def is_batchnorm(self) -> bool:
        """Batch norm's structure: γ is one value per group, statistics over the batch."""
        return self.has_running and self.center

    @property
    def features_trailing(self) -> bool:
        """True when the parameter axes are the last ones, so a (D,) vector broadcasts."""
        p = self.parameter_axes
        return p == tuple(range(self.ndim - len(p), self.ndim))

    # -- shapes: pure arithmetic, for numpy arrays and torch tensors alike ---------------

    def check_shape(self, shape: tuple[int, ...]) -> None:
        """A SpecError when x's shape does not fit (wrong rank, channels not divisible)."""
        if len(shape) != self.ndim:
            raise SpecError(
                f"shape {tuple(shape)} has {len(shape)} axes; {self.name} takes {self.ndim} "
                f"({','.join(self.layout)})"
            )
        if self.groups is not None and shape[self.axes[0]] % self.groups:
            axis = self.layout[self.axes[0]]
            raise SpecError(
                f"{axis} = {shape[self.axes[0]]} is not divisible into {self.groups} groups",
                f"give {axis} a multiple of {self.groups}",
            )

    def view_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        """x's shape with the grouped axis cut in two, (G, C/G); x's own shape otherwise."""
        if self.groups is None:
            return tuple(shape)
        g = self.axes[0]
        return (*shape[:g], self.groups, shape[g] // self.groups, *shape[g + 1 :])

    @property
    def view_axes(self) -> tuple[int, ...]:
        """The statistics axes of the ``view_shape`` array."""
        if self.groups is None:
            return self.axes
        g = self.axes[0]
        return (g + 1, *(a + 1 for a in self.axes[1:]))

    def group_size(self, shape: tuple[int, ...]) -> int:
        """m, the number of elements in one normalization group."""
        view = self.view_shape(shape)
        return math.prod(view[a] for a in self.view_axes)

    def stat_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        """The keepdims shape of one statistic per group, in the ``view_shape`` layout."""
        view = self.view_shape(shape)
        return tuple(1 if a in self.view_axes else n for a, n in enumerate(view))

    def param_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        """γ's shape for an x of ``shape``: (C,), (D,), or keepdims (1, C, 1, 1)."""
        if self.param_keepdims:
            return self.param_broadcast_shape(shape)
        return tuple(shape[a] for a in self.parameter_axes)

    def param_broadcast_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        """γ reshaped to broadcast against x: x's size on parameter axes, 1 elsewhere."""
        return tuple(n if a in self.parameter_axes else 1 for a, n in enumerate(shape))

    @property
    def reduce_axes(self) -> tuple[int, ...]:
        """The axes dγ and dβ sum over: every axis that does not index γ."""
        return tuple(a for a in range(self.ndim) if a not in self.parameter_axes)

    def with_rank(self, ndim: int) -> NormSpec:
        """This spec for an x of ``ndim`` axes.

        A layer-style norm (statistics and γ on the same trailing axes: layernorm,
        rmsnorm) takes any number of leading axes, as ``torch.nn.LayerNorm`` does: (N, D),
        (B, T, D), ... Any other spec fits its own rank only.
        """
        if ndim == self.ndim:
            return self
        k = len(self.axes)
        trailing = self.axes == tuple(range(self.ndim - k, self.ndim))
        if not (trailing and self.param_axes == self.axes and self.groups is None) or ndim <= k:
            layout = ",".join(self.layout)
            raise SpecError(
                f"{self.name} takes {self.ndim} axes ({layout}), not {ndim}",
                f"give a shape with {self.ndim} axes",
            )
        lead = "NTSUVWXYZ"[: ndim - k]  # N, then T (tokens), ...
        layout = lead + self.layout[-k:]
        axes = tuple(range(ndim - k, ndim))
        return replace(self, layout=layout, axes=axes, param_axes=axes)

    # -- words ------------------------------------------------------------------------------

    def _letters(self, axes: tuple[int, ...]) -> str:
        return ", ".join(self.layout[a] for a in axes)

    def describe_group(self) -> str:
        """One group in words, e.g. 'the m elements over (N) that share one D'."""
        over = list(self.layout[a] for a in self.axes)
        if self.groups is not None:
            over[0] = f"{over[0]}/{self.groups}"
        kept = self._letters(self.feature_axes)
        if self.groups is not None:
            kept = f"{kept}, {self.groups} groups of {self.layout[self.axes[0]]}".lstrip(", ")
        inside = "; γ varies inside a group (γ_i)" if self.gamma_in_group else ""
        one = "one feature" if self.has_running else "one"  # batch norm: a group per feature
        return f"the m elements over ({', '.join(over)}) that share {one} ({kept}){inside}"

    def conventions(self) -> list[tuple[str, str]]:
        """The conventions in force, as (label, value) rows for every report."""
        norm = "1/m (biased)" if self.variance == "biased" else "1/(m-1) (unbiased)"
        reduced = ",".join(self.layout[a] for a in self.axes)
        params = ",".join(self.layout[a] for a in self.parameter_axes)
        what = f"{self.name} on {self.layout}, reduced over {reduced}"
        if self.groups is not None:
            what += f" in {self.groups} groups of {self.layout[self.axes[0]]}"
        if self.param_axes is not None:  # batch norm's γ is per feature, as "reduced over" says
            what += f"; gamma, beta indexed by {params}"
        rows = [("normalization", what)]
        if self.center:
            rows.append(("variance", norm))
            rows.append(("eps", f"{self.eps:g}, inside the square root: sqrt(var + eps)"))
        else:
            rows.append(("statistics", "no mean subtracted: x / sqrt(mean(x²) + eps) (RMS)"))
            rows.append(("eps", f"{self.eps:g}, inside the square root: sqrt(mean(x²) + eps)"))
        if self.has_running:
            k = self.effective_momentum
            if self.running == "cs231n":
                run = f"cs231n: running = {k}*running + (1-{k})*batch"
            else:
                run = f"pytorch: running = (1-{k})*running + {k}*batch"
            rows += [("mode", self.mode), ("running statistics", run)]
        return rows


def _preset(name: str, layout: str, axes: tuple[int, ...], **fields: object) -> NormSpec:
    return NormSpec(name=name, layout=layout, axes=axes, **fields)  # type: ignore[arg-type]


SPECS: dict[str, NormSpec] = {
    "batchnorm": NormSpec(),
    "spatial_batchnorm": _preset("spatial_batchnorm", "NCHW", (0, 2, 3)),
    # torch.nn.LayerNorm(D) / CS231n layernorm_forward: statistics of one sample, γ per D.
    "layernorm": _preset("layernorm", "ND", (1,), param_axes=(1,)),
    # CS231n spatial_groupnorm_forward(x, gamma, beta, G, gn_param), gamma (1, C, 1, 1);
    # torch.nn.functional.group_norm with a (C,) weight is the same maths.
    "groupnorm": _preset(
        "groupnorm", "NCHW", (1, 2, 3), param_axes=(1,), groups=2, param_keepdims=True
    ),
    # torch.nn.InstanceNorm2d(C, affine=True): statistics of one (sample, channel).
    "instancenorm": _preset("instancenorm", "NCHW", (2, 3), param_axes=(1,)),
    # torch.nn.RMSNorm(D): no mean subtracted, y = γ·x/sqrt(mean(x²) + eps) + β.
    "rmsnorm": _preset("rmsnorm", "ND", (1,), param_axes=(1,), center=False),
}


def get_spec(name: str) -> NormSpec:
    """The named preset; a clear error with close matches otherwise."""
    try:
        return SPECS[name]
    except KeyError:
        raise UsageError(
            f"unknown normalization {name!r}; known: {', '.join(SPECS)}",
            did_you_mean(name, SPECS, n=2),
            code="unknown-norm",
        ) from None
