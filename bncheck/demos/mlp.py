"""A small numpy MLP whose BN layers run bncheck's own emitted backward.

Linear → (BN) → activation for every hidden layer, then linear logits and a softmax
cross-entropy. With BN a hidden layer has no bias (β takes its place, as in the paper).
BN's forward is the trusted reference forward (``check.reference``), its backward the
function bncheck emits from its SymPy derivation (``emit.load_backward``): the emitted
code is a product, and this is where it trains networks. The running statistics follow
the spec's convention (CS231n, momentum 0.9, by default) and serve eval mode.

Everything is float64 and seeded. A diverging run is not an error: ``loss_and_grads``
returns a non-finite loss with numpy's overflow warnings silenced, and callers stop.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bncheck.check import reference
from bncheck.spec import NormSpec

__all__ = ["MLP", "Grads", "Net", "batches", "cross_entropy", "one_thread"]


@dataclass(frozen=True)
class Net:
    """The architecture: ``sizes`` = (inputs, hidden widths..., classes)."""

    sizes: tuple[int, ...]
    bn: bool  # BN after every hidden linear layer (never on the logits)
    activation: str = "relu"  # relu, tanh, sigmoid or linear
    # "he": N(0, 2/fan_in); "xavier": N(0, 1/fan_in); a number c: U(−c, c)
    init: str | float = "he"
    spec: NormSpec = field(default_factory=NormSpec)  # eps, variance, running convention

    @property
    def depth(self) -> int:
        """Linear layers, the logits' included."""
        return len(self.sizes) - 1


_ACTIVATIONS: dict[str, tuple[Callable[[Any], Any], Callable[[Any, Any], Any]]] = {
    # f(a), and f'(a) written with the output h = f(a) where that is cheaper
    "relu": (lambda a: np.maximum(a, 0.0), lambda a, h: (a > 0).astype(a.dtype)),
    "tanh": (np.tanh, lambda a, h: 1.0 - h * h),
    "sigmoid": (lambda a: 1.0 / (1.0 + np.exp(-a)), lambda a, h: h * (1.0 - h)),
    "linear": (lambda a: a, lambda a, h: np.ones_like(a)),
}


@dataclass
class Grads:
    """∂loss/∂ each parameter, per layer (None where a layer has no such parameter)."""

    w: list[np.ndarray]
    b: list[np.ndarray | None]
    gamma: list[np.ndarray | None]
    beta: list[np.ndarray | None]


