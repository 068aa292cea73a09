"""The fixed names of every batch-norm quantity, in one place.

A student sees the same word in the derivation, the emitted code and the reports:
each intermediate has a short code name, and its gradient is ``d`` + that name.
The LaTeX and Unicode spellings are the paper's notation (Ioffe & Szegedy 2015,
Algorithm 1 and Section 3).
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["NAMES", "Name", "latex", "unicode"]


class Name(NamedTuple):
    code: str  # identifier in emitted code and reports
    latex: str  # LaTeX of the quantity (index-free)
    unicode: str  # terminal spelling
    meaning: str  # one line for glossaries


NAMES: dict[str, Name] = {
    n.code: n
    for n in (
        Name("x", "x", "x", "the input, one normalization group of m elements"),
        Name("m", "m", "m", "the number of elements in one normalization group"),
        Name("mu", r"\mu", "μ", "the batch mean"),
        Name("xmu", r"x - \mu", "x−μ", "the centred input"),
        Name("var", r"\sigma^{2}", "σ²", "the batch variance"),
        Name("sigma", r"\sigma", "σ", "sqrt(var + eps), the standard deviation used"),
        Name("inv_std", r"\frac{1}{\sigma}", "1/σ", "1 / sqrt(var + eps)"),
        Name("xhat", r"\hat{x}", "x̂", "the normalized input"),
        Name("y", "y", "y", "the output, gamma * xhat + beta"),
        Name("gamma", r"\gamma", "γ", "the learned scale"),
        Name("beta", r"\beta", "β", "the learned shift"),
        Name("eps", r"\epsilon", "ε", "the constant added to the variance"),
        Name("dy", "g", "g", "the upstream gradient dℓ/dy"),
        Name("dxhat", r"\frac{\partial \ell}{\partial \hat{x}}", "∂ℓ/∂x̂", "gradient of xhat"),
        Name("dvar", r"\frac{\partial \ell}{\partial \sigma^{2}}", "∂ℓ/∂σ²", "gradient of var"),
        Name("dmu", r"\frac{\partial \ell}{\partial \mu}", "∂ℓ/∂μ", "gradient of mu"),
        Name("dx", r"\frac{\partial \ell}{\partial x}", "∂ℓ/∂x", "gradient of the input"),
        Name("dgamma", r"\frac{\partial \ell}{\partial \gamma}", "∂ℓ/∂γ", "gradient of gamma"),
        Name("dbeta", r"\frac{\partial \ell}{\partial \beta}", "∂ℓ/∂β", "gradient of beta"),
    )
}


def latex(code: str) -> str:
    return NAMES[code].latex


def unicode(code: str) -> str:
    return NAMES[code].unicode
