"""Prose to pure-ASCII LaTeX: the math in a sentence becomes inline math, the rest is escaped.

The derivation's sentences are written for the terminal, in Unicode: "every x̂_i depends
on σ² through 1/sqrt(σ² + ε)". ``prose`` turns them into LaTeX that pdflatex, lualatex and
xelatex all read: "every \\(\\hat{x}_{i}\\) depends on \\(\\sigma^{2}\\) through
\\(1/\\sqrt{\\sigma^{2} + \\epsilon}\\)".

A tokenizer cuts the sentence into atoms (a symbol, a one-letter variable or a number, with
its hat, subscript and superscript: x̂_j, σ², δ_jk), operators, parentheses, words and the
rest. A formula is a run of atoms joined by operators (spaces allowed around an operator),
by juxtaposition (Σx_i, ∂ℓ) or by a function's parentheses (sqrt(...), Σ(...)); it becomes
``\\( ... \\)`` when it holds more than numbers. Everything else is text, escaped. The
tables below are the whole vocabulary: a character they do not know raises ``ValueError``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bncheck.emit.notation import SPELLED  # bncheck.names and RMSNorm's ms

__all__ = ["prose", "text"]

# Symbols that are math wherever they appear, spelled as in the equations (bncheck.names).
SYMBOLS = {
    "μ": r"\mu",
    "σ": r"\sigma",
    "γ": r"\gamma",
    "β": r"\beta",
    "ε": r"\epsilon",
    "δ": r"\delta",
    "ℓ": r"\ell",
    "∂": r"\partial",
    "Σ": r"\sum",
}
# Words that are math: RMSNorm's mean square, as the equations print it; sqrt only when
# followed by its parenthesised argument (then it is \sqrt{...}).
WORDS = {"ms": SPELLED["ms"].latex, "sqrt": r"\sqrt"}
# Operators inside a formula; the two Unicode ones are also made math if found in text.
OPERATORS = {
    "=": " = ",
    "+": " + ",
    "-": " - ",
    "−": " - ",
    "·": r" \cdot ",
    "*": r" \cdot ",
    "/": "/",
}
SUPERSCRIPTS = {"²": "2", "³": "3"}
HAT = "\u0302"  # combining circumflex: x̂ is x + U+0302
# Characters special to TeX in text, and the ASCII that OT1 fonts would print wrongly.
TEXT_ESCAPES = {
    "\\": r"\textbackslash{}",
    "{": r"\{",
    "}": r"\}",
    "%": r"\%",
    "&": r"\&",
    "#": r"\#",
    "$": r"\$",
    "_": r"\_",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "<": r"\textless{}",
    ">": r"\textgreater{}",
    "|": r"\textbar{}",
}
# One-letter English words that are not variables.
NOT_VARIABLES = {"a", "A", "I"}

_TOKEN = re.compile(
    rf"""
    (?P<atom>(?P<base>[A-Za-z0-9]+(?:\.[0-9]+|'[a-z]+)?|[{"".join(SYMBOLS)}])
        (?P<hat>{HAT})?(?:_(?P<sub>[A-Za-z0-9]+))?(?P<sup>[{"".join(SUPERSCRIPTS)}])?)
    |(?P<op>[{re.escape("".join(OPERATORS))}])
    |(?P<open>\()|(?P<close>\))
    |(?P<space>\s+)
    |(?P<other>.)
    """,
    re.VERBOSE,
)


@dataclass(frozen=True)
class _Token:
    kind: str  # atom, word, number, op, open, close, space, other
    raw: str
    tex: str = ""  # the atom's LaTeX (atoms, numbers and math words only)


def _atom(m: re.Match[str]) -> _Token:
    base, hat, sub, sup = m["base"], m["hat"], m["sub"], m["sup"]
    raw = m["atom"]
    decorated = bool(hat or sub or sup)
    if base in SYMBOLS:
        tex = SYMBOLS[base]
    elif base in WORDS:
        tex = WORDS[base]
    elif re.fullmatch(r"[0-9.]+", base):
        return _Token("number" if not decorated else "atom", raw, _decorate(base, m))
    elif len(base) == 1 and base.islower() and base not in NOT_VARIABLES:
        tex = base
    else:  # a word; "spatial_batchnorm" is a word with an underscore, not a subscript
        return _Token("word", raw)
    if base == "sqrt" and decorated:
        return _Token("word", raw)
    return _Token("atom", raw, _decorate(tex, m))


def _decorate(tex: str, m: re.Match[str]) -> str:
    if m["hat"]:
        tex = rf"\hat{{{tex}}}"
    if m["sub"]:
        tex += f"_{{{m['sub']}}}"
    if m["sup"]:
        tex += f"^{{{SUPERSCRIPTS[m['sup']]}}}"
    return tex


def _tokens(sentence: str) -> list[_Token]:
    out = []
    for m in _TOKEN.finditer(sentence):
        kind = m.lastgroup
        if m["atom"] is not None:
            out.append(_atom(m))
        else:
            assert kind is not None
            out.append(_Token(kind, m[0]))
    return out


class _Formula:
    """Recursive descent over the tokens from ``start``; ``end`` is past the last one used."""

    def __init__(self, tokens: list[_Token], start: int) -> None:
        self.tokens = tokens
        self.pieces: list[str] = []
        self.symbolic = False  # holds more than numbers
        self.end = self._formula(start)

    def _kind(self, i: int) -> str:
        return self.tokens[i].kind if i < len(self.tokens) else "end"

    def _skip_space(self, i: int) -> int:
        return i + 1 if self._kind(i) == "space" else i

    def _formula(self, i: int) -> int:
        """term ((op term) | term)* where a juxtaposed term follows with no space."""
        end = self._term(i)
        if end is None:
            return i
        while True:
            j = self._skip_space(end)
            if self._kind(j) == "op":
                k = self._skip_space(j + 1)
                mark = len(self.pieces)
                self.pieces.append(OPERATORS[self.tokens[j].raw])
                after = self._term(k, after_op=True)
                if after is None:
                    del self.pieces[mark:]
                    return end
                end = after
            elif self._kind(end) in ("atom", "number") and (after := self._term(end)):
                end = after  # juxtaposed: Σx_i, ∂ℓ
            else:
                return end

    def _term(self, i: int, after_op: bool = False) -> int | None:
        """atom, atom(...) (an application), or (...) after an operator: in "(SymPy's δ_jk)"
        the parenthesis is the sentence's."""
        kind = self._kind(i)
        mark = len(self.pieces)
        if kind == "open" and after_op:
            return self._group(i, "(", ")")
        if kind not in ("atom", "number"):
            return None
        token = self.tokens[i]
        if token.tex == r"\sqrt":
            if self._kind(i + 1) != "open":
                return None
            self._add(token.tex)
            end = self._group(i + 1, "{", "}")
            if end is None:
                del self.pieces[mark:]
            return end
        self._add(token.tex)
        self.symbolic |= kind == "atom"
        if self._kind(i + 1) == "open":
            end = self._group(i + 1, "(", ")")
            if end is not None:
                return end
        return i + 1

    def _group(self, i: int, left: str, right: str) -> int | None:
        mark = len(self.pieces)
        self.pieces.append(left)
        inner = _Formula(self.tokens, i + 1)
        if inner.end == i + 1 or self._kind(inner.end) != "close":
            del self.pieces[mark:]
            return None
        self.pieces += [*inner.pieces, right]
        self.symbolic |= inner.symbolic
        return inner.end + 1

    def _add(self, tex: str) -> None:
        # \partial followed by a letter needs a space: \partial x, not \partialx.
        if self.pieces and re.search(r"\\[A-Za-z]+$", self.pieces[-1]) and tex[:1].isalpha():
            tex = " " + tex
        self.pieces.append(tex)

    def latex(self) -> str:
        return "".join(self.pieces)


def text(s: str, within: str | None = None) -> str:
    """Escape plain text for LaTeX; a character outside printable ASCII (and the tables) raises.

    ``within`` is the sentence ``s`` comes from, for the error message."""
    out = []
    sentence = s if within is None else within
    for ch in s:
        if ch in TEXT_ESCAPES:
            out.append(TEXT_ESCAPES[ch])
        elif ch in SUPERSCRIPTS:  # mean(x²) in a convention's code-like text
            out.append(rf"\textsuperscript{{{SUPERSCRIPTS[ch]}}}")
        elif " " <= ch <= "~":
            out.append(ch)
        elif ch in "\t\n":
            out.append(" ")
        else:
            raise ValueError(
                f"no LaTeX spelling for {ch!r} (U+{ord(ch):04X}) in {sentence!r}: "
                "add it to the tables of bncheck/emit/tex.py"
            )
    return "".join(out)


def prose(sentence: str) -> str:
    """One sentence as pure-ASCII LaTeX: formulas as ``\\( ... \\)``, the rest escaped."""
    tokens = _tokens(sentence)
    out: list[str] = []
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token.kind in ("atom", "number"):
            formula = _Formula(tokens, i)
            if formula.symbolic:
                out.append(rf"\({formula.latex()}\)")
                i = formula.end
                continue
        if token.kind == "op" and not token.raw.isascii():
            out.append(rf"\({OPERATORS[token.raw].strip()}\)")
        else:
            out.append(text(token.raw, within=sentence))
        i += 1
    return "".join(out)
