"""The derivation in a terminal: each step's reason, chain rule and result."""

from __future__ import annotations

from rich.console import Console
from rich.rule import Rule
from rich.text import Text

from bncheck.emit.document import group_notes
from bncheck.emit.notation import equation_unicode, to_code_text
from bncheck.symbolic.derive import Derivation, Step

__all__ = ["print_derivation"]


def _print_step(console: Console, number: int, step: Step) -> None:
    console.print(Text(f"{number}. {step.title}", style="bold"))
    console.print(Text(f"   {step.why}", style="italic"))
    if step.chain is not None:
        console.print(Text("   chain rule, SymPy's partial derivatives:", style="dim"))
        console.print(Text(equation_unicode(step.lhs, step.chain)), soft_wrap=True)
        console.print(Text("   simplified:", style="dim"))
    console.print(Text(equation_unicode(step.lhs, step.rhs)), soft_wrap=True)
    console.print()


def print_derivation(console: Console, d: Derivation) -> None:
    spec = d.spec
    console.print(Text(f"The {spec.name} backward pass, derived by SymPy", style="bold"))
    console.print(f"One group is {spec.describe_group()}; m is a symbol.")
    for note in group_notes(spec):
        console.print(note)
    for label, value in spec.conventions():
        console.print(f"  {label}: {value}")
    console.print("  g = ∂ℓ/∂y is the upstream gradient; δ is SymPy's Kronecker delta.")
    number = 0
    for title, steps in (
        ("Forward (Algorithm 1)", d.forward),
        ("Backward, staged (Section 3)", d.staged),
        ("Backward, compact", d.compact),
    ):
        console.print(Rule(title, style="cyan"))
        for step in steps:
            number += 1
            _print_step(console, number, step)
    console.print(Rule("In code names", style="cyan"))
    for name, expr in (("dx", d.dx), ("dgamma", d.dgamma), ("dbeta", d.dbeta)):
        console.print(f"  {name:<6} = {to_code_text(expr)}")
