"""BN regularises through the noise of mini-batch statistics (the paper's Section 3.4),
measured on real digits in two parts.

1. **The noise.** One training example's normalised output x̂ depends on the other examples
   in its batch, through the batch's μ_B and σ_B. Draw many random batches that contain it,
   push each through a BN layer in train mode, and measure the spread (std over draws) of its
   x̂. The layer is the first of a seeded network at initialisation: the example's own
   pre-activation z = x·W₁ does not depend on its companions, so all of the spread is BN's
   (a deeper layer would add the noise of the BN layers below it). μ_B and σ_B average m − 1
   companions, so the spread scales like √(m − 1)/m ≈ 1/√m for independent companions.
   Training draws them without replacement from a finite set of N, which shrinks it by
   √((N − m)/(N − 2)) more: 0.78 at m = 512 of N = 1,300. Both are measured.
2. **The gap.** The same network trained at small and large batches for the same number of
   examples seen, with the learning rate scaled linearly with the batch (the same step per
   example), over several seeds: the train − validation accuracy gap of each. A control
   isolates BN's noise from the other effects of the batch size: the largest batch with BN's
   statistics taken over "ghost" batches of the smallest size (Hoffer et al. 2017): the same
   updates and learning rate as the large batch, the statistics noise of the small one.

numpy only, float64, seeded; the BN backward is the one bncheck emits (``mlp``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from bncheck.demos import Shown

if TYPE_CHECKING:
    from bncheck.demos.digits import Digits
    from bncheck.demos.mlp import MLP, Net

__all__ = ["BatchNoise", "Noise", "Options", "Run", "Setting", "Spread", "batch_noise"]


@dataclass(frozen=True)
class Options:
    seed: int = 0  # part 1's data split, network and draws; part 2's seeds start here
    steps: int = 20  # part 2: epochs, i.e. 1,300·steps examples seen at every batch size
    width: int = 64  # hidden units in each of the 2 hidden layers (BN + ReLU)
    # part 1
    sizes: tuple[int, ...] = (16, 32, 64, 128, 256, 512)  # batch sizes m
    draws: int = 1000  # random batches per size (the spread's own error: ≈ 1/√(2·draws))
    example: int = 0  # its row in the training split
    # part 2
    batches: tuple[int, ...] = (16, 64, 512)
    ghost: int = 16  # the control: the largest batch, BN statistics over ghost batches of this
    lr: float = 0.2  # at batch 64; lr·m/64 at batch m (the linear scaling rule)
    seeds: int = 4  # runs per setting: seed, seed + 1, ... (data split, weights, batch order)


@dataclass(frozen=True)
class Spread:
    """The example's x̂ over random batches of size m (spreads: median over the hidden units)."""

    m: int
    iid: float  # std over draws, companions drawn with replacement (independent)
    pooled: float  # companions drawn without replacement from the training split, as in training
    pool_factor: float  # √((N − m)/(N − 2)): the shrinkage of ``pooled`` predicted by the pool


@dataclass(frozen=True)
class Noise:
    """Part 1."""

    n: int  # training examples: the pool of companions is n − 1
    spreads: tuple[Spread, ...]

    def slope(self, which: str) -> float:
        """The least-squares slope of log spread on log m: iid, pooled, or corrected (pooled
        divided by the pool factor). 1/√m has −1/2; √(m − 1)/m has ``exact_slope``."""
        values = {
            "iid": [s.iid for s in self.spreads],
            "pooled": [s.pooled for s in self.spreads],
            "corrected": [s.pooled / s.pool_factor for s in self.spreads],
        }[which]
        return _slope([s.m for s in self.spreads], values)

    @property
    def exact_slope(self) -> float:
        """The slope of √(m − 1)/m over these m: the example is one of its own batch."""
        return _slope([s.m for s in self.spreads], [math.sqrt(s.m - 1) / s.m for s in self.spreads])


@dataclass(frozen=True)
class Run:
    """One training run; accuracies in eval mode (running statistics)."""

    seed: int
    train_acc: tuple[float, ...]  # at the start and after each epoch's worth of examples
    val_acc: tuple[float, ...]
    train_loss: float  # at the end
    val_loss: float

    @property
    def gap(self) -> float:
        """Train − validation accuracy at the end."""
        return self.train_acc[-1] - self.val_acc[-1]


