"""SKELETON (to be written): the batch_noise demo's text, JSON and plot."""

from __future__ import annotations

from typing import Any

from rich.console import Console

from bncheck.demos.batch_noise import BatchNoise

__all__ = ["body", "conclude", "draw", "show"]


def conclude(r: BatchNoise) -> str:
    raise NotImplementedError


def show(console: Console, r: BatchNoise) -> None:
    raise NotImplementedError


def body(r: BatchNoise) -> dict[str, Any]:
    raise NotImplementedError


def draw(plt: Any, r: BatchNoise) -> Any:
    raise NotImplementedError
