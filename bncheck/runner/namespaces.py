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
import tempfile

__all__ = ["command", "isolation", "prefix"]

# Run inside the new mount namespace, as root, before the child's Python: its own two
# folders (ROOT: work, home, tmp; IO: request and reply) stay writable, every other mount
# becomes read-only, and the child runs with no capabilities (it cannot remount, mknod,
# or override file permissions). So a child that gets around the audit hook (e.g.
# _posixsubprocess.fork_exec) still cannot write another student's files, --out, the
# journal, or anything of the instructor's. A mount that cannot be remounted (a path
# with a space) stays as it was; "/" must become read-only or the child does not start.
_READ_ONLY = r"""
set -eu
host=$1; root=$2; io=$3; shift 3
# never outside the child's own mount namespace: these mounts would change the machine's
[ "$(stat -Lc %i /proc/self/ns/mnt)" != "$host" ] || exit 97
mount --make-rprivate /
mount --bind "$root" "$root"
mount --bind "$io" "$io"
mount -o remount,bind,ro /
while read -r _id _parent _dev _base point _rest; do
  case "$point" in
    "$root"|"$io"|/|/proc|/proc/*|/dev|/dev/pts) ;;
    *) mount -o remount,bind,ro "$point" 2>/dev/null || true ;;
  esac
done < /proc/self/mountinfo
exec setpriv --bounding-set=-all --inh-caps=-all --no-new-privs -- "$@"
"""


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


def _read_only() -> tuple[str, ...]:
    """The read-only setup (``_READ_ONLY``) when it works here (root, mount, setpriv), else ()."""
    if "read_only" not in _PROBE:
        ok = False
        tools = all(shutil.which(t) for t in ("sh", "mount", "setpriv", "stat"))
        if prefix() and os.geteuid() == 0 and tools:
            with tempfile.TemporaryDirectory(prefix="bncheck-probe-") as scratch:
                root, io = os.path.join(scratch, "root"), os.path.join(scratch, "io")
                os.mkdir(root)
                os.mkdir(io)
                outside = os.path.join(scratch, "outside")
                test = f'touch "{root}/ok" "{io}/ok" && ! touch "{outside}" 2>/dev/null'
                check = ("sh", "-c", test)
                try:
                    run = subprocess.run(
                        [*prefix(), "sh", "-c", _READ_ONLY, "bncheck", _host(), root, io, *check],
                        stdin=subprocess.DEVNULL,
                        capture_output=True,
                        timeout=10,
                    )
                    ok = run.returncode == 0 and not os.path.exists(outside)
                except (OSError, subprocess.SubprocessError):
                    ok = False
        _PROBE["read_only"] = ("sh", "-c", _READ_ONLY, "bncheck") if ok else ()
    return _PROBE["read_only"]


def _host() -> str:
    """This process's mount namespace (its inode): the setup refuses to run in it."""
    return str(os.stat("/proc/self/ns/mnt").st_ino)


def command(root: str, io: str) -> tuple[str, ...]:
    """What comes before the child's ``python``: the namespaces, and the read-only file
    system with ``root`` and ``io`` writable where this machine allows it. The setup only
    ever runs inside the namespaces (``prefix``): without them there is none."""
    if not prefix():
        return ()
    setup = _read_only()
    return (*prefix(), *setup, _host(), root, io) if setup else prefix()


def isolation() -> tuple[str, ...]:
    """The layers in force on this machine, for the report."""
    layers = []
    if prefix():
        layers.append("PID, network and mount namespaces")
        if _read_only():
            layers.append("read-only file system but its own folders, no capabilities")
    else:
        layers.append("no namespaces (unshare unavailable): network open, process group only")
    layers += ["private copy and HOME", "rlimits", "audit hook"]
    return tuple(layers)
