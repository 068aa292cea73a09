"""The catalog of classic mistakes: each one a change to the forward graph or the chain rule.

An entry says *what a hand derivation did differently* (``mutants.Change``); SymPy then
derives the gradient that produces, exactly as it derives the right one
(``mutants.mutant``). The chain-rule edits below are functions of SymPy's own partial
derivative (∂μ/∂x_j taken as 0, multiplied by m, its sign flipped): no wrong gradient is
typed in. Entries that the battery's rows already see (a shape, a changed input, a stale
answer, the running statistics) name those rows instead (``seen_by``).

Each entry also names the derivation step it breaks (a ``Step.key`` of
``symbolic.derive``: the report shows that step) and a hint that says where to look and
what to ask oneself, not the corrected line.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

import sympy as sp

from bncheck.diagnose.mutants import Change
from bncheck.spec import NormSpec
from bncheck.symbolic.calculus import replace_indexed
from bncheck.symbolic.derive import Chain
from bncheck.symbolic.graph import Forward

__all__ = ["CATALOG", "Mistake", "by_id", "forms", "treated_as_constant"]


# --- chain-rule edits: (forward, SymPy's partial) -> the partial a hand derivation used


def treated_as_constant(f: Forward, d: sp.Expr) -> sp.Expr:
    """The quantity treated as a constant: its partial is 0."""
    return sp.S.Zero


def _negated(f: Forward, d: sp.Expr) -> sp.Expr:
    return -d


def _mean_without_1_over_m(f: Forward, d: sp.Expr) -> sp.Expr:
    """∂μ/∂x_j with the 1/m of the mean left out."""
    return d * f.m


def _var_without_1_over_m(f: Forward, d: sp.Expr) -> sp.Expr:
    """∂σ²/∂x_j with the variance's 1/m (1/(m−1)) left out."""
    return d * f.n_var


def _power_rule_unchanged(f: Forward, d: sp.Expr) -> sp.Expr:
    """d/dv (v+ε)^(-1/2) written -1/2·(v+ε)^(-1/2): the exponent not lowered by one."""
    return d.replace(
        lambda e: isinstance(e, sp.Pow) and e.exp == sp.Rational(-3, 2),
        lambda e: e.base ** sp.Rational(-1, 2),
    )


def _from_unbiased(f: Forward, d: sp.Expr) -> sp.Expr:
    """∂σ²/∂x_j of the unbiased definition, 1/(m−1), while the forward divides by m."""
    return sp.diff(dataclasses.replace(f, variance="unbiased").var_def, f.x[f.j])


def _gamma_left_out(f: Forward, d: sp.Expr) -> sp.Expr:
    if f.gamma_inside:
        return replace_indexed(d, f.gamma, lambda n: sp.S.One)
    return d.subs(f.gamma, 1)


def _x_for_xhat(f: Forward, d: sp.Expr) -> sp.Expr:
    """∂y/∂γ read as x instead of x̂."""
    return replace_indexed(d, f.xhat, lambda n: f.x[n])


def _chain(*edits: tuple[str, Callable[[Forward, sp.Expr], sp.Expr]]) -> Change:
    return Change(chain=Chain(tuple(edits)))


def _forward(stale_too: bool = True, **fields: str) -> tuple[tuple[str, Change], ...]:
    """A forward change, in its two forms: the backward derived from the changed forward
    (consistent), and the paper's backward fed the changed forward's σ (stale)."""
    change = Change(forward=tuple(sorted(fields.items())))
    consistent = ("and the backward follows the changed forward", change)
    if not stale_too:
        return (consistent,)
    return (
        consistent,
        (
            "the backward is the paper's formula, fed that σ",
            dataclasses.replace(change, stale=True),
        ),
    )


# --- which entries apply to a spec, and in which forms


def _centred(spec: NormSpec) -> bool:
    return spec.center


def _always(spec: NormSpec) -> bool:
    return True


