"""Jupyter's views: a derivation as Markdown and LaTeX (every preset, every step, maths that
MathJax can parse), and a demo as its report and its plot, with and without matplotlib."""

from __future__ import annotations

import base64
import html as html_module
import re
from pathlib import Path

import pytest
from rich.cells import cell_len

from bncheck.demos import DEMOS
from bncheck.emit.notation import to_latex
from bncheck.errors import MissingDependencyError
from bncheck.report import notebook, plots
from bncheck.spec import SPECS
from bncheck.symbolic.derive import Derivation, derive

PRESETS = sorted(SPECS)


@pytest.fixture(scope="module", params=PRESETS)
def derivation(request: pytest.FixtureRequest) -> Derivation:
    return derive(SPECS[request.param])


def _balanced(text: str) -> None:
    assert text.count("$$") % 2 == 0
    assert text.count(r"\begin{aligned}") == text.count(r"\end{aligned}")
    assert text.count("{") == text.count("}")  # every \frac{..}{..} and \text{..} closed


def test_repr_is_one_short_line(derivation: Derivation) -> None:
    d = derivation
    expected = (
        f"Derivation({d.spec.name}: {len(d.forward)} forward, {len(d.staged)} staged, "
        f"{len(d.compact)} compact steps)"
    )
    assert repr(d) == expected


def test_markdown_has_every_step_with_its_reason_and_equations(derivation: Derivation) -> None:
    md = derivation._repr_markdown_()
    _balanced(md)
    blocks = re.findall(r"^\$\$\n(.*?)\n\$\$$", md, flags=re.MULTILINE | re.DOTALL)
    assert len(blocks) == len(derivation.steps)  # one display per step, in order
    for number, (step, block) in enumerate(zip(derivation.steps, blocks, strict=True), 1):
        assert f"**{number}. {step.title}**" in md
        assert block.startswith(r"\begin{aligned}") and block.endswith(r"\end{aligned}")
        assert to_latex(step.lhs) in block and to_latex(step.rhs) in block
        if step.chain is not None:  # the chain rule first, then the simplified result
            assert block.index(to_latex(step.chain)) < block.rindex(to_latex(step.rhs))
    assert "```math" not in md  # GitHub's blocks; Jupyter shows them as code
    assert "dx     = " in md  # the results in code names


def test_markdown_escapes_prose() -> None:
    md = derive()._repr_markdown_()
    # batch norm's running statistics "0.9*running + (1-0.9)*batch" would turn italic
    assert r"0.9\*running + (1-0.9)\*batch" in md
    assert r"x̂\_j" in md  # as in the reasons: never an emphasis marker


def test_latex_is_one_display_of_every_step(derivation: Derivation) -> None:
    tex = derivation._repr_latex_()
    _balanced(tex)
    assert tex.startswith("$$\\begin{aligned}") and tex.endswith("\\end{aligned}$$")
    assert tex.count("$$") == 2
    labels = re.findall(r"\\text\{(\d+)\. ([^}]*)\}", tex)
    assert labels == [(str(n), s.title) for n, s in enumerate(derivation.steps, 1)]
    for step in derivation.steps:
        assert to_latex(step.rhs) in tex


# ------------------------------------------------------------------ demos


@pytest.fixture(scope="module")
def mean_dependence() -> object:
    return DEMOS["mean-dependence"].run(steps=5)


def _png(html: str) -> bytes:
    (data,) = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    return base64.b64decode(data)


@pytest.mark.parametrize(
    ("name", "options"), [("mean-dependence", {"steps": 5}), ("tiny-init", {"steps": 5})]
)
def test_demo_html_is_the_report_and_the_plot(
    name: str, options: dict[str, int], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plt = pytest.importorskip("matplotlib.pyplot", reason="the plot needs matplotlib")
    monkeypatch.chdir(tmp_path)
    result = DEMOS[name].run(**options)
    html = result._repr_html_()
    assert html == notebook.demo_html(result)
    assert "<pre" in html and "<html" not in html  # a fragment for an output cell
    assert html.index("<pre") < html.index("<img")
    assert "font-weight: bold" in html  # rich's styles, inlined
    assert _png(html).startswith(b"\x89PNG\r\n\x1a\n")
    assert list(tmp_path.iterdir()) == []  # no file written
    assert plt.get_fignums() == []  # the figure was closed


def test_demo_report_is_printed_at_a_fixed_width(mean_dependence: object) -> None:
    from bncheck.report.demos import conclude_mean_dependence

    html = notebook.demo_html(mean_dependence)
    pre = re.search(r"<pre[^>]*>(.*)</pre>", html, flags=re.DOTALL)
    assert pre is not None
    text = html_module.unescape(re.sub(r"<[^>]+>", "", pre.group(1)))
    assert max(cell_len(line) for line in text.splitlines()) <= notebook.WIDTH  # x̂: 1 cell
    first_words = conclude_mean_dependence(mean_dependence).split()[:4]  # type: ignore[arg-type]
    assert " ".join(first_words) in text


def test_demo_html_without_matplotlib_says_what_to_install(
    mean_dependence: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    def missing() -> None:
        raise MissingDependencyError.for_module("matplotlib", "plot", "the plot")

    monkeypatch.setattr(plots, "require_matplotlib", missing)
    html = notebook.demo_html(mean_dependence)
    assert "<pre" in html and "<img" not in html
    notes = [line for line in re.sub(r"<[^>]+>", "\n", html).splitlines() if "pip install" in line]
    assert notes == [notebook.NO_PLOT] and "pip install matplotlib" in notebook.NO_PLOT


def test_demo_html_keeps_the_notebooks_matplotlib_backend(mean_dependence: object) -> None:
    matplotlib = pytest.importorskip("matplotlib", reason="the plot needs matplotlib")
    before = matplotlib.get_backend()
    try:
        matplotlib.use("svg")  # stands for Jupyter's inline backend: not Agg
        notebook.demo_html(mean_dependence)
        assert matplotlib.get_backend() == "svg"
    finally:
        matplotlib.use(before)
