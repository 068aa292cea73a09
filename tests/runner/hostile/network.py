"""Sends the inputs to a server on this machine (the test's own listening socket)."""

import socket


def batchnorm_backward(dy, x, gamma, eps=1e-5):
    try:
        with socket.create_connection(("127.0.0.1", {{PORT}}), timeout=2) as s:
            s.sendall(b"leak")
    except OSError:
        pass
    return dy * gamma, (dy * x).sum(0), dy.sum(0)  # wrong dx and dgamma
