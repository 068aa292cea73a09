"""`bncheck derive --format html`: a standalone page, MathJax for the TeX, prose escaped."""

from __future__ import annotations

import dataclasses
import html
from html.parser import HTMLParser

import pytest
import sympy as sp

from bncheck.emit.html import MATHJAX, render_html
from bncheck.spec import SPECS
from bncheck.symbolic import derive
from bncheck.symbolic.derive import Step
from bncheck.symbolic.prove import Proof

VOID = {"meta", "br", "img", "link", "hr", "input"}


class Page(HTMLParser):
    """Checks that tags nest, and keeps the scripts, the sections and the text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.open: list[str] = []
        self.scripts: list[dict[str, str | None]] = []
        self.sections: list[str] = []
        self.text: list[str] = []
        self.tags: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        if tag == "script":
            self.scripts.append(dict(attrs))
        if tag == "section":
            self.sections.append(dict(attrs)["id"] or "")
        if tag not in VOID:
            self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.open and self.open[-1] == tag, f"</{tag}> closes <{self.open[-1:]}>"
        self.open.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(page: str) -> Page:
    parser = Page()
    parser.feed(page)
    parser.close()
    assert parser.open == [], f"unclosed: {parser.open}"
    return parser


@pytest.mark.parametrize("name", sorted(SPECS))
@pytest.mark.parametrize("variance", ["biased", "unbiased"])
def test_every_preset_is_a_page_with_every_step(name: str, variance: str) -> None:
    d = derive(dataclasses.replace(SPECS[name], variance=variance))
    page = render_html(d)
    assert page.startswith("<!DOCTYPE html>") and '<meta charset="utf-8">' in page
    parsed = parse(page)
    assert {"noscript", "table", "h1", "h2"} <= parsed.tags
    assert [s["src"] for s in parsed.scripts] == [MATHJAX] and "mathjax@3" in MATHJAX
    assert parsed.sections == [step.key for step in d.steps]
    text = "".join(parsed.text)
    for step in d.steps:  # the prose as written, Unicode and all; the TeX readable as text
        assert f"{step.why}." in text
        assert r"\[ \begin{aligned} " in text
    assert r"\frac{\partial \ell}{\partial \hat{x}_{j}} &= " in text
    assert f"<td>{html.escape(d.spec.conventions()[0][1], quote=False)}</td>" in page


def test_prose_is_escaped() -> None:
    d = derive(SPECS["batchnorm"])
    trap = Step("trap", "<b>bold</b> & co", "x < y & <script>alert(1)</script>", d.f.mu, d.f.mu)
    page = render_html(dataclasses.replace(d, forward=(trap, *d.forward)))
    assert "<script>alert" not in page and "<b>bold" not in page
    assert "x &lt; y &amp; &lt;script&gt;alert(1)&lt;/script&gt;." in page
    parsed = parse(page)
    assert parsed.sections[0] == "trap" and len(parsed.scripts) == 1


def test_proofs_are_a_table() -> None:
    proofs = tuple(Proof(2, q, q != "dbeta", sp.S.Zero, 0.0) for q in ("dx", "dgamma", "dbeta"))
    page = render_html(derive(SPECS["batchnorm"]), proofs)
    parse(page)
    assert "<td>2</td><td>difference = 0</td><td>difference = 0</td><td>FAILED</td>" in page
    assert "<strong>Some proofs failed.</strong>" in page
