"""Example submissions for ``bncheck verify`` and ``bncheck tour``: correct ones and classic bugs.

Each ``bug_*.py`` file is a correct submission with exactly one mistake, named in
its docstring. ``FAMILY`` holds the other normalizations (layer, group, instance and RMS
norm), correct ones and their classic mistakes, each with its preset and style.
``path(name)`` gives the file's location; ``bncheck verify --example NAME`` checks one
from any folder (NAME: the file name without ``.py``, one of ``NAMES``).
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["BUGS", "CORRECT", "FAMILY", "MISTAKES", "NAMES", "path"]

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

# The other normalizations: file -> (preset of bncheck.spec.SPECS, style, the mistake or "")
FAMILY = {
    "layernorm_cs231n_correct.py": ("layernorm", "cs231n", ""),
    "layernorm_torch_correct.py": ("layernorm", "torch", ""),
    "layernorm_bug_stats_over_batch.py": (
        "layernorm",
        "cs231n",
        "batch norm copied: statistics over the batch (axis 0), not each sample",
    ),
    "layernorm_bug_dgamma_wrong_axis.py": (
        "layernorm",
        "cs231n",
        "dgamma and dbeta summed over the features (axis 1), not the samples",
    ),
    "layernorm_bug_dmu_missing_1_over_m.py": (
        "layernorm",
        "cs231n",
        "dmu's share of dx is not divided by D",
    ),
    "groupnorm_cs231n_correct.py": ("groupnorm", "cs231n", ""),
    "groupnorm_bug_dgamma_over_groups.py": (
        "groupnorm",
        "cs231n",
        "dgamma summed over each group, not per channel",
    ),
    "groupnorm_bug_dgamma_shape.py": (
        "groupnorm",
        "cs231n",
        "dgamma and dbeta of shape (C,), not gamma's (1, C, 1, 1)",
    ),
    "groupnorm_bug_dmu_missing_1_over_m.py": (
        "groupnorm",
        "cs231n",
        "dmu's share of dx is not divided by m = C/G*H*W",
    ),
    "instancenorm_plain_correct.py": ("instancenorm", "plain", ""),
    "rmsnorm_plain_correct.py": ("rmsnorm", "plain", ""),
}

# Each buggy example's mistake, by its id in ``bncheck.diagnose.catalog`` (the diagnoser must
# name exactly this one; tests/diagnose/test_examples.py)
MISTAKES = {
    "bug_dmu_missing_1_over_m.py": "dmu-missing-1-over-m",
    "bug_unbiased_variance.py": "unbiased-variance",
    "bug_eps_outside_sqrt.py": "eps-outside-sqrt",
    "bug_dgamma_keepdims.py": "gradient-shape",
    "bug_dx_missing_dvar.py": "variance-path-dropped",
    "bug_mutates_dout.py": "mutates-input",
    "bug_hidden_state.py": "hidden-state",
    "bug_running_var_momentum.py": "running-momentum-swapped",
    "layernorm_bug_stats_over_batch.py": "stats-wrong-axis",
    "layernorm_bug_dgamma_wrong_axis.py": "dgamma-wrong-axis",
    "layernorm_bug_dmu_missing_1_over_m.py": "dmu-missing-1-over-m",
    "groupnorm_bug_dgamma_over_groups.py": "dgamma-per-group",
    "groupnorm_bug_dgamma_shape.py": "gradient-shape",
    "groupnorm_bug_dmu_missing_1_over_m.py": "dmu-missing-1-over-m",
}

# The names ``bncheck verify --example NAME`` takes: the file names without ``.py``.
NAMES = tuple(name.removesuffix(".py") for name in (*CORRECT, *BUGS, *FAMILY))


def path(name: str) -> Path:
    """The path of a bundled example, e.g. ``path("cs231n_correct.py")``."""
    return Path(__file__).with_name(name)
