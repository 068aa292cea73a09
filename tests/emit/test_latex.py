"""`bncheck derive --format latex`: pure ASCII, and it compiles with every TeX engine found."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
from pathlib import Path

import pytest
import sympy as sp

from bncheck.emit.document import render_latex
from bncheck.emit.tex import prose, text
from bncheck.names import NAMES
from bncheck.spec import SPECS
from bncheck.symbolic import derive
from bncheck.symbolic.prove import Proof

VARIANCES = ("biased", "unbiased")
ENGINES = ("pdflatex", "lualatex", "xelatex")


def documents() -> dict[str, str]:
    """Every preset with either variance, as `derive --norm all --format latex` prints them."""
    return {
        f"{name}-{variance}": render_latex(derive(dataclasses.replace(spec, variance=variance)))
        for name, spec in SPECS.items()
        for variance in VARIANCES
    }


@pytest.mark.parametrize(
    ("sentence", "latex"),
    [
        ("every x̂_i depends on σ²", r"every \(\hat{x}_{i}\) depends on \(\sigma^{2}\)"),
        ("(SymPy's δ_jk)", r"(SymPy's \(\delta_{jk}\))"),
        (
            "∂ℓ/∂γ_j, ∂ℓ/∂β_j below",
            r"\(\partial\ell/\partial\gamma_{j}\), \(\partial\ell/\partial\beta_{j}\) below",
        ),
        ("through 1/sqrt(σ² + ε)", r"through \(1/\sqrt{\sigma^{2} + \epsilon}\)"),
        ("Σx_i = m·μ by", r"\(\sum x_{i} = m \cdot \mu\) by"),
        ("a multiple of Σ(x_i − μ) = 0", r"a multiple of \(\sum(x_{i} - \mu) = 0\)"),
        ("variance (1/(m-1), unbiased)", r"variance (\(1/(m - 1)\), unbiased)"),
        ("when k = j (twice)", r"when \(k = j\) (twice)"),
        ("through ms (no mean)", r"through \(\overline{x^{2}}\) (no mean)"),
        # words, numbers alone, code names and a sqrt of words stay text
        ("mini-batch mean", "mini-batch mean"),
        ("G = 2 blocks of C/G", "G = 2 blocks of C/G"),
        ("0.9*running + (1-0.9)*batch", "0.9*running + (1-0.9)*batch"),
        ("sqrt(var + eps) in spatial_batchnorm", r"sqrt(var + eps) in spatial\_batchnorm"),
        ("dog − cat", r"dog \(-\) cat"),
    ],
)
def test_prose_becomes_inline_math_and_text(sentence: str, latex: str) -> None:
    assert prose(sentence) == latex


def test_prose_spells_symbols_as_the_equations_do() -> None:
    for code in ("mu", "var", "sigma", "xhat", "gamma", "beta", "eps"):
        assert prose(NAMES[code].unicode) == rf"\({NAMES[code].latex}\)"


def test_text_escapes_what_tex_treats_specially() -> None:
    assert text(r"50% & #1 $x_y {z} ~ ^ \ <|>") == (
        r"50\% \& \#1 \$x\_y \{z\} \textasciitilde{} \textasciicircum{} \textbackslash{} "
        r"\textless{}\textbar{}\textgreater{}"
    )
    assert text("mean(x²)") == r"mean(x\textsuperscript{2})"


@pytest.mark.parametrize("sentence", ["x ∈ S", "naïve", "dγ/dx → 0", "a\u0302"])
def test_an_unknown_character_raises_and_names_itself(sentence: str) -> None:
    with pytest.raises(ValueError, match=r"no LaTeX spelling for .* \(U\+[0-9A-F]{4}\)"):
        prose(sentence)


def test_every_preset_renders_to_ascii() -> None:
    for name, document in documents().items():
        bad = sorted({ch for ch in document if not ch.isascii()})
        assert not bad, f"{name}: non-ASCII {bad}"
        assert document.count(r"\(") == document.count(r"\)"), name
        assert r"\begin{tabular}" in document and "convention & value" in document


def test_proofs_go_in_a_table() -> None:
    proofs = tuple(
        Proof(m, q, True, sp.S.Zero, 0.0) for m in (2, 3) for q in ("dx", "dgamma", "dbeta")
    )
    document = render_latex(derive(SPECS["batchnorm"]), proofs)
    assert r"3 & difference = 0 & difference = 0 & difference = 0 \\" in document
    assert document.isascii() and "All hold." in document


def one_document(documents: dict[str, str]) -> str:
    """All the documents' bodies under their one preamble: one compile per engine, not twelve."""
    preambles, bodies = set(), []
    for document in documents.values():
        preamble, body = document.split(r"\begin{document}")
        preambles.add(preamble)
        bodies.append(body.split(r"\end{document}")[0])
    assert len(preambles) == 1, "the presets' preambles differ: compile them one by one"
    (preamble,) = preambles
    return preamble + r"\begin{document}" + "\n\\clearpage\n".join(bodies) + "\\end{document}\n"


@pytest.mark.slow
@pytest.mark.parametrize("engine", ENGINES)
def test_every_preset_compiles(engine: str, tmp_path: Path) -> None:
    """pdflatex 0.3 s, xelatex 0.8 s, lualatex 1.6 s for the twelve documents in one."""
    if shutil.which(engine) is None:
        pytest.skip(
            f"{engine} is not installed (Debian: apt-get install --no-install-recommends "
            "texlive-latex-base texlive-luatex texlive-xetex lmodern)"
        )
    (tmp_path / "all.tex").write_text(one_document(documents()), encoding="ascii")
    run = subprocess.run(
        [engine, "-interaction=nonstopmode", "-halt-on-error", "all.tex"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        errors="replace",
        timeout=120,
    )
    log = (tmp_path / "all.log").read_text(encoding="utf-8", errors="replace")
    assert run.returncode == 0, f"{engine} failed:\n{run.stdout[-3000:]}"
    assert "Missing character" not in log
    assert (tmp_path / "all.pdf").stat().st_size > 0
