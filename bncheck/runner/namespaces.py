"""Linux namespaces for the child, where ``unshare`` may make them: checked once per process.

A PID namespace (nothing the child starts outlives it; it cannot see or signal
bncheck), a network namespace with no interface up, its own mount of /proc. As root
they need no more; as another user, unprivileged user namespaces. Elsewhere (macOS,
a container without CAP_SYS_ADMIN, a kernel that forbids them) the prefix is empty
and the report says so.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from typing import Any

__all__ = ["isolation", "prefix", "warm_up"]


def _unshare_prefix() -> tuple[str, ...]:
    exe = shutil.which("unshare")
    if exe is None or not sys.platform.startswith("linux"):
        return ()
    user = () if os.geteuid() == 0 else ("--user", "--map-root-user")
    return (exe, *user, "--fork", "--pid", "--mount-proc", "--net", "--kill-child", "--")


_PROBE: dict[str, Any] = {}  # "process": the running probe; "prefix": its verdict, once known


def warm_up() -> None:
    """Start the namespace probe (~8 ms) now, so that ``spawn`` finds its answer ready."""
    command = _unshare_prefix()
    if "prefix" in _PROBE or "process" in _PROBE or not command:
        return
    try:
        _PROBE["process"] = subprocess.Popen(
            [*command, "true"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    except OSError:
        _PROBE["prefix"] = ()


def prefix() -> tuple[str, ...]:
    """The ``unshare`` prefix that works here, or () when none does (checked once)."""
    if "prefix" not in _PROBE:
        warm_up()
        probe = _PROBE.pop("process", None)
        ok = False
        if probe is not None:
            try:
                ok = probe.wait(timeout=10) == 0
            except subprocess.TimeoutExpired:
                probe.kill()
                probe.wait()
        _PROBE["prefix"] = _unshare_prefix() if ok else ()
    found: tuple[str, ...] = _PROBE["prefix"]
    return found


def isolation() -> tuple[str, ...]:
    """The layers in force on this machine, for the report."""
    layers = []
    if prefix():
        layers.append("PID, network and mount namespaces")
    else:
        layers.append("no namespaces (unshare unavailable): network open, process group only")
    layers += ["private copy and HOME", "rlimits", "audit hook"]
    return tuple(layers)
