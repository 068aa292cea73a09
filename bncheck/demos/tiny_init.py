"""A 7-layer network initialised with W ~ U(−0.001, 0.001): dead without BN, trained with it.

A reader of the paper reported that such a network did not train — its
pre-activations shrank layer by layer to about 1e-11 — and that it trained with
BN, even with BN only before the softmax. Each layer multiplies the scale by about
0.001/√3·√width, so after seven layers the logits are ~1e-16 and every gradient
through them is as small: the softmax sees zeros and the loss stays at ln(classes).

BN undoes the shrinking: x̂ has unit scale whatever the scale of W·h, and by the
scale invariance of Section 3.3 the gradient of a tiny W is large (∝ 1/|W|).
With BN only before the softmax the whole stack below is (almost, tanh ≈ identity
near 0) linear, so the same argument rescues it — *if* eps is below the collapsed
variance. With the usual eps = 1e-5 against a variance of ~1e-30 or less, eps wins and the
final BN just multiplies by 1/sqrt(eps); the demo shows both.

With eps = 0 that rescue is violent: BN's gradient is ∝ 1/σ with σ ≈ 1e-17, so the first
step multiplies every weight by about 2000, and the training that follows is chaotic: its
loss at step 100 depends on the last bits of the arithmetic (over 300 one-ulp changes of the
data it ends between 0.09 and 0.44, and another CPU's BLAS kernel moves it as much). So every
run is repeated with each input moved by one ulp; a run whose last loss then moves by more
than ``CHAOS`` of itself is ``chaotic``, and the report shows no digits for it (the JSON has them).

On real data (``data="digits"``) the same networks train on scikit-learn's 8×8 digits
(64 pixels, 10 classes): a seeded subset of ``train_digits`` training images as the one full
batch (512 keeps the 8 runs of 100 steps at 2-4 s; all 1,300 took twice as long), and the
497 held-out digits for a validation accuracy, with BN normalising by the training batch's
own statistics (full-batch training has no other: they are the population's). Without BN
the loss still moves a little on the digits: the logits' bias learns the class frequencies,
which blobs with balanced classes do not have.

numpy only, full-batch gradient descent, float64, seeded; the BN backward is the
one bncheck emits from its SymPy derivation.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from bncheck.check import reference
from bncheck.demos import Shown
from bncheck.spec import NormSpec

__all__ = ["CHAOS", "CONFIGS", "DATA", "Config", "Options", "TinyInit", "Trained", "tiny_init"]

DATA = ("synthetic", "digits")


@dataclass(frozen=True)
class Options:
    steps: int = 100
    lr: float = 0.1
    seed: int = 0
    depth: int = 7  # linear layers: depth − 1 hidden tanh layers and the logits
    # Sizes keep every matmul at M·N·K ≤ 4·65536, where OpenBLAS runs one thread: a threaded
    # GEMM this small spins on a loaded 2-core machine (measured: 44 s against 1.5 s).
    width: int = 40
    n: int = 128  # synthetic: examples (one full batch)
    d: int = 20  # synthetic: input features
    classes: int = 4  # synthetic: classes
    init: float = 1e-3  # W ~ U(−init, init)
    data: str = "synthetic"  # Gaussian blobs, or "digits": scikit-learn's real 8×8 digits
    train_digits: int = 512  # digits: a seeded subset of the training split (one full batch)


@dataclass(frozen=True)
class Config:
    key: str
    label: str
    bn: str  # "none", "every" or "last"
    eps: float


CONFIGS = (
    Config("none", "no BN", "none", 1e-5),
    Config("every", "BN in every layer", "every", 1e-5),
    Config("last", "BN before softmax (ε=1e-5)", "last", 1e-5),
    Config("last-eps0", "BN before softmax (ε=0)", "last", 0.0),
)


# A run is chaotic when moving every input by one ulp (2.2e-16 relative) moves its last loss by
# more than this fraction of itself. Measured: ~1e-16 for the stable runs, 1e-3 to 1 for eps = 0.
# A run below it shows the same 4 decimals on every CPU.
CHAOS = 1e-6


@dataclass(frozen=True)
class Trained:
    config: Config
    scales: tuple[float, ...]  # std of each layer's input to tanh / softmax, at initialisation
    raw_scales: tuple[float, ...]  # std of W·h + b before BN (the same as scales without BN)
    losses: tuple[float, ...]  # cross-entropy at steps 0..steps
    accuracy: float  # training accuracy after the last step
    sensitivity: float  # |change of the last loss| when every input moves by one ulp
    # digits: accuracy on the held-out digits after the last step (BN with the training
    # batch's statistics); nan on synthetic data, which has no held-out set
    val_accuracy: float = math.nan

    @property
    def first(self) -> float:
        return self.losses[0]

    @property
    def last(self) -> float:
        return self.losses[-1]

    @property
    def trained(self) -> bool:
        """Trained: the loss fell by more than half of its starting value."""
        return self.last < 0.5 * self.first

    @property
    def chaotic(self) -> bool:
        """Its last loss and accuracy depend on the last bits of the arithmetic (see CHAOS)."""
        return self.sensitivity > CHAOS * abs(self.last)


@dataclass(frozen=True)
class TinyInit(Shown):
    options: Options
    chance_loss: float  # ln(classes): the loss of a network that outputs zeros
    results: tuple[Trained, ...]
    features: int  # inputs of the first layer: d, or 64 pixels
    classes: int  # outputs: classes, or 10 digits
    examples: int  # the one full batch: n, or train_digits
    held_out: int  # digits for the validation accuracy (0 on synthetic data)

    def __getitem__(self, key: str) -> Trained:
        return next(r for r in self.results if r.config.key == key)


_Task = tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None, int]


def _task(o: Options) -> _Task:
    """(x, labels, x_val, labels_val, classes): blobs, or the digits and their held-out ones."""
    if o.data == "digits":
        from bncheck.demos import digits

        data = digits.load(o.seed)  # a seeded split: its first images are a seeded subset
        if not 1 <= o.train_digits <= len(data.y_train):
            raise ValueError(f"train_digits must lie in [1, {len(data.y_train)}]")
        rows = slice(0, o.train_digits)
        return data.x_train[rows], data.y_train[rows], data.x_val, data.y_val, digits.CLASSES
    x, labels = _blobs(o)
    return x, labels, None, None, o.classes


def _blobs(o: Options) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian blobs: one random centre per class, unit noise, balanced classes."""
    rng = np.random.default_rng(o.seed)
    centres = rng.normal(size=(o.classes, o.d))
    labels = np.arange(o.n) % o.classes
    return centres[labels] + rng.normal(size=(o.n, o.d)), labels


