"""Writes {{RECORD}} over the child's progress record (the one open 8-byte file), then loops
in its backward until the deadline: the timeout's message may only become less precise."""

import os
import time


def _forge():
    for fd in range(3, 64):
        try:
            if os.fstat(fd).st_size == 8:  # the record: a fixed-width line of the child's
                os.pwrite(fd, {{RECORD}}, 0)
        except OSError:
            pass


def batchnorm_backward(dy, x, gamma, eps=1e-5):
    _forge()
    end = time.monotonic() + 30  # bounded: the test's deadline is a few seconds
    while time.monotonic() < end:
        pass
    return dy * gamma, (dy * x).sum(0), dy.sum(0)  # wrong dx and dgamma
