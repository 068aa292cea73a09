"""The child's private folders and environment: a capped copy of the submission's folder,
an empty HOME and TMPDIR, a scrubbed environment, and what it may read of the system.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import site
import stat
import sys
from pathlib import Path
from typing import Any

__all__ = ["SYSTEM_READABLE", "copy_file", "copy_folder", "environment", "python_roots", "remove"]

_SKIP = {"__pycache__", "venv", "env", "site-packages", "node_modules"}
_MAX_ENTRIES = 2000


@functools.cache
def python_roots() -> tuple[str, ...]:
    """Where this Python's modules live: the child may read (not write) there."""
    roots = {sys.prefix, sys.base_prefix, sys.exec_prefix, *site.getsitepackages()}
    if site.ENABLE_USER_SITE and site.USER_SITE and os.path.isdir(site.USER_SITE):
        roots.add(site.USER_SITE)
    return tuple(sorted(os.path.realpath(r) for r in roots if r))


def copy_folder(src: Path, dst: Path, budget: int, keep: Path) -> None:
    """Regular files of ``src`` (no links, no hidden or environment folders), within caps."""
    entries = 0
    stack = [(src, dst, 0)]
    while stack:
        folder, target, depth = stack.pop()
        try:
            children = list(os.scandir(folder))
        except OSError:
            continue
        for entry in sorted(children, key=lambda e: e.name):
            entries += 1
            if entries > _MAX_ENTRIES or entry.name.startswith(".") or entry.name in _SKIP:
                continue
            try:
                info = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if stat.S_ISDIR(info.st_mode) and depth < 6:
                (target / entry.name).mkdir(mode=0o700)
                stack.append((Path(entry.path), target / entry.name, depth + 1))
            elif stat.S_ISREG(info.st_mode) and (
                info.st_size <= budget or Path(entry.path) == keep
            ):
                with contextlib.suppress(OSError):
                    copy_file(Path(entry.path), target / entry.name)
                    budget -= info.st_size


def copy_file(src: Path, dst: Path) -> None:
    fd = os.open(src, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as f_in, open(dst, "xb") as f_out:
        shutil.copyfileobj(f_in, f_out)


def environment(home: Path, tmp: Path) -> dict[str, str]:
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(home),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
        "MPLCONFIGDIR": str(home / ".config" / "matplotlib"),
        "TMPDIR": str(tmp),
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        # one BLAS thread: deterministic sums, and no oversubscription when grading in parallel
        "OPENBLAS_NUM_THREADS": "1",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }
    if "LD_LIBRARY_PATH" in os.environ:  # some Python builds need it to start at all
        env["LD_LIBRARY_PATH"] = os.environ["LD_LIBRARY_PATH"]
    return env


def remove(root: Path) -> None:
    def unlock(func: Any, path: str, _exc: Any) -> None:  # a folder the child made read-only
        with contextlib.suppress(OSError):
            os.chmod(os.path.dirname(path), 0o700)
            os.chmod(path, 0o700)
            func(path)

    shutil.rmtree(root, onerror=unlock)


# What any numpy or torch program may read besides Python's own files.
SYSTEM_READABLE = (
    "/dev/null",
    "/dev/zero",
    "/dev/urandom",
    "/dev/random",
    "/proc/self",
    "/sys/devices/system/cpu",
    "/etc/localtime",
    "/usr/share/zoneinfo",
)
