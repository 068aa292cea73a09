"""cli/*.txt are recorded runs of the CLI: the first line is the command, then its output.

A transcript is the CLI's contract, shown on GitHub. To add one, create
cli/NAME.txt containing only ``$ bncheck ...`` and run ``pytest --update-goldens``.

A transcript holds on any CPU: it is compared token by token (``check_golden`` in
transcript mode), text exactly and numbers to the digits they print, with round-off
(below ``ROUND_OFF``) equal to round-off. ``bncheck verify`` compares with torch autograd
when torch is installed, so its transcripts are recorded with torch and skipped without it
(never rewritten: that would drop the autograd rows from the contract).
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import shlex
from pathlib import Path

import pytest

from bncheck.cli import main
from tests.conftest import ROOT, ROUND_OFF, check_golden

TRANSCRIPTS = sorted((ROOT / "cli").glob("*.txt"))

# tiny-init's small numbers are results, not round-off (the scale collapses to 1.1e-17), and
# it shows no digits that depend on the CPU: its numbers must all keep their printed digits.
FLOORS = {"demo-tiny-init": 0.0, "demo-tiny-init-digits": 0.0}


def record(command: str, monkeypatch: pytest.MonkeyPatch, files: Path | None = None) -> str:
    """The transcript of ``command``; with ``files`` (a folder next to the transcript, e.g.
    cli/grade/), it runs in a fresh copy of that folder, so it writes nothing in the repo."""
    if files is not None:
        import shutil
        import tempfile

        where = Path(tempfile.mkdtemp(prefix="bncheck-transcript-"))
        shutil.copytree(files, where, dirs_exist_ok=True)
        monkeypatch.chdir(where)
    monkeypatch.setenv("COLUMNS", "100")  # argparse wraps help text to the terminal width
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("FORCE_COLOR", raising=False)  # plain text, as off a TTY
    # The sandbox line says which layers this machine allows (namespaces need unshare);
    # transcripts are recorded as on a Linux machine that has them all.
    from bncheck.runner import namespaces

    full = ("PID, network and mount namespaces", "private copy and HOME", "rlimits", "audit hook")
    monkeypatch.setattr(namespaces, "isolation", lambda: full)
    argv = shlex.split(command)
    assert argv[:2] == ["$", "bncheck"], f"transcript must start with '$ bncheck': {command}"
    out, err = io.StringIO(), io.StringIO()
    if argv[2] == "verify":  # its autograd line says "cached" after a first run: warm it
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            main(argv[2:])
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv[2:])
    return f"{command}\n{out.getvalue()}{err.getvalue()}[exit {code}]\n"


@pytest.mark.parametrize("path", TRANSCRIPTS, ids=[p.stem for p in TRANSCRIPTS])
def test_transcript_is_current(
    path: Path, update_goldens: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    golden = path.read_text(encoding="utf-8")
    if recorded_with_torch(golden) and importlib.util.find_spec("torch") is None:
        pytest.skip("recorded with torch installed (its autograd rows); pip install torch==2.13.0")
    if on_digits(golden) and importlib.util.find_spec("sklearn") is None:
        pytest.skip("trains on scikit-learn's digits: pip install -e '.[teach]'")
    floor = FLOORS.get(path.stem, ROUND_OFF)
    files = path.with_suffix("") if path.with_suffix("").is_dir() else None
    text = record(golden.splitlines()[0], monkeypatch, files)
    check_golden(path, text, update_goldens, round_off=floor)


def recorded_with_torch(golden: str) -> bool:
    """It has rows that compare with torch autograd (`verify`'s default when torch is there)."""
    return " vs autograd (" in golden


def on_digits(golden: str) -> bool:
    """A demo on real digits (scikit-learn, the extra ``teach``)."""
    from bncheck.demos import DEMOS

    argv = shlex.split(golden.splitlines()[0])
    if argv[2:3] != ["demo"] or len(argv) < 4 or argv[3] not in DEMOS:
        return False
    return DEMOS[argv[3]].digits or "digits" in argv


def test_there_are_transcripts() -> None:
    names = {p.stem for p in TRANSCRIPTS}
    assert {"help", "derive"} <= names


def test_the_verify_transcripts_are_recorded_with_torch() -> None:
    with_torch = {p.stem for p in TRANSCRIPTS if recorded_with_torch(p.read_text("utf-8"))}
    assert {"verify-correct", "verify-buggy"} <= with_torch
