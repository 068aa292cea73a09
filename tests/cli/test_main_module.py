"""``python -m bncheck`` in a student's folder imports none of the student's modules.

``-m`` puts the current folder first on sys.path, and students' folders hold files named
json.py, numpy.py or typing.py. bncheck's own process must import the real modules.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from bncheck.examples import path

SHADOWS = ("json", "numpy", "typing", "rich", "dataclasses", "argparse")


def test_python_m_bncheck_ignores_modules_in_the_current_folder(tmp_path: Path) -> None:
    for name in SHADOWS:  # each leaves a marker, then stops whoever imported it
        marker = tmp_path / f"imported_{name}"
        (tmp_path / f"{name}.py").write_text(
            f"open({str(marker)!r}, 'w').close()\nraise SystemExit('shadowed by {name}.py')\n"
        )
    argv = [sys.executable, "-m", "bncheck", "verify", str(path("plain_correct.py"))]
    done = subprocess.run(
        [*argv, "--autograd", "off", "--seed", "0"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "shadowed" not in done.stdout + done.stderr
    assert not list(tmp_path.glob("imported_*"))
