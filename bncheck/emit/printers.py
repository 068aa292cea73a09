"""SymPy printers that turn per-group expressions into numpy or torch source.

An ``Indexed`` element ``x[i]`` prints as the whole array ``x`` (element-wise code);
a ``Sum`` over the group index prints as a reduction over the spec's axes. What
differs between numpy and torch is the ``Backend`` table, not branches in code.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sympy as sp
from sympy.printing.numpy import NumPyPrinter
from sympy.printing.pycode import PythonCodePrinter

from bncheck.spec import NormSpec

__all__ = ["BACKENDS", "Backend", "printer_for"]


@dataclass(frozen=True)
class Backend:
    """How one array library spells the operations emitted code needs.

    ``combine`` is the element-wise tail: ``x - mu`` is the function's own array, and the
    tail turns it into dx in place, so dx is the only full-size array a call allocates.
    With ``factored`` the coefficients are those of dx = a*(dy + b*xmu + c) (four in-place
    passes, numpy has no fused multiply-add); without, of dx = a*dy + b*xmu + c.
    """

    name: str
    import_line: str
    array_type: str  # for docstrings
    sum: str  # reduction of one array over the group axes: {a} {axes} {keep}
    keep: str  # keep-dims keyword, used when the feature axes are not trailing
    dot: str | None  # Σ a·b without a temporary, or None to print sum(a * b)
    sqrt: str
    rsqrt: str
    factored: bool
    combine: tuple[str, ...]  # {a}, {b}, {c}: the per-feature coefficients


BACKENDS: dict[str, Backend] = {
    "numpy": Backend(
        name="numpy",
        import_line="import numpy as np",
        array_type="numpy.ndarray",
        # np.sum (np.add.reduce), not ones @ x: BLAS gemv spreads over every core, and on
        # a busy machine its threads wait on each other (float32: 3x slower).
        sum="np.sum({a}, axis={axes}{keep})",
        keep=", keepdims=True",
        dot="np.einsum('{sub},{sub}->{out}', {a}, {b}){reshape}",
        sqrt="np.sqrt({a})",
        rsqrt="1 / np.sqrt({a})",
        factored=True,
        combine=(
            "# dx = a*(dy + b*xmu + c) with per-feature a, b, c; computed in place in",
            "# xmu's memory (x - mu is not needed any more): dx is the only new array.",
            "dx = xmu",
            "dx *= {b}",
            "dx += dy",
            "dx += {c}",
            "dx *= {a}",
        ),
    ),
    "torch": Backend(
        name="torch",
        import_line="import torch",
        array_type="torch.Tensor",
        sum="torch.sum({a}, dim={axes}{keep})",
        keep=", keepdim=True",
        dot=None,
        sqrt="torch.sqrt({a})",
        rsqrt="torch.rsqrt({a})",
        factored=False,
        combine=(
            "# dx = a*dy + b*xmu + c with per-feature a, b, c: two fused multiply-adds,",
            "# in place in xmu's memory (x - mu is not needed any more).",
            "dx = torch.addcmul({c}, xmu, {b}, out=xmu)",
            "dx.addcmul_(dy, {a})",
        ),
    ),
}


class _GroupPrinterMixin:
    """Printing rules shared by both backends; ``_backend`` and ``_spec`` set by the factory."""

    _backend: Backend
    _spec: NormSpec
    _print: Any
    parenthesize: Any

    def _as_ordered_terms(self, expr: sp.Expr, order: str | None = None) -> list[sp.Expr]:
        # "x - mu", not SymPy's "-mu + x": positive terms first, otherwise SymPy's order.
        terms = super()._as_ordered_terms(expr, order=order)  # type: ignore[misc]
        return sorted(terms, key=lambda t: t.could_extract_minus_sign())

    def _print_Indexed(self, expr: sp.Indexed) -> str:
        return str(expr.base.label)  # element-wise code: x[i] is the array x

    def _axes(self) -> str:
        axes = self._spec.axes
        return str(axes[0]) if len(axes) == 1 else str(tuple(axes))

    def _print_Sum(self, expr: sp.Sum) -> str:
        b, spec = self._backend, self._spec
        keep = "" if spec.features_trailing else b.keep
        factors = _dot_factors(expr.function)
        if b.dot is not None and factors is not None:
            letters = spec.layout.lower()
            out = "".join(letters[a] for a in spec.feature_axes)
            reshape = "" if spec.features_trailing else ".reshape(stat_shape)"
            a, c = (self._print(f) for f in factors)
            return b.dot.format(sub=letters, out=out, a=a, b=c, reshape=reshape)
        return b.sum.format(a=self._print(expr.function), axes=self._axes(), keep=keep)

    def _print_Pow(self, expr: sp.Pow, rational: bool = False) -> str:
        base = self._print(expr.base)
        if expr.exp == sp.S.Half:
            return self._backend.sqrt.format(a=base)
        if expr.exp == -sp.S.Half:
            return self._backend.rsqrt.format(a=base)
        if expr.exp == -1:
            return f"1 / {self.parenthesize(expr.base, 50)}"
        return f"{self.parenthesize(expr.base, 60)}**{self._print(expr.exp)}"


def _dot_factors(term: sp.Expr) -> tuple[sp.Expr, sp.Expr] | None:
    """(a, b) when term is a[i]*b[i] or a[i]**2, else None."""
    if isinstance(term, sp.Pow) and term.exp == 2 and isinstance(term.base, sp.Indexed):
        return term.base, term.base
    if isinstance(term, sp.Mul) and len(term.args) == 2:
        a, b = term.args
        if isinstance(a, sp.Indexed) and isinstance(b, sp.Indexed):
            return a, b
    return None


class NumpyGroupPrinter(_GroupPrinterMixin, NumPyPrinter):
    pass


class TorchGroupPrinter(_GroupPrinterMixin, PythonCodePrinter):
    # Not sympy.printing.pytorch.TorchPrinter: importing it imports torch (+1.3 s), and
    # emitting torch source must work without torch installed.
    pass


_PRINTERS: dict[str, type] = {"numpy": NumpyGroupPrinter, "torch": TorchGroupPrinter}


def printer_for(backend: str, spec: NormSpec) -> NumpyGroupPrinter | TorchGroupPrinter:
    cls = _PRINTERS[backend]
    printer = cls({"fully_qualified_modules": False})
    printer._backend = BACKENDS[backend]
    printer._spec = spec
    return printer
