"""Writing results (``--json FILE``, ``--plot FILE``) where a submission may have been first.

``verify`` runs untrusted code, and that code can reach the folder a result goes to:
it may plant a symlink at the path (to redirect our write), a FIFO (to block it) or a
forged result. So a path is checked before the run, without opening or following
anything at it (``check_writable``), and the result is written to a fresh temp file
in the same folder that is then renamed over the path (``write_atomic``): the rename
replaces whatever is there, a symlink or a FIFO included, and never follows it.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from pathlib import Path
from typing import TypeAlias

from bncheck.errors import UsageError
from bncheck.files import write_atomic

__all__ = ["check_writable", "write_atomic"]  # write_atomic: from bncheck.files

StrPath: TypeAlias = "str | os.PathLike[str]"
_CODE = "output-path"


def _fail(path: StrPath, reason: str, hint: str) -> UsageError:
    return UsageError(f"cannot write {os.fspath(path)}: {reason}", hint, code=_CODE)


def _same_file(path: str, other: StrPath) -> bool:
    """``path`` resolves to ``other``, or is a hard link to it; stat only, never open."""
    if os.path.realpath(path) == os.path.realpath(other):
        return True
    try:
        return os.path.samefile(path, other)
    except (OSError, ValueError):  # either does not exist (yet): not the same file
        return False


def check_writable(
    path: StrPath, *, refuse: Iterable[StrPath] = (), option: str = "the output"
) -> Path:
    """``path`` as a Path, or a UsageError saying why a result cannot be written there.

    Called before the work, so a bad path fails at once. Nothing at ``path`` is opened,
    created or followed: a FIFO there cannot block this, and a symlink there is not an
    error, because ``write_atomic`` replaces the link itself. ``refuse`` holds paths that
    must never be overwritten (the submission being checked).
    """
    text = os.fspath(path)
    if not text or text.endswith((os.sep, "/")) or os.path.basename(text) in (".", ".."):
        raise _fail(text or "''", "that names a folder", f"give {option} a file name")
    folder = os.path.dirname(text) or os.curdir
    try:
        folder_stat = os.stat(folder)  # the user's folder: following a link to it is fine
    except (FileNotFoundError, NotADirectoryError):
        raise _fail(
            text,
            f"the folder {folder} does not exist",
            f"create it first (mkdir -p {folder}), or give {option} another path",
        ) from None
    except OSError as exc:
        raise _fail(
            text, f"{folder}: {exc.strerror or exc}", f"give {option} another path"
        ) from None
    if not stat.S_ISDIR(folder_stat.st_mode):
        raise _fail(text, f"{folder} is not a folder", f"give {option} a path in a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise _fail(
            text,
            f"you may not write in the folder {folder}",
            f"give {option} a path in a folder you can write to",
        )
    if Path(text).suffix.lower() in (".py", ".pyw"):
        raise _fail(
            text,
            "it is a Python file, and results never overwrite code",
            f"give {option} another name (a result is a .json or .png file)",
        )
    for other in refuse:
        if _same_file(text, other):
            raise _fail(
                text,
                f"it is the same file as {os.fspath(other)}",
                f"give {option} another path: results never overwrite that file",
            )
    try:
        existing = os.lstat(text)  # lstat: the entry itself, never what a link points to
    except FileNotFoundError:
        return Path(text)
    except OSError as exc:
        raise _fail(text, exc.strerror or str(exc), f"give {option} another path") from None
    if stat.S_ISDIR(existing.st_mode):
        raise _fail(text, "it is a folder", f"give {option} a file name inside it")
    sticky = folder_stat.st_mode & stat.S_ISVTX
    euid = os.geteuid() if hasattr(os, "geteuid") else 0
    if sticky and euid != 0 and euid not in (existing.st_uid, folder_stat.st_uid):
        # in a sticky folder (/tmp) only the owner may replace a file
        raise _fail(
            text,
            f"it belongs to another user, and {folder} lets only the owner replace it",
            f"give {option} another path",
        )
    return Path(text)
