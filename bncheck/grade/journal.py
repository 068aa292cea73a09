"""The grading journal: one SQLite row per finished submission, so a killed run resumes.

``out/journal.sqlite`` (stdlib ``sqlite3``), table ``grades``: one row per finished
submission, keyed by ``journal_key``, sha256 of the student, the submission's digest,
the rubric's digest, the seed and bncheck's version, holding the ``StudentGrade`` as
JSON. A run looks each student's key up first and grades only the missing ones; a
changed submission or rubric changes the key, so only what changed is graded again.
Table ``current`` says which key is each student's in the latest run (old rows stay, so
changing a file back is free); ``meta`` keeps the rubric's digest and source, which
``bncheck grade merge`` needs to write the outputs without the rubric file.

Settings: WAL mode (readers never block the one writer; a ``kill -9`` mid-write leaves
the last committed rows and a WAL that SQLite replays) and ``synchronous=NORMAL``: a
committed row survives the death of the process, which is what resuming needs; only a
power cut or an OS crash can lose the last few commits (WAL stays consistent), and then
those students are graded again. FULL would add an fsync per student for nothing more.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bncheck.errors import UsageError
from bncheck.grade.model import StudentGrade, Submission

__all__ = ["FILE", "Journal", "JournalRubric", "journal_key", "merge"]

FILE = "journal.sqlite"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS grades (
    key TEXT PRIMARY KEY,
    student TEXT NOT NULL,
    grade TEXT NOT NULL,
    seconds REAL NOT NULL,
    finished REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS current (student TEXT PRIMARY KEY, key TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


def journal_key(sub: Submission, rubric: Any, salt: str) -> str:
    """sha256 of what a grade depends on: student, files, rubric, seed, bncheck's version."""
    from bncheck import __version__
    from bncheck.grade.engine import student_seed

    seed = student_seed(sub.student, salt)
    parts = (sub.student, sub.digest, str(rubric.digest), str(seed), __version__)
    return hashlib.sha256("\0".join(parts).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class JournalRubric:
    """The rubric as a journal remembers it: what the writers need (digest, source)."""

    digest: str
    source: str


class Journal:
    """One SQLite file; ``put`` commits at once. Safe to share between threads."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, timeout=30, check_same_thread=False)
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise UsageError(
                f"{path} is not a bncheck journal ({exc})",
                "give another --out folder, or remove the file to start over",
                code="bad-journal",
            ) from None

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get(self, key: str) -> StudentGrade | None:
        """The grade journalled under ``key`` (and it becomes its student's current one)."""
        with self._lock:
            row = self._db.execute("SELECT student, grade FROM grades WHERE key = ?", (key,))
            found = row.fetchone()
            if found is None:
                return None
            with self._db:
                self._db.execute("INSERT OR REPLACE INTO current VALUES (?, ?)", (found[0], key))
        return StudentGrade.from_dict(json.loads(found[1]))

    def put(self, key: str, grade: StudentGrade) -> None:
        text = json.dumps(grade.to_dict(), sort_keys=True, allow_nan=False)
        with self._lock, self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO grades VALUES (?, ?, ?, ?, ?)",
                (key, grade.student, text, grade.seconds, time.time()),
            )
            self._db.execute("INSERT OR REPLACE INTO current VALUES (?, ?)", (grade.student, key))

    def set_current(self, students: Iterable[str]) -> None:
        """Forget students of earlier runs that this run does not grade (their rows stay)."""
        keep = set(students)
        with self._lock, self._db:
            rows = self._db.execute("SELECT student FROM current").fetchall()
            gone = [(s,) for (s,) in rows if s not in keep]
            self._db.executemany("DELETE FROM current WHERE student = ?", gone)

    def set_rubric(self, rubric: Any) -> None:
        with self._lock, self._db:
            for name in ("digest", "source"):
                value = str(getattr(rubric, name))
                self._db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (name, value))

    def rubric(self) -> JournalRubric | None:
        with self._lock:
            rows = dict(self._db.execute("SELECT name, value FROM meta").fetchall())
        if "digest" not in rows:
            return None
        return JournalRubric(rows["digest"], rows.get("source", ""))

    def current(self) -> dict[str, tuple[str, StudentGrade]]:
        """Each student's current grade, with its key: what the outputs are written from."""
        with self._lock:
            rows = self._db.execute(
                "SELECT c.student, c.key, g.grade FROM current c JOIN grades g ON g.key = c.key"
            ).fetchall()
        return {s: (k, StudentGrade.from_dict(json.loads(g))) for s, k, g in rows}

    def grades(self) -> list[StudentGrade]:
        """The current grades, sorted by student."""
        current = self.current()
        return [current[s][1] for s in sorted(current)]


def merge(journals: Sequence[Path], out: Path) -> Journal:
    """Combine the current grades of several journals (shards) into ``out/journal.sqlite``.

    The shards must have graded with one rubric; a student in two shards must have the
    same key in both (the same files, rubric and seed), else it is a usage error.
    """
    if not journals:
        raise UsageError("merge needs at least one folder", "bncheck grade merge DIR... --out DIR")
    target = Journal(out / FILE)
    try:
        rubric: JournalRubric | None = None
        seen: dict[str, str] = {}
        for path in journals:
            if not path.is_file():
                raise UsageError(
                    f"{path} has no bncheck journal",
                    "give the --out folders of the shards (each holds journal.sqlite)",
                    code="no-journal",
                )
            with Journal(path) as shard:
                theirs = shard.rubric()
                if theirs is not None and rubric is not None and theirs.digest != rubric.digest:
                    raise UsageError(
                        f"{path} was graded with another rubric ({theirs.digest[:12]}, "
                        f"not {rubric.digest[:12]})",
                        "merge only the shards of one grading run",
                        code="rubric-mismatch",
                    )
                rubric = rubric or theirs
                for student, (key, grade) in shard.current().items():
                    if seen.get(student, key) != key:
                        raise UsageError(
                            f"student {student!r} is in two shards with different grades",
                            "merge shards of one run (--shard K/N with the same N)",
                            code="shard-overlap",
                        )
                    seen[student] = key
                    target.put(key, grade)
        if rubric is not None:
            target.set_rubric(rubric)
        target.set_current(seen)
    except BaseException:
        target.close()
        raise
    return target
