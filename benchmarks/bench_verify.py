"""bncheck's checker against torch.autograd.gradcheck and CS231n's numerical gradient.

Run:  python benchmarks/bench_verify.py [--quick] [--rounds 9] [--slow-rounds 3]

One side-by-side run, every entry on the same machine in one process:

* bncheck per-element FD (the baseline): finite differences of the reference forward,
  one loss per group, so 2·m forwards give all of dx (complete, every element), then
  the per-element comparison with the derived gradient;
* bncheck verify (full): the whole battery in-process (derived, autograd, finite
  differences, shapes, Σ dx, mutation, hidden state) on one case of that shape;
  above the work budget the finite differences sample positions per group;
* gradcheck default: the full Jacobian, numel² entries (skipped where it would take
  more than ~30 s or 4 GB, and said so);
* gradcheck fast_mode: one random projection, pass/fail only;
* CS231n: ``eval_numerical_gradient_array``, 2·N·D forwards, h = 1e-5.

Where the work is too large to do ("est."), an entry runs on a sample (64 positions
per group for bncheck's finite differences, 512 elements for CS231n) and its time is
extrapolated to the whole tensor.

Timing. Within a shape, each entry runs once untimed (imports, caches, and the number
of calls per timing: at least 20 ms, so a 0.3 ms check is not timed with the clock's
resolution), then the entries run in rounds, in an order rotated from round to round,
so a busy moment of this shared machine hits all of them. Each time is divided by the
same round's time of the baseline. Reported per entry: the median time, the median of
those per-round ratios with their 25th-75th percentile, and the number of rounds it
ran; never a best-of. An entry estimated from a sample, or taking more than 10 s, runs
only ``--slow-rounds`` rounds when one call takes more than 1 s of wall time; the
baseline runs every round. The wall time of the ``bncheck verify`` command, with and
without torch, is ``bench_verify_cli.py``'s.
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from bncheck.check.api import check_backward
from bncheck.check.compare import compare
from bncheck.check.fd import FDOptions, reference_gradients
from bncheck.check.inputs import make_case
from bncheck.check.reference import forward
from bncheck.check.sources import derived_function
from bncheck.examples import path
from bncheck.spec import NormSpec

SHAPES = {
    "(4, 5)": (4, 5),
    "(64, 128)": (64, 128),
    "(256, 512)": (256, 512),
    "(1024, 1024)": (1024, 1024),
    "(32,64,16,16)→(8192, 64)": (32 * 16 * 16, 64),
}
GRADCHECK_MAX_NUMEL = 8192  # 10 s at 8192 elements, 64 s and 15 GB at 16384 on these machines
BASELINE = "bncheck per-element FD"
MIN_TIMING = 0.02  # s: calls per timing so that one timing lasts at least this long
SLOW_CALL = 1.0  # s of wall time per call, above which an est. or > 10 s entry runs fewer rounds
SLOW_ENTRY = 10.0  # s per call (extrapolated), above which an entry may run fewer rounds


@dataclass
class Entry:
    """One checker at one shape. ``scale``: the whole work / the sampled work (est. when > 1)."""

    name: str
    run: Callable[[], object]
    scale: float = 1.0
    number: int = 1  # calls per timing
    rounds: int = 0  # rounds it runs, set after the untimed call
    times: list[float] = field(default_factory=list)  # s per call, extrapolated, one per round

    @property
    def estimated(self) -> bool:
        return self.scale > 1.0

    def timed(self) -> float:
        start = time.perf_counter()
        for _ in range(self.number):
            self.run()
        return (time.perf_counter() - start) / self.number * self.scale


def _load(name: str):  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location(name, path(name))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def cs231n_numerical(
    f: Callable[[np.ndarray], np.ndarray], x: np.ndarray, df: np.ndarray, limit: int | None = None
) -> np.ndarray:
    """CS231n's eval_numerical_gradient_array, optionally stopped after ``limit`` elements."""
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"], op_flags=[["readwrite"]])
    h, done = 1e-5, 0
    while not it.finished and (limit is None or done < limit):
        ix = it.multi_index
        old = x[ix]
        x[ix] = old + h
        pos = f(x).copy()
        x[ix] = old - h
        neg = f(x).copy()
        x[ix] = old
        grad[ix] = np.sum((pos - neg) * df) / (2 * h)
        it.iternext()
        done += 1
    return grad