def _other_stats_axes(spec: NormSpec) -> tuple[tuple[str, Change], ...]:
    """Statistics over the axes another normalization uses (batch norm copied for layer
    norm, and back); group norm's grouping mistakes are not axes, so none there."""
    if spec.groups is not None:
        return ()
    if spec.ndim == 2:
        candidates: tuple[tuple[int, ...], ...] = ((0,), (1,))
    elif spec.ndim == 4:
        candidates = ((0, 2, 3), (2, 3), (1, 2, 3), (0,))
    else:
        return ()
    return tuple(
        (f"statistics over ({spec._letters(axes)})", Change(axes=axes))
        for axes in candidates
        if axes != spec.axes
    )


def _other_param_axes(spec: NormSpec) -> tuple[tuple[str, Change], ...]:
    """dγ, dβ summed over another set of axes than the ones γ is not indexed by."""
    out = []
    for axes in (spec.parameter_axes, spec.axes):
        if axes != spec.reduce_axes:
            label = f"summed over ({spec._letters(axes)})"
            out.append((label, Change(outputs=(f"reduce:{','.join(map(str, axes))}",))))
    return tuple(dict(out).items())


def _per_group(spec: NormSpec) -> tuple[tuple[str, Change], ...]:
    if spec.groups is None:
        return ()
    return (
        ("each channel given its group's sum", Change(outputs=("group-sum",))),
        ("each channel given its group's mean", Change(outputs=("group-mean",))),
    )


@dataclass(frozen=True)
class Mistake:
    """One classic mistake: an id, a one-line name, the step it breaks, and a hint.

    ``derive(spec)`` gives the forms the mistake takes for ``spec`` (label, Change): empty
    when it does not apply (no mean in RMSNorm). ``seen_by``: battery rows whose failure
    is this mistake (or whose ``mistake`` field names it), for mistakes that are not a
    gradient.
    """

    id: str
    name: str
    step: str  # the key of the derivation step it breaks (symbolic.derive.Step.key)
    hint: str
    derive: Callable[[NormSpec], tuple[tuple[str, Change], ...]] = lambda spec: ()
    seen_by: tuple[str, ...] = ()
    # other entries whose rows fail because of this one (not reported beside it)
    explains: tuple[str, ...] = ()

    @property
    def derived(self) -> bool:
        return not self.seen_by


def _when(
    applies: Callable[[NormSpec], bool], *forms: tuple[str, Change]
) -> Callable[[NormSpec], tuple[tuple[str, Change], ...]]:
    return lambda spec: forms if applies(spec) else ()


def _when_forward(
    applies: Callable[[NormSpec], bool], stale_too: bool = True, **fields: str
) -> Callable[[NormSpec], tuple[tuple[str, Change], ...]]:
    return lambda spec: _forward(stale_too, **fields) if applies(spec) else ()


