"""Which mistake is it: the submission's outputs against each derived mistake, on the
same Evidence the checks read.

For each output (the forward's out where the style has one, dx, dγ, dβ) and each case,
the submission's value is compared with the right one and with each mistake's
(``mutants.evaluate``), by the same ``compare`` and tolerance as the battery's
``dx-vs-derived`` rows: a mistake *matches* when it agrees with every output on every
case as closely as a right submission agrees with the derivation.

A match is only a diagnosis when it is also *discriminating*: on some case the mistake's
value differs from the right one and the submission's agrees with the mistake's, not
the right one. When no single mistake matches, pairs are tried (two mistakes derived
together, so they interact as they would in the code). When two different mistakes
match equally, both are reported as "ambiguous", never one as a guess. When something
failed and nothing matches, the term attribution (``attribute``) says how dx differs.

Mistakes that are not a gradient (a shape, an input changed in place, hidden state, the
running statistics) come from the battery rows that see them (``Mistake.seen_by``).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from bncheck.check.checks import cond, group_axes, group_view
from bncheck.check.compare import Diff, compare
from bncheck.check.evidence import CaseEvidence, Evidence
from bncheck.check.plan import LARGE
from bncheck.check.reference import forward
from bncheck.check.result import CheckResult
from bncheck.diagnose.catalog import CATALOG, Mistake, by_id, forms
from bncheck.diagnose.mutants import Change, MutantValues, evaluate, mutant
from bncheck.diagnose.result import Diagnosis, Finding

__all__ = ["diagnose"]

OUTPUTS = ("out", "dx", "dgamma", "dbeta")


@dataclass(frozen=True)
class _Form:
    mistakes: tuple[Mistake, ...]
    label: str
    change: Change


@dataclass
class _Case:
    """One case's submission outputs, right values and comparison settings."""

    ev: CaseEvidence
    got: dict[str, np.ndarray]
    right: dict[str, np.ndarray]
    right_ok: dict[str, bool]


class _Judge:
    def __init__(self, ev: Evidence, with_out: bool) -> None:
        self.ev, self.spec = ev, ev.spec
        self.rtol = ev.options.tolerances.for_pair("derived", ev.dtype)
        self.outputs = OUTPUTS if with_out else OUTPUTS[1:]
        small = {id(c) for c in ev.cases if c.case.x.size <= LARGE} or {id(ev.cases[0])}
        outs = ev.plan.forwards or ev.plan.main
        self.cases: list[_Case] = []
        for k, c in enumerate(ev.cases):
            if id(c) not in small:
                continue
            got = dict(zip(OUTPUTS[1:], c.submission.arrays, strict=True))
            c64 = c.case.astype(np.float64)
            right = {"dx": c.derived.dx, "dgamma": c.derived.dgamma, "dbeta": c.derived.dbeta}
            if with_out:
                got["out"] = ev.forward_out(outs[k])
                right["out"] = forward(c64.x, c64.gamma, c64.beta, self.spec)
            ok = {o: self.close(c, o, got[o], right[o]).close for o in self.outputs}
            self.cases.append(_Case(c, got, right, ok))

    def close(self, c: CaseEvidence, o: str, got: np.ndarray, want: np.ndarray) -> Diff:
        k = OUTPUTS.index(o) - 1  # dx 0, dgamma 1, dbeta 2; out like dx
        return compare(
            got,
            want,
            c.case.name,
            self.rtol,
            group_axes(o, self.spec),
            cond(c.case, self.spec, self.ev.dtype, max(k, 0)),
            None if o == "out" or c.terms[k].size != np.size(want) else c.terms[k],
            group_view(o, self.spec, c.case.shape),
        )

    @property
    def failing(self) -> set[str]:
        return {o for o in self.outputs if not all(c.right_ok[o] for c in self.cases)}

    def values(self, change: Change) -> list[MutantValues] | None:
        try:
            mut = mutant(self.spec, change)
            return [evaluate(mut, c.ev.case, self.spec) for c in self.cases]
        except (ValueError, ArithmeticError):
            return None  # a mistake that does not take this spec's shapes

    def changes(self, vals: list[MutantValues]) -> set[str]:
        """The outputs this mistake changes (beyond the tolerance) on some case."""
        out = set()
        for c, v in zip(self.cases, vals, strict=True):
            for o in self.outputs:
                if not self.close(c.ev, o, getattr(v, o), c.right[o]).close:
                    out.add(o)
        return out

    def match(self, vals: list[MutantValues]) -> tuple[bool, float, int]:
        """(every output of every case agrees, the largest share of the tolerance used,
        how many cases discriminate: the mistake differs from the right value there and
        the submission agrees with the mistake)."""
        worst, discriminating = 0.0, 0
        for c, v in zip(self.cases, vals, strict=True):
            seen = False
            for o in self.outputs:
                d = self.close(c.ev, o, c.got[o], getattr(v, o))
                if not d.close:
                    return False, d.excess, 0
                worst = max(worst, d.excess if np.isfinite(d.excess) else 0.0)
                seen = seen or not c.right_ok[o]
            discriminating += seen
        return discriminating > 0, worst, discriminating


