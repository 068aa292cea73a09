"""NormSpec: what is normalized, over which axes, and under which conventions.

The derivation is written for "the m elements of one normalization group" and
never looks at array axes; only emission and the checker read ``axes``. Batch norm
on (N, D) and spatial batch norm on (N, C, H, W) are therefore two specs, not two
code paths.

Every convention that peers disagree on is a field here and is printed in every
report (``NormSpec.conventions``).
"""

from __future__ import annotations

from dataclasses import dataclass
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
    """One normalization: reduction axes of a layout, eps, and the conventions.

    ``axes`` are the axes of ``x`` reduced into one group; the remaining axes index
    the features, and gamma and beta have one entry per feature.
    """

    name: str = "batchnorm"
    layout: str = "ND"
    axes: tuple[int, ...] = (0,)
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
        if not self.axes or any(not 0 <= a < ndim for a in self.axes):
            raise SpecError(
                f"axes {self.axes} do not fit layout {self.layout!r}",
                f"give axes between 0 and {ndim - 1}, at least one",
            )
        if len(set(self.axes)) != len(self.axes) or list(self.axes) != sorted(self.axes):
            raise SpecError(f"axes {self.axes} must be sorted and distinct", "e.g. (0, 2, 3)")
        if len(self.axes) == ndim:
            raise SpecError("every axis is reduced, so there is no feature axis", "keep one")
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
        return tuple(a for a in range(self.ndim) if a not in self.axes)

    @property
    def features_trailing(self) -> bool:
        """True when the feature axes are the last ones, so a (D,) vector broadcasts."""
        return self.feature_axes == tuple(range(self.ndim - len(self.feature_axes), self.ndim))

    def describe_group(self) -> str:
        reduced = ", ".join(self.layout[a] for a in self.axes)
        kept = ", ".join(self.layout[a] for a in self.feature_axes)
        return f"the m elements over ({reduced}) that share one feature ({kept})"

    def conventions(self) -> list[tuple[str, str]]:
        """The conventions in force, as (label, value) rows for every report."""
        norm = "1/m (biased)" if self.variance == "biased" else "1/(m-1) (unbiased)"
        k = self.effective_momentum
        if self.running == "cs231n":
            run = f"cs231n: running = {k}*running + (1-{k})*batch"
        else:
            run = f"pytorch: running = (1-{k})*running + {k}*batch"
        reduced = ",".join(self.layout[a] for a in self.axes)
        return [
            ("normalization", f"{self.name} on {self.layout}, reduced over {reduced}"),
            ("variance", norm),
            ("eps", f"{self.eps:g}, inside the square root: sqrt(var + eps)"),
            ("mode", self.mode),
            ("running statistics", run),
        ]


SPECS: dict[str, NormSpec] = {
    "batchnorm": NormSpec(),
    "spatial_batchnorm": NormSpec(name="spatial_batchnorm", layout="NCHW", axes=(0, 2, 3)),
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
