"""The transcript comparison: round-off and layout may change, nothing else may."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import ROOT, check_golden, compare_tokens, numbers_equal, tokens

ROW = "ok │ dx: submission vs derived (float64)  │  no   │  yes  │    {diff} │ {rel}"
GOLDEN = "\n".join(
    [
        "$ bncheck verify x.py --seed 0",
        ROW.format(diff="2.3e-13", rel="1.5e-12"),
        "ok │ dx: submission vs finite differences (float64)  │  no │ yes │ 1.8e-05 │ 8.4e-06",
        "BN in every layer │ 1.3928 │ 0.0721 │ 100% │ yes",
        "PASSED: all 20 checks",
        "[exit 0]",
        "",
    ]
)


def changed(old: str, new: str) -> str:
    assert GOLDEN.count(old) == 1, old
    return GOLDEN.replace(old, new)


@pytest.mark.parametrize(
    ("old", "new", "why"),
    [
        ("PASSED", "FAILED", "the text differs"),  # a changed word
        ("float64)  │  no   │", "float32)  │  no   │", "the text differs"),  # digits in a word
        ("all 20 checks", "all 19 checks", "integers must be equal"),
        ("100%", "99%", "integers must be equal"),
        ("0.0721", "0.0723", "one unit in the last printed digit"),  # a loss that moved
        ("1.8e-05", "2.5e-05", "one unit in the last printed digit"),  # not round-off
        ("2.3e-13", "1.8e-05", "not both below 1e-09"),  # round-off became a real error
        ("1.3928", "-1.3928", "one unit"),  # a sign
    ],
)
def test_a_real_change_fails(old: str, new: str, why: str) -> None:
    difference = compare_tokens(GOLDEN, changed(old, new))
    assert difference is not None and why in difference


def test_the_message_shows_the_first_difference_with_its_lines() -> None:
    difference = compare_tokens(GOLDEN, changed("all 20 checks", "all 19 checks"))
    assert difference is not None
    assert difference.splitlines() == [
        "expected '20', got '19' (integers must be equal)",
        "  golden line 5: PASSED: all 20 checks",
        "  output line 5: PASSED: all 19 checks",
    ]


def test_a_missing_or_an_extra_line_fails() -> None:
    lines = GOLDEN.splitlines()
    missing = compare_tokens(GOLDEN, "\n".join(lines[:3] + lines[4:]))
    assert missing is not None and "expected 'BN', got 'PASSED'" in missing
    cut = compare_tokens(GOLDEN, "\n".join(lines[:-1]))
    assert cut is not None and "the output ends before '['" in cut
    extra = compare_tokens(GOLDEN, GOLDEN + "wrote result.json\n")
    assert extra is not None and "the output goes on with 'wrote'" in extra


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("2.3e-13", "7.2e-12"),  # one max |diff| on Haswell and on SkylakeX kernels
        ("1.5e-12", "3e-16"),
        ("2.3e-13", "0"),  # exactly equal on another CPU
        ("2.3e-13", "-4.0e-10"),  # a finite difference of a zero gradient, either sign
        ("0.0721", "0.0722"),  # a value on the edge of a rounding step prints either way
        ("1.8e-05", "1.9e-05"),
    ],
)
def test_round_off_and_display_rounding_pass(old: str, new: str) -> None:
    assert compare_tokens(GOLDEN, changed(old, new)) is None


def test_layout_may_change_but_not_the_tokens() -> None:
    golden = "a ┃ b\n━━━╇━━━━━━━━━\nok │ 2.3e-13\nsee the long sentence\n"
    wider = "a    ┃ b\n━━━━━━╇━━━━━━━━━━━━\nok    │ 1.2e-11\nsee the long\nsentence\n"
    assert compare_tokens(golden, wider) is None
    assert compare_tokens(golden, wider.replace("╇", "┿")) is not None


def test_below_the_floor_is_equal_only_where_there_is_a_floor() -> None:
    golden = "layer 7 │ 1.1e-17\n"  # tiny-init: a collapsed scale is a result
    assert compare_tokens(golden, "layer 7 │ 5.0e-12\n") is None
    assert compare_tokens(golden, "layer 7 │ 5.0e-12\n", round_off=0.0) is not None
    assert compare_tokens(golden, "layer 7 │ 1.2e-17\n", round_off=0.0) is None


def test_what_is_a_number() -> None:
    found = [(t.text, t.number) for t in tokens("torch==2.13.0 in 20 steps. 1e-05·σ float64 98%")]
    assert found == [
        ("torch", False),
        ("=", False),
        ("=", False),
        ("2", False),  # a version is text: 2.13.0 -> 2.14.0 must fail
        (".", False),
        ("13", False),
        (".", False),
        ("0", False),
        ("in", False),
        ("20", True),
        ("steps", False),
        (".", False),
        ("1e-05", True),
        ("·", False),
        ("σ", False),
        ("float64", False),
        ("98", True),
        ("%", False),
    ]
    assert not numbers_equal("20", "21", 1e-9)
    assert numbers_equal("0", "3e-16", 1e-9)
    assert not numbers_equal("0", "3e-16", 0.0)
    assert not numbers_equal("0", "0.9", 1e-9)


def test_check_golden_compares_and_only_the_flag_rewrites(tmp_path: Path) -> None:
    path = tmp_path / "t.txt"
    path.write_text(GOLDEN, encoding="utf-8")
    check_golden(path, changed("2.3e-13", "7.2e-12"), update=False, round_off=1e-9)
    with pytest.raises(AssertionError, match="is stale: expected '20', got '19'"):
        check_golden(path, changed("20 checks", "19 checks"), update=False, round_off=1e-9)
    with pytest.raises(AssertionError, match="is stale"):  # without round_off: exact
        check_golden(path, changed("2.3e-13", "7.2e-12"), update=False)
    assert path.read_text(encoding="utf-8") == GOLDEN  # a failed comparison writes nothing
    check_golden(path, "new\n", update=True)
    assert path.read_text(encoding="utf-8") == "new\n"


def test_a_recorded_transcript_survives_round_off_but_not_a_lost_check() -> None:
    golden = (ROOT / "cli" / "tour.txt").read_text(encoding="utf-8")
    round_off = next(t.text for t in tokens(golden) if t.number and 0 < abs(float(t.text)) < 1e-9)
    other = "7.2e-12" if round_off != "7.2e-12" else "2.3e-13"
    moved = re.sub(rf"(?<![\w.]){re.escape(round_off)}(?![\w.])", other, golden, count=1)
    assert moved != golden and compare_tokens(golden, moved) is None
    checks = re.search(r"all (\d+) checks", golden)
    assert checks is not None
    lost = golden.replace(checks[0], f"all {int(checks[1]) - 1} checks")
    assert compare_tokens(golden, lost) is not None


def test_the_exact_cell_follows_its_round_off_number() -> None:
    row = "ok   │ dbeta: submission vs derived (float64) │  {}  │  yes  │    {} │ {}"
    golden = row.format("no", "3.6e-14", "4.1e-16")
    assert compare_tokens(golden, row.format("yes", "0.0e+00", "0.0e+00")) is None
    # a real difference in the exact cell: the max |diff| is not round-off
    big = row.format("no", "3.6e-02", "4.1e-03")
    assert compare_tokens(big, row.format("yes", "0.0e+00", "0.0e+00")) is not None
    # outside a table, yes and no are words like any other
    assert compare_tokens("exact: no 1e-14", "exact: yes 0e+00") is not None
