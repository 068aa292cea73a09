"""The sandboxed child: ``python -I -B child.py IO_DIR CONFIG_JSON``.

It runs as a script, never as ``bncheck.runner.child``: bncheck is not on its
``sys.path``, its siblings (``protocol``, ``calls``, ``hook``, ``progress``) are loaded by
file path, and the audit hook refuses any later ``import bncheck``. In order:

1. its own limits (address space, CPU, file size, open files, no core dumps);
2. numpy (and torch for a torch submission) imported, while the parent plans the calls;
3. one byte on stdin says the request is ready (IO_DIR/request.bin: JSON + .npy); it
   is read before the submission exists, stdin becomes /dev/null, and the reply, log
   and progress files are opened (the progress record says which call is running, for
   the message of a timeout: ``progress.py``);
4. the audit hook installed, for good;
5. the submission imported from the private copy that is the working directory,
   the calls made, the reply written, and ``os._exit``: no ``atexit`` handler or
   finaliser of the submission runs after the reply is complete.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import resource
import signal
import sys
from types import ModuleType
from typing import Any

_HERE = os.path.dirname(os.path.abspath(__file__))
_os_exit = os._exit  # taken before the submission can replace it
_streams = (sys.stdout, sys.stderr)  # ours: a submission may rebind sys.stdout, not these
_suppress = contextlib.suppress  # taken before the submission could patch contextlib


def _exit(code: int) -> None:
    """``os._exit``, after writing out what the submission printed (the parent reads the
    tail of it): os._exit itself would drop the buffered part."""
    for stream in _streams:
        with _suppress(Exception):  # a closed or broken stream: nothing to write out
            stream.flush()
    _os_exit(code)


def _sibling(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"_bncheck_sandbox_{name}", f"{_HERE}/{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _limit(which: int, value: int | None) -> None:
    if value is None:
        return
    _, hard = resource.getrlimit(which)
    value = value if hard == resource.RLIM_INFINITY else min(value, hard)
    resource.setrlimit(which, (value, value))


def _set_limits(limits: dict[str, Any]) -> None:
    # EFBIG instead of a silent SIGXFSZ death: a huge print fails with a clear error
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    _limit(resource.RLIMIT_CORE, 0)
    _limit(resource.RLIMIT_AS, limits.get("memory"))
    _limit(resource.RLIMIT_CPU, limits.get("cpu"))
    _limit(resource.RLIMIT_FSIZE, limits.get("files"))
    _limit(resource.RLIMIT_NOFILE, limits.get("open_files"))
    if os.geteuid() != 0 and limits.get("processes"):  # root is not bound by RLIMIT_NPROC
        _limit(resource.RLIMIT_NPROC, limits["processes"])


def _load_submission(path: str, folder: str) -> ModuleType:
    """Import the file as module ``submission``, its folder first on sys.path."""
    sys.path.insert(0, folder)
    spec = importlib.util.spec_from_file_location("submission", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["submission"] = module
    spec.loader.exec_module(module)
    return module


def _wait_for_request() -> None:
    """Block until the parent's byte arrives; then stdin is /dev/null, as for any job."""
    os.read(0, 16)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)


