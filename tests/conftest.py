"""Shared fixtures; ``--update-goldens`` rewrites golden files instead of comparing."""

from __future__ import annotations

import re
from pathlib import Path
from typing import NamedTuple

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Below this, a number in a transcript is round-off: a max |diff| between two correct
# gradients, a finite difference of a zero gradient. Its digits change with the CPU's BLAS
# kernel (2.3e-13 vs 7.2e-12 for one max |diff|), so two such numbers count as equal.
ROUND_OFF = 1e-9


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-goldens",
        action="store_true",
        help="rewrite derivations/ and cli/ transcripts from the current code",
    )


@pytest.fixture
def update_goldens(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-goldens"))


def check_golden(path: Path, actual: str, update: bool, *, round_off: float | None = None) -> None:
    """Compare ``actual`` with the committed file, or rewrite it under --update-goldens.

    ``round_off=None`` compares the text exactly (emitted code, derivations). A number
    sets transcript mode (``compare_tokens``): text exactly, numbers to the digits they
    print, and numbers below ``round_off`` in both texts as equal.
    """
    if update:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(actual, encoding="utf-8")
        return
    assert path.exists(), f"{path} is missing; run pytest --update-goldens"
    expected = path.read_text(encoding="utf-8")
    name = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
    regenerate = "if the change is intended, regenerate with: pytest --update-goldens"
    if round_off is None:
        assert actual == expected, f"{name} is stale; {regenerate}"
        return
    difference = compare_tokens(expected, actual, round_off)
    if difference is not None:
        raise AssertionError(f"{name} is stale: {difference}\n{regenerate}")


# ------------------------------------------------------------ transcript comparison


class Token(NamedTuple):
    text: str
    number: bool
    line: int  # 1-based


# A number stands alone: not glued to a word or to another number ("float64" and "2.13.0" are
# text). A full stop after it ends a sentence; it is not a decimal point.
_TOKEN = re.compile(
    r"""
      (?P<number> (?<![\w.]) [-+]? \d+ (?:\.\d+)? (?:[eE][-+]?\d+)? (?!\w|\.\w) )
    | (?P<word> \w+ )
    | (?P<box> (?P<line>[\u2500-\u257f]) (?P=line)* )
    | (?P<mark> \S )
    """,
    re.VERBOSE,
)


def tokens(text: str) -> list[Token]:
    """Numbers, words and single marks; spaces and line breaks only separate them.

    A run of one box-drawing character is one token, so a table whose column is a
    character wider on another machine (rich pads to the widest cell) reads the same.
    """
    found = []
    for at, line in enumerate(text.splitlines(), start=1):
        for match in _TOKEN.finditer(line):
            if match["box"]:
                found.append(Token(match["box"][0], False, at))
            else:
                found.append(Token(match[0], match["number"] is not None, at))
    return found


def _is_integer(number: str) -> bool:
    return not any(c in number for c in ".eE")


def _last_digit(number: str) -> float:
    """The value of one unit in the last printed digit: 1e-13 for '1.5e-12', 1 for '20'."""
    mantissa, _, exponent = number.lower().partition("e")
    decimals = len(mantissa.partition(".")[2])
    return 10.0 ** (int(exponent or 0) - decimals)


def numbers_equal(expected: str, actual: str, round_off: float) -> bool:
    """Integers exactly; other numbers within one unit of their last printed digit (a value
    on the edge of a rounding step may print either way), or both below ``round_off``.

    An integer against a decimal ('0' for an exact zero, '4e-16' otherwise) is taken as exact.
    """
    if _is_integer(expected) and _is_integer(actual):
        return int(expected) == int(actual)
    a, b = float(expected), float(actual)
    if abs(a) < round_off and abs(b) < round_off:
        return True
    unit = max(_last_digit(n) for n in (expected, actual) if not _is_integer(n))
    return abs(a - b) <= unit * (1 + 1e-9)


def compare_tokens(expected: str, actual: str, round_off: float = ROUND_OFF) -> str | None:
    """None when the texts agree token by token, else where they first differ and why."""
    want, got = tokens(expected), tokens(actual)
    for w, g in zip(want, got, strict=False):
        if w.number and g.number:
            if numbers_equal(w.text, g.text, round_off):
                continue
            why = (
                "integers must be equal"
                if _is_integer(w.text) and _is_integer(g.text)
                else "they differ by more than one unit in the last printed digit"
                + ("" if round_off == 0 else f" and are not both below {round_off:g}")
            )
        elif (w.text == g.text and w.number == g.number) or _exact_by_round_off(
            want, got, w, g, round_off
        ):
            continue
        else:
            why = "the text differs"
        return _where(expected, actual, w, g, f"expected {w.text!r}, got {g.text!r} ({why})")
    if len(want) == len(got):
        return None
    if len(want) > len(got):
        w = want[len(got)]
        return _where(expected, actual, w, None, f"the output ends before {w.text!r}")
    g = got[len(want)]
    return _where(expected, actual, None, g, f"the output goes on with {g.text!r}")


def _exact_by_round_off(
    want: list[Token], got: list[Token], w: Token, g: Token, round_off: float
) -> bool:
    """A comparison row's "exact" cell (yes/no) says whether its max |diff| is 0: when that
    number is round-off in both texts, whether it came out 0 depends on the CPU's summation
    order, so yes and no are equal there. Only in a table row ("│"), only for yes/no."""
    if {w.text, g.text} != {"yes", "no"}:
        return False

    def row_numbers(tokens: list[Token], line: int) -> list[float] | None:
        row = [t for t in tokens if t.line == line]
        if not any(t.text == "│" for t in row):
            return None
        return [float(t.text) for t in row if t.number]

    mine, theirs = row_numbers(want, w.line), row_numbers(got, g.line)
    if not mine or not theirs:
        return False
    return abs(mine[0]) < round_off and abs(theirs[0]) < round_off


def _where(expected: str, actual: str, w: Token | None, g: Token | None, what: str) -> str:
    want_lines, got_lines = expected.splitlines(), actual.splitlines()
    parts = [what]
    if w is not None:
        parts.append(f"  golden line {w.line}: {want_lines[w.line - 1]}")
    if g is not None:
        parts.append(f"  output line {g.line}: {got_lines[g.line - 1]}")
    return "\n".join(parts)
