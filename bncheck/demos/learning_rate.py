"""SKELETON (to be written): the learning_rate demo on real digits."""

from __future__ import annotations

from dataclasses import dataclass

from bncheck.demos import Shown

__all__ = ["LearningRate", "Options", "learning_rate"]


@dataclass(frozen=True)
class Options:
    seed: int = 0
    steps: int = 100


@dataclass(frozen=True)
class LearningRate(Shown):
    options: Options


def learning_rate(options: Options | None = None) -> LearningRate:
    raise NotImplementedError("learning_rate: not written yet")
