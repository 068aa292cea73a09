"""Frozen results of a verify run: data, and the JSON form of that data.

``FileResult`` holds every normalization function of one file (``bncheck verify layers.py``
checks each with its own preset): one ``FunctionResult`` per function, with its
``VerifyResult`` or the error that kept it from being checked ("not implemented").

Renderers (plain text, rich, HTML) live in ``bncheck.report.verify`` and are chosen by
the result's type; the three display methods below only hand the object over, because
``print``, rich and Jupyter look for them on the object itself.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from bncheck.diagnose.result import Diagnosis

__all__ = ["SCHEMA_VERSION", "CheckResult", "FileResult", "FunctionResult", "VerifyResult"]

# The JSON of a verify result (README, "JSON output"); raised when a field changes meaning
# or disappears, not when one is added.
SCHEMA_VERSION = 1


def _json_float(v: float | None) -> float | None:
    """JSON has no inf or NaN: a non-finite error (a NaN in the submission) becomes null."""
    return v if v is None or math.isfinite(v) else None


class _Reported:
    """JSON and the renderers of ``report/verify.py`` (chosen there by the result's type),
    for a result that has ``to_dict``; the renderers are imported on use."""

    def to_dict(self) -> dict[str, Any]:
        raise NotImplementedError

    def to_json(self) -> str:
        import json

        return json.dumps(self.to_dict(), indent=2, allow_nan=False, default=str)

    def __str__(self) -> str:
        from bncheck.report.verify import text

        return text(self)

    def __rich__(self) -> Any:
        from bncheck.report.verify import render

        return render(cast("VerifyResult | FileResult", self))  # the two subclasses

    def _repr_html_(self) -> str:
        from bncheck.report.verify import html

        return html(cast("VerifyResult | FileResult", self))


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
    mistake: str = ""  # the catalog id of the mistake this row recognised (bncheck.diagnose)

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
            "mistake": self.mistake,
        }

    def __str__(self) -> str:
        from bncheck.report.verify import text

        return text(self)


@dataclass(frozen=True)
class VerifyResult(_Reported):
    """Every check of one submission, with the conventions and the seed that produced them."""

    target: str
    style: str
    seed: int
    checks: tuple[CheckResult, ...]
    conventions: tuple[tuple[str, str], ...] = ()
    notes: tuple[str, ...] = ()
    steps: tuple[tuple[float, float], ...] = field(default=())  # (h, error) on request
    read_it: str = ""  # one sentence: what the rows say together (bncheck.check.reading)
    # which mistake the failing rows show (bncheck.diagnose); None: not diagnosed
    diagnosis: Diagnosis | None = None

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
            "diagnosis": None if self.diagnosis is None else self.diagnosis.to_dict(),
        }


# status of a function that could not be checked, by the error's code
_NOT_RUN = {"not-implemented": "not implemented", "unsupported-norm": "not checked"}


@dataclass(frozen=True)
class FunctionResult:
    """One function of a file: its checks, or the error that kept it from being checked."""

    function: str
    norm: str  # the preset it was checked as ("layernorm"), or what its name says
    style: str = ""  # "" when it could not be loaded
    result: VerifyResult | None = None
    error: dict[str, str] | None = None  # code, message, hint

    @property
    def status(self) -> str:
        """ok, FAIL, "not implemented" (a stub), "not checked" (a norm bncheck cannot check),
        or error (it could not be loaded or called)."""
        if self.result is not None:
            return "ok" if self.result.passed else "FAIL"
        return _NOT_RUN.get((self.error or {}).get("code", ""), "error")

    @property
    def passed(self) -> bool | None:
        """True or False when checked; False for an error; None for a stub or a refusal."""
        if self.result is not None:
            return self.result.passed
        return None if self.status in _NOT_RUN.values() else False

    @property
    def verdict(self) -> str:
        if self.result is not None:
            return self.result.verdict
        return self.status

    @property
    def first_failure(self) -> str:
        """The id of the first failing check, or the error's code; "" when none."""
        if self.result is not None:
            return self.result.failures[0].id if self.result.failures else ""
        return (self.error or {}).get("code", "") if self.status == "error" else ""

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "function": self.function,
            "norm": self.norm,
            "status": self.status,
        }
        if self.result is not None:
            inner = self.result.to_dict()
            del inner["schema_version"], inner["bncheck_version"]
            return {**data, **inner}
        return {
            **data,
            "passed": self.passed,
            "verdict": self.verdict,
            "style": self.style or None,
            "error": dict(self.error or {}),
            "checks": [],
        }


@dataclass(frozen=True)
class FileResult(_Reported):
    """Every normalization function of one file, each checked with its own preset."""

    target: str  # the file
    seed: int
    functions: tuple[FunctionResult, ...]

    @property
    def checked(self) -> tuple[FunctionResult, ...]:
        return tuple(f for f in self.functions if f.result is not None)

    @property
    def passed(self) -> bool:
        """True when a function was checked and none failed or could not be called."""
        return bool(self.checked) and all(f.passed is not False for f in self.functions)

    @property
    def exit_code(self) -> int:
        """0 all checked functions passed, 1 one failed (or raised), 2 none could be checked."""
        if not self.checked:
            return 2
        return 0 if self.passed else 1

    @property
    def verdict(self) -> str:
        n = len(self.checked)
        failed = [f.function for f in self.functions if f.passed is False]
        idle = [f for f in self.functions if f.passed is None]
        rest = ""
        if idle:
            kinds = sorted({f.status for f in idle})
            rest = f"; {len(idle)} {' or '.join(kinds)}"
        if not n:
            return f"NOTHING CHECKED: {len(self.functions)} functions" + rest
        if not failed:
            return ("PASSED: 1 function checked" if n == 1 else f"PASSED: all {n} functions") + rest
        return (
            f"FAILED: {len(failed)} of {len(self.functions)} functions ({', '.join(failed)})" + rest
        )

    @property
    def style(self) -> str:
        styles = {f.style for f in self.functions if f.style}
        return styles.pop() if len(styles) == 1 else "mixed"

    def __getitem__(self, function: str) -> FunctionResult:
        for f in self.functions:
            if f.function == function:
                return f
        raise KeyError(f"no function {function!r} in this result")

    def to_dict(self) -> dict[str, Any]:
        """The JSON of a verify result (README, "JSON output"), with one entry per function
        under ``functions``; ``checks`` holds every function's rows, each with its
        ``function``."""
        from bncheck import __version__

        return {
            "schema_version": SCHEMA_VERSION,
            "bncheck_version": __version__,
            "passed": self.passed,
            "verdict": self.verdict,
            "read_it": "",
            "target": self.target,
            "style": self.style,
            "seed": self.seed,
            "conventions": {},
            "notes": [],
            "checks": [
                {**c.to_dict(), "function": f.function}
                for f in self.checked
                for c in (f.result.checks if f.result is not None else ())
            ],
            "steps": [],
            "diagnosis": None,  # each function's is under functions
            "functions": [f.to_dict() for f in self.functions],
        }
