"""--json and --plot paths: checked before the run, written atomically, never followed.

A submission runs in a child process and may reach the folder a result goes to: a symlink
at the path must not redirect the write, a FIFO must not block it, a forged result must not
survive, and the submission itself is never overwritten. A path that cannot be written is a
user mistake: exit 2, one message with a hint, no traceback.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bncheck.cli import main
from bncheck.cli.output import check_writable, write_atomic
from bncheck.errors import UsageError
from bncheck.examples import path

CORRECT = path("plain_correct.py")
VERIFY = ["verify", str(CORRECT), "--autograd", "off"]


def _no_temp_files(folder: Path) -> None:
    assert not [p.name for p in folder.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.parametrize(
    "argv",
    [
        ["demo", "mean-dependence", "--steps", "2", "--json", "{bad}/out.json"],
        ["demo", "mean-dependence", "--steps", "2", "--plot", "{bad}/out.png"],
        [*VERIFY, "--json", "{bad}/r.json"],
    ],
)
def test_unwritable_output_exits_2_with_a_message(argv, tmp_path, capsys) -> None:
    bad = tmp_path / "no" / "such" / "folder"
    assert main([a.format(bad=bad) for a in argv]) == 2
    err = capsys.readouterr().err
    assert "error [output-path]: cannot write" in err and "does not exist" in err
    assert "hint:" in err
    assert "Traceback" not in err and "internal error" not in err


def test_a_bad_json_path_fails_before_the_submission_runs(tmp_path, capsys) -> None:
    slow = tmp_path / "slow.py"  # would take 30 s to import
    slow.write_text("import time\ntime.sleep(30)\n\n" + CORRECT.read_text())
    start = time.monotonic()
    code = main(["verify", str(slow), "--autograd", "off", "--json", str(tmp_path / "no" / "r")])
    assert code == 2
    assert time.monotonic() - start < 10
    assert "error [output-path]" in capsys.readouterr().err


def test_a_symlink_at_the_json_path_is_replaced_not_followed(tmp_path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    out = tmp_path / "result.json"
    out.symlink_to(victim)
    assert main([*VERIFY, "--json", str(out)]) == 0
    assert victim.read_text() == "precious\n"
    assert not out.is_symlink() and out.is_file()
    assert json.loads(out.read_text())["passed"] is True
    _no_temp_files(tmp_path)


def test_a_fifo_at_the_json_path_does_not_block(tmp_path) -> None:
    out = tmp_path / "result.json"
    os.mkfifo(out)
    argv = [sys.executable, "-m", "bncheck", *VERIFY, "--seed", "0", "--json", str(out)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert out.is_file() and json.loads(out.read_text())["passed"] is True
    _no_temp_files(tmp_path)


def test_the_submission_and_python_files_are_never_overwritten(tmp_path, capsys) -> None:
    submission = tmp_path / "layers.py"
    submission.write_text(CORRECT.read_text())
    other = tmp_path / "other.py"
    other.write_text("x = 1\n")
    link = tmp_path / "result.json"
    link.symlink_to(submission)
    before = {p: p.read_bytes() for p in (submission, other)}
    for json_path in (submission, other, link):
        argv = ["verify", f"{submission}:batchnorm_backward", "--autograd", "off"]
        assert main([*argv, "--json", str(json_path)]) == 2
        err = capsys.readouterr().err
        assert "error [output-path]" in err and "hint:" in err
    assert {p: p.read_bytes() for p in before} == before
    assert link.is_symlink()
    _no_temp_files(tmp_path)


def test_a_result_forged_by_the_submission_does_not_survive(tmp_path) -> None:
    out = tmp_path / "result.json"
    out.write_text('{"passed": true}\n')  # as if a child had written it
    bad = tmp_path / "bad.py"
    forge = f"open({str(out)!r}, 'w').write('{{\"passed\": true}}')\nraise ValueError\n\n"
    bad.write_text(forge + CORRECT.read_text())
    assert main(["verify", str(bad), "--autograd", "off", "--json", str(out)]) == 2
    result = json.loads(out.read_text())
    # the sandbox refuses the write; the earlier forged file is replaced all the same
    assert result["passed"] is False and result["error"]["code"] == "refused"
    _no_temp_files(tmp_path)


def test_a_symlink_planted_by_the_submission_is_replaced(tmp_path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    out = tmp_path / "result.json"
    planter = tmp_path / "layers.py"
    plant = f"import os\nos.symlink({str(victim)!r}, {str(out)!r})\n\n"
    planter.write_text(plant + CORRECT.read_text())
    # the sandbox refuses the link (exit 2); had one been made, the rename replaces it
    assert main(["verify", str(planter), "--autograd", "off", "--json", str(out)]) == 2
    assert victim.read_text() == "precious\n"
    assert not out.is_symlink() and json.loads(out.read_text())["passed"] is False


def test_demo_json_and_plot_replace_symlinks(tmp_path) -> None:
    pytest.importorskip("matplotlib", reason="--plot needs matplotlib (the 'plot' extra)")
    victims = [tmp_path / "victim1.txt", tmp_path / "victim2.txt"]
    out, png = tmp_path / "drift.json", tmp_path / "drift.png"
    for link, victim in zip((out, png), victims, strict=True):
        victim.write_text("precious\n")
        link.symlink_to(victim)
    argv = ["demo", "mean-dependence", "--steps", "2", "--json", str(out), "--plot", str(png)]
    assert main(argv) == 0
    assert [v.read_text() for v in victims] == ["precious\n"] * 2
    assert json.loads(out.read_text())["demo"] == "mean-dependence"
    assert not png.is_symlink() and png.read_bytes().startswith(b"\x89PNG")
    _no_temp_files(tmp_path)


def test_demo_plot_and_json_must_differ(tmp_path, capsys) -> None:
    same = str(tmp_path / "out.json")
    assert main(["demo", "mean-dependence", "--json", same, "--plot", same]) == 2
    assert "error [output-path]" in capsys.readouterr().err


def test_check_writable_opens_nothing(tmp_path) -> None:
    fifo = tmp_path / "pipe.json"
    os.mkfifo(fifo)
    assert check_writable(fifo) == fifo  # a FIFO is replaced on write; checking never blocks
    dangling = tmp_path / "dangling.json"
    dangling.symlink_to(tmp_path / "nowhere")
    assert check_writable(dangling) == dangling
    assert not (tmp_path / "nowhere").exists()
    for bad in (tmp_path, f"{tmp_path}{os.sep}", tmp_path / "x.py", tmp_path / "no" / "x.json"):
        with pytest.raises(UsageError) as info:
            check_writable(bad)
        assert info.value.code == "output-path" and info.value.hint


def test_write_atomic_removes_its_temp_file_on_failure(tmp_path) -> None:
    target = tmp_path / "taken"
    target.mkdir()
    (target / "inside").write_text("x")  # a non-empty folder: the rename fails
    with pytest.raises(OSError) as info:
        write_atomic(target, "data")
    assert info.value.filename == str(target)  # the user's path, not our temp file
    _no_temp_files(tmp_path)
    write_atomic(tmp_path / "ok.json", b"{}\n")
    assert (tmp_path / "ok.json").read_bytes() == b"{}\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ok.json", "taken"]


def test_write_atomic_honours_the_umask(tmp_path) -> None:
    old = os.umask(0o077)
    try:
        write_atomic(tmp_path / "private.json", "{}")
    finally:
        os.umask(old)
    assert (tmp_path / "private.json").stat().st_mode & 0o777 == 0o600
