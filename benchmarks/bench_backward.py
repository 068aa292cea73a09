"""Speed of the emitted backward against hand-written numpy and torch's native kernel.

Run:  python benchmarks/bench_backward.py [--size 1024 1024] [--rounds 15]

All candidates run interleaved in one process, so they share the machine's state;
each entry is the best of ``rounds`` (each the mean of a few calls) and the median.
"floor" is one read of x and dy and one write (np.add with out=), the least any
backward can do. Large temporaries make page faults part of every candidate's
time; ``--reuse-heap`` re-runs this script with glibc told to keep freed memory,
which shows the arithmetic alone.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import timeit
from collections.abc import Callable

import numpy as np

from bncheck.emit import load_backward


# ---- hand-written numpy peers ---------------------------------------------------------------
def best_numpy(dy, x, gamma, eps=1e-5):
    """The fastest numpy we know: centred once, einsum reductions, dx affine in dy and x - mu."""
    m = x.shape[0]
    xmu = x - x.sum(0) / m
    inv_std = 1 / np.sqrt(np.einsum("nd,nd->d", xmu, xmu) / m + eps)
    dbeta = dy.sum(0)
    dgamma = np.einsum("nd,nd->d", dy, xmu) * inv_std
    k = gamma * inv_std
    xmu *= -k * inv_std * dgamma / m
    xmu += -k * dbeta / m
    dx = dy * k
    dx += xmu
    return dx, dgamma, dbeta


def best_numpy_gemv(dy, x, gamma, eps=1e-5):
    """As best_numpy, with the two plain sums done by BLAS (ones @ x)."""
    m = x.shape[0]
    ones = np.ones(m, dtype=x.dtype)
    xmu = x - (ones @ x) / m
    inv_std = 1 / np.sqrt(np.einsum("nd,nd->d", xmu, xmu) / m + eps)
    dbeta = ones @ dy
    dgamma = np.einsum("nd,nd->d", dy, xmu) * inv_std
    k = gamma * inv_std
    xmu *= -k * inv_std * dgamma / m
    xmu += -k * dbeta / m
    dx = dy * k
    dx += xmu
    return dx, dgamma, dbeta


def one_liner(dy, x, gamma, eps=1e-5):
    """The textbook compact form, as most courses write it."""
    m = x.shape[0]
    mu, var = x.mean(0), x.var(0)
    inv_std = 1 / np.sqrt(var + eps)
    xhat = (x - mu) * inv_std
    dbeta, dgamma = dy.sum(0), (dy * xhat).sum(0)
    dx = gamma * inv_std / m * (m * dy - dbeta - xhat * dgamma)
    return dx, dgamma, dbeta


def staged_paper(dy, x, gamma, eps=1e-5):
    """The paper's Section 3 equations, one array per line."""
    m = x.shape[0]
    mu = x.mean(0)
    var = ((x - mu) ** 2).mean(0)
    xhat = (x - mu) / np.sqrt(var + eps)
    dxhat = dy * gamma
    dvar = np.sum(dxhat * (x - mu), 0) * -0.5 * (var + eps) ** -1.5
    dmu = np.sum(dxhat * -1 / np.sqrt(var + eps), 0) + dvar * np.mean(-2 * (x - mu), 0)
    dx = dxhat / np.sqrt(var + eps) + dvar * 2 * (x - mu) / m + dmu / m
    return dx, np.sum(dy * xhat, 0), dy.sum(0)


def kratzert(dy, x, gamma, eps=1e-5):
    """The nine-step computational graph of F. Kratzert's well-known blog post."""
    n = x.shape[0]
    mu = 1.0 / n * np.sum(x, axis=0)
    xmu = x - mu
    sq = xmu**2
    var = 1.0 / n * np.sum(sq, axis=0)
    sqrtvar = np.sqrt(var + eps)
    ivar = 1.0 / sqrtvar
    xhat = xmu * ivar
    dbeta = np.sum(dy, axis=0)
    dgamma = np.sum(dy * xhat, axis=0)
    dxhat = dy * gamma
    divar = np.sum(dxhat * xmu, axis=0)
    dxmu1 = dxhat * ivar
    dsqrtvar = -1.0 / (sqrtvar**2) * divar
    dvar = 0.5 * 1.0 / np.sqrt(var + eps) * dsqrtvar
    dsq = 1.0 / n * np.ones_like(x) * dvar
    dxmu2 = 2 * xmu * dsq
    dx1 = dxmu1 + dxmu2
    dmu = -1 * np.sum(dxmu1 + dxmu2, axis=0)
    dx2 = 1.0 / n * np.ones_like(x) * dmu
    return dx1 + dx2, dgamma, dbeta


