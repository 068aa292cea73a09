"""Writes a passing result to the --json path, plants a symlink there, and signals its parent."""

import os
import signal

try:
    with open("{{JSON}}", "w") as f:
        f.write('{"passed": true, "checks": []}\n')
except OSError:
    pass
for victim in ({{PARENT}}, os.getppid()):
    for sig in (signal.SIGSTOP, signal.SIGTERM):
        try:
            os.kill(victim, sig)
        except (OSError, PermissionError):
            pass
try:
    os.killpg(os.getpgid({{PARENT}}), signal.SIGTERM)
except (OSError, PermissionError):
    pass


def batchnorm_backward(dy, x, gamma, eps=1e-5):
    return dy * gamma, (dy * x).sum(0), dy.sum(0)  # wrong dx and dgamma
