"""Frozen results of a verify run: data, and the JSON form of that data.

Renderers (plain text, rich, HTML) live in ``bncheck.report.verify`` and are chosen by
the result's type; the three display methods below only hand the object over, because
``print``, rich and Jupyter look for them on the object itself.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

__all__ = ["SCHEMA_VERSION", "CheckResult", "VerifyResult"]

# The JSON of a verify result (README, "JSON output"); raised when a field changes meaning
# or disappears, not when one is added.
SCHEMA_VERSION = 1


def _json_float(v: float | None) -> float | None:
    """JSON has no inf or NaN: a non-finite error (a NaN in the submission) becomes null."""
    return v if v is None or math.isfinite(v) else None


@dataclass(frozen=True)
class CheckResult:
    """One row, e.g. check ``dx-vs-derived``: "dx" with pair "submission vs derived (float64)"."""

    name: str
    passed: bool | None  # None: skipped, and ``message`` says why
    pair: str = ""
    max_abs_err: float | None = None
    max_rel_err: float | None = None  # CS231n rel_error: |a-b| / max(1e-8, |a|+|b|)
    worst_index: tuple[int, ...] | None = None
    message: str = ""
    exact: bool | None = None
    worst: str = ""  # "[3, 1] in random (8, 5): submission 0.1234 vs derived 0.1240"
    id: str = ""  # the check's stable id in the battery (bncheck.check.battery.CHECKS)

    @property
    def title(self) -> str:
        return f"{self.name}: {self.pair}" if self.pair else self.name

    @property
    def status(self) -> str:
        return {True: "ok", False: "FAIL", None: "skip"}[self.passed]

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "status": self.status,
            "passed": self.passed,
            "pair": self.pair,
            "exact": self.exact,
            "max_abs_err": _json_float(self.max_abs_err),
            "max_rel_err": _json_float(self.max_rel_err),
            "worst_index": None if self.worst_index is None else list(self.worst_index),
            "worst": self.worst,
            "message": self.message,
        }

    def __str__(self) -> str:
        from bncheck.report.verify import text

        return text(self)


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
    read_it: str = ""  # one sentence: what the rows say together (bncheck.check.reading)

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

    def __getitem__(self, check_id: str) -> CheckResult:
        """The row of one check: ``result["dx-vs-derived"]``."""
        for c in self.checks:
            if c.id == check_id:
                return c
        raise KeyError(f"no row for check {check_id!r} in this result")

    def to_dict(self) -> dict[str, Any]:
        """The JSON schema of a verify result (README, "JSON output")."""
        from bncheck import __version__

        return {
            "schema_version": SCHEMA_VERSION,
            "bncheck_version": __version__,
            "passed": self.passed,
            "verdict": self.verdict,
            "read_it": self.read_it,
            "target": self.target,
            "style": self.style,
            "seed": self.seed,
            "conventions": dict(self.conventions),
            "notes": list(self.notes),
            "checks": [c.to_dict() for c in self.checks],
            "steps": [{"h": h, "error": _json_float(e)} for h, e in self.steps],
        }

    def to_json(self) -> str:
        import json

        return json.dumps(self.to_dict(), indent=2, allow_nan=False, default=str)

    def __str__(self) -> str:
        from bncheck.report.verify import text

        return text(self)

    def __rich__(self) -> Any:
        from bncheck.report.verify import render

        return render(self)

    def _repr_html_(self) -> str:
        from bncheck.report.verify import html

        return html(self)
