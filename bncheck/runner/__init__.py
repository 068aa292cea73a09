"""Running untrusted code: a sandboxed child that makes the calls and sends back data.

``check/`` asks for "these calls on these inputs" (a ``Job``) and gets arrays back (an
``Outcome``); this package imports nothing from ``check/``. See ``sandbox.py`` for the
layers of isolation and what they are not, ``hook.py`` for the audit hook's table,
and ``protocol.py`` for the data-only reply.
"""

from __future__ import annotations

from bncheck.runner.limits import Limits, Policy, clean_text
from bncheck.runner.namespaces import isolation
from bncheck.runner.sandbox import Job, Outcome, Running, spawn, start

__all__ = [
    "Job",
    "Limits",
    "Outcome",
    "Policy",
    "Running",
    "clean_text",
    "isolation",
    "spawn",
    "start",
]
