"""What the diagnoser concluded, as data and its JSON (rendered by ``bncheck.report``).

``status`` is one of:

* ``"none"``: nothing failed, so there is nothing to diagnose (a correct submission is
  never given a diagnosis);
* ``"named"``: every failing output is explained by the findings (one mistake, two
  combined, or the rows that see a behaviour);
* ``"ambiguous"``: more than one catalog entry explains the outputs equally well on these
  inputs; all are listed and none is presented as *the* mistake;
* ``"unknown"``: something failed that no catalog entry explains; ``attribution`` then says
  term by term how the submission's dx differs from the derived one, when it can.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Attribution", "Diagnosis", "Finding", "Term"]


@dataclass(frozen=True)
class Finding:
    """One mistake the evidence shows."""

    id: str  # the catalog entry's id (bncheck.diagnose.catalog)
    name: str  # its one-line name
    step: str  # the derivation step it breaks (symbolic.derive Step.key)
    hint: str  # what to look at (teaches; does not give the answer away)
    form: str = ""  # which form of it matched, e.g. "∂μ/∂x_j taken as 0"
    evidence: str = ""  # "dx matched on 7 of 7 cases (within 0.02 of the tolerance) ..."
    source: str = "derived"  # "derived": a SymPy mutant matched; else the check id that saw it

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "step": self.step,
            "hint": self.hint,
            "form": self.form,
            "evidence": self.evidence,
            "source": self.source,
        }


@dataclass(frozen=True)
class Term:
    """One term of the derived dx in the attribution basis, and the submission's fit."""

    term: str  # "g", "Σg", "x̂·Σ(g·x̂)" (γ inside: "γ·g", ...)
    derived: str  # its derived coefficient, e.g. "γ/σ"
    ratio: float  # the submission's coefficient / the derived one (median over groups)
    spread: float  # max |ratio - median| over the groups
    reading: str  # "as derived", "sign flipped", "m times too large", "missing", "×1.25"
    step: str = ""  # the derivation step the term comes from (dxhat, dvar, dmu)

    def to_dict(self) -> dict[str, Any]:
        return {
            "term": self.term,
            "derived": self.derived,
            "ratio": _json_float(self.ratio),
            "spread": _json_float(self.spread),
            "reading": self.reading,
            "step": self.step,
        }


@dataclass(frozen=True)
class Attribution:
    """The submission's dx fitted per group on the derived basis (least squares)."""

    terms: tuple[Term, ...]
    residual: float  # |dx − fit| / |dx| over the cases: how much lies outside the basis
    linear: bool | None  # dx(g) linear in g on one x (None: not measurable here)
    summary: str  # one sentence

    def to_dict(self) -> dict[str, Any]:
        return {
            "terms": [t.to_dict() for t in self.terms],
            "residual": _json_float(self.residual),
            "linear": self.linear,
            "summary": self.summary,
        }


@dataclass(frozen=True)
class Diagnosis:
    status: str  # "none" | "named" | "ambiguous" | "unknown"
    findings: tuple[Finding, ...] = ()
    attribution: Attribution | None = None
    message: str = ""  # one sentence for the report's "Diagnosis" section
    notes: tuple[str, ...] = field(default=())

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(f.id for f in self.findings)

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "message": self.message,
            "findings": [f.to_dict() for f in self.findings],
            "attribution": None if self.attribution is None else self.attribution.to_dict(),
            "notes": list(self.notes),
        }


def _json_float(v: float) -> float | None:
    return v if math.isfinite(v) else None
