"""Speed of the emitted LayerNorm backward against hand-written numpy and torch's native kernel.

Run:  python benchmarks/bench_layernorm.py [--rounds 20] [--compile] [--size N D ...]

LayerNorm over the last axis, gamma of shape (D,), at float64 and float32, on (4096, 1024)
by default (a transformer's tokens × width). The method is bench_backward.py's, and so is
its code (imported): all candidates in one process, interleaved in an order shuffled
each round, each round's time divided by the same round's time of the reference (numpy:
the fastest hand-written backward by median time; torch: the native backward on 1
thread), reported as the median of those per-round ratios with their 25th-75th
percentile. Never a best-of. Every candidate is checked first against a float64
reference, and float32 must stay float32.
"""

from __future__ import annotations

import argparse

import numpy as np
from bench_backward import _cell, _ms, time_numpy, time_torch

from bncheck.emit import load_backward
from bncheck.spec import SPECS

SHAPES = ((4096, 1024),)
SPEC = SPECS["layernorm"]


# ---- hand-written numpy peers ---------------------------------------------------------------
def one_liner(dy, x, gamma, eps=1e-5):
    """The compact form as most write it: x̂ and γ·dy as arrays, sums over the last axis."""
    m = x.shape[1]
    mu, var = x.mean(1, keepdims=True), x.var(1, keepdims=True)
    inv_std = 1 / np.sqrt(var + eps)
    xhat = (x - mu) * inv_std
    dxhat = dy * gamma
    sum1, sum2 = dxhat.sum(1, keepdims=True), (dxhat * xhat).sum(1, keepdims=True)
    dx = inv_std / m * (m * dxhat - sum1 - xhat * sum2)
    return dx, (dy * xhat).sum(0), dy.sum(0)


def inplace_numpy(dy, x, gamma, eps=1e-5):
    """x - mu in dx's memory, one more full-size array (gamma*dy), einsum reductions."""
    m = x.shape[1]
    dx = x - x.sum(1, keepdims=True) / m  # x - mu, and later dx
    inv_std = 1 / np.sqrt(np.einsum("nd,nd->n", dx, dx) / m + eps)
    dbeta = dy.sum(0)
    dgamma = np.einsum("nd,nd,n->d", dy, dx, inv_std)
    g = dy * gamma
    s1, s2 = g.sum(1), np.einsum("nd,nd->n", g, dx)
    dx *= (-(inv_std**2) * s2 / m)[:, None]
    dx += g
    dx -= (s1 / m)[:, None]
    dx *= inv_std[:, None]
    return dx, dgamma, dbeta


