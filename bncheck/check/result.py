"""Frozen results of a verify run: plain text, rich, HTML and JSON.

rich is imported only by ``bncheck.report``; ``__rich__`` delegates there lazily.
"""

from __future__ import annotations

import html
import json
import math
from dataclasses import dataclass, field
from typing import Any

__all__ = ["CheckResult", "VerifyResult"]


def _num(v: float | None) -> str:
    return "-" if v is None else f"{v:.1e}"


def _json_float(v: float | None) -> float | None:
    """JSON has no inf or NaN: a non-finite error (a NaN in the submission) becomes null."""
    return v if v is None or math.isfinite(v) else None


@dataclass(frozen=True)
class CheckResult:
    """One named check, e.g. "dx" with pair "submission vs derived (float64)"."""

    name: str
    passed: bool | None  # None: skipped, and ``message`` says why
    pair: str = ""
    max_abs_err: float | None = None
    max_rel_err: float | None = None  # CS231n rel_error: |a-b| / max(1e-8, |a|+|b|)
    worst_index: tuple[int, ...] | None = None
    message: str = ""
    exact: bool | None = None
    worst: str = ""  # "[3, 1] in random (8, 5): 0.1234 vs 0.1240"

    @property
    def title(self) -> str:
        return f"{self.name}: {self.pair}" if self.pair else self.name

    @property
    def status(self) -> str:
        return {True: "ok", False: "FAIL", None: "skip"}[self.passed]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "passed": self.passed,
            "pair": self.pair,
            "max_abs_err": _json_float(self.max_abs_err),
            "max_rel_err": _json_float(self.max_rel_err),
            "worst_index": None if self.worst_index is None else list(self.worst_index),
            "message": self.message,
        }

    def __str__(self) -> str:
        line = f"[{self.status:>4}] {self.title}"
        if self.max_abs_err is not None:
            line += f"  max|diff| {_num(self.max_abs_err)}  max rel {_num(self.max_rel_err)}"
        if self.worst and self.passed is False and self.worst not in self.message:
            line += f"\n       worst {self.worst}"
        if self.message and self.passed is not True:
            line += f"\n       {self.message}"
        return line


@dataclass(frozen=True)
class VerifyResult:
    """Every check of one submission, with the conventions and the seed that produced them."""

    target: str
    style: str
    seed: int
    checks: tuple[CheckResult, ...]
    conventions: tuple[tuple[str, str], ...] = ()
    notes: tuple[str, ...] = ()
    steps: tuple[tuple[float, float], ...] = field(default=())  # (h, error) on request

    @property
    def passed(self) -> bool:
        return all(c.passed is not False for c in self.checks) and any(
            c.passed for c in self.checks
        )

    @property
    def failures(self) -> tuple[CheckResult, ...]:
        return tuple(c for c in self.checks if c.passed is False)

    @property
    def verdict(self) -> str:
        if self.passed:
            return f"PASSED: all {sum(c.passed is True for c in self.checks)} checks"
        return f"FAILED: {len(self.failures)} of {len(self.checks)} checks"

    def to_json(self) -> str:
        data = {
            "passed": self.passed,
            "style": self.style,
            "target": self.target,
            "seed": self.seed,
            "conventions": dict(self.conventions),
            "checks": [c.to_dict() for c in self.checks],
        }
        return json.dumps(data, indent=2, allow_nan=False, default=str)

    def __str__(self) -> str:
        lines = [f"bncheck verify {self.target} (style {self.style}, seed {self.seed})"]
        lines += [str(c) for c in self.checks]
        lines += [f"  {label}: {value}" for label, value in self.conventions]
        lines += [f"  note: {n}" for n in self.notes]
        lines.append(self.verdict)
        return "\n".join(lines)

    def __rich__(self) -> Any:
        from bncheck.report.verify import render

        return render(self)

    def _repr_html_(self) -> str:
        rows = "".join(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>".format(
                *(
                    html.escape(s)
                    for s in (
                        c.status,
                        c.title,
                        _num(c.max_abs_err),
                        _num(c.max_rel_err),
                        c.worst if c.passed is False else "",
                        c.message if c.passed is not True else "",
                    )
                )
            )
            for c in self.checks
        )
        colour = "green" if self.passed else "red"
        conv = "; ".join(f"{html.escape(k)}: {html.escape(v)}" for k, v in self.conventions)
        return (
            f"<div><b>bncheck verify</b> {html.escape(self.target)} "
            f"(style {html.escape(self.style)}, seed {self.seed})"
            "<table><tr><th></th><th>check</th><th>max |diff|</th><th>max rel</th>"
            f"<th>worst</th><th>message</th></tr>{rows}</table>"
            f"<p style='color:{colour}'><b>{html.escape(self.verdict)}</b></p>"
            f"<p><small>{conv}</small></p></div>"
        )
