"""The journal: keys, resuming, re-grading only what changed, merging shards, and kill -9.

The resume test starts ``bncheck grade`` as a subprocess, SIGKILLs it (by its own pid)
once some students are journalled, runs it again, and compares every file in --out
with an uninterrupted run, byte for byte (the journal itself holds durations: left out).
"""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bncheck import examples
from bncheck.grade.discover import find_submissions
from bncheck.grade.engine import grade_all
from bncheck.grade.journal import FILE, Journal, journal_key, merge
from bncheck.grade.model import FunctionGrade, StudentGrade
from tests.grade.test_engine import RUBRIC_TOML, SALT, make_rubric

SOURCES = ["cs231n_correct", "plain_correct", "bug_dx_missing_dvar", "bug_mutates_dout"]


def _class(root: Path, n: int) -> Path:
    folder = root / "class"
    for k in range(n):
        name = SOURCES[k % len(SOURCES)]
        (folder / f"s{k:02d}").mkdir(parents=True)
        shutil.copy(examples.path(name + ".py"), folder / f"s{k:02d}" / "layers.py")
    return folder


def _rows(path: Path) -> int:
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1) as db:
            return int(db.execute("SELECT count(*) FROM grades").fetchone()[0])
    except sqlite3.Error:
        return 0


def _files(out: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(out)): p.read_bytes()
        for p in sorted(out.rglob("*"))
        if p.is_file() and not p.name.startswith(FILE)
    }


def test_journal_round_trip_and_current(tmp_path: Path) -> None:
    grade = StudentGrade("alice", "d", (FunctionGrade("batchnorm_backward", 1, ()),), seconds=1.5)
    with Journal(tmp_path / FILE) as journal:
        assert journal.get("k1") is None
        journal.put("k1", grade)
        assert journal.get("k1") == grade
        journal.put("k2", StudentGrade("alice", "e", ()))  # alice's files changed
        assert [g.digest for g in journal.grades()] == ["e"]
        assert journal.get("k1") == grade  # changed back: the old row is current again
        assert [g.digest for g in journal.grades()] == ["d"]
        mode = journal._db.execute("PRAGMA journal_mode").fetchone()[0]
        assert mode == "wal"


def test_resume_grades_only_what_changed(tmp_path: Path) -> None:
    folder = _class(tmp_path, 4)
    rubric = make_rubric(timeout=10)
    subs = find_submissions(folder, tmp_path / "work")
    first = grade_all(subs, rubric, SALT, tmp_path / "out", jobs=2)
    seen: list[tuple[str, bool]] = []
    again = grade_all(
        subs, rubric, SALT, tmp_path / "out", 2, None, lambda g, r: seen.append((g.student, r))
    )
    assert again == first and all(resumed for _, resumed in seen)

    # one student's file changes: only that student is graded again
    (folder / "s01" / "layers.py").write_bytes(examples.path("bug_hidden_state.py").read_bytes())
    subs = find_submissions(folder, tmp_path / "work2")
    seen.clear()
    grade_all(
        subs, rubric, SALT, tmp_path / "out", 2, None, lambda g, r: seen.append((g.student, r))
    )
    assert sorted(s for s, resumed in seen if not resumed) == ["s01"]

    # the rubric changes: everyone is graded again; another salt too
    other = make_rubric(timeout=11)
    keys = {journal_key(s, rubric, SALT) for s in subs}
    assert keys.isdisjoint({journal_key(s, other, SALT) for s in subs})
    assert keys.isdisjoint({journal_key(s, rubric, "pepper") for s in subs})


def test_shards_merge_into_the_same_grades(tmp_path: Path) -> None:
    folder = _class(tmp_path, 5)
    rubric = make_rubric(timeout=10)
    subs = find_submissions(folder, tmp_path / "work")
    whole = grade_all(subs, rubric, SALT, tmp_path / "all", jobs=2)
    parts = []
    for k in (1, 2):
        with Journal(tmp_path / f"shard{k}" / FILE) as journal:
            journal.set_rubric(rubric)
            grades = grade_all(subs, rubric, SALT, tmp_path / f"shard{k}", 2, (k, 2), None, journal)
            journal.set_current(g.student for g in grades)
        parts.append(grades)
    assert sorted(g.student for p in parts for g in p) == sorted(s.student for s in subs)
    with merge([tmp_path / f"shard{k}" / FILE for k in (1, 2)], tmp_path / "merged") as merged:
        assert [g.student for g in merged.grades()] == [g.student for g in whole]
        assert merged.rubric() is not None and merged.rubric().digest == rubric.digest


def _command(folder: Path, out: Path, rubric: Path) -> list[str]:
    return [
        sys.executable, "-m", "bncheck", "grade", str(folder), "--out", str(out),
        "--rubric", str(rubric), "--jobs", "2", "--seed-salt", SALT,
    ]  # fmt: skip


def test_sigkill_then_resume_writes_the_same_bytes(tmp_path: Path) -> None:
    folder = _class(tmp_path, 12)
    rubric = tmp_path / "rubric.toml"
    rubric.write_text(RUBRIC_TOML.format(timeout=10), encoding="utf-8")
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    whole = subprocess.run(
        _command(folder, tmp_path / "whole", rubric), capture_output=True, env=env, timeout=120
    )
    assert whole.returncode == 0, whole.stderr.decode()

    out = tmp_path / "resumed"
    process = subprocess.Popen(
        _command(folder, out, rubric),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    try:
        deadline = time.monotonic() + 60
        while _rows(out / FILE) < 3 and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        killed = process.poll() is None
        if killed:
            os.kill(process.pid, signal.SIGKILL)  # our own child, by its pid
    finally:
        process.wait()
    if not killed:
        pytest.skip("the run finished before it could be killed (machine too fast)")
    done = _rows(out / FILE)
    assert 3 <= done < 12
    again = subprocess.run(_command(folder, out, rubric), capture_output=True, env=env, timeout=120)
    assert again.returncode == 0, again.stderr.decode()
    assert _rows(out / FILE) == 12
    assert f"{done} from the journal" in again.stdout.decode()
    expected, actual = _files(tmp_path / "whole"), _files(out)
    assert sorted(actual) == sorted(expected)
    for name in expected:
        assert actual[name] == expected[name], name


def test_grading_never_removes_a_folder_of_the_users(tmp_path: Path) -> None:
    from bncheck.cli import main

    folder = tmp_path / "class" / "alice"
    folder.mkdir(parents=True)
    (folder / "layers.py").write_text("x = 1\n")
    out = tmp_path / "out"
    (out / "work").mkdir(parents=True)
    (out / "work" / "mine.txt").write_text("the user's own file")
    argv = [str(tmp_path / "class"), "--out", str(out), "--seed-salt", "s", "--no-timing"]
    assert main(["grade", *argv, "--jobs", "1"]) == 0
    assert (out / "work" / "mine.txt").read_text() == "the user's own file"
    assert not list(out.glob(".bncheck-work-*"))  # ours is gone
