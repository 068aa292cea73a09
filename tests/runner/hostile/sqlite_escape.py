"""Creates files through SQLite, which opens them in C with no "open" audit event: a
database at ``{{MARKER}}``, and (from an in-memory one) ATTACH and VACUUM INTO."""

import sqlite3


def _attempt(action):
    try:
        action()
    except Exception:
        pass


def _connect():
    db = sqlite3.connect("{{MARKER}}")
    db.execute("create table t(x)")
    db.commit()


def _attach():
    db = sqlite3.connect(":memory:")
    db.execute("attach database '{{MARKER}}-attached' as a")
    db.execute("create table a.t(x)")
    db.execute("vacuum into '{{MARKER}}-vacuum'")


_attempt(_connect)
_attempt(_attach)


def batchnorm_backward(dy, x, gamma, eps=1e-5):
    return dy * gamma, (dy * x).sum(0), dy.sum(0)  # wrong dx and dgamma
