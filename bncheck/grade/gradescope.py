"""Gradescope: grading inside its autograder container, and the ``autograder.zip`` to upload.

Gradescope builds one image from the zip (``setup.sh`` runs once, as root), then for each
submission runs ``/autograder/run_autograder`` in ``/autograder`` with the student's files
in ``/autograder/submission`` and reads ``/autograder/results/results.json``
(gradescope-autograders.readthedocs.io, "Autograder Specifications"). One container per
submission: that is how grading scales past one machine.
"""

from __future__ import annotations

import json
import shlex
import tempfile
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bncheck.grade.model import StudentGrade
from bncheck.grade.outputs import gradescope_results, write_atomic

if TYPE_CHECKING:
    from bncheck.grade.rubric import Rubric

__all__ = ["PINS", "TORCH", "run_in_container", "student_id", "write_bundle"]

# What setup.sh installs: the versions CI tests, and for Python 3.10 (Ubuntu 22.04's python3,
# Gradescope's default image) the newest numpy that still supports it.
PINS: tuple[str, ...] = (
    'numpy==2.4.6; python_version >= "3.11"',
    'numpy==2.2.6; python_version < "3.11"',
    "sympy==1.14.0",
    "mpmath==1.3.0",
    "rich==15.0.0",
    "markdown-it-py==4.3.0",
    "mdurl==0.1.2",
    "Pygments==2.20.0",
    'tomli==2.5.0; python_version < "3.11"',  # the rubric's TOML reader before tomllib
)
TORCH = "torch==2.13.0"
_TORCH_INDEX = "https://download.pytorch.org/whl/cpu"  # the CPU wheel: no CUDA packages

_SOURCE_FILES = ("LICENSE", "README.md", "pyproject.toml")  # beside the bncheck package
_STAMP = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip can hold: the same bytes every time


# ------------------------------------------------------------------ inside the container


def student_id(autograder: Path) -> str:
    """The student's id from ``submission_metadata.json`` (the users' Gradescope ids, joined
    by ``+`` for a group), or ``"submission"`` when there is none or it cannot be read."""
    try:
        meta = json.loads((autograder / "submission_metadata.json").read_text("utf-8"))
        ids = sorted(str(user["id"]) for user in meta["users"])
    except (OSError, ValueError, KeyError, TypeError):
        return "submission"
    return "+".join(ids) or "submission"


def _failed_results(message: str) -> dict[str, Any]:
    return {
        "score": 0.0,
        "output": message,
        "output_format": "text",
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": [],
    }


def run_in_container(
    root: Path = Path("/"), rubric_path: Path | None = None, salt: str = ""
) -> StudentGrade:
    """Grade ``<root>/autograder/submission`` and write ``<root>/autograder/results/results.json``.

    ``root`` prefixes every path, so tests use a fake tree instead of ``/autograder``. A
    bncheck bug still leaves a results.json (score 0, saying so) before it is raised:
    Gradescope shows an autograder that wrote nothing as a failure the student cannot read.
    """
    from bncheck.grade.discover import submission_of
    from bncheck.grade.engine import grade_submission
    from bncheck.grade.rubric import load_rubric

    autograder = root / "autograder"
    results = autograder / "results" / "results.json"
    rubric = load_rubric(rubric_path)  # a rubric error is the instructor's: no results.json
    try:
        with tempfile.TemporaryDirectory(prefix="bncheck-grade-") as work:
            sub = submission_of(
                autograder / "submission", student_id(autograder), Path(work), "gradescope"
            )
            grade = grade_submission(sub, rubric, salt)
    except BaseException:
        message = (
            "The autograder had an internal error and could not grade this submission; "
            "this is not your fault. Your instructor can see the details."
        )
        write_atomic(results, _dumps(_failed_results(message)))
        raise
    write_atomic(results, _dumps(gradescope_results(grade, rubric)))
    return grade


def _dumps(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False) + "\n"


# ------------------------------------------------------------------ the autograder.zip

