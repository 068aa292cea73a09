"""The child's audit hook (PEP 578): what a submission may not do, as a small table.

Installed by the child after its own imports and before the submission's, with
``sys.addaudithook``; it cannot be removed. It is a tripwire, not the boundary: a
determined attacker in the same interpreter can do things no audit event reports
(``os.dup2``, ``os.close``, memory tricks through already-imported C modules). The
boundary is the operating system's (``sandbox``: namespaces, rlimits, a private copy,
the process group); what the hook adds is a clear message for the honest mistakes
and the curious attempts ("the submission imported bncheck").

Paths are judged lexically against the cwd, so the submission may hold no directory
descriptor: ``os.open(name, dir_fd=fd)`` raises an "open" event without its dir_fd, and
the kernel would resolve ``name`` against ``fd``. Hence ``os.open`` of a directory (or
with O_DIRECTORY / O_PATH), the fd forms of chdir / listdir / scandir, and the magic
links of ``/proc`` (``cwd``, ``root``, ``fd``) are refused. What no audit event reports
cannot be refused here (``os.mkfifo``, ``os.mknod``, ``os.dup``, ``os.pwrite``, SQL's
ATTACH): so ``sqlite3`` and the C dbm modules are refused outright, and the audit log
is guarded by its identity (st_dev, st_ino), whatever descriptor reaches it.

Everything the hook uses is bound as a default argument when it is made, and every
such value is immutable (tuples, frozensets, read-only mapping proxies, builtin
functions): a submission that replaces ``os.getcwd``, ``builtins.isinstance`` or
``posixpath`` does not change what the hook sees, and one that finds the hook's frame
in a refusal's traceback can read its policy but not change it. The hook function
itself is reachable only through ``gc`` (refused), and a trace function that could
rewrite its locals mid-call needs ``sys.settrace`` (refused). This module imports
nothing from bncheck: the child loads it by file path.
"""

from __future__ import annotations

import os
import pathlib
import posix
import sys
from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType
from typing import Any

__all__ = ["DEFAULT_TABLE", "Refused", "RefusedImport", "install", "make_hook"]


class Refused(PermissionError):
    """An operation the sandbox's policy refuses."""


class RefusedImport(ModuleNotFoundError):
    """An import the policy refuses; a ModuleNotFoundError, so ``try: import x`` degrades."""


# What each rule refuses: the table ``grade`` tightens or loosens (``Policy`` in the parent).
DEFAULT_TABLE: dict[str, Any] = {
    "forbid_imports": ["bncheck"],  # top-level packages; e.g. add "torch" for a numpy-only task
    "network": False,  # sockets, urllib, http
    "processes": False,  # subprocess, os.system, fork, exec, spawn
    "ctypes": False,  # ctypes: raw memory and any C function
    "signals": False,  # os.kill, os.killpg: the parent and other processes
}

_PATH_EVENTS = {  # event -> indices of its path arguments (writes: under a writable root)
    "os.mkdir": (0,),
    "os.rmdir": (0,),
    "os.remove": (0,),
    "os.rename": (0, 1),
    "os.truncate": (0,),
    "os.chmod": (0,),
    "os.chown": (0,),
    "os.utime": (0,),
    "os.chflags": (0,),
    "os.setxattr": (0,),
    "os.removexattr": (0,),
    "shutil.rmtree": (0,),
    "shutil.move": (0, 1),
    "shutil.copyfile": (1,),
    "shutil.copytree": (1,),
    "shutil.make_archive": (0,),
}
# where an event carries a dir_fd (-1 or None: the default, relative to the cwd)
_DIR_FD = {
    "os.mkdir": (2,),
    "os.rmdir": (1,),
    "os.remove": (1,),
    "os.rename": (2, 3),
    "os.chmod": (2,),
    "os.chown": (3,),
    "os.utime": (3,),
}
_PROCESS_EVENTS = {
    "os.system",
    "os.exec",
    "os.posix_spawn",
    "os.spawn",
    "os.fork",
    "os.forkpty",
    "os.startfile",
    "subprocess.Popen",
    "pty.spawn",
}
_NETWORK_PREFIXES = ("socket.", "urllib.", "http.", "ftplib.", "smtplib.", "poplib.", "imaplib.")
_ALWAYS = {  # the hook's own integrity, and the limits the parent set
    "sys.addaudithook": "add an audit hook",
    "gc.get_objects": "walk the interpreter's objects (gc.get_objects)",
    "gc.get_referrers": "walk the interpreter's objects (gc.get_referrers)",
    "gc.get_referents": "walk the interpreter's objects (gc.get_referents)",
    "resource.setrlimit": "change its resource limits",
    "resource.prlimit": "change its resource limits",
    "os.link": "create a hard link",
    "os.symlink": "create a symbolic link",
    "sys.settrace": "trace the interpreter (sys.settrace)",
    "sys.setprofile": "profile the interpreter (sys.setprofile)",
    "sys.monitoring.register_callback": "monitor the interpreter (sys.monitoring)",
    # SQL opens files with no audit event (ATTACH, VACUUM INTO): no database at all
    "sqlite3.connect": "open an SQLite database (sqlite3)",
    "sqlite3.enable_load_extension": "load an SQLite extension",
    "sqlite3.load_extension": "load an SQLite extension",
}
# C modules that create files with no audit event at all
_ALWAYS_IMPORTS = frozenset({"_gdbm", "_dbm"})
# components that, after a "proc" component, name a directory the lexical check cannot
# follow (/proc/self/cwd/.. is the cwd's parent, /proc/self/root is /, fd/N any fd)
_PROC_LINKS = frozenset({"cwd", "root", "fd"})


