"""A guided walk through bncheck for a newcomer, non-interactive.

1. the derivation in brief: SymPy's compact backward pass for a symbolic batch size m;
2. why the backward must follow the batch statistics (the paper's Section 2 demo);
3. ``bncheck verify`` on two bundled submissions: a correct one, and one with a
   classic mistake (dx without the path through the variance), which the report's
   Diagnosis section names; then, briefly, a group norm with a mistake of its own: the
   same checks, and the same diagnosis, hold for the whole family.

Runs without torch; takes a few seconds.

Prose wraps between words at the terminal's width; equations, code and commands are never
wrapped. Every command it prints works from any folder.

examples:
  bncheck tour
  bncheck tour --no-color > tour.txt
"""

from __future__ import annotations

import argparse
from typing import Any

from bncheck.demos import DEMOS

HELP = "a guided tour: the derivation in brief, the Section 2 demo, verify on examples"

# The bundled examples the tour verifies (bncheck verify --example NAME): one correct, one
# with a classic mistake.
CORRECT = "cs231n_correct"
BUGGY = "bug_dx_missing_dvar"
OTHER_BUG = "bug_eps_outside_sqrt"  # one more to try
# The family stop: a group norm whose dgamma is summed per group (the verdict and the failing
# rows only), and a layer norm to try.
FAMILY_BUG = "groupnorm_bug_dgamma_over_groups"
FAMILY_CORRECT = "layernorm_cs231n_correct"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    del parser  # no options besides --no-color


def _part(console: Any, number: int, title: str) -> None:
    from rich.rule import Rule
    from rich.text import Text

    console.print()
    console.print(Rule(Text(f"{number}/3  {title}"), style="bold cyan"))


def derivation_in_brief(console: Any) -> None:
    from bncheck.emit.notation import equation_unicode, to_code_text
    from bncheck.report.console import one_line, prose
    from bncheck.symbolic import derive

    d = derive()
    f = d.f
    _part(console, 1, "The backward pass of batch norm, derived by SymPy")
    prose(
        console,
        "Batch norm normalizes each feature over the m examples of a batch "
        "(Ioffe & Szegedy 2015, Algorithm 1):",
    )
    one_line(console, "  μ = Σᵢ xᵢ / m,   σ² = Σᵢ (xᵢ − μ)² / m,")
    one_line(console, "  x̂ᵢ = (xᵢ − μ) / sqrt(σ² + ε),   yᵢ = γ·x̂ᵢ + β")
    prose(
        console,
        "Every x_j reaches the loss three ways: through its own x̂_j, through μ and through σ². "
        "SymPy applies the chain rule to all three for a symbolic m and simplifies; "
        "with g = ∂ℓ/∂y and σ = sqrt(σ² + ε):",
    )
    one_line(console, equation_unicode(f.dx[f.j], d.dx))
    for name, expr in (("dx", d.dx), ("dgamma", d.dgamma), ("dbeta", d.dbeta)):
        one_line(console, f"  {name:<6} = {to_code_text(expr)}", style="dim")
    prose(
        console,
        "Drop one path and dx is wrong while dgamma and dbeta stay right: part 3 shows such "
        "a submission. Every step of the derivation, with SymPy's reason for each:",
    )
    one_line(console, "  bncheck derive")


def section2_demo(console: Any) -> None:
    from bncheck.demos.mean_dependence import mean_dependence
    from bncheck.report.console import one_line, prose
    from bncheck.report.demos import print_mean_dependence

    _part(console, 2, "Why the gradient must go through E[x] (the paper's Section 2)")
    prose(
        console,
        "If gradient descent treats the batch mean as a constant, a bias b before the "
        "normalization keeps moving while nothing else changes:",
    )
    print_mean_dependence(console, mean_dependence(), brief=True)
    prose(console, "The full story, and the scaled variant:")
    one_line(console, "  bncheck demo mean-dependence")


def verify_examples(console: Any) -> bool:
    """``bncheck verify`` on one correct and one buggy bundled example.

    True when the correct one passes and the buggy one fails, as they should. torch
    autograd is left out so the tour reads the same with and without torch.
    """
    import dataclasses

    from bncheck import examples
    from bncheck.check.api import VerifyOptions, verify
    from bncheck.check.evidence import CheckOptions
    from bncheck.report.console import prose

    _part(console, 3, "Checking a submission: bncheck verify")
    prose(
        console,
        "The verify command runs a batchnorm_backward in a sandboxed child process and compares "
        "it with the derived gradient and with finite differences, on shapes chosen to expose "
        "bugs (drawn from a fresh seed each run; the tour uses seed 0). It takes your file, "
        "or one of the examples bundled with bncheck, which work from any folder.",
    )
    options = VerifyOptions(seed=0, checks=CheckOptions(autograd="off"))  # the same tour each time
    as_expected = True
    for name, should_pass in ((CORRECT, True), (BUGGY, False)):
        result = verify(str(examples.path(f"{name}.py")), options)
        about = (
            "A correct submission"
            if should_pass
            else f"A classic mistake: {examples.BUGS[f'{name}.py']}"
        )
        console.print()
        prose(console, f"{about}:", "bold")
        # The report's first line is the command that runs it again, from any folder.
        console.print(dataclasses.replace(result, target=f"--example {name}"))
        as_expected = as_expected and result.passed == should_pass  # its "Read it:" says why
    return family_example(console, options) and as_expected


def family_example(console: Any, options: Any) -> bool:
    """One short stop for the other normalizations: a group norm with a classic mistake,
    shown as its verdict and failing rows. True when it fails, as it should."""
    from bncheck import examples
    from bncheck.check.api import verify
    from bncheck.report import diagnosis
    from bncheck.report.console import one_line, prose

    console.print()
    prose(
        console,
        "The same checks hold for layer, group and instance norm and RMSNorm: the function's "
        "name says which (layernorm_backward, spatial_groupnorm_backward), and verify on a "
        "file checks every one it defines. A group norm whose dgamma is summed per group "
        "instead of per channel:",
        "bold",
    )
    result = verify(str(examples.path(f"{FAMILY_BUG}.py")), options)
    one_line(console, f"  bncheck verify --example {FAMILY_BUG}")
    for row in result.failures[:2]:
        one_line(console, f"  [{row.status}] {row.title}", style="bold red")
    prose(console, f"{result.verdict}. {result.read_it}")
    if diagnosis.shown(result.diagnosis):
        console.print()
        console.print(diagnosis.render(result.diagnosis))  # which mistake, and where to look
    return not result.passed


def run(args: argparse.Namespace, console: Any) -> int:
    from bncheck.report.console import one_line, prose

    del args
    prose(
        console,
        "bncheck tour: batch normalization's backward pass, why it is what it is, "
        "and how to check yours.",
        "bold",
    )
    derivation_in_brief(console)
    section2_demo(console)
    ok = verify_examples(console)
    console.print()
    prose(console, "Next:", "bold")
    commands = {
        "bncheck verify YOUR_FILE.py": "your own batch norm",
        f"bncheck verify --example {OTHER_BUG}": "another classic mistake",
        f"bncheck verify --example {FAMILY_CORRECT}": "a correct layer norm",
        **{
            f"bncheck demo {name}": "needs the teach extra" if demo.digits else ""
            for name, demo in DEMOS.items()
        },
    }
    width = max(map(len, commands))
    for command, note in commands.items():
        one_line(console, f"  {command.ljust(width) if note else command}", note)
    if not ok:
        prose(console, "tour: an example did not behave as expected (see above)", "bold red")
        return 1
    return 0