@dataclass(frozen=True)
class Setting:
    """One batch size (with or without ghost batches), over seeds."""

    batch: int
    ghost: int | None  # BN statistics over ghost batches of this size; None: the whole batch
    lr: float
    updates: int
    runs: tuple[Run, ...]

    @property
    def statistics(self) -> int:
        """How many examples BN's μ_B and σ_B average over."""
        return self.batch if self.ghost is None else self.ghost

    @property
    def label(self) -> str:
        ghost = "" if self.ghost is None else f", ghost {self.ghost}"
        return f"batch {self.batch}{ghost}"

    def mean(self, what: str) -> float:
        return float(np.mean([_final(r, what) for r in self.runs]))

    def std(self, what: str) -> float:
        """Sample std over the seeds (0 for one seed)."""
        values = [_final(r, what) for r in self.runs]
        return float(np.std(values, ddof=1)) if len(values) > 1 else 0.0

    def curve(self, what: str) -> tuple[float, ...]:
        """train_acc or val_acc after each epoch, the mean over seeds."""
        return tuple(float(v) for v in np.mean([getattr(r, what) for r in self.runs], axis=0))


@dataclass(frozen=True)
class BatchNoise(Shown):
    options: Options
    sizes: tuple[int, ...]  # the network: inputs, hidden widths, classes
    n_train: int
    n_val: int
    noise: Noise
    settings: tuple[Setting, ...]

    def setting(self, batch: int, ghost: int | None = None) -> Setting:
        return next(s for s in self.settings if s.batch == batch and s.ghost == ghost)

    @property
    def small(self) -> Setting:
        return self.setting(min(self.options.batches))

    @property
    def large(self) -> Setting:
        return self.setting(max(self.options.batches))

    @property
    def control(self) -> Setting:
        return self.setting(max(self.options.batches), self.options.ghost)

    def paired(self, a: Setting, b: Setting) -> tuple[float, ...]:
        """Per seed: a's gap − b's gap (the same seeds: the same initial weights)."""
        return tuple(x.gap - y.gap for x, y in zip(a.runs, b.runs, strict=True))


def _final(run: Run, what: str) -> float:
    if what in ("train_acc", "val_acc"):
        return float(getattr(run, what)[-1])
    if what == "loss_gap":
        return run.val_loss - run.train_loss
    return float(getattr(run, what))


def _slope(m: list[int], values: list[float]) -> float:
    return float(np.polyfit(np.log(m), np.log(values), 1)[0])


# ---------------------------------------------------------------- part 1


def _noise(o: Options, model: MLP, x: np.ndarray) -> Noise:
    from bncheck.check import reference

    z = x @ model.w[0]  # the first layer's pre-activations (no bias: BN's β replaces it)
    gamma, beta = model.gamma[0], model.beta[0]
    # a stack of batches (draw, example, unit), BN over the examples of each draw
    stacked = replace(model.net.spec, layout="BND", axes=(1,), param_axes=(2,))
    n, e = len(z), o.example
    others = np.delete(np.arange(n), e)
    rng = np.random.default_rng(o.seed + 1)
    xhat: dict[tuple[int, bool], np.ndarray] = {}
    for m in o.sizes:
        for iid in (True, False):
            rows = []
            for start in range(0, o.draws, 100):  # chunks keep (draws, m, width) small
                k = min(100, o.draws - start)
                if iid:
                    picks = rng.integers(0, n - 1, size=(k, m - 1))
                else:  # a uniform subset per draw: the m − 1 smallest of random keys
                    picks = np.argpartition(rng.random((k, n - 1)), m - 2, axis=1)[:, : m - 1]
                batch = np.concatenate([np.full((k, 1), e), others[picks]], axis=1)
                rows.append(reference.forward(z[batch], gamma, beta, stacked)[:, 0, :])
            xhat[m, iid] = np.concatenate(rows)
    # the median over units: a unit where the example is an outlier bounds its own x̂
    # (it is 1/m of its batch, |x̂| ≤ √(m − 1)) and bends that unit's law at small m
    spreads = tuple(
        Spread(
            m,
            float(np.median(xhat[m, True].std(axis=0))),
            float(np.median(xhat[m, False].std(axis=0))),
            math.sqrt((n - m) / (n - 2)),
        )
        for m in o.sizes
    )
    return Noise(n, spreads)


