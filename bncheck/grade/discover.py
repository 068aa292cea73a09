"""Finding a class's submissions in the layouts an instructor has, one folder per student.

``find_submissions(PATH, WORK)`` reads a folder (one sub-folder or ``.py`` file per
student), a Canvas download (``doejane_12345_67890_layers.py``), a Moodle download
(``Jane Doe_12345_assignsubmission_file_/``), a Gradescope export (``submission_<n>/``),
or a ``.zip`` of any of them, extracted into WORK with caps (``Caps``). Every student
gets a fresh folder under WORK holding copies of their ``.py`` files only (regular files,
no links, no junk such as ``__MACOSX`` or ``.DS_Store``), so what is graded, and hashed
into ``Submission.digest``, is exactly what the sandbox will see.

A malformed class (a hostile archive, mixed layouts, two students with one id) is a
``UsageError``; one student's odd files never are: a student with no ``.py`` file still
appears, and the engine gives them 0 with a "could not load" flag.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from bncheck.errors import UsageError
from bncheck.grade.archive import extract, junk
from bncheck.grade.model import Submission

__all__ = ["Caps", "find_submissions", "folder_digest", "safe_name", "submission_of"]

_MiB = 1 << 20


@dataclass(frozen=True)
class Caps:
    """Limits on what discovery reads and writes; tests lower them."""

    members: int = 50_000  # entries of a zip
    member_bytes: int = 64 * _MiB  # one extracted file (larger ones are skipped)
    student_bytes: int = 64 * _MiB  # one student's copied .py files
    total_bytes: int = 2048 * _MiB  # everything extracted from a zip
    files_per_student: int = 2000
    depth: int = 8  # folder depth inside one student's folder


_CANVAS = re.compile(r"^(?P<name>[^_]+)_(?:LATE_)?(?P<user>\d+)_(?P<sub>\d+)_(?P<file>.+)$")
_RESUBMITTED = re.compile(r"^(?P<stem>.+)-(?P<n>\d+)$")  # Canvas: layers-1.py
_MOODLE = re.compile(r"^(?P<student>.+_\d+)_assign(?:submission|feedback)_[A-Za-z]+_?$")
_GRADESCOPE = re.compile(r"^submission_\d+$")
_GRADESCOPE_METADATA = "submission_metadata.yml"
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
_RESERVED = frozenset(  # Windows device names: not a file name there
    {"con", "prn", "aux", "nul"} | {f"{p}{i}" for p in ("com", "lpt") for i in range(1, 10)}
)


def safe_name(student: str) -> str:
    """``student`` as a file name: letters, digits and ``-_.`` kept; a short hash appended
    whenever anything had to change, so two ids never share a name."""
    name = _UNSAFE.sub("_", student)[:80]
    name = "_" + name[1:] if name.startswith(".") else name
    if name == student and name and name.split(".")[0].lower() not in _RESERVED:
        return name
    tag = hashlib.blake2b(student.encode("utf-8", "surrogatepass"), digest_size=4).hexdigest()
    return f"{name or 'student'}-{tag}"


def folder_digest(root: Path) -> str:
    """blake2b over every file under ``root``: its relative path and its bytes, sorted."""
    h = hashlib.blake2b(digest_size=32)
    files = sorted((p.relative_to(root).as_posix(), p) for p in _walk(root) if p.is_file())
    for rel, p in files:
        for part in (rel.encode("utf-8", "surrogateescape"), p.read_bytes()):
            h.update(len(part).to_bytes(8, "little"))
            h.update(part)
    return h.hexdigest()


def _walk(root: Path) -> Iterator[Path]:
    for here, dirs, names in os.walk(root, followlinks=False):
        dirs.sort()
        for name in sorted(names):
            yield Path(here, name)


# ------------------------------------------------------------------ one student's files

# One student's files: path in their folder -> the file it is copied from
_Files = dict[str, Path]


def _python_files(folder: Path, caps: Caps) -> _Files:
    """The .py files under ``folder``: regular files only, no junk, within the caps."""
    found: _Files = {}
    base = len(folder.parts)
    for here, dirs, names in os.walk(folder, followlinks=False):
        depth = len(Path(here).parts) - base
        dirs[:] = sorted(d for d in dirs if not junk(d)) if depth < caps.depth else []
        for name in sorted(names):
            p = Path(here, name)
            if junk(name) or not name.endswith(".py") or not _regular(p):
                continue
            if len(found) >= caps.files_per_student:
                return found
            found[p.relative_to(folder).as_posix()] = p
    return found


def _regular(p: Path) -> bool:
    try:
        return stat.S_ISREG(os.lstat(p).st_mode)
    except OSError:
        return False


def _copy(files: _Files, root: Path, caps: Caps) -> None:
    """Copy into ``root``, in sorted order, until the student's byte budget is spent."""
    root.mkdir(mode=0o700)
    budget = caps.student_bytes
    for rel, src in sorted(files.items()):
        try:
            fd = os.open(src, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_NONBLOCK", 0))
        except OSError:
            continue  # unreadable: the student's problem, reported when it is loaded
        with os.fdopen(fd, "rb") as f:
            if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                continue
            data = f.read(budget + 1)
        if len(data) > budget:
            continue  # over the budget: left out (a layer is a few KiB)
        budget -= len(data)
        dst = root / rel
        dst.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with open(dst, "xb") as out:
            out.write(data)


def submission_of(
    folder: Path, student: str, work: Path, origin: str = "folder", caps: Caps | None = None
) -> Submission:
    """One student's submission from their folder (e.g. ``/autograder/submission``)."""
    caps = caps or Caps()
    work.mkdir(parents=True, exist_ok=True)
    base = Path(tempfile.mkdtemp(prefix="submission-", dir=work))
    root = base / safe_name(student)
    _copy(_python_files(folder, caps), root, caps)
    return Submission(student, root, folder_digest(root), origin)


# ------------------------------------------------------------------ layouts of a class


@dataclass
class _Student:
    origin: str
    files: _Files


def _entries(folder: Path) -> tuple[list[Path], list[Path]]:
    """The non-junk folders and files directly in ``folder`` (links are neither)."""
    dirs, files = [], []
    for p in sorted(folder.iterdir()):
        if junk(p.name):
            continue
        mode = os.lstat(p).st_mode
        if stat.S_ISDIR(mode):
            dirs.append(p)
        elif stat.S_ISREG(mode):
            files.append(p)
    return dirs, files


def _lone(folder: Path) -> Path | None:
    """The one folder in ``folder`` when nothing else is there (no .py file next to it),
    unless it is a student's own Moodle or Gradescope folder."""
    dirs, files = _entries(folder)
    if len(dirs) != 1 or any(f.suffix == ".py" for f in files):
        return None
    inner = dirs[0]
    return None if _MOODLE.match(inner.name) or _GRADESCOPE.match(inner.name) else inner


def _descend(folder: Path, wrapped: bool) -> Path:
    """Past wrapper folders: in a zip, its lone top folder (``zip -r class.zip submissions``);
    then any lone folder that holds a Canvas, Moodle or Gradescope layout
    (``assignment_1_export/``). A folder the user names is otherwise the class: a class of
    one student is a folder holding that student's folder."""
    if wrapped and (inner := _lone(folder)) is not None:
        folder = inner
    for _ in range(8):
        inner = _lone(folder)
        if inner is None or _kind(inner) == "plain":
            break
        folder = inner
    return folder


def _mixed(layout: str, stranger: Path, hint: str) -> UsageError:
    return UsageError(
        f"{stranger.parent} looks like a {layout}, but {stranger.name!r} does not fit it",
        hint,
        code="mixed-layout",
    )


def _gradescope(folder: Path, caps: Caps) -> dict[str, _Student]:
    # The student id is the folder name (stable, unique). submission_metadata.yml is not
    # read: PyYAML is not a dependency, and a folder name is all the journal needs.
    dirs, files = _entries(folder)
    students = {}
    for p in [*dirs, *(f for f in files if f.suffix == ".py")]:
        if not (p.is_dir() and _GRADESCOPE.match(p.name)):
            raise _mixed("Gradescope export", p, "an export holds submission_<n>/ folders only")
        students[p.name] = _Student("gradescope export", _python_files(p, caps))
    return students


def _moodle(folder: Path, caps: Caps) -> dict[str, _Student]:
    dirs, files = _entries(folder)
    students: dict[str, _Student] = {}
    for p in [*dirs, *(f for f in files if f.suffix == ".py")]:
        match = _MOODLE.match(p.name) if p.is_dir() else None
        if match is None:
            raise _mixed("Moodle download", p, "move it out, or grade the folders one by one")
        student = students.setdefault(match["student"], _Student("moodle", {}))
        for rel, src in _python_files(p, caps).items():
            student.files.setdefault(rel, src)  # the file and onlinetext folders of one student
    return students


def _canvas(folder: Path) -> dict[str, _Student]:
    dirs, files = _entries(folder)
    if dirs:
        raise _mixed("Canvas download", dirs[0], "a Canvas download holds files only")
    by_user: dict[tuple[str, str], list[tuple[str, tuple[int, int], Path]]] = {}
    for f in files:
        match = _CANVAS.match(f.name)
        if match is None:
            if f.suffix == ".py":
                raise _mixed("Canvas download", f, "Canvas names files <student>_<id>_<id>_<file>")
            continue
        given = PurePosixPath(match["file"])
        resubmitted = _RESUBMITTED.match(given.stem)
        n = int(resubmitted["n"]) if resubmitted else 0
        name = (resubmitted["stem"] if resubmitted else given.stem) + given.suffix
        key = (match["name"], match["user"])
        by_user.setdefault(key, []).append((name, (n, int(match["sub"])), f))
    names = [name for name, _ in by_user]
    students = {}
    for (name, user), uploads in by_user.items():
        student = name if names.count(name) == 1 else f"{name}_{user}"  # two of one name
        chosen: dict[str, tuple[tuple[int, int], Path]] = {}
        for original, order, f in uploads:  # layers.py and layers-1.py: the latest upload
            if original not in chosen or order > chosen[original][0]:
                chosen[original] = (order, f)
        py = {n: f for n, (_, f) in chosen.items() if n.endswith(".py")}
        students[student] = _Student(f"canvas user {user}", py)
    return students


def _plain(folder: Path, caps: Caps) -> dict[str, _Student]:
    dirs, files = _entries(folder)
    students: dict[str, _Student] = {}
    for d in dirs:
        students[d.name] = _Student("folder", _python_files(d, caps))
    for f in files:
        if f.suffix != ".py":
            continue  # README.txt, grades.csv: not a student
        if f.stem in students:
            raise UsageError(
                f"{folder}: student {f.stem!r} has both a folder and a file {f.name}",
                "keep one of them: a folder per student, or a file per student",
                code="duplicate-student",
            )
        students[f.stem] = _Student("file", {f.name: f})
    return students


def _kind(folder: Path) -> str:
    dirs, files = _entries(folder)
    if (folder / _GRADESCOPE_METADATA).is_file() or (
        dirs and all(_GRADESCOPE.match(d.name) for d in dirs)
    ):
        return "gradescope"
    if any(_MOODLE.match(d.name) for d in dirs):
        return "moodle"
    if any(_CANVAS.match(f.name) for f in files if f.suffix == ".py"):
        return "canvas"
    return "plain"


def _layout(folder: Path, caps: Caps) -> dict[str, _Student]:
    kind = _kind(folder)
    if kind == "gradescope":
        return _gradescope(folder, caps)
    if kind == "moodle":
        return _moodle(folder, caps)
    return _canvas(folder) if kind == "canvas" else _plain(folder, caps)


# ------------------------------------------------------------------ the whole class


def _clean_id(student: str) -> str:
    return _CONTROL.sub("?", student)  # a folder name is printed in every report


def find_submissions(path: Path, work: Path, caps: Caps | None = None) -> list[Submission]:
    """Every student's submission under ``path`` (a folder or a .zip), sorted by student id.

    ``work`` is a scratch folder the caller owns: archives are extracted and each
    student's folder is built inside it.
    """
    caps = caps or Caps()
    given = path = Path(path)
    if not path.exists():
        raise UsageError(f"no such file or folder: {path}", "check the path", code="not-found")
    if path.is_dir() and Path(work).resolve().is_relative_to(path.resolve()):
        raise UsageError(
            f"the work folder {work} is inside the submissions {path}",
            "put --out (and the work folder) outside the folder of submissions",
            code="work-inside-submissions",
        )
    work.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="grade-", dir=work))
    wrapped = path.is_file()
    if wrapped:
        if path.suffix.lower() != ".zip" or not zipfile.is_zipfile(path):
            raise UsageError(
                f"{path} is neither a folder nor a .zip of submissions",
                "give a folder with one sub-folder or .py file per student (for one file: "
                "bncheck verify FILE)",
                code="not-submissions",
            )
        extract(path, scratch / "unzipped", caps)
        path = scratch / "unzipped"
    students = _layout(_descend(path, wrapped), caps)
    if not students:
        raise UsageError(
            f"no submissions in {given}",
            "give a folder with one sub-folder or .py file per student, a Canvas, Moodle or "
            "Gradescope download, or a .zip of one",
            code="no-submissions",
        )
    return _build(students, scratch / "students", caps)


def _build(students: dict[str, _Student], base: Path, caps: Caps) -> list[Submission]:
    base.mkdir(mode=0o700)
    seen: dict[str, str] = {}
    found = []
    for raw in sorted(students):
        student = _clean_id(raw)
        name = safe_name(student)
        if name.lower() in seen:  # also on a case-insensitive disk (macOS, Windows)
            raise UsageError(
                f"students {seen[name.lower()]!r} and {student!r} would share output files",
                "rename one of the two folders or files",
                code="duplicate-student",
            )
        seen[name.lower()] = student
        root = base / name
        _copy(students[raw].files, root, caps)
        found.append(Submission(student, root, folder_digest(root), students[raw].origin))
    return sorted(found, key=lambda s: s.student)
