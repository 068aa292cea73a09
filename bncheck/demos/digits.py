"""scikit-learn's digits: 1,797 real 8×8 handwritten digits that ship inside its wheel (offline).

The experiments on real data (``learning-rate``, ``gradient-histograms``, ``batch-noise``,
``tiny-init --data digits``) train on it. scikit-learn is the optional extra ``teach``;
without it, ``load`` raises a MissingDependencyError that says what to install.

Every pixel is standardised with the training split's own mean and spread (three border
pixels are 0 in every training image: they stay 0), so a network without BN starts from
well-scaled inputs too and the comparison with BN is about the hidden layers, not the data.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bncheck.errors import MissingDependencyError

__all__ = ["CLASSES", "Digits", "load"]

CLASSES = 10


@dataclass(frozen=True, eq=False)
class Digits:
    """A seeded split: ``x_*`` are (n, 64) float64, ``y_*`` the labels 0..9."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    seed: int

    @property
    def features(self) -> int:
        return int(self.x_train.shape[1])


def _raw() -> tuple[np.ndarray, np.ndarray]:
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise MissingDependencyError.for_module(
            "scikit-learn", "teach", "the experiments on real data (digits)"
        ) from None
    bunch = load_digits()
    return np.asarray(bunch.data, dtype=np.float64), np.asarray(bunch.target, dtype=np.int64)


def load(seed: int = 0, validation: int = 497) -> Digits:
    """A random split of the 1,797 images, ``validation`` of them held out (1,300 to train)."""
    x, y = _raw()
    order = np.random.default_rng(seed).permutation(len(y))
    val, train = order[:validation], order[validation:]
    mean = x[train].mean(axis=0)
    spread = x[train].std(axis=0)
    spread[spread == 0] = 1.0  # a pixel that is always 0 stays 0
    x = (x - mean) / spread
    return Digits(x[train], y[train], x[val], y[val], seed)
