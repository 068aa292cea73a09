"""SymPy printers that turn per-group expressions into numpy or torch source.

An ``Indexed`` element ``x[i]`` prints as the whole array ``x`` (element-wise code);
a ``Sum`` prints as a reduction, and each carries its own axes: a sum over the group
index reduces over one group (keeping its dimensions, so the statistic broadcasts back),
a sum over ``REDUCE_INDEX`` (``r``) reduces over every element that shares one γ
(``spec.reduce_axes``), as dγ and dβ do. For GroupNorm both are axes of the grouped
view (``View``), where one group is a set of whole axes. What differs between numpy and
torch is the ``Backend`` table, not branches in code.

Code blocked over rows (``Backend.block_bytes``) names the arrays differently: the printer
setting ``array_names`` maps a label to the name it prints as (``{"x": "xb"}``: this block's
rows of x), and ``into`` prints an element-wise statement that writes into given memory.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import sympy as sp
from sympy.printing.numpy import NumPyPrinter
from sympy.printing.pycode import PythonCodePrinter

from bncheck.errors import BncheckError
from bncheck.spec import NormSpec

__all__ = ["BACKENDS", "REDUCE_INDEX", "Backend", "View", "printer_for"]

# The index of a Σ over every element that shares one γ (dγ, dβ), not over one group.
REDUCE_INDEX = sp.Symbol("r", integer=True, positive=True)


@dataclass(frozen=True)
class View:
    """The axes of the array the emitted code works on: x itself, or for GroupNorm x
    reshaped to ``spec.view_shape`` (the channel axis cut into (G, C/G))."""

    letters: str  # one einsum letter per axis
    group_axes: tuple[int, ...]  # one group
    param_axes: tuple[int, ...]  # γ's axes
    ndim: int

    @property
    def kept_axes(self) -> tuple[int, ...]:
        """One statistic per coordinate on these."""
        return tuple(a for a in range(self.ndim) if a not in self.group_axes)

    @property
    def reduce_axes(self) -> tuple[int, ...]:
        """dγ and dβ sum over these."""
        return tuple(a for a in range(self.ndim) if a not in self.param_axes)

    @classmethod
    def of(cls, spec: NormSpec) -> View:
        letters = spec.layout.lower()
        if spec.groups is None:
            return cls(letters, spec.axes, spec.parameter_axes, spec.ndim)
        g = spec.axes[0]
        split = next(c for c in "gabefkpqstuvz" if c not in letters)  # the group's letter
        params = tuple(
            b for a in spec.parameter_axes for b in ((a, a + 1) if a == g else (a + (a > g),))
        )
        return cls(letters[:g] + split + letters[g:], spec.view_axes, params, spec.ndim + 1)


@dataclass(frozen=True)
class Backend:
    """How one array library spells the operations emitted code needs.

    ``combine`` is the element-wise tail: ``x - mu`` is the function's own array, and the
    tail turns it into dx in place, so dx is the only full-size array a call allocates.
    With ``factored`` the coefficients are those of dx = a*(dy + b*xmu + c) (four in-place
    passes, numpy has no fused multiply-add); without, of dx = a*dy + b*xmu + c.

    ``block_bytes``: where statistics never span axis 0, numpy runs the per-group statements
    on blocks of rows of about this many bytes of x, so that x - mu and dxhat stay in cache
    (None: whole arrays, as torch: blocks cut eager time to 1/3 at (4096, 1024), but
    torch.compile unrolls the loop: 151 s to compile, then 98x native; whole-array code
    compiles in 4 s to 1.34x native).
    ``blocks``: what blocked code calls: dx's allocation ({a}: x), the sums' zeros ({shape},
    {a}) and two-operand element-wise results written into ``out`` (dx's rows).
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
    # The same tail for the forms in ∂ℓ/∂x̂ (every norm but batch norm): dx from dxhat and
    # xhat, in place in xhat's memory; keyed by whether there is a c term (RMSNorm has none).
    combine_dxhat: dict[bool, tuple[str, ...]]  # {dx}: the name of dx (or of its rows)
    block_bytes: int | None = None
    blocks: dict[str, str] | None = None  # "empty", "zeros", "subtract", "multiply"


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
        combine_dxhat={
            True: (
                "# dx = a*(dxhat + b*xhat + c) with per-group a, b, c; computed in place in",
                "# xhat's memory (xhat is not needed any more).",
                "{dx} = xhat",
                "{dx} *= {b}",
                "{dx} += dxhat",
                "{dx} += {c}",
                "{dx} *= {a}",
            ),
            False: (
                "# dx = a*(dxhat + b*xhat) with per-group a, b; computed in place in",
                "# xhat's memory (xhat is not needed any more).",
                "{dx} = xhat",
                "{dx} *= {b}",
                "{dx} += dxhat",
                "{dx} *= {a}",
            ),
        },
        # 256 KiB: x - mu and dxhat of one block, and the block's x and dy, fit in L2.
        block_bytes=256 * 1024,
        blocks={
            "empty": "np.empty_like({a})",
            "zeros": "np.zeros({shape}, dtype={a}.dtype)",
            "subtract": "np.subtract({a}, {b}, out={out})",
            "multiply": "np.multiply({a}, {b}, out={out})",
        },
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
        combine_dxhat={
            True: (
                "# dx = a*dxhat + b*xhat + c with per-group a, b, c: two fused multiply-adds,",
                "# in place in xhat's memory (xhat is not needed any more).",
                "{dx} = torch.addcmul({c}, xhat, {b}, out=xhat)",
                "{dx}.addcmul_(dxhat, {a})",
            ),
            False: (
                "# dx = a*dxhat + b*xhat with per-group a, b; in place in xhat's memory.",
                "{dx} = xhat.mul_({b})",
                "{dx}.addcmul_(dxhat, {a})",
            ),
        },
    ),
}


