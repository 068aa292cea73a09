"""An atexit hook that overwrites the reply (once reply.pkl) after the worker wrote it."""

import atexit
import glob
import os


def _forge():
    for path in glob.glob(os.path.join(os.getcwd(), "..", "*", "reply.*")) + ["reply.pkl"]:
        with open(path, "wb") as f:
            f.write(b"forged")


atexit.register(_forge)


def batchnorm_backward(dy, x, gamma, eps=1e-5):
    return dy * gamma, (dy * x).sum(0), dy.sum(0)  # wrong dx and dgamma