def _time(candidates: dict[str, Callable[[], object]], rounds: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {name: [] for name in candidates}
    for _ in range(rounds):  # interleaved, so drift hits every candidate alike
        for name, call in candidates.items():
            times[name].append(min(timeit.repeat(call, number=5, repeat=3)) / 5)
    return times


def _table(times: dict[str, list[float]], ref: str, floor: str) -> None:
    best = {k: min(v) for k, v in times.items()}
    print(f"| candidate | best ms | median ms | × floor | × {ref} |")
    print("|---|---:|---:|---:|---:|")
    for name, vals in times.items():
        print(
            f"| {name} | {best[name] * 1e3:.3f} | {np.median(vals) * 1e3:.3f} "
            f"| {best[name] / best[floor]:.2f} | {best[name] / best[ref]:.2f} |"
        )


def numpy_part(n: int, d: int, rounds: int) -> None:
    rng = np.random.default_rng(0)
    x, dy = rng.standard_normal((n, d)), rng.standard_normal((n, d))
    gamma = rng.standard_normal(d)
    emitted = load_backward(None, "numpy")
    want = one_liner(dy, x, gamma)
    peers = (best_numpy, best_numpy_gemv, one_liner, staged_paper, kratzert)
    for f in (emitted, *peers):
        for g, w in zip(f(dy, x, gamma), want, strict=True):
            np.testing.assert_allclose(g, w, rtol=1e-9, atol=1e-12, err_msg=f.__name__)
    out = np.empty_like(x)
    candidates: dict[str, Callable[[], object]] = {"floor": lambda: np.add(x, dy, out=out)}
    candidates["emitted (bncheck)"] = lambda: emitted(dy, x, gamma)
    for f in peers:
        candidates[f.__name__] = lambda f=f: f(dy, x, gamma)
    times = _time(candidates, rounds)
    fastest_hand = min(("best_numpy", "best_numpy_gemv"), key=lambda k: min(times[k]))
    print(f"\nnumpy float64 ({n}, {d}); reference: fastest hand-written = {fastest_hand}\n")
    _table(times, fastest_hand, "floor")
    ratio = min(times["emitted (bncheck)"]) / min(times[fastest_hand])
    print(f"\nemitted / fastest hand-written numpy: {ratio:.2f}x (goal <= 1.10)")


def torch_part(n: int, d: int, rounds: int, threads: int, compile_: bool) -> None:
    try:
        import torch
    except ImportError:
        print("\ntorch is not installed: pip install torch==2.13.0 for the torch comparison")
        return
    torch.set_num_threads(threads)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(n, d, dtype=torch.float64, generator=gen)
    dy = torch.randn(n, d, dtype=torch.float64, generator=gen)
    gamma = torch.randn(d, dtype=torch.float64, generator=gen)
    emitted = load_backward(None, "torch")
    aten = torch.ops.aten
    _, save_mean, save_invstd = aten.native_batch_norm(x, gamma, None, None, None, True, 0.1, 1e-5)

    def native_backward():  # given the statistics the forward saved
        return aten.native_batch_norm_backward(
            dy, x, gamma, None, None, save_mean, save_invstd, True, 1e-5, [True, True, True]
        )

    def native_with_stats():  # recomputing the statistics, as the emitted code does
        _, mean, invstd = aten.native_batch_norm(x, gamma, None, None, None, True, 0.1, 1e-5)
        return aten.native_batch_norm_backward(
            dy, x, gamma, None, None, mean, invstd, True, 1e-5, [True, True, True]
        )

    for got, want in zip(emitted(dy, x, gamma), native_backward(), strict=True):
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    out = torch.empty_like(x)
    candidates: dict[str, Callable[[], object]] = {
        "floor": lambda: torch.add(x, dy, out=out),
        "emitted (bncheck)": lambda: emitted(dy, x, gamma),
        "native backward": native_backward,
        "native stats + backward": native_with_stats,
    }
    if compile_:  # the same emitted source, fused by inductor (the first call compiles, ~20 s)
        compiled = torch.compile(emitted, dynamic=False)
        compiled(dy, x, gamma)
        candidates["emitted + torch.compile"] = lambda: compiled(dy, x, gamma)
    times = _time(candidates, rounds)
    print(f"\ntorch float64 ({n}, {d}), CPU, {threads} thread(s)\n")
    _table(times, "native backward", "floor")
    emitted_rows = [k for k in times if k.startswith("emitted")]
    for row in emitted_rows:
        for ref in ("native backward", "native stats + backward"):
            ratio = min(times[row]) / min(times[ref])
            print(f"{row} / {ref}: {ratio:.2f}x (goal <= 1.50)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", nargs=2, type=int, default=(1024, 1024), metavar=("N", "D"))
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--reuse-heap", action="store_true", help="re-run with glibc heap reuse")
    parser.add_argument("--compile", action="store_true", help="also time torch.compile(emitted)")
    args = parser.parse_args()
    if args.reuse_heap and "MALLOC_TRIM_THRESHOLD_" not in os.environ:
        env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="1000000000", MALLOC_TRIM_THRESHOLD_="1e10")
        argv = [a for a in sys.argv if a != "--reuse-heap"]
        sys.exit(subprocess.call([sys.executable, *argv], env=env))
    n, d = args.size
    numpy_part(n, d, args.rounds)
    torch_part(n, d, args.rounds, args.threads, args.compile)


if __name__ == "__main__":
    main()
