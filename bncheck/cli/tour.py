"""A guided walk through bncheck for a newcomer, non-interactive.

1. the derivation in brief: SymPy's compact backward pass for a symbolic batch size m;
2. why the backward must follow the batch statistics (the paper's Section 2 demo);
3. ``bncheck verify`` on two bundled submissions: a correct one, and one with a
   classic mistake (dx without the path through the variance).

Runs without torch; takes a few seconds.

examples:
  bncheck tour
  bncheck tour --no-color > tour.txt
"""

from __future__ import annotations

import argparse
from typing import Any

HELP = "a guided tour: the derivation in brief, the Section 2 demo, verify on two examples"

# The bundled examples the tour verifies: one correct, one with a classic mistake.
CORRECT = "cs231n_correct.py"
BUGGY = "bug_dx_missing_dvar.py"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    del parser  # no options besides --no-color


def _part(console: Any, number: int, title: str) -> None:
    from rich.rule import Rule
    from rich.text import Text

    console.print()
    console.print(Rule(Text(f"{number}/3  {title}"), style="bold cyan"))


def _say(console: Any, text: str, style: str = "") -> None:
    from rich.text import Text

    console.print(Text(text, style=style), soft_wrap=True)


def derivation_in_brief(console: Any) -> None:
    from rich.text import Text

    from bncheck.emit.notation import equation_unicode, to_code_text
    from bncheck.symbolic import derive

    d = derive()
    f = d.f
    _part(console, 1, "The backward pass of batch norm, derived by SymPy")
    _say(
        console,
        "Batch norm normalizes each feature over the m examples of a batch "
        "(Ioffe & Szegedy 2015, Algorithm 1):",
    )
    _say(
        console,
        "  μ = Σᵢ xᵢ / m,   σ² = Σᵢ (xᵢ − μ)² / m,   x̂ᵢ = (xᵢ − μ) / sqrt(σ² + ε),   yᵢ = γ·x̂ᵢ + β",
    )
    _say(
        console,
        "Every x_j reaches the loss three ways: through its own x̂_j, through μ and through σ². "
        "SymPy applies the chain rule to all three for a symbolic m and simplifies; "
        "with g = ∂ℓ/∂y and σ = sqrt(σ² + ε):",
    )
    console.print(Text(equation_unicode(f.dx[f.j], d.dx)), soft_wrap=True)
    for name, expr in (("dx", d.dx), ("dgamma", d.dgamma), ("dbeta", d.dbeta)):
        _say(console, f"  {name:<6} = {to_code_text(expr)}", "dim")
    _say(
        console,
        "Drop one path and dx is wrong while dgamma and dbeta stay right: part 3 shows such "
        "a submission. Every step of the derivation: bncheck derive",
    )


def section2_demo(console: Any) -> None:
    from bncheck.demos.mean_dependence import mean_dependence
    from bncheck.report.demos import print_mean_dependence

    _part(console, 2, "Why the gradient must go through E[x] (the paper's Section 2)")
    _say(
        console,
        "If gradient descent treats the batch mean as a constant, a bias b before the "
        "normalization keeps moving while nothing else changes:",
    )
    print_mean_dependence(console, mean_dependence(), brief=True)
    _say(console, "The full story, and the scaled variant: bncheck demo mean-dependence", "dim")


def verify_examples(console: Any) -> bool:
    """``bncheck verify`` on one correct and one buggy bundled example.

    True when the correct one passes and the buggy one fails, as they should. torch
    autograd is left out so the tour reads the same with and without torch.
    """
    import dataclasses
    from pathlib import Path

    import bncheck
    from bncheck import examples
    from bncheck.check.api import VerifyOptions, verify
    from bncheck.check.checks import CheckOptions

    _part(console, 3, "Checking a submission: bncheck verify")
    _say(
        console,
        "bncheck verify runs a batchnorm_backward in a sandboxed child process and compares it "
        "with the derived gradient and with finite differences, on shapes chosen to expose bugs "
        "(drawn from a fresh seed each run; the tour uses seed 0).",
    )
    root = Path(bncheck.__file__).resolve().parent.parent
    options = VerifyOptions(seed=0, checks=CheckOptions(autograd="off"))  # the same tour each time
    as_expected = True
    for name, should_pass in ((CORRECT, True), (BUGGY, False)):
        path = examples.path(name).resolve()
        result = verify(str(path), options)
        # Show the path relative to the installed package, so the output has no absolute paths.
        label = result.target.replace(str(root) + "/", "")
        about = (
            "A correct submission" if should_pass else f"A classic mistake: {examples.BUGS[name]}"
        )
        console.print()
        _say(console, f"{about}:", "bold")
        console.print(dataclasses.replace(result, target=label))
        as_expected = as_expected and result.passed == should_pass
        if result.failures:
            _say(console, _reading(result))
    return as_expected


def _reading(result: Any) -> str:
    """One line that reads a failed result: which gradients failed, which passed."""
    failed = list(dict.fromkeys(c.name for c in result.failures))
    fine = [
        n for n in ("out", "dgamma", "dbeta") if all(c.passed for c in result.checks if c.name == n)
    ]
    text = f"Read it: {', '.join(failed)} failed; {', '.join(fine)} passed"
    if failed[0] == "dx" and fine == ["out", "dgamma", "dbeta"]:
        text += ", so the forward pass is right and the mistake is in dx's formula"
    return text + "."


def run(args: argparse.Namespace, console: Any) -> int:
    del args
    _say(
        console,
        "bncheck tour: batch normalization's backward pass, why it is what it is, "
        "and how to check yours.",
        "bold",
    )
    derivation_in_brief(console)
    section2_demo(console)
    ok = verify_examples(console)
    console.print()
    _say(
        console,
        "Next: bncheck derive · bncheck demo scale-invariance · bncheck demo tiny-init · "
        "bncheck verify YOUR_FILE.py",
    )
    if not ok:
        _say(console, "tour: an example did not behave as expected (see above)", "bold red")
        return 1
    return 0