def entries(shape: tuple[int, int], quick: bool) -> tuple[list[Entry], dict[str, str]]:
    """The checkers to time at ``shape`` (the baseline first), and the skipped ones: why."""
    import torch
    from torch.autograd import gradcheck

    spec = NormSpec()
    case = make_case(spec, shape, np.random.default_rng(0))
    n = case.x.size
    dx = derived_function(spec)(case.dy, case.x.copy(), case.gamma)[0]
    plain = _load("plain_correct.py")

    work = 2 * shape[0] * n  # element-forwards for a complete dx
    budget = work if work <= 2e9 else 64 * 2 * n  # beyond: time 64 positions, extrapolate

    def per_element() -> None:
        g = reference_gradients(
            case.x, case.gamma, case.beta, case.dy, spec, FDOptions(max_work=budget)
        )
        assert compare(dx, g.dx, "dx", 1e-5, spec.axes).close

    def full() -> None:
        r = check_backward(plain.batchnorm_backward, shapes=(shape,), degenerate=False, seed=0)
        assert r.passed, str(r)

    fn = _load("torch_correct.py").BatchNorm
    args = tuple(torch.tensor(a, requires_grad=True) for a in (case.x, case.gamma, case.beta))

    def gc(fast: bool) -> Callable[[], None]:
        def run() -> None:
            assert gradcheck(lambda x, g, b: fn.apply(x, g, b, 1e-5), args, fast_mode=fast)

        return run

    x = case.x.copy()

    def f(xv: np.ndarray) -> np.ndarray:
        return forward(xv, case.gamma, case.beta, spec)

    sample = n if n <= 8192 else 512

    timed = [
        Entry(BASELINE, per_element, work / budget),
        Entry("bncheck verify (full)", full),
    ]
    skipped = {}
    if n > GRADCHECK_MAX_NUMEL:
        skipped["gradcheck default"] = f"skipped ({n}² Jacobian: minutes, > 4 GB)"
    elif quick and n > 100:
        skipped["gradcheck default"] = "skipped (--quick)"
    else:
        timed.append(Entry("gradcheck default", gc(False)))
    timed.append(Entry("gradcheck fast_mode", gc(True)))
    cs231n = Entry("CS231n numerical", lambda: cs231n_numerical(f, x, case.dy, sample), n / sample)
    timed.append(cs231n)
    return timed, skipped


def _quartiles(values: list[float]) -> tuple[float, float, float]:
    if len(values) < 3:  # the exclusive quartiles of 2 values lie outside them
        return min(values), statistics.median(values), max(values)
    q = statistics.quantiles(values, n=4)  # of 3 values: the lowest and the highest
    return q[0], statistics.median(values), q[2]


def _g(x: float) -> str:
    """Three significant digits (2.00, 0.0313); thousands separated by a space (9 700)."""
    r = float(f"{x:.3g}")
    if r >= 1000:
        return f"{r:,.0f}".replace(",", " ")
    if r >= 1e-4:
        return f"{r:#.3g}".rstrip(".")
    return f"{r:.3g}"


def measure(shape: tuple[int, int], quick: bool, rounds: int, slow_rounds: int) -> list[list[str]]:
    timed, skipped = entries(shape, quick)
    for e in timed:  # untimed: imports, caches; how many calls one timing needs
        start = time.perf_counter()
        e.run()
        once = time.perf_counter() - start
        e.number = max(1, math.ceil(MIN_TIMING / once))
        slow = (e.estimated or once * e.scale > SLOW_ENTRY) and once > SLOW_CALL
        e.rounds = min(slow_rounds, rounds) if slow and e.name != BASELINE else rounds
    for r in range(rounds):  # interleaved, the order rotated each round
        for e in timed[r % len(timed) :] + timed[: r % len(timed)]:
            if r < e.rounds:
                e.times.append(e.timed())
    base = timed[0].times
    rows = []
    for e in timed:
        lo, mid, hi = _quartiles([t / b for t, b in zip(e.times, base, strict=False)])
        est = " (est.)" if e.estimated else ""
        ratio = f"{_g(mid)} ({_g(lo)}–{_g(hi)})" if e.name != BASELINE else "1 (baseline)"
        rows.append([e.name, f"{_g(statistics.median(e.times))} s{est}", ratio, str(e.rounds)])
    rows += [[name, why, "—", "0"] for name, why in skipped.items()]
    order = [
        BASELINE,
        "bncheck verify (full)",
        "gradcheck default",
        "gradcheck fast_mode",
        "CS231n numerical",
    ]
    return sorted(rows, key=lambda row: order.index(row[0]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="small shapes only, no gradcheck default"
    )
    parser.add_argument("--rounds", type=int, default=9, help="rounds per shape (default 9)")
    parser.add_argument(
        "--slow-rounds",
        type=int,
        default=3,
        help="rounds of an est. or > 10 s entry whose call takes > 1 s (default 3)",
    )
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    shapes = dict(list(SHAPES.items())[:2]) if args.quick else SHAPES
    print(
        f"{args.rounds} interleaved rounds per shape (est. or > 10 s entries whose call takes "
        f"> {SLOW_CALL:g} s: {args.slow_rounds}); ratio = time / same round's {BASELINE}\n"
    )
    head = ["shape (N, D)", "checker", "median time", f"× {BASELINE}, median (25th–75th pct)"]
    print("| " + " | ".join([*head, "rounds"]) + " |")
    print("|---|---|---:|---:|---:|")
    for label, shape in shapes.items():
        for k, cells in enumerate(measure(shape, args.quick, args.rounds, args.slow_rounds)):
            print("| " + " | ".join([label if k == 0 else "", *cells]) + " |", flush=True)


if __name__ == "__main__":
    main()