def cross_entropy(logits: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
    """The mean softmax cross-entropy and its gradient with respect to the logits."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    p = np.exp(shifted)
    p /= p.sum(axis=1, keepdims=True)
    rows = np.arange(len(labels))
    loss = float(-np.mean(np.log(np.maximum(p[rows, labels], 1e-300))))
    p[rows, labels] -= 1.0
    return loss, p / len(labels)


class MLP:
    """Parameters and running statistics of one network, initialised from ``seed``."""

    def __init__(self, net: Net, seed: int) -> None:
        from bncheck.emit import load_backward

        if net.activation not in _ACTIVATIONS:
            raise ValueError(f"unknown activation {net.activation!r}")
        self.net = net
        self._backward = load_backward(net.spec)  # SymPy-derived (dy, x, gamma, eps)
        rng = np.random.default_rng(seed)
        self.w: list[np.ndarray] = []
        self.b: list[np.ndarray | None] = []
        self.gamma: list[np.ndarray | None] = []
        self.beta: list[np.ndarray | None] = []
        self.running: list[tuple[np.ndarray, np.ndarray] | None] = []
        for k, (fan_in, fan_out) in enumerate(zip(net.sizes, net.sizes[1:], strict=False)):
            self.w.append(_weights(rng, net.init, fan_in, fan_out))
            normed = self.normed(k)
            self.b.append(None if normed else np.zeros(fan_out))
            self.gamma.append(np.ones(fan_out) if normed else None)
            self.beta.append(np.zeros(fan_out) if normed else None)
            self.running.append((np.zeros(fan_out), np.ones(fan_out)) if normed else None)

    def normed(self, k: int) -> bool:
        """Layer k is followed by BN: every hidden layer when the net has BN."""
        return self.net.bn and k < self.net.depth - 1

    def forward(self, x: np.ndarray, train: bool = True, track: bool = True) -> tuple[Any, list]:
        """Logits and the cache for ``backward``.

        train: BN normalises with the batch's statistics (and, with ``track``, updates the
        running ones); otherwise with the running statistics (eval mode).
        """
        f, _ = _ACTIVATIONS[self.net.activation]
        spec, cache, h = self.net.spec, [], x
        for k in range(self.net.depth):
            z = h @ self.w[k]
            bias = self.b[k]
            if bias is not None:
                z = z + bias
            gamma, beta, running = self.gamma[k], self.beta[k], self.running[k]
            if gamma is None or beta is None or running is None:
                a = z
            elif train:
                a = reference.forward(z, gamma, beta, spec)
                if track:
                    self.running[k] = reference.running_update(*running, z, spec)
            else:
                a = reference.forward_eval(z, gamma, beta, *running, spec)
            out = f(a) if k < self.net.depth - 1 else a
            cache.append((h, z, a, out))
            h = out
        return h, cache

    def backward(self, cache: list, dlogits: np.ndarray) -> Grads:
        _, fprime = _ACTIVATIONS[self.net.activation]
        depth = self.net.depth
        grads = Grads([], [], [], [])
        g = dlogits
        for k in reversed(range(depth)):
            h_in, z, a, out = cache[k]
            if k < depth - 1:
                g = g * fprime(a, out)
            gamma = self.gamma[k]
            dgamma = dbeta = None
            if gamma is not None:
                g, dgamma, dbeta = self._backward(g, z, gamma, self.net.spec.eps)
            grads.w.append(h_in.T @ g)
            grads.b.append(None if self.b[k] is None else g.sum(axis=0))
            grads.gamma.append(dgamma)
            grads.beta.append(dbeta)
            if k > 0:
                g = g @ self.w[k].T
        for part in (grads.w, grads.b, grads.gamma, grads.beta):
            part.reverse()
        return grads

    def loss_and_grads(self, x: np.ndarray, labels: np.ndarray) -> tuple[float, Grads]:
        """One train-mode forward (running statistics updated) and backward."""
        with np.errstate(all="ignore"):  # a diverging run shows as a non-finite loss
            logits, cache = self.forward(x)
            loss, dlogits = cross_entropy(logits, labels)
            return loss, self.backward(cache, dlogits)

    def sgd(self, grads: Grads, lr: float) -> None:
        with np.errstate(all="ignore"):
            for params, steps in (
                (self.w, grads.w),
                (self.b, grads.b),
                (self.gamma, grads.gamma),
                (self.beta, grads.beta),
            ):
                for p, d in zip(params, steps, strict=True):
                    if p is not None and d is not None:
                        p -= lr * d

    def accuracy(self, x: np.ndarray, labels: np.ndarray) -> float:
        """The share classified right, in eval mode (running statistics)."""
        with np.errstate(all="ignore"):
            logits, _ = self.forward(x, train=False)
        return float(np.mean(np.argmax(logits, axis=1) == labels))

    def loss(self, x: np.ndarray, labels: np.ndarray) -> float:
        """The mean cross-entropy in eval mode."""
        with np.errstate(all="ignore"):
            logits, _ = self.forward(x, train=False)
            return cross_entropy(logits, labels)[0]


def _weights(rng: np.random.Generator, init: str | float, fan_in: int, fan_out: int) -> Any:
    if init == "he":
        return rng.normal(0.0, math.sqrt(2.0 / fan_in), size=(fan_in, fan_out))
    if init == "xavier":
        return rng.normal(0.0, math.sqrt(1.0 / fan_in), size=(fan_in, fan_out))
    if isinstance(init, str):
        raise ValueError(f"unknown init {init!r}")
    return rng.uniform(-init, init, size=(fan_in, fan_out))


def batches(n: int, size: int, rng: np.random.Generator) -> Iterator[np.ndarray]:
    """Row indices of shuffled mini-batches of ``size``, epoch after epoch, forever.

    Each epoch is a fresh permutation; its last, short batch is dropped, so every batch has
    ``size`` rows (BN's statistics then always come from the same number of examples).
    """
    if not 1 <= size <= n:
        raise ValueError(f"batch size {size} must lie in [1, {n}]")
    while True:
        order = rng.permutation(n)
        for start in range(0, n - size + 1, size):
            yield order[start : start + size]


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """BLAS on one thread: for matmuls this small, OpenBLAS's threads only spin on 2 shared
    cores (measured in tiny_init: 44 s against 1.5 s). threadpoolctl comes with scikit-learn."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        yield
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield
