"""Display notation: SymPy expressions in the paper's symbols, for LaTeX and the terminal.

The code names (mu, var, xhat, dy, ...) are SymPy's symbol names; here they are
swapped for the spellings of ``bncheck.names`` just before printing, so the maths
reads like the paper and the code reads like code, from one table.
"""

from __future__ import annotations

import sympy as sp

from bncheck.names import NAMES, Name

__all__ = [
    "SPELLED",
    "equation_latex",
    "equation_unicode",
    "to_code_text",
    "to_latex",
    "to_unicode",
]

# Every name as the equations spell it: bncheck.names, and RMSNorm's mean square (not in
# bncheck.names, which is batch norm's).
SPELLED: dict[str, Name] = {
    **NAMES,
    "ms": Name("ms", r"\overline{x^{2}}", "ms", "the mean square, Σ x² / m (RMSNorm)"),
}

_UNICODE_SUB = str.maketrans("ijkmn0123456789", "ᵢⱼₖₘₙ₀₁₂₃₄₅₆₇₈₉")


def _index(n: sp.Expr, style: str) -> str:
    return sp.latex(n) if style == "latex" else str(n).translate(_UNICODE_SUB)


def _grad_name(code: str, index: str, style: str) -> str:
    """∂ℓ/∂x̂ⱼ for 'dxhat' with index j."""
    base = code[1:]
    if style == "latex":
        sub = f"_{{{index}}}" if index else ""
        return rf"\frac{{\partial \ell}}{{\partial {SPELLED[base].latex}{sub}}}"
    return f"∂ℓ/∂{SPELLED[base].unicode}{index}"


def _name(code: str, index: str, style: str) -> str:
    if code.startswith("d") and code[1:] in SPELLED and code != "dy":
        return _grad_name(code, index, style)
    spelled = SPELLED[code].latex if style == "latex" else SPELLED[code].unicode
    if not index:
        return spelled
    return f"{{{spelled}}}_{{{index}}}" if style == "latex" else f"{spelled}{index}"


def _display(expr: sp.Expr, style: str) -> sp.Expr:
    def indexed(e: sp.Indexed) -> sp.Symbol:
        return sp.Symbol(_name(str(e.base.label), _index(e.indices[0], style), style))

    expr = expr.replace(lambda e: isinstance(e, sp.Indexed), indexed)
    swaps = {
        s: sp.Symbol(_name(s.name, "", style), **s.assumptions0)
        for s in expr.free_symbols
        if isinstance(s, sp.Symbol) and (s.name in SPELLED or s.name[1:] in SPELLED)
    }
    return expr.xreplace(swaps)


def to_latex(expr: sp.Expr) -> str:
    return sp.latex(_display(expr, "latex"))


def to_unicode(expr: sp.Expr) -> str:
    """Multi-line pretty form for terminals (SymPy's pretty printer)."""
    return sp.pretty(_display(expr, "unicode"), use_unicode=True)


class _CodeTextPrinter(sp.printing.str.StrPrinter):
    """One-line formulas in code names, Σ(...) for a group sum: for docstrings."""

    def _print_Sum(self, expr: sp.Sum) -> str:
        return f"Σ({self._print(expr.function)})"


def to_code_text(expr: sp.Expr) -> str:
    """``gamma*(m*dy - xhat*Σ(dy*xhat) - Σ(dy))/(m*sigma)``: arrays by their code names."""
    arrays = expr.replace(
        lambda e: isinstance(e, sp.Indexed), lambda e: sp.Symbol(str(e.base.label))
    )
    return _CodeTextPrinter().doprint(arrays)


def equation_unicode(lhs: sp.Expr, rhs: sp.Expr) -> str:
    """``lhs = rhs`` as SymPy's two-dimensional pretty print, in the paper's symbols."""
    eq = sp.Eq(_display(lhs, "unicode"), _display(rhs, "unicode"), evaluate=False)
    return sp.pretty(eq, use_unicode=True)


def equation_latex(lhs: sp.Expr, rhs: sp.Expr) -> str:
    return f"{to_latex(lhs)} = {to_latex(rhs)}"
