"""A verify result in Jupyter: the verdict and its reading come first, FAIL is red and bold
on a tinted row, ok green, skip grey; everything from the submission is escaped."""

from __future__ import annotations

import html as html_module
import re

import pytest

import bncheck
from bncheck.check.api import VerifyOptions
from bncheck.check.evidence import CheckOptions
from bncheck.check.result import CheckResult, FileResult, FunctionResult, VerifyResult
from bncheck.examples import path
from bncheck.report.verify import html

NO_TORCH = VerifyOptions(checks=CheckOptions(autograd="off"))
ROW = re.compile(r"<tr( style='[^']*')?><td style='([^']*)'>(ok|FAIL|skip)</td>")
RED, GREEN, GREY = "color:#c62828;font-weight:bold", "color:#2e7d32", "color:#808080"
TINT = " style='background:rgba(198,40,40,0.12)'"


@pytest.fixture(scope="module")
def buggy() -> VerifyResult:
    return bncheck.check_backward(path("bug_dx_missing_dvar.py"), options=NO_TORCH)


def test_bundled_bug_shows_verdict_reading_and_red_rows(buggy: VerifyResult) -> None:
    out = buggy._repr_html_()
    assert not buggy.passed and buggy.read_it.startswith("Read it:")
    verdict, read_it = html_module.escape(buggy.verdict), html_module.escape(buggy.read_it)
    assert verdict in out and read_it in out
    # before the table, where a student looks first
    assert out.index(verdict) < out.index(read_it) < out.index("<table")
    rows = ROW.findall(out)
    assert len(rows) == len(buggy.checks)
    for (tint, css, status), check in zip(rows, buggy.checks, strict=True):
        assert status == check.status
        assert css == {"FAIL": RED, "ok": GREEN, "skip": GREY}[status]
        assert tint == (TINT if status == "FAIL" else "")
    assert [s for _, _, s in rows].count("FAIL") == len(buggy.failures) > 0
    assert "variance-path-dropped" in out  # the diagnosis, below the table
    assert out.index("<table") < out.index("Diagnosis")


def test_text_still_ends_with_verdict_and_reading(buggy: VerifyResult) -> None:
    lines = str(buggy).splitlines()
    assert lines[lines.index(buggy.verdict) + 1] == buggy.read_it  # text() is unchanged


def test_correct_example_is_green_with_no_tinted_row() -> None:
    result = bncheck.check_backward(path("cs231n_correct.py"), options=NO_TORCH)
    out = html(result)
    assert result.passed and html_module.escape(result.verdict) in out
    assert re.search(r"<p style='[^']*color:#2e7d32[^']*'><b>PASSED", out)
    assert "FAIL" not in out and TINT not in out


def test_skip_is_grey_and_submission_text_is_escaped() -> None:
    result = VerifyResult(
        target="<b>mine</b>.py",
        style="plain",
        seed=1,
        checks=(
            CheckResult("dx", False, "submission vs derived", 1.0, 0.5, message="<script>x"),
            CheckResult("autograd", None, message="torch is not installed"),
            CheckResult("dgamma", True, "submission vs derived", 1e-16, 1e-16),
        ),
        read_it="Read it: dx is wrong & dgamma is right.",
        notes=("a <note>",),
    )
    out = html(result)
    assert [(t, c, s) for t, c, s in ROW.findall(out)] == [
        (TINT, RED, "FAIL"),
        ("", GREY, "skip"),
        ("", GREEN, "ok"),
    ]
    assert "<script>" not in out and "&lt;script&gt;x" in out
    assert "&lt;b&gt;mine&lt;/b&gt;.py" in out and "a &lt;note&gt;" in out
    assert "Read it: dx is wrong &amp; dgamma is right." in out


def test_file_result_colours_each_function_and_puts_the_verdict_first() -> None:
    ok = VerifyResult("f.py:a", "plain", 0, (CheckResult("dx", True),))
    bad = VerifyResult("f.py:b", "plain", 0, (CheckResult("dx", False, message="wrong"),))
    result = FileResult(
        "f.py",
        0,
        (
            FunctionResult("batchnorm_backward", "batchnorm", "plain", ok),
            FunctionResult("layernorm_backward", "layernorm", "plain", bad),
            FunctionResult("rmsnorm_backward", "rmsnorm", error={"code": "not-implemented"}),
        ),
    )
    out = html(result)
    summary = out[: out.index("</table>")]
    assert f"<td style='{GREEN}'>PASSED: all 1 checks</td>" in summary
    assert f"<tr{TINT}><td>layernorm_backward</td>" in summary
    assert f"<td style='{RED}'>FAILED: 1 of 1 checks</td>" in summary
    assert f"<td style='{GREY}'>not implemented</td>" in summary
    assert out.index(html_module.escape(result.verdict)) < out.index("<table")
