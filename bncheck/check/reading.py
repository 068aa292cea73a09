"""The "Read it:" line: what the rows of a verify report say together, in one sentence.

Rows say which comparison failed; a student wants to know where to look. The rows of
the battery (by id) are read together: which of out, dx, dgamma, dbeta are right, and
which behaviour checks failed, and the sentence names the place of the mistake.
"""

from __future__ import annotations

from collections.abc import Sequence

from bncheck.check.inputs import group_word
from bncheck.check.result import CheckResult
from bncheck.spec import NormSpec

__all__ = ["read_it"]

_VALUES = ("out", "dx", "dgamma", "dbeta")
_BEHAVIOUR = {
    "dx-shape": "dx has the wrong shape",
    "dgamma-shape": "dgamma has the wrong shape",
    "dbeta-shape": "dbeta has the wrong shape",
    "dtypes": "a gradient comes back in another dtype",
    "mutation": "it changes an input in place",
    "running-stats": "the running statistics are updated wrongly",
    "eval-mode": "the eval-mode forward is wrong",
    "sandbox": "it did something the sandbox refused",
}


def _verdicts(rows: Sequence[CheckResult]) -> dict[str, bool | None]:
    """out/dx/dgamma/dbeta: False if any comparison of it failed, True if all ran and passed."""
    out: dict[str, bool | None] = {}
    for name in _VALUES:
        mine = [c for c in rows if c.name == name and c.passed is not None]
        out[name] = None if not mine else all(c.passed for c in mine)
    return out


def _join(names: Sequence[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def read_it(
    rows: Sequence[CheckResult],
    float32_digits: bool = False,
    spatial: bool = False,
    spec: NormSpec | None = None,
) -> str:
    """One sentence that ends every report, text and JSON.

    ``float32_digits``: every failing value is within float32 round-off (the battery's
    second look), so the formulas are right and the precision is not. ``spatial``: the
    spec is spatial batch norm, whose forward most often goes wrong in its reshapes.
    ``spec``: the normalization, for its words (dgamma sums over N for LayerNorm, not
    over "the batch" of features; RMSNorm has no mean); None reads as batch norm.
    """
    by_id = {c.id: c for c in rows}
    if float32_digits:
        return (
            "Read it: the formulas look right, but the values have float32's digits: the code "
            "computes in float32 somewhere while returning float64 (see the note)."
        )
    if by_id.get("derived-vs-fd") and by_id["derived-vs-fd"].passed is False:
        return (
            "Read it: bncheck's own derivation disagrees with finite differences, so no verdict "
            "on the submission can be trusted: please report this with the seed."
        )
    mutated = by_id.get("mutation") is not None and by_id["mutation"].passed is False
    if by_id.get("hidden-state") and by_id["hidden-state"].passed is False and mutated:
        return (
            "Read it: the submission changes its input or its cache in place (see the mutation "
            "row), so a later call with the same cache sees changed data and answers wrongly: "
            "copy before writing (x - mu, not x -= mu)."
        )
    if by_id.get("hidden-state") and by_id["hidden-state"].passed is False:
        return (
            "Read it: the backward keeps state between calls (a global, an attribute, a cache of "
            "its own), so later calls get an earlier call's answer and every value row after it "
            "is suspect: compute each call from its own dout and cache."
        )
    values = _verdicts(rows)
    wrong = [n for n in _VALUES if values[n] is False]
    right = [n for n in _VALUES if values[n] is True]
    behaviour = [why for i, why in _BEHAVIOUR.items() if i in by_id and by_id[i].passed is False]
    if "eval-mode" in by_id and "made an eval-mode call" in by_id["eval-mode"].message:
        behaviour = [
            "the forward has no eval ('test') mode" if b == _BEHAVIOUR["eval-mode"] else b
            for b in behaviour
        ]
    if not wrong and not behaviour:
        if not any(c.passed is False for c in rows):
            checked = _join(right) if right else "the gradients"
            return f"Read it: {checked} match every reference, and every behaviour check passed."
        failed = [c.id or c.name for c in rows if c.passed is False]
        return f"Read it: the values are right; {_join(failed)} failed (see above)."
    if not wrong:
        values_right = f"the values of {_join(right)} are right, but " if right else ""
        return f"Read it: {values_right}{_join(behaviour)}."
    parts = []
    if wrong:
        parts.append(f"{_join(wrong)} {'is' if len(wrong) == 1 else 'are'} wrong")
        if right:
            parts[-1] += f"; {_join(right)} {'is' if len(right) == 1 else 'are'} right"
    parts += behaviour
    sentence = "Read it: " + "; ".join(parts)
    return sentence + _where(values, by_id, spatial, spec) + "."


def _words(spec: NormSpec | None) -> tuple[str, str, str]:
    """(what dgamma and dbeta sum over, the forward's statistics, the dx paths), in the
    spec's words: batch norm's when ``spec`` is None or batch norm."""
    if spec is None or spec.has_running:
        return (
            "over the batch",
            "the mean, the variance and its 1/m, eps inside the square root",
            "a path through the variance or the mean, dvar or dmu, is off",
        )
    over = "over " + ", ".join(spec.layout[a] for a in spec.reduce_axes)
    letters = [spec.layout[a] for a in spec.axes]
    if spec.groups is not None:
        letters[0] = f"{letters[0]}/G"
    each = f"of each {group_word(spec)}, over {', '.join(letters)}, with 1/m"
    if not spec.center:
        return (
            over,
            f"the mean square {each}, no mean subtracted, eps inside the square root",
            "the path through the mean square, dvar, is off",
        )
    return (
        over,
        f"the mean and the variance {each}, eps inside the square root",
        "a path through the variance or the mean, dvar or dmu, is off",
    )


def _where(
    values: dict[str, bool | None],
    by_id: dict[str, CheckResult],
    spatial: bool = False,
    spec: NormSpec | None = None,
) -> str:
    """Where to look, from which values are right."""
    over, statistics, paths = _words(spec)
    out, dx, dgamma, dbeta = (values[n] for n in _VALUES)
    forward = by_id.get("out-vs-reference")
    if out is False and forward is not None and "has shape" in forward.message:
        return (
            ", and out has the wrong shape: look at the transposes and reshapes "
            "((N, C, H, W) to (N·H·W, C) and back: the same axes order both ways)"
        )
    if out is False and spatial:
        return (
            ", so the forward pass is wrong: spatial batch norm normalizes each channel over N, H "
            "and W; reshape (N, C, H, W) to (N·H·W, C) after moving C last (a transpose), and "
            "back the same way"
        )
    if out is False:
        return (
            f", so the forward pass is wrong ({statistics}): fix it first, the backward's rows "
            "follow from it"
        )
    if dx is False and dgamma is True and dbeta is True:
        # dgamma = Σ dout·x̂ is right, so x̂ (and with out, the whole forward) is right
        right = "the forward pass is right" if out is True else "x̂ is right"
        where = f", so {right} and the mistake is in dx's formula"
        if "dx-sums-to-zero" in by_id and by_id["dx-sums-to-zero"].passed is False:
            where += " (Σ dx ≠ 0: look at the path through the mean, dmu, and its 1/m)"
        else:
            where += f" ({paths})"
        return where
    if dx is not False and dbeta is not False and dgamma is False:
        return f", so look at dgamma = Σ dout·x̂ {over} (x̂, not x)"
    if dx is not False and dgamma is not False and dbeta is False:
        return f", so look at dbeta = Σ dout {over}"
    if dx is False and (dgamma is False or dbeta is False):
        return ", so look at what every gradient shares: dout, gamma, or x̂ read back from the cache"
    return ""
