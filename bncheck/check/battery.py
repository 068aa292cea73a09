"""The battery as data: named checks with stable ids, which run on the ``Evidence``.

Like scikit-learn's ``check_estimator``, each check has an id that never changes
(``dx-vs-derived``, ``dgamma-shape``, ``running-stats``, ...), says whether it applies
to a spec and a style, and turns the evidence into one row that carries its id. The
grade rubric gives points per id; ``bncheck verify --list-checks`` prints the table,
``--checks`` and ``--skip`` select from it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial

import numpy as np

from bncheck.check import behaviour, checks
from bncheck.check.compare import FLOAT32_NOTE
from bncheck.check.evidence import Evidence
from bncheck.check.result import CheckResult
from bncheck.errors import UsageError, did_you_mean
from bncheck.spec import NormSpec

__all__ = ["CHECKS", "Check", "applicable", "run_battery", "select"]

ALL_STYLES = ("cs231n", "plain", "torch")
WITH_FORWARD = ("cs231n", "torch")  # styles whose forward bncheck can call


@dataclass(frozen=True)
class Check:
    """One named check: ``run`` returns its row, or None when it has nothing to say here
    (autograd with ``--autograd off``, the sandbox row for in-process callables)."""

    id: str
    about: str  # one line, for --list-checks
    run: Callable[[Evidence], CheckResult | None]
    styles: tuple[str, ...] = ALL_STYLES
    # the normalizations it holds for; None: every one (most checks)
    holds: Callable[[NormSpec], bool] | None = None

    def applies(self, spec: NormSpec, style: str) -> bool:
        return style in self.styles and (self.holds is None or self.holds(spec))


def _centred(spec: NormSpec) -> bool:
    """Σ dx = 0 over a group: y is unchanged by a constant added to the group, as the mean
    is subtracted; not RMSNorm, which subtracts none."""
    return spec.center


def _running(spec: NormSpec) -> bool:
    """Running statistics and an eval mode: batch norm only."""
    return spec.has_running


def _gradients(source: str, about: str) -> list[Check]:
    return [
        Check(
            f"{name}-vs-{source}",
            f"{name} vs {about}, per element",
            partial(checks.gradient_row, k=k, source=source),
        )
        for k, name in enumerate(checks.GRADS)
    ]


def _sandbox(ev: Evidence) -> CheckResult | None:
    """Refusals of a run that still returned results: a failure, never a pass."""
    from bncheck.check.sandboxed import refusal_text

    if ev.outcome is None:  # callables from this process: no sandbox
        return None
    refusals = ev.outcome.refusals
    if not refusals:
        return CheckResult("sandbox", True, "nothing refused")
    more = f" (and {len(refusals) - 1} more)" if len(refusals) > 1 else ""
    return CheckResult(
        "sandbox", False, "nothing refused", message=refusal_text(*refusals[0]) + more
    )


CHECKS: tuple[Check, ...] = (
    Check(
        "out-vs-reference",
        "out: the submission's forward vs bncheck's reference forward",
        checks.forward_row,
        WITH_FORWARD,
    ),
    *_gradients("derived", "the gradient derived by SymPy"),
    *_gradients("fd", "finite differences of the reference forward"),
    *_gradients("autograd", "torch autograd of the reference forward (if installed)"),
    Check(
        "derived-vs-fd",
        "bncheck checks itself: the derived gradient vs finite differences",
        checks.referee_row,
    ),
    *(
        Check(
            f"{name}-shape",
            f"{name} has the shape of {like}",
            partial(checks.shape_row, k=k),
        )
        for k, (name, like) in enumerate(zip(checks.GRADS, ("x", "gamma", "gamma"), strict=True))
    ),
    Check("dtypes", "dx, dgamma, dbeta have the input's dtype", checks.dtypes_row),
    Check(
        "dx-sums-to-zero",
        "Σ_batch dx = 0 for every feature (train mode)",
        checks.sum_row,
        holds=_centred,
    ),
    Check("mutation", "no input, dout or cache changed in place", behaviour.mutation_row),
    Check(
        "hidden-state", "the same call answered the same way, a new call anew", behaviour.hidden_row
    ),
    Check(
        "running-stats",
        "running_mean/var after one train step, from empty and from given values",
        behaviour.running_row,
        ("cs231n",),
        _running,
    ),
    Check(
        "eval-mode",
        "an eval ('test') forward uses the running statistics",
        behaviour.eval_row,
        ("cs231n",),
        _running,
    ),
    Check(
        "self-consistency",
        "the backward vs the submission's own forward on random directions",
        behaviour.directions_row,
        WITH_FORWARD,
    ),
    Check("sandbox", "the submission did nothing the sandbox refused", _sandbox),
)
IDS = tuple(c.id for c in CHECKS)


def _validate(ids: Iterable[str], option: str) -> tuple[str, ...]:
    ids = tuple(ids)
    for i in ids:
        if i not in IDS:
            hint = did_you_mean(i, IDS) or "bncheck verify --list-checks shows them"
            raise UsageError(f"{option}: unknown check id {i!r}", hint, code="unknown-check")
    return ids


def select(only: Iterable[str] = (), skip: Iterable[str] = ()) -> tuple[Check, ...]:
    """The checks to run: ``only`` (all when empty) without ``skip``; unknown ids are an error."""
    only, skip = _validate(only, "--checks"), _validate(skip, "--skip")
    chosen = tuple(c for c in CHECKS if (not only or c.id in only) and c.id not in skip)
    if not chosen:
        raise UsageError("no check is left to run", "leave out --skip, or name a check in --checks")
    return chosen


def applicable(spec: NormSpec, style: str, chosen: Iterable[Check] = CHECKS) -> tuple[Check, ...]:
    return tuple(c for c in chosen if c.applies(spec, style))


def run_battery(ev: Evidence) -> list[CheckResult]:
    """Every selected check that applies, in the table's order; each row carries its id."""
    checks.first_nonfinite(ev)
    chosen = applicable(ev.spec, ev.style, select(ev.options.only, ev.options.skip))
    rows = []
    # What the submission returned may be anything (inf, NaN, 1e308, int, bool): numpy's
    # warnings about arithmetic on it are not errors; the rows say what is wrong.
    with np.errstate(all="ignore"):
        for check in chosen:
            row = check.run(ev)
            if row is not None:
                rows.append(dataclasses.replace(row, id=check.id))
    if ev.cases[0].submission.dtypes[0] == np.float32:
        ev.notes.append(FLOAT32_NOTE.format(tol=ev.options.tolerances.float32))
    elif _float32_digits(ev, chosen, rows):
        ev.float32_digits = True
        ev.notes.append(FLOAT64_WITH_FLOAT32_DIGITS.format(tol=ev.options.tolerances.float32))
    return rows