# ---------------------------------------------------------------- part 2


def _step(model: MLP, x: np.ndarray, y: np.ndarray, lr: float, ghost: int | None) -> None:
    """One SGD update on the batch (x, y); with ``ghost``, BN normalises each block of that
    many rows with its own statistics and the gradients are averaged (= the batch's mean loss)."""
    if ghost is None or ghost >= len(y):
        _, grads = model.loss_and_grads(x, y)
        model.sgd(grads, lr)
        return
    blocks = len(y) // ghost  # rows beyond a whole number of ghost batches are left out
    _, total = model.loss_and_grads(x[:ghost], y[:ghost])
    for k in range(1, blocks):
        _, g = model.loss_and_grads(x[k * ghost : (k + 1) * ghost], y[k * ghost : (k + 1) * ghost])
        for mine, theirs in (
            (total.w, g.w),
            (total.b, g.b),
            (total.gamma, g.gamma),
            (total.beta, g.beta),
        ):
            for i, d in enumerate(theirs):
                if d is not None:
                    mine[i] = mine[i] + d
    model.sgd(total, lr / blocks)


def _evaluate(model: MLP, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Accuracy and mean cross-entropy in eval mode, from one forward."""
    from bncheck.demos import mlp

    with np.errstate(all="ignore"):
        logits, _ = model.forward(x, train=False)
        loss = mlp.cross_entropy(logits, y)[0]
    return float(np.mean(np.argmax(logits, axis=1) == y)), loss


def _train(o: Options, net: Net, data: Digits, batch: int, ghost: int | None, seed: int) -> Run:
    from bncheck.demos import mlp

    model = mlp.MLP(net, seed)
    order = mlp.batches(len(data.y_train), batch, np.random.default_rng(seed + 10_000))
    lr = o.lr * batch / 64
    train_acc, val_acc = [], []
    done = 0
    for epoch in range(o.steps + 1):
        # updates so far: the examples of `epoch` epochs, in batches (the last batch of an
        # epoch that does not divide evenly is dropped by `batches` and made up here)
        for _ in range(_updates(epoch, len(data.y_train), batch) - done):
            rows = next(order)
            _step(model, data.x_train[rows], data.y_train[rows], lr, ghost)
        done = _updates(epoch, len(data.y_train), batch)
        train_acc.append(_evaluate(model, data.x_train, data.y_train)[0])
        val_acc.append(_evaluate(model, data.x_val, data.y_val)[0])
    train_loss = _evaluate(model, data.x_train, data.y_train)[1]
    val_loss = _evaluate(model, data.x_val, data.y_val)[1]
    return Run(seed, tuple(train_acc), tuple(val_acc), train_loss, val_loss)


def _updates(epochs: int, n: int, batch: int) -> int:
    """Updates that see ``epochs``·n examples at this batch size (rounded)."""
    return round(epochs * n / batch)


def batch_noise(options: Options | None = None) -> BatchNoise:
    from bncheck.demos import digits, mlp

    o = Options() if options is None else options
    data = digits.load(o.seed)
    net = mlp.Net((data.features, o.width, o.width, digits.CLASSES), bn=True)
    n = len(data.y_train)
    with mlp.one_thread():
        noise = _noise(o, mlp.MLP(net, o.seed), data.x_train)
        # each seed its own split too: the gap moves with the split as much as with the init
        splits = [data if k == 0 else digits.load(o.seed + k) for k in range(o.seeds)]
        plan: list[tuple[int, int | None]] = [(b, None) for b in o.batches]
        if o.ghost < max(o.batches):
            plan.append((max(o.batches), o.ghost))
        settings = tuple(
            Setting(
                batch,
                ghost,
                o.lr * batch / 64,
                _updates(o.steps, n, batch),
                tuple(_train(o, net, splits[k], batch, ghost, o.seed + k) for k in range(o.seeds)),
            )
            for batch, ghost in plan
        )
    return BatchNoise(o, net.sizes, n, len(data.y_val), noise, settings)
