"""Speed of the emitted backward against hand-written numpy and torch's native kernel.

Run:  python benchmarks/bench_backward.py [--rounds 20] [--compile] [--size N D ...]

Batch norm over axis 0, at float64 and float32, on the shapes (1024, 1024), (64, 4096)
and (8192, 256) by default; LayerNorm's (4096, 1024) over the last axis is measured, the
same way, by bench_layernorm.py. Within one shape and dtype all candidates run in one
process, interleaved: each runs once untimed, then once per round (``--calls`` calls,
timed together and averaged; by default as many as take ~10 ms, at least 3) in an order
shuffled afresh each round (seeded). Each round's time is divided by the same round's time of
the reference (numpy: the fastest hand-written backward by median time, whichever it is;
torch: the native backward) and of the floor. Reported: the median time and the median
of those per-round ratios with their 25th-75th percentile. Never a best-of.
"floor" is one read of x and dy and one write (np.add with out=), the least any
backward can do. Large temporaries make page faults part of every candidate's time;
``--reuse-heap`` re-runs this script with glibc told to keep freed memory, which shows
the arithmetic alone. ``--blas-threads N`` re-runs it with OpenBLAS/OpenMP/MKL limited to
N threads: BLAS sums (ones @ x) use every core by default, and on a busy machine their
threads wait on each other. Every candidate is checked first: results against a float64
reference, and the dtype of each result (float32 in, float32 out: no silent upcast).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

import numpy as np

from bncheck.emit import load_backward

SHAPES = ((1024, 1024), (64, 4096), (8192, 256))


# ---- hand-written numpy peers ---------------------------------------------------------------
def inplace_numpy(dy, x, gamma, eps=1e-5):
    """The fastest whole-array numpy we know: allocates only dx (x - mu, then in place)."""
    m = x.shape[0]
    dx = x - x.sum(0) / m  # x - mu, and later dx
    inv_std = 1 / np.sqrt(np.einsum("nd,nd->d", dx, dx) / m + eps)
    dbeta = dy.sum(0)
    dgamma = np.einsum("nd,nd->d", dy, dx) * inv_std
    dx *= -inv_std * dgamma / m
    dx += dy
    dx -= dbeta / m
    dx *= gamma * inv_std
    return dx, dgamma, dbeta


def row_blocked(dy, x, gamma, eps=1e-5, block_bytes=1 << 20):
    """As inplace_numpy, in blocks of rows (~1 MiB of each array) that stay in cache."""
    m, d = x.shape
    rows = max(1, block_bytes // (d * x.itemsize))
    mu = x.sum(0) / m
    dx = np.empty_like(x)  # holds x - mu, block by block, then dx
    sq, dbeta, dyxmu = (np.zeros(d, x.dtype) for _ in range(3))
    for r in range(0, m, rows):
        xmu, g = dx[r : r + rows], dy[r : r + rows]
        np.subtract(x[r : r + rows], mu, out=xmu)
        sq += np.einsum("nd,nd->d", xmu, xmu)
        dyxmu += np.einsum("nd,nd->d", g, xmu)
        dbeta += g.sum(0)
    inv_std = 1 / np.sqrt(sq / m + eps)
    dgamma = dyxmu * inv_std
    b, c, a = -inv_std * dgamma / m, -dbeta / m, gamma * inv_std
    for r in range(0, m, rows):
        block = dx[r : r + rows]
        block *= b
        block += dy[r : r + rows]
        block += c
        block *= a
    return dx, dgamma, dbeta


def best_numpy(dy, x, gamma, eps=1e-5):
    """Centred once, einsum reductions, dx affine in dy and x - mu (allocates x - mu and dx)."""
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
    """Per-round mean time of ``calls`` calls of every candidate, interleaved, order shuffled.

    The order is a fresh (seeded) permutation each round, not a rotation: a rotation keeps
    every candidate behind the same predecessor, whose freed memory and cache contents it
    inherits (behind the many-temporaries peers, 10-30% slower in a first version).
    """
    names = list(candidates)
    for call in candidates.values():  # untimed: caches, allocator, lazy initialisation
        call()
    times: dict[str, list[float]] = {name: [] for name in names}
    order = random.Random(0)
    for _ in range(rounds):  # drift hits every candidate of a round alike
        for name in order.sample(names, len(names)):
            call = candidates[name]
            start = time.perf_counter()
            for _ in range(calls):
                call()
            times[name].append((time.perf_counter() - start) / calls)
    return times


def _auto_calls(call: Callable[[], object], calls: int | None, target: float = 0.01) -> int:
    """``calls``, or as many calls as take ``target`` seconds (3 to 100), from one timed call."""
    if calls is not None:
        return calls
    call()
    start = time.perf_counter()
    call()
    return max(3, min(100, round(target / (time.perf_counter() - start))))


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


def _ms(times: dict[str, list[float]], name: str) -> str:
    return f"{statistics.median(times[name]) * 1e3:.3f}"


def _table(
    times: dict[str, list[float]], ref: str, ref_title: str, floor: str, labels: dict[str, str]
) -> None:
    rounds = len(times[ref])
    print(f"{rounds} rounds; ratios: median of per-round ratios (25th–75th percentile)\n")
    print(f"| candidate | median ms | × floor | × {ref_title} |")
    print("|---|---:|---:|---:|")
    for name in times:
        print(
            f"| {labels.get(name, name)} | {_ms(times, name)} "
            f"| {_cell(times, name, floor)} | {_cell(times, name, ref)} |"
        )


def _goal(times: dict[str, list[float]], name: str, ref: str, goal: float) -> str:
    q = _ratios(times, name, ref)
    verdict = "met" if q[1] <= goal else "NOT met"
    return f"{name} / {ref}: {q[1]:.2f}x ({q[0]:.2f}–{q[2]:.2f}) (goal <= {goal:.2f}: {verdict})"


NUMPY_LABELS = {
    "emitted (bncheck)": "**emitted (bncheck)**",
    "inplace_numpy": "hand-written, in place (allocates only dx)",
    "row_blocked": "hand-written, row-blocked (allocates only dx)",
    "best_numpy": "hand-written, einsum (allocates x - mu and dx)",
    "best_numpy_gemv": "hand-written, BLAS sums (ones @ x)",
    "one_liner": "textbook one-liner",
    "staged_paper": "paper's staged equations",
    "kratzert": "Kratzert's nine steps",
}
HAND = ("inplace_numpy", "row_blocked", "best_numpy", "best_numpy_gemv")
SUMMARY = ("emitted (bncheck)", *HAND, "one_liner")
TORCH_LABELS = {
    "emitted (bncheck)": "**emitted (bncheck), eager**",
    "emitted + torch.compile": "emitted, `torch.compile`d",
    "native backward": "native backward, given the forward's saved mean and inv_std",
    "native stats + backward": "native statistics + backward (the work the emitted code does)",
}
Config = tuple[tuple[int, int], str]


def _check(name: str, got: tuple, want: tuple, dtype: str, tol: float) -> None:
    """Each result has the input's dtype and agrees (normwise) with the float64 reference."""
    for g, w, what in zip(got, want, ("dx", "dgamma", "dbeta"), strict=True):
        g = np.asarray(g)
        if g.dtype != np.dtype(dtype):
            raise AssertionError(f"{name}: {what} is {g.dtype}, the inputs are {dtype}")
        err = np.linalg.norm(g.astype(np.float64) - w) / np.linalg.norm(w)
        if not err <= tol:
            raise AssertionError(f"{name}: {what} normwise relative error {err:.1e} > {tol:.0e}")


