"""A --json or --plot path that cannot be written is a user mistake: exit 2, no traceback."""

from __future__ import annotations

import pytest

from bncheck.cli import main
from bncheck.examples import path


@pytest.mark.parametrize(
    "argv",
    [
        ["demo", "mean-dependence", "--steps", "2", "--json", "{bad}/out.json"],
        ["verify", str(path("plain_correct.py")), "--autograd", "off", "--json", "{bad}/r.json"],
    ],
)
def test_unwritable_output_exits_2_with_a_message(argv, tmp_path, capsys) -> None:
    bad = tmp_path / "no" / "such" / "folder"
    assert main([a.format(bad=bad) for a in argv]) == 2
    err = capsys.readouterr().err
    assert "error [file-error]: cannot use" in err and "hint:" in err
    assert "Traceback" not in err and "internal error" not in err