class _GroupPrinterMixin:
    """Printing rules shared by both backends; ``_backend`` and ``_spec`` set by the factory."""

    _backend: Backend
    _spec: NormSpec
    _view: View
    _settings: dict[str, Any]
    _print: Any
    parenthesize: Any

    def _as_ordered_terms(self, expr: sp.Expr, order: str | None = None) -> list[sp.Expr]:
        # "x - mu", not SymPy's "-mu + x": positive terms first, otherwise SymPy's order.
        terms = super()._as_ordered_terms(expr, order=order)  # type: ignore[misc]
        return sorted(terms, key=lambda t: t.could_extract_minus_sign())

    def _print_Indexed(self, expr: sp.Indexed) -> str:
        label = str(expr.base.label)  # element-wise code: x[i] is the array x
        return self._settings["array_names"].get(label, label)

    def into(self, expr: sp.Expr, out: str) -> str:
        """``expr`` (a - b or a*b) computed into the memory of ``out``, no new array."""
        table = self._backend.blocks or {}
        args = self._as_ordered_terms(expr) if isinstance(expr, sp.Add) else None
        if args is not None and len(args) == 2 and "subtract" in table:
            plus, minus = args
            if not plus.could_extract_minus_sign() and minus.could_extract_minus_sign():
                a, b = self._print(plus), self._print(-minus)
                return table["subtract"].format(a=a, b=b, out=out)
        if isinstance(expr, sp.Mul) and len(expr.args) == 2 and "multiply" in table:
            a, b = (self._print(e) for e in expr.as_ordered_factors())
            return table["multiply"].format(a=a, b=b, out=out)
        raise BncheckError(f"cannot print {expr} into {out}", code="internal")

    def _axes(self) -> str:
        axes = self._spec.axes
        return str(axes[0]) if len(axes) == 1 else str(tuple(axes))

    def _print_Sum(self, expr: sp.Sum) -> str:
        if not self._spec.is_batchnorm:
            return self._print_view_sum(expr)
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

    def _print_view_sum(self, expr: sp.Sum) -> str:
        """A Σ over one group (keepdims) or, over ``REDUCE_INDEX``, over the elements that
        share one γ (γ's shape in the view), as an axis reduction of the view."""
        b, view = self._backend, self._view
        over_params = expr.limits[0][0] == REDUCE_INDEX
        axes = view.reduce_axes if over_params else view.group_axes
        out = view.param_axes if over_params else view.kept_axes
        factors = _dot_factors(expr.function)
        if b.dot is not None and factors is not None:
            a, c = (self._print(f) for f in factors)
            reshape = "" if over_params else ".reshape(stat_shape)"
            subscripts = "".join(view.letters[k] for k in out)
            return b.dot.format(sub=view.letters, out=subscripts, a=a, b=c, reshape=reshape)
        printed_axes = str(axes[0]) if len(axes) == 1 else str(tuple(axes))
        keep = "" if over_params else b.keep
        return b.sum.format(a=self._print(expr.function), axes=printed_axes, keep=keep)

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
    _default_settings: ClassVar[dict[str, Any]] = {
        **NumPyPrinter._default_settings,
        "array_names": {},
    }


class TorchGroupPrinter(_GroupPrinterMixin, PythonCodePrinter):
    # Not sympy.printing.pytorch.TorchPrinter: importing it imports torch (+1.3 s), and
    # emitting torch source must work without torch installed.
    _default_settings: ClassVar[dict[str, Any]] = {
        **PythonCodePrinter._default_settings,
        "array_names": {},
    }


_PRINTERS: dict[str, type] = {"numpy": NumpyGroupPrinter, "torch": TorchGroupPrinter}


def printer_for(
    backend: str, spec: NormSpec, array_names: dict[str, str] | None = None
) -> NumpyGroupPrinter | TorchGroupPrinter:
    """The printer of ``backend`` for ``spec``; ``array_names`` renames arrays ({"x": "xb"})."""
    cls = _PRINTERS[backend]
    printer = cls({"fully_qualified_modules": False, "array_names": dict(array_names or {})})
    printer._backend = BACKENDS[backend]
    printer._spec = spec
    printer._view = View.of(spec)
    return printer