TOLERANCE = {"float64": 1e-12, "float32": 1e-5}


def time_numpy(
    title: str,
    emitted: Callable,
    peers: tuple[Callable, ...],
    hand: tuple[str, ...],
    labels: dict[str, str],
    arrays: tuple[np.ndarray, np.ndarray, np.ndarray],
    want: tuple,
    rounds: int,
    calls: int | None,
) -> tuple[dict[str, list[float]], str]:
    """Check, then time the emitted backward, ``peers`` and the floor on (dy, x, gamma);
    print the table against the fastest of ``hand`` and the goal. Shared with
    bench_layernorm.py."""
    dy, x, gamma = arrays
    dtype = str(x.dtype)
    for f in (emitted, *peers):
        _check(f.__name__, f(dy, x, gamma), want, dtype, TOLERANCE[dtype])
    out = np.empty_like(x)
    candidates: dict[str, Callable[[], object]] = {"floor": lambda: np.add(x, dy, out=out)}
    candidates["emitted (bncheck)"] = lambda: emitted(dy, x, gamma)
    for f in peers:
        candidates[f.__name__] = lambda f=f: f(dy, x, gamma)
    calls = _auto_calls(candidates["emitted (bncheck)"], calls)
    times = _time(candidates, rounds, calls)
    fastest = min(hand, key=lambda k: statistics.median(times[k]))
    print(f"\n{title}; reference: the fastest hand-written (by median time)")
    print(f"= {fastest}; {calls} calls per timing\n")
    _table(times, fastest, "fastest hand-written", "floor", labels)
    print()
    print(_goal(times, "emitted (bncheck)", fastest, 1.10))
    return times, fastest


