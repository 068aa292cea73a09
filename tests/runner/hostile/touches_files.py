"""Writes into HOME, the parent's folder and a folder of the test's; reads another's file."""

import os

for path in (os.path.expanduser("~/.bncheck-hostile"), "{{OUTSIDE}}/changed.txt", "../changed"):
    try:
        with open(path, "w") as f:
            f.write("changed")
    except OSError:
        pass
try:
    with open("{{SECRET}}") as f:
        SECRET = f.read()
except OSError:
    SECRET = ""


def batchnorm_backward(dy, x, gamma, eps=1e-5):
    return dy * gamma, (dy * x).sum(0), dy.sum(0)  # wrong dx and dgamma
