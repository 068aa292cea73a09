"""Evidence: per case, the inputs and every source's gradients, which the checks read.

The references (derived, finite differences, torch autograd) need the inputs, not the
submission, so ``references`` computes each of them once, while the submission's child
runs; ``gather`` then puts them next to what the submission returned. The checks of the
battery (``bncheck.check.battery``) and, later, the diagnoser read nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from bncheck.check import sources
from bncheck.check.compare import Tolerances, computed_in
from bncheck.check.fd import FDOptions
from bncheck.check.inputs import Case
from bncheck.check.plan import Plan
from bncheck.check.replies import Returned, returned
from bncheck.check.submission import Target
from bncheck.check.terms import gradient_terms
from bncheck.spec import NormSpec

if TYPE_CHECKING:
    from bncheck.runner import Outcome

__all__ = ["CaseEvidence", "CheckOptions", "Evidence", "References", "gather", "references"]


@dataclass(frozen=True)
class CheckOptions:
    """How the battery runs: the referee, the tolerances, autograd, and which checks."""

    fd: FDOptions = field(default_factory=FDOptions)
    tolerances: Tolerances = field(default_factory=Tolerances)
    # auto: when torch is installed, autograd of bncheck's reference forward; torch: of
    # torch's own function for the spec (F.layer_norm, ...; ``sources.torch_function``),
    # the reference forward where torch has none; off: never
    autograd: str = "auto"
    only: tuple[str, ...] = ()  # check ids to run; () : every check that applies
    skip: tuple[str, ...] = ()  # check ids to leave out


@dataclass(frozen=True)
class References:
    """bncheck's own gradients for every case of a plan, each computed once."""

    derived: tuple[sources.Grads, ...]
    fd: tuple[sources.Grads, ...]
    # None: off, or torch is not installed; per case None where autograd is not compared
    # (it is on ``inputs.fixed_cases``, whose gradients are cached)
    autograd: tuple[sources.Grads | None, ...] | None
    # "torch 2.13.0", or "torch 2.13.0, cached"; "torch 2.13.0, F.layer_norm" when torch's
    # own function was differentiated (CheckOptions(autograd="torch"))
    autograd_from: str = ""
    derived_new_dout: sources.Grads | None = None  # the hidden block's case A with dy2


def references(plan: Plan, options: CheckOptions) -> References:
    """Computed while the submission's child runs (``api.verify``), or after it."""
    spec, cases = plan.spec, plan.cases
    autograd: tuple[sources.Grads | None, ...] | None = None
    autograd_from = ""
    if options.autograd != "off" and sources.torch_available():
        native = options.autograd == "torch" and sources.torch_function(spec) is not None
        via = "torch" if native else "forward"
        grads, autograd_from = sources.autograd_all(spec, cases, via)  # the fixed cases only
        autograd = tuple(grads)
    a2 = None
    if plan.hidden:
        a = cases[0]
        a2 = sources.derived(
            spec, Case("A with a new dout", a.x, a.gamma, a.beta, plan.hidden["dy2"])
        )
    return References(
        derived=tuple(sources.derived(spec, c) for c in cases),
        fd=tuple(sources.finite_differences(spec, c, options.fd) for c in cases),
        autograd=autograd,
        autograd_from=autograd_from,
        derived_new_dout=a2,
    )


@dataclass(frozen=True)
class CaseEvidence:
    """One case: its inputs, what the submission returned, and the references."""

    case: Case
    submission: Returned  # the gradients, as returned (any shape or dtype)
    derived: sources.Grads
    fd: sources.Grads
    autograd: sources.Grads | None
    terms: tuple[np.ndarray, np.ndarray, np.ndarray]  # size of the terms that cancel (compare)

    def reference(self, source: str) -> sources.Grads | None:
        return {"derived": self.derived, "fd": self.fd, "autograd": self.autograd}[source]


@dataclass
class Evidence:
    """Everything one run of the battery saw. ``notes`` collects what the checks add."""

    target: Target
    plan: Plan
    options: CheckOptions
    replies: list[dict[str, Any]]
    refs: References
    cases: tuple[CaseEvidence, ...]
    outcome: Outcome | None = None  # the sandbox's report; None in-process
    notes: list[str] = field(default_factory=list)
    # judge as if computed in this dtype (the battery's float32 second look); None: as returned
    as_dtype: np.dtype | None = None
    float32_digits: bool = False  # every failing value is within float32 round-off

    @property
    def spec(self) -> NormSpec:
        return self.plan.spec

    @property
    def style(self) -> str:
        return self.plan.style

    @property
    def dtype(self) -> np.dtype:
        """The dtype the submission computes in: the least precise of its dx and its input."""
        if self.as_dtype is not None:
            return self.as_dtype
        return computed_in(self.cases[0].submission.dtypes[0], self.cases[0].case.x.dtype)

    def judged(self, dtype: np.dtype) -> np.dtype:
        """The dtype a returned array is judged in: ``as_dtype`` on the battery's float32
        second look, else its own."""
        return dtype if self.as_dtype is None else self.as_dtype

    def grads(self, op: int) -> Returned:
        return returned(self.target, self.replies[op], "backward")

    def forward_out(self, op: int) -> np.ndarray:
        return returned(self.target, self.replies[op], "forward").arrays[0]


def gather(
    target: Target,
    plan: Plan,
    replies: list[dict[str, Any]],
    options: CheckOptions,
    refs: References,
    outcome: Outcome | None = None,
) -> Evidence:
    """Pair each main case's replies with its references (``refs`` from ``references``)."""
    cases = []
    for k, (case, op) in enumerate(zip(plan.cases, plan.main, strict=True)):
        cases.append(
            CaseEvidence(
                case=case,
                submission=returned(target, replies[op], "backward"),
                derived=refs.derived[k],
                fd=refs.fd[k],
                autograd=None if refs.autograd is None else refs.autograd[k],
                terms=gradient_terms(case.x, case.gamma, case.dy, plan.spec),
            )
        )
    return Evidence(target, plan, options, replies, refs, tuple(cases), outcome)
