"""Atomic file writes: a fresh temp file in the same folder, fsynced, then renamed over.

Results go where a submission may have been first (``verify --json``, ``grade --out``):
the rename replaces whatever is at the path, a planted symlink or FIFO included, and
never follows it; a kill before it leaves the old file whole.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
from typing import TypeAlias

__all__ = ["write_atomic"]

StrPath: TypeAlias = "str | os.PathLike[str]"
_ATTEMPTS = 100  # temp names are random; a clash this many times is not chance


def write_atomic(path: StrPath, data: str | bytes) -> None:
    """Write ``data`` (str as UTF-8) to ``path`` through a temp file and a rename.

    The temp file is created in the same folder with O_CREAT|O_EXCL|O_NOFOLLOW, so it is
    new and ours; it is fsynced, then ``os.replace`` puts it at ``path``, replacing a
    symlink or FIFO there rather than following it. On any error the temp file is removed.
    """
    text = os.fspath(path)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    folder = os.path.dirname(text) or os.curdir
    try:
        tmp, fd = _create_temp(folder, os.path.basename(text))
    except OSError as exc:  # name the user's path, not our temp file, in the message
        raise OSError(exc.errno, exc.strerror or str(exc), text) from exc
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, text)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise OSError(exc.errno, exc.strerror or str(exc), text) from exc
        raise
    _sync_folder(folder)


def _create_temp(folder: str, name: str) -> tuple[str, int]:
    """A new file of ours next to the target: O_EXCL, and never through a symlink."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    flags |= getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0)
    for _ in range(_ATTEMPTS):
        tmp = os.path.join(folder, f".{name[:100]}.{secrets.token_hex(6)}.tmp")
        try:
            return tmp, os.open(tmp, flags, 0o644)  # the umask applies, as for any new file
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no free name for a temp file", folder)


def _sync_folder(folder: str) -> None:
    """Make the rename durable where the platform allows it (not on Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)
