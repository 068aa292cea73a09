"""SKELETON (to be written): the batch_noise demo on real digits."""

from __future__ import annotations

from dataclasses import dataclass

from bncheck.demos import Shown

__all__ = ["BatchNoise", "Options", "batch_noise"]


@dataclass(frozen=True)
class Options:
    seed: int = 0
    steps: int = 100


@dataclass(frozen=True)
class BatchNoise(Shown):
    options: Options


def batch_noise(options: Options | None = None) -> BatchNoise:
    raise NotImplementedError("batch_noise: not written yet")