# the checks of values, which can be judged again under the float32 tolerance
_VALUES = frozenset(
    {
        "out-vs-reference",
        "running-stats",
        "eval-mode",
        *(f"{g}-vs-{s}" for g in checks.GRADS for s in checks.SOURCES),
    }
)
# checks that fail as an echo of float32 digits in a float64 result (float64's ε and step)
_ECHOES = frozenset({"dx-sums-to-zero", "self-consistency"})
FLOAT64_WITH_FLOAT32_DIGITS = (
    "every value that failed is within float32 round-off of the reference ({tol:g} of its "
    "scale, times |mean|/σ): the results are float64 but have float32's digits, so the code "
    "seems to compute in float32 somewhere (x.astype(np.float32), a float32 array in the "
    "cache, an np.float32 constant); compute in the input's dtype"
)


def _float32_digits(ev: Evidence, chosen: Iterable[Check], rows: list[CheckResult]) -> bool:
    """A second look at failed value rows of a float64 result, under the float32 tolerance.

    True when at least one value row failed, and all of them pass as float32 results.
    """
    if ev.dtype != np.float64:
        return False
    failed = {r.id for r in rows if r.passed is False}
    values = failed & _VALUES
    if not values or failed - values - _ECHOES:
        return False  # only value failures (and their echoes) can be round-off
    if not values - {"running-stats", "eval-mode"}:
        return False  # float32 digits would show in out and the gradients too (an eps missing
        # from the eval forward is off by ~1e-4 as well, and is a real bug)
    shadow = dataclasses.replace(ev, as_dtype=np.dtype(np.float32), notes=[])
    with np.errstate(all="ignore"):
        again = [c.run(shadow) for c in chosen if c.id in values]
    return all(r is not None and r.passed for r in again)