def _bn_forward(z: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float) -> np.ndarray:
    return reference.forward(z, gamma, beta, NormSpec(eps=eps))  # biased var, as in the paper


def _train(
    o: Options, c: Config, task: _Task, bn_backward: Callable, nudged: bool = False
) -> Trained:
    x, labels, x_val, labels_val, classes = task
    if nudged:
        x = np.nextafter(x, np.inf)  # every input moved by one ulp
    n = len(labels)
    rng = np.random.default_rng(o.seed + 1)  # the same weights for every configuration
    dims = [x.shape[1]] + [o.width] * (o.depth - 1) + [classes]
    ws = [rng.uniform(-o.init, o.init, size=(dims[k], dims[k + 1])) for k in range(o.depth)]
    bs = [np.zeros(dims[k + 1]) for k in range(o.depth)]
    gammas, betas = [np.ones_like(b) for b in bs], [np.zeros_like(b) for b in bs]
    with_bn = [c.bn == "every" or (c.bn == "last" and k == o.depth - 1) for k in range(o.depth)]
    rows = np.arange(n)
    losses: list[float] = []
    scales: tuple[float, ...] = ()
    raw: tuple[float, ...] = ()
    for step in range(o.steps + 1):
        h, cache = x, []
        for k in range(o.depth):
            z = h @ ws[k] + bs[k]
            a = _bn_forward(z, gammas[k], betas[k], c.eps) if with_bn[k] else z
            out = np.tanh(a) if k < o.depth - 1 else a
            cache.append((h, z, a, out))
            h = out
        if step == 0:
            scales = tuple(float(np.std(a)) for _, _, a, _ in cache)
            raw = tuple(float(np.std(z)) for _, z, _, _ in cache)
        logits = h - h.max(axis=1, keepdims=True)
        p = np.exp(logits)
        p /= p.sum(axis=1, keepdims=True)
        losses.append(float(-np.mean(np.log(p[rows, labels]))))
        if step == o.steps:
            break
        g = p
        g[rows, labels] -= 1.0
        g /= n  # ∂ℓ/∂logits of the mean cross-entropy
        for k in reversed(range(o.depth)):
            h_in, z, _, out = cache[k]
            if k < o.depth - 1:
                g = g * (1.0 - out * out)  # tanh' = 1 − tanh²
            if with_bn[k]:
                g, dgamma, dbeta = bn_backward(g, z, gammas[k], c.eps)
                gammas[k] -= o.lr * dgamma
                betas[k] -= o.lr * dbeta
            dw, db = h_in.T @ g, g.sum(axis=0)
            g = g @ ws[k].T
            ws[k] -= o.lr * dw
            bs[k] -= o.lr * db
    accuracy = float(np.mean(np.argmax(h, axis=1) == labels))
    val = math.nan
    if x_val is not None and labels_val is not None:
        # BN normalises with the training batch's statistics at the last step
        stats = [(z.mean(axis=0), z.var(axis=0)) for _, z, _, _ in cache]  # biased, as in BN
        h, spec = x_val, NormSpec(eps=c.eps)
        for k in range(o.depth):
            z = h @ ws[k] + bs[k]
            a = reference.forward_eval(z, gammas[k], betas[k], *stats[k], spec) if with_bn[k] else z
            h = np.tanh(a) if k < o.depth - 1 else a
        val = float(np.mean(np.argmax(h, axis=1) == labels_val))
    # the sensitivity is not yet known: it takes the nudged twin
    return Trained(c, scales, raw, tuple(losses), accuracy, math.nan, val)


def tiny_init(options: Options | None = None, configs: tuple[Config, ...] = CONFIGS) -> TinyInit:
    from bncheck.demos.mlp import one_thread
    from bncheck.emit import load_backward

    o = Options() if options is None else options
    if o.data not in DATA:
        raise ValueError(f"data must be one of {', '.join(DATA)}, got {o.data!r}")
    task = _task(o)
    x, labels, x_val, _, classes = task
    backward: Any = load_backward()  # SymPy-derived; eps is passed per call
    results = []
    with one_thread():  # these matmuls are too small for BLAS threads (see mlp.one_thread)
        for c in configs:
            run, twin = _train(o, c, task, backward), _train(o, c, task, backward, nudged=True)
            results.append(replace(run, sensitivity=abs(twin.last - run.last)))
    held_out = 0 if x_val is None else len(x_val)
    return TinyInit(
        o, float(np.log(classes)), tuple(results), x.shape[1], classes, len(labels), held_out
    )
