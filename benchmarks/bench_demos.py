"""How long the demos take (their budget: 30 s each), and what the emitted backward costs
in training.

Run:  python benchmarks/bench_demos.py [--rounds 5] [--steps 300]

1. Every demo as a user runs it, ``python -m bncheck demo NAME``, in a fresh process: wall
   time and the child's CPU time (user + system, which a busy moment of this shared 2-core
   machine inflates less). The demos run in a shuffled order each round (interleaved), and
   the table gives medians with their 25th-75th percentile, never a best-of.
2. The MLP of the experiments on real digits (64-100-100-100-10, BN, batch 64), trained with
   BN's backward from bncheck's emitted code and, side by side, with a hand-written compact
   numpy backward: per round both train the same steps in alternating order, and the table
   gives the median of the paired ratios (emitted / hand-written) with its spread.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

BUDGET = 30.0  # seconds a demo may take (issue 12)
COMMANDS = {
    "mean-dependence": ["mean-dependence"],
    "scale-invariance": ["scale-invariance"],
    "tiny-init": ["tiny-init"],
    "tiny-init --data digits": ["tiny-init", "--data", "digits"],
    "learning-rate": ["learning-rate"],
    "gradient-histograms": ["gradient-histograms"],
    "batch-noise": ["batch-noise"],
}


def _quartiles(values: list[float]) -> tuple[float, float, float]:
    q = statistics.quantiles(values, n=4) if len(values) > 1 else [values[0]] * 3
    return q[0], statistics.median(values), q[2]


def _run(args: list[str]) -> tuple[float, float]:
    """Wall and CPU seconds of one ``bncheck demo`` in a fresh process."""
    env = {**os.environ}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # bytecode cached, as for an installed bncheck
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "bncheck", "demo", *args], env=env, capture_output=True
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"bncheck demo {' '.join(args)}: exit {done.returncode}\n{done.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def demos(rounds: int) -> None:
    for args in COMMANDS.values():  # warm: emitted-code cache, page cache, bytecode
        _run(args)
    wall: dict[str, list[float]] = {name: [] for name in COMMANDS}
    cpu: dict[str, list[float]] = {name: [] for name in COMMANDS}
    rng = random.Random(0)
    for _ in range(rounds):
        order = list(COMMANDS)
        rng.shuffle(order)
        for name in order:
            w, c = _run(COMMANDS[name])
            wall[name].append(w)
            cpu[name].append(c)
    print(
        f"\n| demo | wall s, median (25th-75th) | CPU s, median (25th-75th) | of {BUDGET:.0f} s |"
    )
    print("|---|---:|---:|---:|")
    for name in COMMANDS:
        lo, mid, hi = _quartiles(wall[name])
        clo, cmid, chi = _quartiles(cpu[name])
        share = f"{mid / BUDGET:.0%}"
        spread, cpu_spread = f"({lo:.1f}-{hi:.1f})", f"({clo:.1f}-{chi:.1f})"
        print(f"| {name} | {mid:.1f} {spread} | {cmid:.1f} {cpu_spread} | {share} |")


def _compact(dy: Any, x: Any, gamma: Any, eps: float) -> tuple[Any, Any, Any]:
    """The textbook compact backward, hand-written (the peer)."""
    m = x.shape[0]
    mu = x.mean(axis=0)
    inv = 1.0 / np.sqrt(x.var(axis=0) + eps)
    xhat = (x - mu) * inv
    dbeta = dy.sum(axis=0)
    dgamma = (dy * xhat).sum(axis=0)
    dx = (gamma * inv / m) * (m * dy - dbeta - xhat * dgamma)
    return dx, dgamma, dbeta


def _train(backward: Callable[..., Any] | None, steps: int, seed: int) -> tuple[float, float]:
    """Seconds for ``steps`` SGD steps (and the last loss, to check both agree)."""
    from bncheck.demos import digits, mlp

    data = digits.load(0)
    net = mlp.MLP(mlp.Net((64, 100, 100, 100, 10), bn=True), seed=seed)
    if backward is not None:
        net._backward = backward  # the peer in place of the emitted function
    batches = mlp.batches(len(data.y_train), 64, np.random.default_rng(seed + 1))
    loss = float("nan")
    with mlp.one_thread():
        start = time.perf_counter()
        for _ in range(steps):
            rows = next(batches)
            loss, grads = net.loss_and_grads(data.x_train[rows], data.y_train[rows])
            net.sgd(grads, 0.1)
        return time.perf_counter() - start, loss


def training(rounds: int, steps: int) -> None:
    _train(None, 20, 0), _train(_compact, 20, 0)  # warm
    emitted, written, ratios = [], [], []
    for i in range(rounds):
        pair: list[tuple[Callable[..., Any] | None, list[float]]] = [
            (None, emitted),
            (_compact, written),
        ]
        losses = []
        for backward, times in pair if i % 2 == 0 else pair[::-1]:
            seconds, loss = _train(backward, steps, i)
            times.append(seconds)
            losses.append(loss)
        if abs(losses[0] - losses[1]) > 1e-9 * max(1.0, abs(losses[0])):
            raise SystemExit(f"the two backwards trained apart: losses {losses}")
        ratios.append(emitted[-1] / written[-1])
    lo, mid, hi = _quartiles(ratios)
    print(f"\nMLP 64-100-100-100-10 with BN, batch 64, {steps} SGD steps, {rounds} rounds:")
    print("| BN backward | ms per step, median | × hand-written: median ratio (25th-75th) |")
    print("|---|---:|---:|")
    print(
        f"| emitted (bncheck) | {1e3 * statistics.median(emitted) / steps:.3f} "
        f"| {mid:.2f} ({lo:.2f}-{hi:.2f}) |"
    )
    print(f"| hand-written compact | {1e3 * statistics.median(written) / steps:.3f} | 1 |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--skip-demos", action="store_true", help="only the training comparison")
    args = parser.parse_args()
    if not args.skip_demos:
        demos(args.rounds)
    training(max(args.rounds, 5), args.steps)


if __name__ == "__main__":
    main()