def _norm(path: str, cwd: str) -> str:
    """A lexical absolute path, with only str and list methods (nothing patchable)."""
    if not path.startswith("/"):
        path = cwd + "/" + path
    parts: list[str] = []
    for part in path.split("/"):
        if part == "..":
            if parts:
                parts.pop()
        elif part and part != ".":
            parts.append(part)
    return "/" + "/".join(parts)


def make_hook(
    writable: Iterable[str],
    readable: Iterable[str],
    table: dict[str, Any],
    log_fd: int = -1,
) -> Callable[[str, tuple[Any, ...]], None]:
    """The hook function for this policy; ``install`` adds it to the interpreter."""
    deny_events = dict(_ALWAYS)
    deny_modules: set[str] = {str(m) for m in table.get("forbid_imports", ())} | _ALWAYS_IMPORTS
    if not table.get("processes"):
        deny_events.update((e, "start a process") for e in _PROCESS_EVENTS)
    if not table.get("signals"):
        deny_events.update(
            {"os.kill": "send a signal", "os.killpg": "send a signal"},
            **{"signal.pthread_kill": "send a signal"},
        )
    # ctypes, socket and subprocess may be imported (scipy imports all three when it loads);
    # what they do is refused: dlopen and calls, sockets, processes.
    interesting = frozenset(
        {"open", "import", "os.listdir", "os.scandir", "os.chdir"}
        | {"fcntl.fcntl", "fcntl.ioctl"}
        | set(deny_events)
        | set(_PATH_EVENTS)
    )
    prefixes = ("ctypes.",) * (not table.get("ctypes")) + _NETWORK_PREFIXES * (
        not table.get("network")
    )
    write_roots = tuple(_norm(p, "/") for p in writable)
    read_roots = write_roots + tuple(_norm(p, "/") for p in readable)
    log_id = (-1, -1)  # the log's identity, whatever descriptor later reaches the file
    if log_fd >= 0:
        st = posix.fstat(log_fd)
        log_id = (st.st_dev, st.st_ino)

    def hook(
        event: str,
        args: tuple[Any, ...],
        _interesting: frozenset[str] = interesting,
        _prefixes: tuple[str, ...] = prefixes,
        _deny_events: Mapping[str, str] = MappingProxyType(deny_events),
        _deny_modules: frozenset[str] = frozenset(deny_modules),
        _write_roots: tuple[str, ...] = write_roots,
        _read_roots: tuple[str, ...] = read_roots,
        _path_events: Mapping[str, tuple[int, ...]] = MappingProxyType(_PATH_EVENTS),
        _dir_fd: Mapping[str, tuple[int, ...]] = MappingProxyType(_DIR_FD),
        _getcwd: Callable[[], str] = posix.getcwd,
        _write: Callable[[int, bytes], int] = posix.write,
        _stat: Callable[..., Any] = posix.stat,
        _fstat: Callable[[int], Any] = posix.fstat,
        _exit: Callable[[int], Any] = posix._exit,
        _log_fd: int = log_fd,
        _log_id: tuple[int, int] = log_id,
        _proc_links: frozenset[str] = _PROC_LINKS,
        _oserror: type[OSError] = OSError,
        _valueerror: type[ValueError] = ValueError,
        _norm: Callable[[str, str], str] = _norm,
        _isinstance: Callable[[Any, Any], bool] = isinstance,
        _type: type = type,
        _len: Callable[[Any], int] = len,
        _repr: Callable[[Any], str] = repr,
        _str: Any = str,
        _bytes: type = bytes,
        _int: type = int,
        _paths: tuple[type, ...] = (pathlib.PurePosixPath, pathlib.PosixPath),
        _refused: type = Refused,
        _refused_import: type = RefusedImport,
        _writes: int = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC,
        _dir_flags: int = os.O_DIRECTORY | getattr(os, "O_PATH", 0),
        _raw: tuple[type, ...] = (str, bytes),  # as the kernel resolves it: links, then ..
    ) -> None:
        if event not in _interesting and not event.startswith(_prefixes):
            return  # most events: one set lookup

        def same_as_log(fd: int) -> bool:
            try:
                st = _fstat(fd)
            except _oserror:
                return False
            return st.st_dev == _log_id[0] and st.st_ino == _log_id[1]

        def refuse(what: str, error: type = _refused) -> None:
            line = (event + "\t" + what.replace("\n", " ")[:300] + "\n").encode("utf-8", "replace")
            if _log_fd >= 0:
                if not same_as_log(_log_fd):  # closed or replaced: no refusal goes unrecorded
                    try:  # a last word on stderr, then the child ends: the run fails
                        _write(2, b"bncheck's sandbox: the audit log was tampered with\n" + line)
                    finally:
                        _exit(71)
                try:  # noqa: SIM105 (no contextlib: the hook looks up no module globals)
                    _write(_log_fd, line)
                except _oserror:
                    pass
            raise error("bncheck's sandbox refused: " + what)

        def where(value: Any) -> str | None:
            """The absolute path of an argument, or None for what cannot be judged."""
            if _type(value) in _paths:
                value = _str(value)
            if _type(value) is _bytes:
                value = value.decode("utf-8", "surrogateescape")
            if _type(value) is not _str:
                return None
            path = value if value.startswith("/") else _getcwd() + "/" + value
            if "proc" in path:  # every component as written, before '..' is folded
                parts = path.split("/")
                if "proc" in parts:
                    for part in parts:
                        if part in _proc_links:
                            refuse(event + " " + path[:200] + " (a link /proc resolves elsewhere)")
            return _norm(path, "/")

        def is_dir(value: Any) -> bool:
            try:
                return _stat(value).st_mode & 0o170000 == 0o040000
            except (_oserror, _valueerror):
                return False

        def under(path: str, roots: tuple[str, ...]) -> bool:
            for root in roots:  # noqa: SIM110 (no any(): builtins can be replaced)
                if path == root or path.startswith(root + "/"):
                    return True
            return False

        if event == "open":
            target, mode, flags = (*args, None, None, None)[:3]
            if _type(target) is _int:
                return  # an fd this process already holds
            path = where(target)
            writing = (_isinstance(flags, _int) and flags & _writes) or (
                _isinstance(mode, _str)
                and ("w" in mode or "a" in mode or "+" in mode or "x" in mode)
            )
            if path is None:
                refuse("open a path given as " + _type(target).__name__)
            elif writing and not under(path, _write_roots):
                refuse("write " + path + " (outside its working copy)")
            elif not under(path, _read_roots):
                refuse("read " + path + " (outside its working copy and Python)")
            elif (_isinstance(flags, _int) and flags & _dir_flags) or (
                mode is None  # os.open: io.open refuses a directory itself
                and (is_dir(path) or (_type(target) in _raw and is_dir(target)))
            ):
                refuse("open the directory " + path + " as a descriptor")
        elif event in _deny_events:
            refuse(_deny_events[event])
        elif event == "import":  # str.__str__: a str subclass cannot choose what we read
            top = _str.__str__(args[0]).split(".")[0] if _isinstance(args[0], _str) else ""
            if top in _deny_modules:
                refuse("import " + top, _refused_import)
        elif event in _path_events:
            for index in _dir_fd.get(event, ()):
                if index < _len(args) and args[index] is not None and args[index] != -1:
                    refuse(event + " relative to a directory descriptor")
            for i in _path_events[event]:
                path = where(args[i]) if i < _len(args) else None
                if path is None or not under(path, _write_roots):
                    refuse(event + " on " + (path or _repr(args[i])[:100]) + " (outside its copy)")
        elif event in ("os.listdir", "os.scandir", "os.chdir"):
            if _len(args) and _isinstance(args[0], _int):
                refuse(event + " of a directory descriptor")
            path = where(args[0] if args and args[0] is not None else ".")
            roots = _write_roots if event == "os.chdir" else _read_roots
            if path is None or not under(path, roots):
                refuse(event + " " + _str(path))
        elif event.startswith("ctypes."):
            refuse("use ctypes (" + event + ")")
        elif event.startswith(_prefixes):
            refuse("use the network (" + event + ")")
        elif (
            (event == "fcntl.fcntl" or event == "fcntl.ioctl")
            and _log_fd >= 0
            and _len(args)
            and _isinstance(args[0], _int)
            and same_as_log(args[0])
        ):
            refuse("change the sandbox's log")

    return hook


def install(
    writable: Iterable[str], readable: Iterable[str], table: dict[str, Any], log_fd: int = -1
) -> None:
    """Add the hook for this policy to the running interpreter, for good."""
    sys.addaudithook(make_hook(writable, readable, table, log_fd))
