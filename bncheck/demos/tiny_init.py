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

__all__ = ["CHAOS", "CONFIGS", "Config", "Options", "TinyInit", "Trained", "tiny_init"]


@dataclass(frozen=True)
class Options:
    steps: int = 100
    lr: float = 0.1
    seed: int = 0
    depth: int = 7  # linear layers: depth − 1 hidden tanh layers and the logits
    # Sizes keep every matmul at M·N·K ≤ 4·65536, where OpenBLAS runs one thread: a threaded
    # GEMM this small spins on a loaded 2-core machine (measured: 44 s against 1.5 s).
    width: int = 40
    n: int = 128  # examples (one full batch)
    d: int = 20  # input features
    classes: int = 4
    init: float = 1e-3  # W ~ U(−init, init)


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

    def __getitem__(self, key: str) -> Trained:
        return next(r for r in self.results if r.config.key == key)


def _task(o: Options) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian blobs: one random centre per class, unit noise, balanced classes."""
    rng = np.random.default_rng(o.seed)
    centres = rng.normal(size=(o.classes, o.d))
    labels = np.arange(o.n) % o.classes
    return centres[labels] + rng.normal(size=(o.n, o.d)), labels


def _bn_forward(z: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float) -> np.ndarray:
    return reference.forward(z, gamma, beta, NormSpec(eps=eps))  # biased var, as in the paper


def _train(
    o: Options, c: Config, x: np.ndarray, labels: np.ndarray, bn_backward: Callable
) -> Trained:
    rng = np.random.default_rng(o.seed + 1)  # the same weights for every configuration
    dims = [o.d] + [o.width] * (o.depth - 1) + [o.classes]
    ws = [rng.uniform(-o.init, o.init, size=(dims[k], dims[k + 1])) for k in range(o.depth)]
    bs = [np.zeros(dims[k + 1]) for k in range(o.depth)]
    gammas, betas = [np.ones_like(b) for b in bs], [np.zeros_like(b) for b in bs]
    with_bn = [c.bn == "every" or (c.bn == "last" and k == o.depth - 1) for k in range(o.depth)]
    rows = np.arange(o.n)
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
        g /= o.n  # ∂ℓ/∂logits of the mean cross-entropy
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
    return Trained(c, scales, raw, tuple(losses), accuracy, sensitivity=math.nan)  # not yet known


def tiny_init(options: Options | None = None, configs: tuple[Config, ...] = CONFIGS) -> TinyInit:
    from bncheck.emit import load_backward

    o = Options() if options is None else options
    x, labels = _task(o)
    nudged = np.nextafter(x, np.inf)  # every input moved by one ulp
    backward: Any = load_backward()  # SymPy-derived; eps is passed per call
    results = []
    for c in configs:
        run, twin = _train(o, c, x, labels, backward), _train(o, c, nudged, labels, backward)
        results.append(replace(run, sensitivity=abs(twin.last - run.last)))
    return TinyInit(o, float(np.log(o.classes)), tuple(results))
