"""Extracting a class's zip safely: checked before anything is written, inflated with a count.

Refused before anything is written: absolute or drive paths, ``..``, NUL bytes, more
entries or declared bytes than ``Caps`` allows, two members at one path. Never made:
links, devices, members over the per-member cap (their folders still are, so that
student still appears). While writing, the bytes actually inflated are counted against
the declared size: a header that lies (a bomb) refuses the archive.
"""

from __future__ import annotations

import os
import re
import stat
import zipfile
import zlib
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from bncheck.errors import UsageError

if TYPE_CHECKING:
    from bncheck.grade.discover import Caps

__all__ = ["extract", "junk"]

_MiB = 1 << 20
# Never a student's work: OS and editor litter, caches, environments.
_JUNK = frozenset(
    {"__MACOSX", "__pycache__", "venv", "env", "site-packages", "node_modules"}
    | {"Thumbs.db", "desktop.ini"}
)


def junk(name: str) -> bool:
    """Never a student's work: hidden files, OS and editor litter, caches, environments."""
    return name.startswith(".") or name in _JUNK


def _member_path(info: zipfile.ZipInfo, archive: Path) -> tuple[PurePosixPath, bool] | None:
    """The member's path inside the extraction folder, and whether it is a regular file
    (False: a folder, or a link or device, which is never made)."""
    raw = info.filename.replace("\\", "/")
    parts = [p for p in raw.split("/") if p not in ("", ".")]
    if raw.startswith("/") or re.match(r"^[A-Za-z]:", raw) or "\x00" in raw:
        raise _unsafe(archive, info.filename, "an absolute path")
    if ".." in parts:
        raise _unsafe(archive, info.filename, "a path out of the folder (..)")
    if not parts:
        return None
    kind = stat.S_IFMT(info.external_attr >> 16)
    return PurePosixPath(*parts), not (info.is_dir() or (kind and kind != stat.S_IFREG))


def _unsafe(archive: Path, member: str, what: str) -> UsageError:
    return UsageError(
        f"{archive}: member {member!r} has {what}; bncheck refuses this archive",
        "download the archive again from the LMS; do not grade an archive from elsewhere",
        code="unsafe-archive",
    )


def extract(archive: Path, dest: Path, caps: Caps) -> None:
    """Every regular member, checked before anything is written, then written with the
    bytes actually inflated counted (a header can lie about its size)."""
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as exc:
        raise UsageError(
            f"{archive}: not a zip archive ({exc})", "give a .zip or a folder"
        ) from None
    dest.mkdir(mode=0o700)
    with zf:
        infos = zf.infolist()
        if len(infos) > caps.members:
            raise UsageError(
                f"{archive} holds {len(infos)} entries; bncheck extracts at most {caps.members}",
                "extract it yourself, remove what is not code, and give the folder",
                code="archive-too-large",
            )
        chosen, folders = [], set()
        for info in infos:
            found = _member_path(info, archive)
            if found is None or any(junk(p) for p in found[0].parts):
                continue
            rel, regular = found
            # Every folder is made, even when all its members are skipped: a student whose
            # only file was a link or too large still appears, and the layout stays the same.
            folders.add(rel.parent if regular else rel)
            if regular and info.file_size <= caps.member_bytes:
                chosen.append((info, rel))
        declared = sum(info.file_size for info, _ in chosen)
        if declared > caps.total_bytes:
            raise UsageError(
                f"{archive} holds {declared / _MiB:.0f} MiB; bncheck extracts at most "
                f"{caps.total_bytes / _MiB:.0f} MiB",
                "extract it yourself, remove what is not code, and give the folder",
                code="archive-too-large",
            )
        for folder in sorted(folders):
            try:
                (dest / folder).mkdir(parents=True, exist_ok=True, mode=0o700)
            except (FileExistsError, NotADirectoryError):
                raise _unsafe(archive, str(folder), "a path another member already has") from None
        written = 0
        for info, rel in chosen:
            written += _write_member(zf, info, dest / rel, archive, caps.total_bytes - written)


def _write_member(
    zf: zipfile.ZipFile, info: zipfile.ZipInfo, dst: Path, archive: Path, left: int
) -> int:
    limit = min(info.file_size, left)
    count = 0
    try:
        dst.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "wb") as out, zf.open(info) as src:
            while chunk := src.read(1 << 16):
                count += len(chunk)
                if count > limit:
                    raise _unsafe(archive, info.filename, "more bytes than it declares (a bomb?)")
                out.write(chunk)
    except (FileExistsError, NotADirectoryError):
        raise _unsafe(archive, info.filename, "a path another member already has") from None
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
        raise _unsafe(archive, info.filename, f"corrupt data ({exc})") from None
    except (RuntimeError, NotImplementedError) as exc:  # encrypted, unknown compression
        raise UsageError(f"{archive}: cannot extract {info.filename!r}: {exc}", "") from None
    return count
