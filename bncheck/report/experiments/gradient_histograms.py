"""SKELETON (to be written): the gradient_histograms demo's text, JSON and plot."""

from __future__ import annotations

from typing import Any

from rich.console import Console

from bncheck.demos.gradient_histograms import GradientHistograms

__all__ = ["body", "conclude", "draw", "show"]


def conclude(r: GradientHistograms) -> str:
    raise NotImplementedError


def show(console: Console, r: GradientHistograms) -> None:
    raise NotImplementedError


def body(r: GradientHistograms) -> dict[str, Any]:
    raise NotImplementedError


def draw(plt: Any, r: GradientHistograms) -> Any:
    raise NotImplementedError