def _derived_forms(judge: _Judge) -> list[tuple[_Form, list[MutantValues], set[str]]]:
    out = []
    for m, label, change in forms(judge.spec):
        vals = judge.values(change)
        if vals is None:
            continue
        changed = judge.changes(vals)
        if not changed:
            continue  # the same as the right gradient on these inputs: no evidence either way
        out.append((_Form((m,), label, change), vals, changed))
    return out


def _findings(form: _Form, n: int, total: int, outputs: Sequence[str]) -> list[Finding]:
    """One finding per mistake of ``form`` (two for a pair), each with the form's evidence."""
    what = ", ".join(outputs) + (" agrees" if len(outputs) == 1 else " agree")
    evidence = (
        f"{what} with this mistake on every case ({total}), as closely as a right "
        f"submission agrees with the derivation; {n} of them tell it apart from the right "
        "gradient"
    )
    return [Finding(m.id, m.name, m.step, m.hint, form.label, evidence) for m in form.mistakes]


def _gradient_findings(ev: Evidence, rows: Sequence[CheckResult]) -> tuple[str, list[Finding]]:
    """("named" | "ambiguous" | "unknown" | "none", findings) from the derived mistakes."""
    with_out = any(r.id == "out-vs-reference" and r.passed is not None for r in rows)
    judge = _Judge(ev, with_out)
    failing = judge.failing
    if not failing or not judge.cases:
        return "none", []
    candidates = [(f, v, ch) for f, v, ch in _derived_forms(judge) if ch <= failing]
    total = len(judge.cases)
    hits: list[tuple[_Form, float, int]] = []
    for form, vals, changed in candidates:
        if changed != failing:
            continue
        ok, worst, n = judge.match(vals)
        if ok:
            hits.append((form, worst, n))
    if not hits:
        for (a, _, ca), (b, _, cb) in itertools.combinations(candidates, 2):
            if a.mistakes[0].id == b.mistakes[0].id or ca | cb != failing:
                continue
            both = a.change + b.change
            if both is None:
                continue
            pair = judge.values(both)
            if pair is None:
                continue
            ok, worst, n = judge.match(pair)
            if ok:
                label = f"{a.label}; {b.label}"
                hits.append((_Form(a.mistakes + b.mistakes, label, both), worst, n))
    if not hits:
        return "unknown", []
    by_id: dict[tuple[str, ...], tuple[_Form, float, int]] = {}
    for form, worst, n in hits:  # one form per mistake (or pair): the closest
        key = tuple(sorted(m.id for m in form.mistakes))
        if key not in by_id or worst < by_id[key][1]:
            by_id[key] = (form, worst, n)
    findings = []
    for form, _, n in by_id.values():
        findings += _findings(form, n, total, sorted(failing, key=OUTPUTS.index))
    return ("named" if len(by_id) == 1 else "ambiguous"), findings


_ROW_MISTAKES = {check: m for m in CATALOG for check in m.seen_by}


def _row_findings(rows: Sequence[CheckResult], gradient_ids: set[str]) -> list[Finding]:
    """Mistakes the battery's rows see: a row's own ``mistake`` id, or the one mistake its
    check stands for (a shape only when the values are right, and no derived mistake
    already explains that gradient)."""
    out: list[Finding] = []
    values_ok = {
        name: all(r.passed is not False for r in rows if r.name == name)
        for name in ("dx", "dgamma", "dbeta")
    }
    for r in rows:
        if r.passed is not False:
            continue
        mistake_id = r.mistake
        if not mistake_id:
            m = _ROW_MISTAKES.get(r.id)
            if m is None or r.id in ("running-stats", "eval-mode"):
                continue  # these rows name their mistake themselves, when they know it
            if m.id == "gradient-shape" and not values_ok.get(r.id.removesuffix("-shape"), True):
                continue
            mistake_id = m.id
        if mistake_id in gradient_ids or any(f.id == mistake_id for f in out):
            continue
        m = by_id(mistake_id)
        out.append(Finding(m.id, m.name, m.step, m.hint, evidence=r.message, source=r.id))
    return out


def diagnose(ev: Evidence, rows: Sequence[CheckResult]) -> Diagnosis:
    """Name the mistake(s) the evidence shows, or say that none known matches."""
    status, findings = _gradient_findings(ev, rows)
    explained = {f.id for f in findings}
    explained |= {e for f in findings for e in by_id(f.id).explains}
    behaviour = _row_findings(rows, explained)
    failed = any(r.passed is False for r in rows)
    if status == "none" and not behaviour:
        if not failed:
            return Diagnosis("none")
        return Diagnosis("unknown", message="no known mistake matches the rows that failed")
    if status == "unknown" and any(f.id == "hidden-state" for f in behaviour):
        status = "named"  # its stale answers are why the gradients differ
    if status == "unknown":
        from bncheck.diagnose.attribute import attribute

        attribution = attribute(ev)
        message = "no known mistake matches the gradients"
        return Diagnosis(
            "unknown",
            tuple(behaviour),
            attribution,
            message + (f": {attribution.summary}" if attribution is not None else ""),
        )
    all_findings = tuple(findings + behaviour)
    if status == "ambiguous":
        names = ", ".join(f.id for f in findings)
        message = (
            f"the gradients match more than one known mistake ({names}); bncheck cannot tell which"
        )
        return Diagnosis("ambiguous", all_findings, message=message)
    message = "; ".join(f"{f.id}: {f.name}" for f in all_findings)
    return Diagnosis("named", all_findings, message=message)
