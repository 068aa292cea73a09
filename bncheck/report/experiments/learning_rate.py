"""SKELETON (to be written): the learning_rate demo's text, JSON and plot."""

from __future__ import annotations

from typing import Any

from rich.console import Console

from bncheck.demos.learning_rate import LearningRate

__all__ = ["body", "conclude", "draw", "show"]


def conclude(r: LearningRate) -> str:
    raise NotImplementedError


def show(console: Console, r: LearningRate) -> None:
    raise NotImplementedError


def body(r: LearningRate) -> dict[str, Any]:
    raise NotImplementedError


def draw(plt: Any, r: LearningRate) -> Any:
    raise NotImplementedError
