"""SKELETON (to be written): the gradient_histograms demo on real digits."""

from __future__ import annotations

from dataclasses import dataclass

from bncheck.demos import Shown

__all__ = ["GradientHistograms", "Options", "gradient_histograms"]


@dataclass(frozen=True)
class Options:
    seed: int = 0
    steps: int = 100


@dataclass(frozen=True)
class GradientHistograms(Shown):
    options: Options


def gradient_histograms(options: Options | None = None) -> GradientHistograms:
    raise NotImplementedError("gradient_histograms: not written yet")