def numpy_part(
    shape: tuple[int, int], dtype: str, rounds: int, calls: int | None
) -> tuple[dict[str, list[float]], str]:
    rng = np.random.default_rng(0)
    x64, dy64 = rng.standard_normal(shape), rng.standard_normal(shape)
    gamma64 = rng.standard_normal(shape[1])
    want = one_liner(dy64, x64, gamma64)
    x, dy, gamma = (a.astype(dtype) for a in (x64, dy64, gamma64))
    peers = (inplace_numpy, row_blocked, best_numpy, best_numpy_gemv)
    peers += (one_liner, staged_paper, kratzert)
    emitted = load_backward(None, "numpy")
    title = f"numpy {dtype} {shape}"
    return time_numpy(
        title, emitted, peers, HAND, NUMPY_LABELS, (dy, x, gamma), want, rounds, calls
    )


def time_torch(
    title: str,
    emitted: Callable,
    natives: dict[str, Callable[[], tuple]],
    arrays: tuple,
    want: tuple,
    rounds: int,
    calls: int | None,
    compile_: bool,
    compiled_tolerance: float | None = None,
) -> tuple[dict[str, list[float]], float | None]:
    """Check, then time the emitted torch backward (eager, and compiled with ``compile_``)
    against torch's ``natives`` ("native backward" given the forward's statistics, "native
    stats + backward") and the floor; print the table and the goals. Shared with
    bench_layernorm.py."""
    import torch

    dy, x, gamma = arrays
    dtype = str(x.dtype).removeprefix("torch.")

    def numpy_of(f: Callable[[], tuple]) -> tuple:
        return tuple(t.numpy() for t in f())

    _check("torch emitted", numpy_of(lambda: emitted(dy, x, gamma)), want, dtype, TOLERANCE[dtype])
    _check("torch native", numpy_of(natives["native backward"]), want, dtype, 1e-5)
    out = torch.empty_like(x)
    candidates: dict[str, Callable[[], object]] = {
        "floor": lambda: torch.add(x, dy, out=out),
        "emitted (bncheck)": lambda: emitted(dy, x, gamma),
        **natives,
    }
    compile_s = None
    if compile_:  # the same emitted source, fused by inductor (the first call compiles)
        compiled = torch.compile(emitted, dynamic=False)
        start = time.perf_counter()
        compiled(dy, x, gamma)
        compile_s = time.perf_counter() - start
        got = numpy_of(lambda: compiled(dy, x, gamma))
        _check("torch compiled", got, want, dtype, compiled_tolerance or TOLERANCE[dtype])
        candidates["emitted + torch.compile"] = lambda: compiled(dy, x, gamma)
    calls = _auto_calls(candidates["emitted (bncheck)"], calls)
    times = _time(candidates, rounds, calls)
    print(f"\n{title}, CPU, {torch.get_num_threads()} thread(s); {calls} calls per timing")
    if compile_s is not None:
        print(f"torch.compile: first call (compiling) {compile_s:.1f} s")
    print()
    _table(times, "native backward", "native backward", "floor", TORCH_LABELS)
    print()
    for row in [k for k in times if k.startswith("emitted")]:
        for ref in ("native backward", "native stats + backward"):
            print(_goal(times, row, ref, 1.50))
    return times, compile_s


