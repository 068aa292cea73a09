"""cli/*.txt are recorded runs of the CLI: the first line is the command, then its output.

A transcript is the CLI's contract, shown on GitHub. To add one, create
cli/NAME.txt containing only ``$ bncheck ...`` and run ``pytest --update-goldens``.
"""

from __future__ import annotations

import contextlib
import io
import shlex
from pathlib import Path

import pytest

from bncheck.cli import main
from tests.conftest import ROOT, check_golden

TRANSCRIPTS = sorted((ROOT / "cli").glob("*.txt"))


def record(command: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("COLUMNS", "100")  # argparse wraps help text to the terminal width
    monkeypatch.delenv("NO_COLOR", raising=False)
    # The sandbox line says which layers this machine allows (namespaces need unshare);
    # transcripts are recorded as on a Linux machine that has them all.
    from bncheck.runner import namespaces

    full = ("PID, network and mount namespaces", "private copy and HOME", "rlimits", "audit hook")
    monkeypatch.setattr(namespaces, "isolation", lambda: full)
    argv = shlex.split(command)
    assert argv[:2] == ["$", "bncheck"], f"transcript must start with '$ bncheck': {command}"
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv[2:])
    return f"{command}\n{out.getvalue()}{err.getvalue()}[exit {code}]\n"


@pytest.mark.parametrize("path", TRANSCRIPTS, ids=[p.stem for p in TRANSCRIPTS])
def test_transcript_is_current(
    path: Path, update_goldens: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    command = path.read_text(encoding="utf-8").splitlines()[0]
    check_golden(path, record(command, monkeypatch), update_goldens)


def test_there_are_transcripts() -> None:
    names = {p.stem for p in TRANSCRIPTS}
    assert {"help", "derive"} <= names
