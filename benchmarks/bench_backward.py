"""Speed of the emitted backward against hand-written numpy and torch's native kernel.

Run:  python benchmarks/bench_backward.py [--size 1024 1024] [--rounds 20] [--compile]

All candidates run in one process, interleaved: each runs once untimed, then once per
round (``--calls`` calls, timed together and averaged) in an order rotated from round to
round. Each round's time is divided by the same round's time of the reference candidate
(numpy: the faster, by median time, of the two best hand-written backwards; torch: the
native backward) and of the floor. Reported: the median time and the median of those
per-round ratios with their 25th-75th percentile. Never a best-of.
"floor" is one read of x and dy and one write (np.add with out=), the least any
backward can do. Large temporaries make page faults part of every candidate's time;
``--reuse-heap`` re-runs this script with glibc told to keep freed memory, which shows
the arithmetic alone. ``--blas-threads N`` re-runs it with OpenBLAS/OpenMP/MKL limited to
N threads: numpy's BLAS sums (ones @ x) use every core by default, and on a busy machine
their threads wait on each other.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
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


def _time(
    candidates: dict[str, Callable[[], object]], rounds: int, calls: int
) -> dict[str, list[float]]:
    """Per-round mean time of ``calls`` calls of every candidate, interleaved, order rotated."""
    names = list(candidates)
    for call in candidates.values():  # untimed: caches, allocator, lazy initialisation
        call()
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):  # drift hits every candidate of a round alike
        for name in names[r % len(names) :] + names[: r % len(names)]:
            call = candidates[name]
            start = time.perf_counter()
            for _ in range(calls):
                call()
            times[name].append((time.perf_counter() - start) / calls)
    return times


def _ratios(times: dict[str, list[float]], name: str, ref: str) -> tuple[float, float, float]:
    """25th percentile, median and 75th percentile of name's per-round time / ref's."""
    vals = [t / b for t, b in zip(times[name], times[ref], strict=True)]
    if len(vals) < 3:  # the exclusive quartiles of 2 values lie outside them
        return min(vals), statistics.median(vals), max(vals)
    q = statistics.quantiles(vals, n=4)
    return q[0], statistics.median(vals), q[2]


def _fmt(q: tuple[float, float, float]) -> str:
    lo, mid, hi = q
    return f"{mid:.2f} ({lo:.2f}–{hi:.2f})"


def _cell(times: dict[str, list[float]], name: str, ref: str) -> str:
    return "1 (reference)" if name == ref else _fmt(_ratios(times, name, ref))


def _table(
    times: dict[str, list[float]], ref: str, ref_title: str, floor: str, labels: dict[str, str]
) -> None:
    rounds = len(times[ref])
    print(f"{rounds} rounds; ratios: median of per-round ratios (25th–75th percentile)\n")
    print(f"| candidate | median ms | × floor | × {ref_title} |")
    print("|---|---:|---:|---:|")
    for name, vals in times.items():
        print(
            f"| {labels.get(name, name)} | {statistics.median(vals) * 1e3:.3f} "
            f"| {_cell(times, name, floor)} | {_cell(times, name, ref)} |"
        )


def _goal(times: dict[str, list[float]], name: str, ref: str, goal: float) -> str:
    q = _ratios(times, name, ref)
    verdict = "met" if q[1] <= goal else "NOT met"
    return f"{name} / {ref}: {q[1]:.2f}x ({q[0]:.2f}–{q[2]:.2f}) (goal <= {goal:.2f}: {verdict})"


NUMPY_LABELS = {
    "emitted (bncheck)": "**emitted (bncheck)**",
    "best_numpy": "best hand-written (einsum, in place)",
    "best_numpy_gemv": "best hand-written, BLAS sums",
    "one_liner": "textbook one-liner",
    "staged_paper": "paper's staged equations",
    "kratzert": "Kratzert's nine steps",
}
TORCH_LABELS = {
    "emitted (bncheck)": "**emitted (bncheck), eager**",
    "emitted + torch.compile": "emitted, `torch.compile`d (first call compiles, ~20 s)",
    "native backward": "native backward, given the forward's saved mean and inv_std",
    "native stats + backward": "native statistics + backward (the work the emitted code does)",
}


def numpy_part(n: int, d: int, rounds: int, calls: int) -> None:
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
    times = _time(candidates, rounds, calls)
    hand = ("best_numpy", "best_numpy_gemv")
    fastest_hand = min(hand, key=lambda k: statistics.median(times[k]))
    print(f"\nnumpy float64 ({n}, {d}); reference: fastest hand-written (by median time)")
    print(f"= {fastest_hand}; {calls} calls per timing\n")
    _table(times, fastest_hand, "fastest hand-written", "floor", NUMPY_LABELS)
    print()
    for ref in hand:
        print(_goal(times, "emitted (bncheck)", ref, 1.10))


def torch_part(n: int, d: int, rounds: int, calls: int, threads: int, compile_: bool) -> None:
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
    times = _time(candidates, rounds, calls)
    print(f"\ntorch float64 ({n}, {d}), CPU, {threads} thread(s); {calls} calls per timing\n")
    _table(times, "native backward", "native backward", "floor", TORCH_LABELS)
    print()
    for row in [k for k in times if k.startswith("emitted")]:
        for ref in ("native backward", "native stats + backward"):
            print(_goal(times, row, ref, 1.50))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", nargs=2, type=int, default=(1024, 1024), metavar=("N", "D"))
    parser.add_argument("--rounds", type=int, default=20, help="timed rounds (default 20)")
    parser.add_argument("--calls", type=int, default=5, help="calls per timing (default 5)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--reuse-heap", action="store_true", help="re-run with glibc heap reuse")
    parser.add_argument("--compile", action="store_true", help="also time torch.compile(emitted)")
    parser.add_argument(
        "--blas-threads", type=int, help="re-run with numpy's BLAS limited to this many threads"
    )
    args = parser.parse_args()
    env: dict[str, str] = {}
    if args.reuse_heap:
        env |= {"MALLOC_MMAP_THRESHOLD_": "1000000000", "MALLOC_TRIM_THRESHOLD_": "1e10"}
    if args.blas_threads is not None:
        blas = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
        env |= dict.fromkeys(blas, str(args.blas_threads))
    if any(os.environ.get(k) != v for k, v in env.items()):  # the environment is read at import
        sys.exit(subprocess.call([sys.executable, *sys.argv], env=dict(os.environ, **env)))
    print(f"BLAS threads: {os.environ.get('OPENBLAS_NUM_THREADS', 'default (all cores)')}")
    print(f"heap reuse: {'on' if args.reuse_heap else 'off'}")
    n, d = args.size
    numpy_part(n, d, args.rounds, args.calls)
    torch_part(n, d, args.rounds, args.calls, args.threads, args.compile)


if __name__ == "__main__":
    main()
