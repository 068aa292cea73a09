"""The "Diagnosis" section of a verify report, from hand-made Diagnosis objects: each status
in plain text, rich and HTML, the per-function reports of a FileResult, and the JSON."""

from __future__ import annotations

import io
import json
import math

import pytest
from rich.console import Console

from bncheck.check.result import CheckResult, FileResult, FunctionResult, VerifyResult
from bncheck.diagnose.result import Attribution, Diagnosis, Finding, Term
from bncheck.report import diagnosis as section

MEAN = Finding(
    "mean-path-dropped",
    "the mean treated as a constant: dx has no path through ∂ℓ/∂μ",
    "dx",
    "Count the paths from x_j to ℓ in the forward graph.",
    form="∂μ/∂x_j taken as 0",
    evidence="dx agrees with this mistake on every case (11)",
)
SWAP = Finding(
    "dgamma-dbeta-swapped",
    "dγ and dβ returned in each other's place",
    "dgamma",
    "Check the order of the values your backward returns.",
    form="returned as (dx, dβ, dγ)",
)
ATTRIBUTION = Attribution(
    terms=(
        Term("γ·g", "γ/σ", 1.0, 0.0, "as derived", "dxhat"),
        Term("Σg", "-γ/(mσ)", -1.0, 0.01, "sign flipped", "dmu"),
        Term("x̂·Σ(g·x̂)", "-γ/(mσ)", math.nan, math.inf, "missing", "dvar"),
    ),
    residual=0.25,
    linear=True,
    summary="dx differs from the derived one in the term through the mean.",
)

NAMED = Diagnosis("named", (MEAN,), message="mean-path-dropped: ...")
AMBIGUOUS = Diagnosis("ambiguous", (MEAN, SWAP))
UNKNOWN = Diagnosis("unknown", attribution=ATTRIBUTION, notes=("one case had no spread",))
NONE = Diagnosis("none")


def result(d: Diagnosis | None) -> VerifyResult:
    row = CheckResult("dx", False, "submission vs derived (float64)", 1.0, 0.5, id="dx-vs-derived")
    return VerifyResult("bug.py", "plain", 0, (row,), read_it="Read it: dx is wrong.", diagnosis=d)


def rich_text(obj: object) -> str:
    out = io.StringIO()
    Console(file=out, width=100, color_system=None, highlight=False).print(obj)
    return out.getvalue()


def test_named_lists_each_finding_with_its_form_evidence_step_and_hint() -> None:
    for text in (str(result(NAMED)), rich_text(result(NAMED))):
        after = text[text.index("Read it:") :]
        assert "Diagnosis" in after
        assert "mean-path-dropped: the mean treated as a constant" in after
        assert "form: ∂μ/∂x_j taken as 0" in after
        assert "evidence: dx agrees with this mistake" in after
        assert "derivation step: dx" in after
        assert "bncheck diagnose --explain mean-path-dropped" in after
        assert "Look at: Count the paths" in after


def test_ambiguous_says_bncheck_cannot_tell_and_lists_all() -> None:
    text = str(result(AMBIGUOUS))
    assert section.AMBIGUOUS in text
    assert "mean-path-dropped" in text and "dgamma-dbeta-swapped" in text


def test_unknown_shows_the_attribution_table() -> None:
    for text in (str(result(UNKNOWN)), rich_text(result(UNKNOWN))):
        assert section.UNKNOWN in text
        for header in ("term", "derived coefficient", "yours / derived", "reading", "step"):
            assert header in text
        assert "-1 ± 0.01" in text and "sign flipped" in text
        assert "- ± -" in text  # a non-finite ratio is not printed as nan
        assert "residual outside these terms: 0.25" in text
        assert "dx linear in the upstream gradient: yes" in text
        assert "in the term through the mean" in text
        assert "note: one case had no spread" in text


def test_unknown_without_attribution() -> None:
    text = str(result(Diagnosis("unknown")))
    assert section.UNKNOWN in text and "derived coefficient" not in text


@pytest.mark.parametrize("d", [None, NONE], ids=["not diagnosed", "none"])
def test_no_section_when_nothing_to_diagnose(d: Diagnosis | None) -> None:
    r = result(d)
    assert "Diagnosis" not in str(r)
    assert "Diagnosis" not in rich_text(r)
    assert "Diagnosis" not in r._repr_html_()


@pytest.mark.parametrize("d", [NAMED, AMBIGUOUS, UNKNOWN], ids=lambda d: d.status)
def test_html_shows_the_same_section(d: Diagnosis) -> None:
    page = result(d)._repr_html_()
    assert "<b>Diagnosis</b>" in page
    assert page.index("Read it:") < page.index("<b>Diagnosis</b>")
    for f in d.findings:
        assert f.id in page
    if d.attribution is not None:
        assert "<th>derived coefficient</th>" in page and "sign flipped" in page


def test_html_escapes() -> None:
    evil = Finding("x", "<script>", "dx", "a & b")
    page = result(Diagnosis("named", (evil,)))._repr_html_()
    assert "<script>" not in page and "&lt;script&gt;" in page and "a &amp; b" in page


def test_a_file_result_shows_each_function_diagnosis() -> None:
    functions = (
        FunctionResult("batchnorm_backward", "batchnorm", "plain", result(NAMED)),
        FunctionResult("layernorm_backward", "layernorm", "plain", result(AMBIGUOUS)),
    )
    r = FileResult("layers.py", 0, functions)
    for text in (str(r), rich_text(r), r._repr_html_()):
        assert text.count("Diagnosis") == 2
        assert "dgamma-dbeta-swapped" in text
    data = json.loads(r.to_json())
    assert data["diagnosis"] is None
    assert [f["diagnosis"]["status"] for f in data["functions"]] == ["named", "ambiguous"]


@pytest.mark.parametrize("d", [None, NONE, NAMED, AMBIGUOUS, UNKNOWN])
def test_json_round_trip(d: Diagnosis | None) -> None:
    data = json.loads(result(d).to_json())  # allow_nan=False: no NaN reaches the JSON
    assert data["schema_version"] == 1
    if d is None:
        assert data["diagnosis"] is None
        return
    assert data["diagnosis"] == json.loads(json.dumps(d.to_dict()))
    assert [f["id"] for f in data["diagnosis"]["findings"]] == list(d.ids)
    if d.attribution is not None:
        assert data["diagnosis"]["attribution"]["terms"][2]["ratio"] is None
