"""Larger learning rates with BN? A grid of rates, with and without BN, on real digits.

The paper (Sections 3.3 and 4.2) says BN lets a network train with much higher learning
rates: on ImageNet, BN-x30 used 30 times Inception's rate, and BN-x5 reached Inception's
final accuracy in 14 times fewer steps. This demo measures what a small setting shows.

The setting. scikit-learn's 8×8 digits (1,300 images to train, 497 to validate), and one
MLP trained at every rate of a log-spaced grid (quarter decades, 0.032 to 10), once
without BN and once with BN after every hidden linear layer. Both networks have the same
architecture, the same He-initialised weights, the same data and the same sequence of
mini-batches (all from ``seed``); they differ only by BN (with BN a hidden layer has no
bias: β takes its place). Plain SGD, batch 64, a constant rate, no momentum, no weight
decay: the rate is the only knob.

Why this architecture: 64 → 100 → 100 → 100 → 10, ReLU, He init. Three hidden layers are
the fewest where BN normalises a stack (the layer under the logits is fed by two others);
ReLU with He init is the baseline a careful practitioner uses without BN, so BN is not
rescuing a bad initialisation (``tiny-init`` shows that case). Width 100 learns the digits
to ≈ 96-97 % and keeps each step under a millisecond on one thread, so 22 runs of 500 steps
fit the time budget.

Definitions (one run = one network at one rate, ``steps`` SGD steps):

* **stable**: every training loss is finite and the mean training loss over the last epoch
  (20 batches) is below ``STUCK`` = 0.5 nats (a uniform guess scores ln 10 = 2.30, the
  start is 2.5-3.0). Otherwise it is not stable: **non-finite** (the loss overflowed at some
  step; training stops there) or **stuck** (finite, but the loss stays high: dead ReLUs, or
  logits thrown about by the steps). Measured at the default options, the stable runs end at
  ≤ 0.081 and the stuck ones at ≥ 1.7, far from the 0.5 line on every BLAS kernel tried;
* **steps to the target**: the first step, checked every ``every`` steps, at which a stable
  run's validation accuracy (eval mode: BN with its running statistics) reaches ``target``;
  an unstable run has none, even if it touched the target before diverging;
* **final accuracy**: the validation accuracy after the last step, of stable runs only (an
  unstable run's is a number of no meaning, and depends on the CPU's last bits).

The summary: the largest stable rate with and without BN and their ratio (known to a grid
step: the true edges lie below the next rate up), and the fewest steps to the target for each
network (at the rate that gets there first) and their ratio.

What it cannot show: a 3-hidden-layer MLP on 8×8 digits is not Inception on ImageNet, and the
paper's 14× also came with other changes (no dropout, faster rate decay, less L2, ...;
Section 4.2.1). The report says so next to the numbers.

numpy only (the BN backward is the one bncheck emits), float64, seeded, BLAS on one thread.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from bncheck.demos import Shown
from bncheck.demos.digits import Digits

__all__ = ["STUCK", "LearningRate", "Options", "Run", "learning_rate"]

# A finite run is stuck when its last epoch's mean training loss is at least this (nats).
STUCK = 0.5


@dataclass(frozen=True)
class Options:
    seed: int = 0
    steps: int = 500  # SGD steps per run: 25 epochs of 20 batches
    # quarter decades, 0.032 .. 10: both networks are stable at the bottom and fail at the top
    rates: tuple[float, ...] = (
        0.032, 0.056, 0.1, 0.18, 0.32, 0.56, 1.0, 1.8, 3.2, 5.6, 10.0,
    )  # fmt: skip
    sizes: tuple[int, ...] = (64, 100, 100, 100, 10)  # inputs, hidden widths, classes
    batch: int = 64
    target: float = 0.95  # validation accuracy (the no-BN net's best ends near 0.96)
    every: int = 5  # validation accuracy every 5 steps until the target is reached


@dataclass(frozen=True)
class Run:
    bn: bool
    lr: float
    losses: tuple[float, ...]  # the training mini-batch's loss at steps 1.. (ends at a non-finite)
    checks: tuple[tuple[int, float], ...]  # (step, validation accuracy), eval mode
    epoch: int  # batches per epoch: the last epoch's losses decide "stuck"

    @property
    def non_finite_at(self) -> int | None:
        """The step whose loss overflowed, or None."""
        return None if math.isfinite(self.losses[-1]) else len(self.losses)

    @property
    def last_epoch_loss(self) -> float:
        """The mean training loss of the last ``epoch`` steps (nan after a non-finite one)."""
        return float(np.mean(self.losses[-self.epoch :]))

    @property
    def status(self) -> str:
        """stable, non-finite or stuck (see the module's docstring)."""
        if self.non_finite_at is not None:
            return "non-finite"
        return "stuck" if self.last_epoch_loss >= STUCK else "stable"

    @property
    def stable(self) -> bool:
        return self.status == "stable"

    @property
    def final_accuracy(self) -> float | None:
        """The validation accuracy after the last step; None unless the run is stable."""
        return self.checks[-1][1] if self.stable else None

    def steps_to(self, target: float) -> int | None:
        """The first checked step at which validation accuracy ≥ target; None if unstable."""
        if not self.stable:
            return None
        return next((step for step, accuracy in self.checks if accuracy >= target), None)


@dataclass(frozen=True)
class LearningRate(Shown):
    options: Options
    chance_loss: float  # ln(classes): the loss of a uniform guess
    runs: tuple[Run, ...]  # without BN at every rate, then with BN at every rate

    def grid(self, bn: bool) -> tuple[Run, ...]:
        return tuple(r for r in self.runs if r.bn == bn)

    def largest_stable(self, bn: bool) -> Run | None:
        return max((r for r in self.grid(bn) if r.stable), key=lambda r: r.lr, default=None)

    def fastest(self, bn: bool) -> Run | None:
        """The stable run that reaches the target in the fewest steps (the smaller rate on ties)."""
        reached = [r for r in self.grid(bn) if r.steps_to(self.options.target) is not None]
        return min(reached, key=lambda r: (r.steps_to(self.options.target), r.lr), default=None)

    def steps_to_target(self, run: Run | None) -> int | None:
        return None if run is None else run.steps_to(self.options.target)

    @property
    def stable_ratio(self) -> float | None:
        """Largest stable rate with BN / without BN."""
        bn, plain = self.largest_stable(True), self.largest_stable(False)
        return None if bn is None or plain is None else bn.lr / plain.lr

    @property
    def steps_ratio(self) -> float | None:
        """Fewest steps to the target without BN / with BN (> 1: BN is faster)."""
        bn = self.steps_to_target(self.fastest(True))
        plain = self.steps_to_target(self.fastest(False))
        return None if bn is None or plain is None else plain / bn


def _train(o: Options, bn: bool, lr: float, data: Digits) -> Run:
    from bncheck.demos import mlp

    x, y = data.x_train, data.y_train
    net = mlp.MLP(mlp.Net(o.sizes, bn=bn), o.seed)  # the same weights at every rate, BN or not
    order = mlp.batches(len(y), o.batch, np.random.default_rng(o.seed + 1))  # the same batches
    losses: list[float] = []
    checks: list[tuple[int, float]] = []
    reached = False
    for step in range(1, o.steps + 1):
        rows = next(order)
        loss, grads = net.loss_and_grads(x[rows], y[rows])
        losses.append(loss)
        if not math.isfinite(loss):
            break  # diverged: the weights are inf or nan from here on
        net.sgd(grads, lr)
        if step == o.steps or (not reached and step % o.every == 0):
            checks.append((step, net.accuracy(data.x_val, data.y_val)))
            reached = checks[-1][1] >= o.target
    return Run(bn, lr, tuple(losses), tuple(checks), epoch=len(y) // o.batch)


def learning_rate(options: Options | None = None) -> LearningRate:
    from bncheck.demos import digits, mlp

    o = Options() if options is None else options
    data = digits.load(o.seed)
    with mlp.one_thread():
        runs = tuple(_train(o, bn, lr, data) for bn in (False, True) for lr in o.rates)
    return LearningRate(o, math.log(o.sizes[-1]), runs)
