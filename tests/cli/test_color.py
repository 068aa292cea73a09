"""Colour: --no-color (before or after the command) > NO_COLOR > FORCE_COLOR > a TTY."""

from __future__ import annotations

import io

import pytest

from bncheck.cli import build_parser, main
from bncheck.report.console import make_console, wants_color

ESC = "\x1b["  # every ANSI colour or style sequence starts with it
VERIFY = ["verify", "--example", "cs231n_correct", "--autograd", "off", "--seed", "0"]


@pytest.fixture(autouse=True)
def _no_colour_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("NO_COLOR", "FORCE_COLOR", "TTY_COMPATIBLE", "TERM"):
        monkeypatch.delenv(name, raising=False)


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    ("argv", "no_color"),
    [
        (["verify", "x.py"], False),
        (["--no-color", "verify", "x.py"], True),
        (["verify", "--no-color", "x.py"], True),
        (["--no-color", "verify", "--no-color", "x.py"], True),
    ],
)
def test_no_color_works_before_and_after_the_command(argv: list[str], no_color: bool) -> None:
    assert build_parser().parse_args(argv).no_color is no_color


@pytest.mark.parametrize(
    ("flag", "env", "tty", "color"),
    [
        (False, {}, False, False),  # a pipe or a file: plain
        (False, {}, True, True),  # a terminal: colour
        (True, {}, True, False),  # --no-color wins over everything
        (True, {"FORCE_COLOR": "1"}, True, False),
        (False, {"NO_COLOR": "1"}, True, False),  # no-color.org
        (False, {"NO_COLOR": "1", "FORCE_COLOR": "1"}, False, False),  # NO_COLOR before FORCE
        (False, {"NO_COLOR": ""}, True, True),  # empty means unset
        (False, {"FORCE_COLOR": "1"}, False, True),  # force-color.org: even off a TTY
        (False, {"FORCE_COLOR": "0"}, False, True),  # any non-empty value
        (False, {"FORCE_COLOR": ""}, False, False),  # empty means unset
    ],
)
def test_precedence(flag: bool, env: dict[str, str], tty: bool, color: bool) -> None:
    assert wants_color(flag, tty, env) is color


def test_a_terminal_gets_colour_and_no_color_takes_it_away() -> None:
    for no_color, expected in ((False, True), (True, False)):
        stream = _Terminal()
        make_console(no_color=no_color, file=stream).print("[green]ok[/green]")
        assert (ESC in stream.getvalue()) is expected


@pytest.mark.parametrize(
    ("env", "argv", "colored"),
    [
        ({}, VERIFY, False),  # capsys is not a TTY
        ({"FORCE_COLOR": "1"}, VERIFY, True),
        ({"FORCE_COLOR": "1", "TERM": "dumb"}, VERIFY, True),
        ({"FORCE_COLOR": "1"}, ["--no-color", *VERIFY], False),  # the global flag is kept
        ({"FORCE_COLOR": "1"}, [*VERIFY, "--no-color"], False),
        ({"FORCE_COLOR": "1", "NO_COLOR": "1"}, VERIFY, False),
    ],
)
def test_the_cli_output(
    env: dict[str, str],
    argv: list[str],
    colored: bool,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "PASSED" in out
    assert (ESC in out) is colored, out[:300]
