"""bncheck tour: prose wraps between words, and every command it prints works from any folder."""

from __future__ import annotations

import argparse
import importlib.util
import io
import os
import re
import shlex
import shutil
from collections import Counter
from pathlib import Path

import pytest
from rich.cells import cell_len

from bncheck import examples
from bncheck.cli import COMMANDS, main, tour
from bncheck.demos import DEMOS
from bncheck.report.console import make_console

# "bncheck verify ..." at the start of a line, up to two spaces (a note) or the end of the line
COMMAND = re.compile(rf"^ *(bncheck (?:{'|'.join(COMMANDS)})(?= |$).*?)(?: {{2}}.*)?$", re.M)
BOX = re.compile(r"^[\u2500-\u257f]+$")  # rules and table borders: they follow the width


def _tour(width: int) -> str:
    out = io.StringIO()
    console = make_console(no_color=True, file=out)
    console.width = width
    assert tour.run(argparse.Namespace(), console) == 0
    return out.getvalue()


@pytest.fixture(scope="module")
def narrow(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The tour at 80 columns, run from a folder outside the repository."""
    here = os.getcwd()
    os.chdir(tmp_path_factory.mktemp("elsewhere"))
    try:
        return _tour(80)
    finally:
        os.chdir(here)


def _words(text: str) -> Counter[str]:
    return Counter(w for w in text.split() if not BOX.match(w))


@pytest.mark.slow
def test_at_80_columns_prose_wraps_between_words(narrow: str) -> None:
    wide = _tour(10_000)  # nothing wraps: the text as written
    too_long = [line for line in narrow.splitlines() if cell_len(line.rstrip()) > 80]
    assert not too_long, "a line the terminal would break:\n" + "\n".join(too_long)
    assert max(cell_len(line) for line in wide.splitlines()) > 80  # the width did matter
    # A word broken in two would show up as two words that the wide text does not have.
    assert _words(narrow) == _words(wide)


def _commands(text: str) -> list[str]:
    return list(dict.fromkeys(COMMAND.findall(text)))


def test_the_command_pattern() -> None:
    text = (
        "bncheck tour: a guided walk\n"
        "bncheck verify --example cs231n_correct  (style cs231n, seed 0)\n"
        "  bncheck demo tiny-init\n"
        "  bncheck verify YOUR_FILE.py   your own batch norm\n"
        "The verify command runs a batchnorm_backward\n"
    )
    assert _commands(text) == [
        "bncheck verify --example cs231n_correct",
        "bncheck demo tiny-init",
        "bncheck verify YOUR_FILE.py",
    ]


@pytest.mark.slow
def test_every_command_the_tour_prints_runs_from_any_folder(
    narrow: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    commands = _commands(narrow)
    assert "bncheck verify --example cs231n_correct" in commands
    assert f"bncheck verify --example {tour.BUGGY}" in commands
    assert {f"bncheck demo {name}" for name in ("mean-dependence", "tiny-init")} <= set(commands)
    monkeypatch.chdir(tmp_path)
    shutil.copy(examples.path("cs231n_correct.py"), tmp_path / "YOUR_FILE.py")  # a placeholder
    for command in commands:
        argv = shlex.split(command)[1:]
        if argv[0] == "verify":
            argv += ["--autograd", "off"]  # fast, and the same with or without torch
        code = main(argv)
        if code == 2 and argv[0] == "demo" and DEMOS[argv[1]].digits:
            assert importlib.util.find_spec("sklearn") is None  # exit 2: the extra is missing
            continue
        assert code in (0, 1), f"{command} (run in {tmp_path}) exited {code}"


def test_the_buggy_examples_are_diagnosed_after_their_verdict(narrow: str) -> None:
    """Both buggy examples (the batch norm and the group norm) name their mistake."""
    text = " ".join(narrow.split())
    for verdict, mistake in (
        ("FAILED: 3 of", "variance-path-dropped"),
        ("dgamma is wrong", "dgamma-per-group"),
    ):
        after = text[text.index(verdict) :]
        assert after.index("Diagnosis") < after.index(mistake)
        assert f"bncheck diagnose --explain {mistake}" in after