def row_blocked(dy, x, gamma, eps=1e-5, block_bytes=1 << 18):
    """As inplace_numpy, a block of rows (~256 KiB) at a time: temporaries stay in cache."""
    n, m = x.shape
    rows = max(1, block_bytes // (m * x.itemsize))
    dx = np.empty_like(x)
    dgamma, dbeta = np.zeros(m, x.dtype), dy.sum(0)
    for r in range(0, n, rows):
        xb, gb, out = x[r : r + rows], dy[r : r + rows], dx[r : r + rows]
        np.subtract(xb, xb.sum(1, keepdims=True) / m, out=out)
        inv_std = 1 / np.sqrt(np.einsum("nd,nd->n", out, out) / m + eps)
        dgamma += np.einsum("nd,nd,n->d", gb, out, inv_std)
        g = gb * gamma
        s1, s2 = g.sum(1), np.einsum("nd,nd->n", g, out)
        out *= (-(inv_std**2) * s2 / m)[:, None]
        out += g
        out -= (s1 / m)[:, None]
        out *= inv_std[:, None]
    return dx, dgamma, dbeta


NUMPY_LABELS = {
    "emitted (bncheck)": "**emitted (bncheck)**",
    "inplace_numpy": "hand-written, in place (dx and gamma*dy)",
    "row_blocked": "hand-written, row-blocked (allocates only dx)",
    "one_liner": "textbook one-liner",
}
HAND = ("inplace_numpy", "row_blocked")


def numpy_part(shape, dtype, rounds, calls):
    rng = np.random.default_rng(0)
    x64, dy64 = rng.standard_normal(shape), rng.standard_normal(shape)
    gamma64 = rng.standard_normal(shape[1])
    want = one_liner(dy64, x64, gamma64)
    x, dy, gamma = (a.astype(dtype) for a in (x64, dy64, gamma64))
    emitted = load_backward(SPEC, "numpy")
    peers = (inplace_numpy, row_blocked, one_liner)
    title = f"LayerNorm, numpy {dtype} {shape}"
    return time_numpy(
        title, emitted, peers, HAND, NUMPY_LABELS, (dy, x, gamma), want, rounds, calls
    )


def torch_part(shape, dtype, rounds, calls, threads, compile_):
    try:
        import torch
    except ImportError:
        print("\ntorch is not installed: pip install torch==2.13.0 for the torch comparison")
        return None
    torch.set_num_threads(threads)
    gen = torch.Generator().manual_seed(0)
    x, dy = (torch.randn(shape, dtype=torch.float64, generator=gen) for _ in range(2))
    gamma = torch.randn(shape[1], dtype=torch.float64, generator=gen)
    emitted = load_backward(SPEC, "torch")
    want = tuple(t.numpy() for t in emitted(dy, x, gamma))
    x, dy, gamma = (t.to(getattr(torch, dtype)) for t in (x, dy, gamma))
    beta = torch.zeros_like(gamma)
    aten, d = torch.ops.aten, [shape[1]]
    _, mean, rstd = aten.native_layer_norm(x, d, gamma, beta, 1e-5)

    def native_backward():  # given the statistics the forward saved
        return aten.native_layer_norm_backward(dy, x, d, mean, rstd, gamma, beta, [True] * 3)

    def native_with_stats():  # recomputing the statistics, as the emitted code does
        _, mu, rs = aten.native_layer_norm(x, d, gamma, beta, 1e-5)
        return aten.native_layer_norm_backward(dy, x, d, mu, rs, gamma, beta, [True] * 3)

    natives = {"native backward": native_backward, "native stats + backward": native_with_stats}
    title = f"LayerNorm, torch {dtype} {shape}"
    arrays = (dy, x, gamma)
    return time_torch(title, emitted, natives, arrays, want, rounds, calls, compile_, 1e-5)


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
    parser.add_argument("--compile", action="store_true", help="also time torch.compile(emitted)")
    args = parser.parse_args()
    configs = [
        (tuple(shape), dtype)
        for dtype in args.dtype or ("float64", "float32")
        for shape in args.size or SHAPES
    ]
    numpy_results = {c: numpy_part(*c, args.rounds, args.calls) for c in configs}
    print("\n## LayerNorm numpy summary: × the fastest hand-written, median (25th–75th pct)\n")
    print("| shape, dtype | fastest hand-written, ms | emitted ms | emitted | one-liner |")
    print("|---|---|---:|---:|---:|")
    for (shape, dtype), (times, fastest) in numpy_results.items():
        e = _cell(times, "emitted (bncheck)", fastest)
        one = _cell(times, "one_liner", fastest)
        print(
            f"| {shape}, {dtype} | {fastest}, {_ms(times, fastest)} "
            f"| {_ms(times, 'emitted (bncheck)')} | {e} | {one} |"
        )
    if args.no_torch:
        return
    results = {
        c: torch_part(*c, args.rounds, args.calls, args.threads, args.compile) for c in configs
    }
    if all(r is None for r in results.values()):
        return
    print("\n## LayerNorm torch summary: × native backward, median (25th–75th pct)\n")
    compiled = " | compile s | compiled ms | emitted, compiled" if args.compile else ""
    print(
        "| shape, dtype | native ms | eager ms | emitted, eager | eager × native stats + backward"
        + compiled
        + " |"
    )
    print("|---|---:|---:|---:|---:" + "|---:" * (3 if args.compile else 0) + "|")
    for (shape, dtype), r in results.items():
        if r is None:
            continue
        times, compile_s = r
        e, c, ref = "emitted (bncheck)", "emitted + torch.compile", "native backward"
        cells = [_cell(times, e, ref), _cell(times, e, "native stats + backward")]
        if compile_s is not None:
            cells += [f"{compile_s:.1f}", _ms(times, c), _cell(times, c, ref)]
        print(
            f"| {shape}, {dtype} | {_ms(times, ref)} | {_ms(times, e)} | "
            + " | ".join(cells)
            + " |"
        )


if __name__ == "__main__":
    main()
