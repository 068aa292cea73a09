"""The derivation as a standalone HTML page for a course website; MathJax typesets the TeX.

The equations are the same TeX as the LaTeX document, ``\\[ \\begin{aligned} ... \\end{aligned}
\\]``, left as text in the page: MathJax (v3, from a CDN) typesets them, and without
JavaScript the TeX stays readable. The prose is HTML-escaped and keeps its Unicode.
"""

from __future__ import annotations

from functools import partial
from html import escape as _escape_attr

from bncheck.emit.document import SECTIONS, aligned, group_notes, proof_intro, proof_rows
from bncheck.symbolic.derive import Derivation, Step
from bncheck.symbolic.prove import Proof

__all__ = ["MATHJAX", "render_html"]

escape = partial(_escape_attr, quote=False)  # element text: & < > only

MATHJAX = "https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-chtml.js"

_STYLE = """\
body { max-width: 50rem; margin: 2rem auto; padding: 0 1rem; line-height: 1.5;
       font-family: system-ui, sans-serif; }
table { border-collapse: collapse; }
th, td { border: 1px solid #ccc; padding: 0.2rem 0.6rem; text-align: left; }
.math { overflow-x: auto; }"""


def _table(head: tuple[str, ...], rows: list[tuple[object, ...]]) -> list[str]:
    lines = ["<table>", "<tr>" + "".join(f"<th>{escape(h)}</th>" for h in head) + "</tr>"]
    for row in rows:
        lines.append("<tr>" + "".join(f"<td>{escape(str(c))}</td>" for c in row) + "</tr>")
    return [*lines, "</table>"]


def _step(step: Step) -> list[str]:
    return [
        f'<section id="{_escape_attr(step.key)}">',
        f"<h3>{escape(step.title)}</h3>",
        f"<p>{escape(step.why)}.</p>",
        # escape() keeps the TeX's & and < intact for MathJax, which reads the text.
        f'<div class="math">\\[ \\begin{{aligned}} {escape(aligned(step))}'
        " \\end{aligned} \\]</div>",
        "</section>",
    ]


def render_html(d: Derivation, proofs: tuple[Proof, ...] = ()) -> str:
    spec = d.spec
    title = f"The {spec.name} backward pass, derived by SymPy"
    lines = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(title)}</title>",
        f'<script id="MathJax-script" async src="{MATHJAX}"></script>',
        f"<style>\n{_STYLE}\n</style>",
        "</head>",
        "<body>",
        f"<h1>{escape(title)}</h1>",
        "<noscript><p>The equations below are TeX; with JavaScript on, MathJax typesets "
        "them.</p></noscript>",
        f"<p>One normalization group is {escape(spec.describe_group())}; m is a symbol, so "
        "every result below holds for every group size.</p>",
        *_table(("convention", "value"), list(spec.conventions())),
        *(f"<p>{escape(note)}</p>" for note in group_notes(spec)),
        r"<p>Notation: \(g_i = \partial \ell / \partial y_i\) is the upstream gradient; "
        r"\(\delta_{jk}\) is SymPy's Kronecker delta, \(\partial x_k / \partial x_j\).</p>",
    ]
    for attr, heading in SECTIONS:
        lines.append(f"<h2>{escape(heading)}</h2>")
        for step in getattr(d, attr):
            lines += _step(step)
    if proofs:
        held = all(p.holds for p in proofs)
        lines += [
            "<h2>Proof</h2>",
            f"<p>{escape(proof_intro(proofs))}</p>",
            *_table(("m", "dx", "dgamma", "dbeta"), list(proof_rows(proofs))),
            "<p>All hold.</p>" if held else "<p><strong>Some proofs failed.</strong></p>",
        ]
    lines += ["</body>", "</html>", ""]
    return "\n".join(lines)
