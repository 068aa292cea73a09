"""Starts processes every way it can (a daemon meant to outlive the check), then hangs."""

import os
import subprocess
import sys
import time

TOKEN = "{{TOKEN}}"
SLEEPER = f"import time; time.sleep(60)  # {TOKEN}"
for start in (
    lambda: subprocess.Popen([sys.executable, "-c", SLEEPER], start_new_session=True),
    lambda: os.system(f"{sys.executable} -c '{SLEEPER}' &"),
    lambda: os.posix_spawn(sys.executable, [sys.executable, "-c", SLEEPER], os.environ),
    lambda: os.fork() == 0 and (os.setsid(), time.sleep(60)),
):
    try:
        start()
    except (OSError, PermissionError, ValueError):
        pass
try:  # _posixsubprocess.fork_exec raises no audit event: only the OS layers stop this one
    import _posixsubprocess

    exe = sys.executable.encode()
    r, w = os.pipe()
    _posixsubprocess.fork_exec(  # the CPython 3.11 signature; other versions raise TypeError
        [exe, b"-c", SLEEPER.encode()], [exe], True, (), None, None,
        -1, -1, -1, -1, -1, -1, r, w, True, True, -1, None, None, None, -1, None, False,
    )  # fmt: skip
except Exception:
    pass

def batchnorm_backward(dy, x, gamma, eps=1e-5):
    time.sleep(60)
    return dy, gamma, gamma
