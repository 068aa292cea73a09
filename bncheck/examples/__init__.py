"""Example submissions for ``bncheck verify`` and ``bncheck tour``: correct ones and classic bugs.

Each ``bug_*.py`` file is a correct submission with exactly one mistake, named in
its docstring. ``path(name)`` gives the file's location; ``bncheck verify --example NAME``
checks one from any folder (NAME: the file name without ``.py``, one of ``NAMES``).
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["BUGS", "CORRECT", "NAMES", "path"]

CORRECT = ("cs231n_correct.py", "plain_correct.py", "torch_correct.py")
BUGS = {
    "bug_dmu_missing_1_over_m.py": "dmu's share of dx is not divided by m",
    "bug_unbiased_variance.py": "variance with 1/(m-1) in training, forward and backward",
    "bug_eps_outside_sqrt.py": "sigma = sqrt(var) + eps instead of sqrt(var + eps)",
    "bug_dgamma_keepdims.py": "dgamma and dbeta returned with shape (1, D)",
    "bug_dx_missing_dvar.py": "dx leaves out the path through the variance",
    "bug_mutates_dout.py": "backward scales dout in place",
    "bug_hidden_state.py": "backward caches its first answer in a global",
    "bug_running_var_momentum.py": "running statistics with PyTorch's momentum semantics",
}

# The names ``bncheck verify --example NAME`` takes: the file names without ``.py``.
NAMES = tuple(name.removesuffix(".py") for name in (*CORRECT, *BUGS))


def path(name: str) -> Path:
    """The path of a bundled example, e.g. ``path("cs231n_correct.py")``."""
    return Path(__file__).with_name(name)