_SETUP = """\
#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder image:
# it installs bncheck and the pinned versions it was tested with.
set -euo pipefail
cd /autograder/source
if ! python3 -m pip --version >/dev/null 2>&1; then
    apt-get update
    apt-get install -y python3-pip
fi
# Ubuntu 24.04 marks its python3 as externally managed; this image is ours to change.
export PIP_BREAK_SYSTEM_PACKAGES=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
python3 -m pip install -r requirements.txt
{torch}python3 -m pip install --no-deps ./bncheck-src
bncheck --version
"""

_RUN = """\
#!/usr/bin/env bash
# Gradescope runs this for each submission, in /autograder: bncheck grades
# /autograder/submission and writes /autograder/results/results.json.
exec bncheck grade --gradescope --rubric /autograder/source/rubric.toml
"""


def _needs_torch(rubric: Rubric) -> bool:
    """torch is needed to compare with autograd, to grade torch-style submissions, and to
    detect the style of a submission that may be one (torch not forbidden)."""
    return rubric.autograd or any(
        f.style == "torch" or (f.style is None and "torch" not in rubric.forbid_imports)
        for f in rubric.functions
    )


def _source_tree() -> dict[str, bytes]:
    """bncheck's own source, as ``bncheck-src/...``: the package, pyproject.toml, README.md
    and LICENSE, without caches. ``pip install ./bncheck-src`` builds it with hatchling."""
    import bncheck
    from bncheck.errors import UsageError

    package = Path(bncheck.__file__).resolve().parent
    project = package.parent
    missing = [name for name in _SOURCE_FILES if not (project / name).is_file()]
    if missing:
        raise UsageError(
            f"bncheck's source tree is not beside {package} (no {', '.join(missing)})",
            "write the bundle from a bncheck checkout installed with pip install -e",
            code="no-source-tree",
        )
    members = {f"bncheck-src/{name}": (project / name).read_bytes() for name in _SOURCE_FILES}
    for path in sorted(package.rglob("*")):
        rel = path.relative_to(project)
        if "__pycache__" in rel.parts or path.suffix in (".pyc", ".pyo") or not path.is_file():
            continue
        members[f"bncheck-src/{rel.as_posix()}"] = path.read_bytes()
    return members


def write_bundle(dest: Path, rubric_source: str, *, torch: bool | None = None) -> Path:
    """Write ``dest/autograder.zip``: ``setup.sh``, ``run_autograder``, ``rubric.toml``,
    ``requirements.txt`` (the pins) and ``bncheck-src/`` (bncheck's source, built on install).

    The rubric is validated first (a bad one fails here, not on Gradescope). torch (the
    CPU wheel) is installed only when the rubric needs it (``_needs_torch``) or ``torch``.
    The zip is the same bytes every time: sorted members, a fixed date, fixed modes (0755
    for the two scripts, 0644 for the rest).
    """
    from bncheck.grade.rubric import parse_rubric

    rubric = parse_rubric(rubric_source, "the rubric")
    if torch is None:
        torch = _needs_torch(rubric)
    torch_line = (
        f"python3 -m pip install {shlex.quote(TORCH)} --index-url {_TORCH_INDEX}\n" if torch else ""
    )
    members: dict[str, bytes] = {
        "setup.sh": _SETUP.format(torch=torch_line).encode(),
        "run_autograder": _RUN.encode(),
        "rubric.toml": rubric_source.encode("utf-8"),
        "requirements.txt": ("\n".join(PINS) + "\n").encode(),
        **_source_tree(),
    }
    executable = {"setup.sh", "run_autograder"}
    target = dest / "autograder.zip"
    with tempfile.SpooledTemporaryFile() as buffer:
        with zipfile.ZipFile(buffer, "w") as archive:
            for name in sorted(members):
                info = zipfile.ZipInfo(name, date_time=_STAMP)
                info.create_system = 3  # unix: the modes below are honoured
                info.external_attr = (0o100755 if name in executable else 0o100644) << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(info, members[name], compresslevel=9)
        buffer.seek(0)
        data = buffer.read()
    dest.mkdir(parents=True, exist_ok=True)
    return write_atomic(target, data)
