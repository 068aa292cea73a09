"""Gets a directory descriptor and resolves names against it (``dir_fd=``): the "open"
event carries no dir_fd, so a hook that judged the name against the cwd would let
``../../..`` climb from a Python root to ``/`` and write ``{{MARKER}}``. Then tries the
other ways to a directory descriptor: O_DIRECTORY, /proc/self/cwd, /proc/self/fd."""

import os
import sys

TRIED = []


def _attempt(name, action):
    try:
        action()
        TRIED.append(name + ": allowed")
    except OSError as exc:
        TRIED.append(name + ": " + type(exc).__name__)


def _climb():
    base = os.open(sys.prefix, os.O_RDONLY)  # a Python root: readable
    depth = sys.prefix.count("/") + 2
    os.chdir(os.environ.get("HOME", "."))
    for _ in range(depth):
        os.makedirs("d", exist_ok=True)
        os.chdir("d")
    root = os.open("/".join([".."] * depth), os.O_RDONLY, dir_fd=base)
    fd = os.open("{{MARKER}}".lstrip("/"), os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=root)
    os.write(fd, b"escaped through dir_fd\n")


here = os.getcwd()
_attempt("climb", _climb)
os.chdir(here)
_attempt("O_DIRECTORY", lambda: os.open(".", os.O_RDONLY | os.O_DIRECTORY))
_attempt("/proc/self/cwd", lambda: os.open("/proc/self/cwd", os.O_RDONLY))
_attempt("/proc/self/fd", lambda: os.listdir("/proc/self/fd"))
_attempt("/proc/self/root", lambda: open("/proc/self/root{{MARKER}}", "rb").close())
_attempt("fchdir", lambda: os.chdir(os.open(__file__, os.O_RDONLY)))


def batchnorm_backward(dy, x, gamma, eps=1e-5):
    return dy * gamma, (dy * x).sum(0), dy.sum(0)  # wrong dx and dgamma