def torch_part(
    shape: tuple[int, int],
    dtype: str,
    rounds: int,
    calls: int | None,
    threads: int,
    compile_: bool,
) -> tuple[dict[str, list[float]], float | None] | None:
    try:
        import torch
    except ImportError:
        print("\ntorch is not installed: pip install torch==2.13.0 for the torch comparison")
        return None
    torch.set_num_threads(threads)
    gen = torch.Generator().manual_seed(0)
    x, dy = (torch.randn(shape, dtype=torch.float64, generator=gen) for _ in range(2))
    gamma = torch.randn(shape[1], dtype=torch.float64, generator=gen)
    want = tuple(t.numpy() for t in load_backward(None, "torch")(dy, x, gamma))
    x, dy, gamma = (t.to(getattr(torch, dtype)) for t in (x, dy, gamma))
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

    natives = {"native backward": native_backward, "native stats + backward": native_with_stats}
    title = f"torch {dtype} {shape}"
    return time_torch(title, emitted, natives, (dy, x, gamma), want, rounds, calls, compile_)


def _numpy_summary(results: dict[Config, tuple[dict[str, list[float]], str]]) -> None:
    print("\n## numpy summary: × the fastest hand-written, median (25th–75th pct)\n")
    cols = [NUMPY_LABELS[k].replace("hand-written, ", "") for k in SUMMARY]
    print("| shape, dtype | fastest hand-written, ms | emitted ms | " + " | ".join(cols) + " |")
    print("|---|---|---:|" + "---:|" * len(cols))
    for (shape, dtype), (times, fastest) in results.items():
        cells = [_cell(times, k, fastest) for k in SUMMARY]
        head = f"| {shape}, {dtype} | {fastest}, {_ms(times, fastest)}"
        print(f"{head} | {_ms(times, 'emitted (bncheck)')} | " + " | ".join(cells) + " |")


def _torch_summary(results: dict[Config, tuple[dict[str, list[float]], float | None]]) -> None:
    print("\n## torch summary: × native backward, median (25th–75th pct)\n")
    cols = ["emitted, eager", "emitted, eager × native stats + backward"]
    compiled = any(c is not None for _, c in results.values())
    if compiled:
        cols += ["emitted, compiled", "compile s"]
    print("| shape, dtype | native ms | eager ms | " + " | ".join(cols) + " |")
    print("|---|---:|---:|" + "---:|" * len(cols))
    for (shape, dtype), (times, compile_s) in results.items():
        e, ref = "emitted (bncheck)", "native backward"
        cells = [_cell(times, e, ref), _cell(times, e, "native stats + backward")]
        if compiled:
            cells += [_cell(times, "emitted + torch.compile", ref), f"{compile_s:.1f}"]
        row = f"| {shape}, {dtype} | {_ms(times, ref)} | {_ms(times, e)} | "
        print(row + " | ".join(cells) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--size", nargs=2, type=int, action="append", metavar=("N", "D"), help="repeatable"
    )
    parser.add_argument("--dtype", choices=("float64", "float32"), action="append")
    parser.add_argument("--rounds", type=int, default=20, help="timed rounds (default 20)")
    parser.add_argument("--calls", type=int, help="calls per timing (default: ~10 ms, >= 3)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--no-torch", action="store_true", help="numpy only")
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
    configs = [
        (tuple(shape), dtype)
        for dtype in args.dtype or ("float64", "float32")
        for shape in args.size or SHAPES
    ]
    numpy_results = {c: numpy_part(*c, args.rounds, args.calls) for c in configs}
    torch_results = {}
    if not args.no_torch:
        for c in configs:
            r = torch_part(*c, args.rounds, args.calls, args.threads, args.compile)
            if r is not None:
                torch_results[c] = r
    _numpy_summary(numpy_results)
    if torch_results:
        _torch_summary(torch_results)


if __name__ == "__main__":
    main()