CATALOG: tuple[Mistake, ...] = (
    Mistake(
        "mean-path-dropped",
        "the mean treated as a constant: dx has no path through ∂ℓ/∂μ",
        "dx",
        "μ is computed from every x_i of the group, so x_j reaches the loss through μ too. "
        "Count the paths from x_j to ℓ in the forward graph: how many does your dx add up?",
        _when(_centred, ("∂μ/∂x_j taken as 0", _chain(("mu/x", treated_as_constant)))),
    ),
    Mistake(
        "variance-path-dropped",
        "the variance treated as a constant: dx has no path through ∂ℓ/∂σ²",
        "dx",
        "σ² (the mean square, for RMSNorm) depends on every x_i of the group. Which term of "
        "your dx carries ∂ℓ/∂σ² back to x_j?",
        _when(_always, ("∂σ²/∂x_j taken as 0", _chain(("var/x", treated_as_constant)))),
    ),
    Mistake(
        "both-paths-dropped",
        "the statistics treated as constants: dx = γ·g/σ",
        "dx",
        "Your dx is what it would be if μ and σ were fixed numbers. They are computed from the "
        "group's x: differentiate through them as well.",
        # without a mean (RMSNorm) this is variance-path-dropped itself
        _when(
            _centred,
            (
                "∂μ/∂x_j and ∂σ²/∂x_j taken as 0",
                _chain(("mu/x", treated_as_constant), ("var/x", treated_as_constant)),
            ),
        ),
    ),
    Mistake(
        "dmu-missing-1-over-m",
        "∂μ/∂x_j written as 1, not 1/m: ∂ℓ/∂μ's share of dx is m times too large",
        "dx",
        "μ = Σx_i/m. How much does μ move when one x_j moves by 1?",
        _when(_centred, ("∂μ/∂x_j = 1", _chain(("mu/x", _mean_without_1_over_m)))),
    ),
    Mistake(
        "dvar-missing-1-over-m",
        "∂σ²/∂x_j written without its 1/m: the variance path is m times too large",
        "dx",
        "σ² is a mean over the group. Differentiate Σ(x_i − μ)²/m with respect to one x_j: "
        "what stays of the 1/m?",
        _when(_always, ("∂σ²/∂x_j without 1/m", _chain(("var/x", _var_without_1_over_m)))),
    ),
    Mistake(
        "dmu-sign-flipped",
        "∂ℓ/∂μ's share of dx with the wrong sign",
        "dmu",
        "Raising μ lowers every x̂_i. Follow the signs from ∂x̂_i/∂μ to the term of dx that "
        "carries ∂ℓ/∂μ.",
        _when(_centred, ("∂μ/∂x_j = −1/m", _chain(("mu/x", _negated)))),
    ),
    Mistake(
        "dvar-term-sign-flipped",
        "the variance path 2(x_j − μ)/m enters dx with the wrong sign",
        "dx",
        "Does σ² grow or shrink when an x_j above the mean grows? The sign of ∂σ²/∂x_j says it.",
        _when(_always, ("∂σ²/∂x_j with its sign flipped", _chain(("var/x", _negated)))),
    ),
    Mistake(
        "dvar-exponent",
        "∂ℓ/∂σ² with (σ² + ε)^(-1/2) where the power rule gives (σ² + ε)^(-3/2)",
        "dvar",
        "x̂ holds (σ² + ε)^(-1/2). Apply the power rule to it: which exponent comes out?",
        _when(_always, ("∂x̂/∂σ² with exponent −1/2", _chain(("xhat/var", _power_rule_unchanged)))),
    ),
    Mistake(
        "gamma-missing-in-dx",
        "γ left out of dx: ∂ℓ/∂x̂ taken as g, not γ·g",
        "dxhat",
        "y = γ·x̂ + β. What does the chain rule multiply g by on its way from y back to x̂?",
        _when(_always, ("∂y/∂x̂ = 1", _chain(("y/xhat", _gamma_left_out)))),
    ),
    Mistake(
        "unbiased-variance-backward",
        "the backward's ∂σ²/∂x_j uses 1/(m−1) while the forward divides by m",
        "dx",
        "Differentiate the variance your forward computes, not another one: which "
        "normalizer does your forward use?",
        _when(_centred, ("∂σ²/∂x_j of the 1/(m−1) variance", _chain(("var/x", _from_unbiased)))),
    ),
    Mistake(
        "eps-outside-sqrt",
        "ε outside the square root: σ = sqrt(σ²) + ε, not sqrt(σ² + ε)",
        "xhat",
        "Compare what your forward divides by with the paper's Algorithm 1, character by "
        "character: where does ε go?",
        _when_forward(_always, eps_at="outside"),
    ),
    Mistake(
        "eps-missing",
        "no ε: σ = sqrt(σ²), which divides by zero on a constant group",
        "xhat",
        "What happens to x̂ when every x of a group is the same? The paper adds something "
        "to keep it finite.",
        _when_forward(_always, eps_at="none"),
    ),
    Mistake(
        "unbiased-variance",
        "the training variance with 1/(m−1): the paper and PyTorch normalize with 1/m",
        "var",
        "Which variance does training mode normalize with? Look at Algorithm 1's σ²_B, and "
        "at what np.var or torch.var compute by default.",
        _when_forward(_centred, variance="unbiased"),
        # its running variance is then the unbiased one, as in PyTorch's convention
        explains=("running-other-convention",),
    ),
    Mistake(
        "stats-wrong-axis",
        "the statistics taken over the wrong axis",
        "mu",
        "Which elements share one mean and one variance in this normalization: the batch "
        "of one feature, or the features of one sample? Check the axis of every reduction "
        "in the forward and the backward.",
        _other_stats_axes,
    ),
    Mistake(
        "dgamma-from-x",
        "dγ computed from x, not x̂",
        "dgamma",
        "γ multiplies x̂, not x. What does y = γ·x̂ + β give for ∂y/∂γ?",
        _when(_always, ("∂y/∂γ read as x", _chain(("y/gamma", _x_for_xhat)))),
    ),
    Mistake(
        "dgamma-dbeta-swapped",
        "dγ and dβ returned in each other's place",
        "dgamma",
        "Check the order of the values your backward returns against its docstring.",
        _when(_always, ("returned as (dx, dβ, dγ)", Change(outputs=("swap",)))),
    ),
    Mistake(
        "dgamma-wrong-axis",
        "dγ and dβ summed over the wrong axes",
        "dgamma",
        "dγ has one value per element of γ: sum over every axis γ does not vary along, and "
        "only those. Which axes are they here?",
        _other_param_axes,
    ),
    Mistake(
        "dgamma-per-group",
        "dγ summed over each group's channels, as if γ had one value per group",
        "dgamma",
        "In group norm γ has one value per channel, not per group: which axes does one "
        "channel's γ touch?",
        _per_group,
    ),
    Mistake(
        "running-momentum-swapped",
        "running statistics with the momentum semantics swapped",
        "running",
        "Which of the two weights keeps the old running value: momentum or 1 − momentum? "
        "The conventions table of the report says which framework's rule is checked.",
        seen_by=("running-stats",),
    ),
    Mistake(
        "running-other-convention",
        "running statistics in the other framework's convention",
        "running",
        "CS231n and PyTorch update running statistics differently (momentum, and PyTorch's "
        "unbiased running variance): the report's conventions table says which is checked.",
        seen_by=("running-stats",),
    ),
    Mistake(
        "eval-uses-batch-stats",
        "eval ('test') mode normalizes with the batch's statistics, not the running ones",
        "running",
        "At test time there may be one example: what does the forward normalize with then?",
        seen_by=("eval-mode",),
    ),
    Mistake(
        "gradient-shape",
        "a gradient returned in the wrong shape (the values are right)",
        "dgamma",
        "An update gamma -= lr * dgamma needs dgamma in gamma's shape: look at keepdims.",
        seen_by=("dx-shape", "dgamma-shape", "dbeta-shape"),
    ),
    Mistake(
        "mutates-input",
        "the backward changes an input in place",
        "dx",
        "An in-place operation (*=, +=, out=) on dout or on a cached array changes the "
        "caller's array: write to a new one.",
        seen_by=("mutation",),
    ),
    Mistake(
        "hidden-state",
        "the backward keeps state between calls and answers with an old result",
        "dx",
        "A backward must depend only on its arguments (dout and the cache): look for "
        "globals or attributes that survive between calls.",
        seen_by=("hidden-state",),
    ),
)

_BY_ID = {m.id: m for m in CATALOG}


def by_id(mistake_id: str) -> Mistake:
    """The entry with this id (KeyError if there is none)."""
    return _BY_ID[mistake_id]


def forms(spec: NormSpec) -> list[tuple[Mistake, str, Change]]:
    """Every derived mistake that applies to ``spec``, one row per form."""
    return [(m, label, change) for m in CATALOG for label, change in m.derive(spec)]