def main(io_dir: str, config_json: str) -> None:
    config = json.loads(config_json)
    _set_limits(config)
    protocol, calls, hook = _sibling("protocol"), _sibling("calls"), _sibling("hook")
    progress = _sibling("progress")
    for name in config["preload"]:
        importlib.import_module(name)
    _wait_for_request()
    request = protocol.read(os.path.join(io_dir, "request.bin"), 1 << 40)  # ours: trusted
    sys.path[:0] = [p for p in request["python_path"] if p not in sys.path]
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
    if "targets" in request:  # grade: every graded function of one student in one child
        _main_targets(request, io_dir, hook, calls, protocol, progress, flags)
    reply_file = os.fdopen(os.open(os.path.join(io_dir, "reply.bin"), flags, 0o600), "wb")
    log_fd = os.open(os.path.join(io_dir, "audit.log"), flags | os.O_APPEND, 0o600)
    # where it is, for the timeout's message: the submission can write it too (progress.py)
    mark = progress.writer(os.open(os.path.join(io_dir, progress.FILE), flags, 0o600))
    path = request["path"]
    files = {os.path.abspath(path)}
    display = {os.path.abspath(path): request["display"]}

    hook.install(request["writable"], request["readable"], request["table"], log_fd)
    try:
        mark(0)
        try:
            module = _load_submission(path, os.path.dirname(path))
        except BaseException as exc:
            raise calls.CallFailed(calls.failure(exc, "import", files, display)) from None
        funcs = {}
        for role, name in request["names"].items():
            if not hasattr(module, name):  # the file defines it only under a condition
                message = f"module has no attribute {name!r} after import"
                info = {"kind": "exception", "where": "import", "type": "AttributeError"}
                raise calls.CallFailed({**info, "message": message, "traceback": message})
            funcs[role] = getattr(module, name)
        reply: dict[str, Any] = {
            "ok": True,
            "replies": calls.execute(request["ops"], funcs, files, display, mark),
        }
        mark(len(request["ops"]) + 1)
    except calls.CallFailed as failed:
        reply = {"ok": False, "error": failed.info}
    protocol.write(reply_file, reply)
    reply_file.close()
    _exit(0)


def _main_targets(
    request: dict[str, Any],
    io_dir: str,
    hook: ModuleType,
    calls: ModuleType,
    protocol: ModuleType,
    progress: ModuleType,
    flags: int,
) -> None:
    """Several targets (``runner/batch.py``): reply k in ``reply-k.bin`` as each finishes.

    Every file is opened before the hook exists. Each distinct file is imported once,
    before the first target; a line ``\0target k`` in the audit log starts target k's
    refusals (those before the first line belong to every target).
    """
    targets = request["targets"]
    write, suppress = os.write, contextlib.suppress  # taken before the submission runs
    replies = [
        os.fdopen(os.open(os.path.join(io_dir, f"reply-{k}.bin"), flags, 0o600), "wb")
        for k in range(len(targets))
    ]
    log_fd = os.open(os.path.join(io_dir, "audit.log"), flags | os.O_APPEND, 0o600)
    mark = progress.writer(os.open(os.path.join(io_dir, progress.FILE), flags, 0o600))
    files = {os.path.abspath(t["path"]) for t in targets}
    display = {os.path.abspath(t["path"]): t["display"] for t in targets}

    hook.install(request["writable"], request["readable"], request["table"], log_fd)
    modules: dict[str, Any] = {}
    mark(0)
    for path in dict.fromkeys(t["path"] for t in targets):
        try:
            modules[path] = _load_submission(path, os.path.dirname(path))
        except BaseException as exc:
            modules[path] = calls.failure(exc, "import", files, display)
    for k, target in enumerate(targets):
        with suppress(OSError):
            write(log_fd, f"\0target\t{k}\n".encode())
        mark(0)
        try:
            module = modules[target["path"]]
            if isinstance(module, dict):  # the import failed: its failure, for every target
                raise calls.CallFailed(module)
            funcs = {}
            for role, name in target["names"].items():
                if not hasattr(module, name):
                    message = f"module has no attribute {name!r} after import"
                    info = {"kind": "exception", "where": "import", "type": "AttributeError"}
                    raise calls.CallFailed({**info, "message": message, "traceback": message})
                funcs[role] = getattr(module, name)
            reply = {
                "ok": True,
                "replies": calls.execute(target["ops"], funcs, files, display, mark),
            }
            mark(len(target["ops"]) + 1)
        except calls.CallFailed as failed:
            reply = {"ok": False, "error": failed.info}
        protocol.write(replies[k], reply)
        replies[k].close()
    _exit(0)


if __name__ == "__main__":
    try:
        main(sys.argv[1], sys.argv[2])
    except BaseException as exc:  # our own failure before or after the submission's calls
        try:
            sys.stderr.write(f"bncheck sandbox child: {type(exc).__name__}: {exc}\n")
            sys.stderr.flush()
        finally:
            _exit(70)
