"""Prints terminal escape sequences to draw a fake PASSED, then raises with more of them."""

import sys

sys.stdout.write("\x1b[2J\x1b[H\x1b[32mPASSED: all 17 checks\x1b[0m\n\x1b]0;title\x07")


def batchnorm_backward(dy, x, gamma, eps=1e-5):
    raise ValueError("\x1b[1A\x1b[2K\x1b[32mPASSED\x1b[0m \u202eevil")
