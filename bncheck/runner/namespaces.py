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

__all__ = ["isolation", "prefix"]


def _unshare_prefix() -> tuple[str, ...]:
    exe = shutil.which("unshare")
    if exe is None or not sys.platform.startswith("linux"):
        return ()
    user = () if os.geteuid() == 0 else ("--user", "--map-root-user")
    return (exe, *user, "--fork", "--pid", "--mount-proc", "--net", "--kill-child", "--")


_PROBE: dict[str, tuple[str, ...]] = {}  # "prefix": the verdict, once known


def prefix() -> tuple[str, ...]:
    """The ``unshare`` prefix that works here, or () when none does (checked once, ~8 ms)."""
    if "prefix" not in _PROBE:
        command, ok = _unshare_prefix(), False
        if command:
            try:
                probe = subprocess.run(
                    [*command, "true"], stdin=subprocess.DEVNULL, capture_output=True, timeout=10
                )
                ok = probe.returncode == 0
            except (OSError, subprocess.SubprocessError):
                ok = False
        _PROBE["prefix"] = command if ok else ()
    return _PROBE["prefix"]


def isolation() -> tuple[str, ...]:
    """The layers in force on this machine, for the report."""
    layers = []
    if prefix():
        layers.append("PID, network and mount namespaces")
    else:
        layers.append("no namespaces (unshare unavailable): network open, process group only")
    layers += ["private copy and HOME", "rlimits", "audit hook"]
    return tuple(layers)
