"""bncheck's checker against torch.autograd.gradcheck and CS231n's numerical gradient.

Run:  python benchmarks/bench_verify.py [--quick]

One side-by-side run, every entry on the same machine in one process:

* bncheck per-element: finite differences of the reference forward, one loss per
  group, so 2·m forwards give all of dx (complete, every element), then the
  per-element comparison with the derived gradient;
* bncheck verify: the whole battery in-process (derived, autograd, finite
  differences, shapes, Σ dx, mutation, hidden state) on one case of that shape;
  above the work budget the finite differences sample positions per group;
* gradcheck default: the full Jacobian, numel² entries (skipped where it would take
  more than ~30 s or 4 GB, and said so);
* gradcheck fast_mode: one random projection, pass/fail only;
* CS231n: ``eval_numerical_gradient_array``, 2·N·D forwards, h = 1e-5; timed on a
  sample of elements and extrapolated ("est.") where the loop would take minutes.

Times are the best of a few runs (one for slow entries): these are in-process
comparisons of algorithms. The wall time of the ``bncheck verify`` command, with and
without torch, is ``bench_verify_cli.py``'s (interleaved, medians of paired ratios).
"""

from __future__ import annotations

import argparse
import importlib.util
import time
from collections.abc import Callable

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


def best(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


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


def row(label: str, shape: tuple[int, int], quick: bool) -> list[str]:
    spec = NormSpec()
    case = make_case(spec, shape, np.random.default_rng(0))
    n = case.x.size
    dx = derived_function(spec)(case.dy, case.x.copy(), case.gamma)[0]
    plain = _load("plain_correct.py")
    reps = 3 if n <= 300_000 else 1

    work = 2 * shape[0] * n  # element-forwards for a complete dx
    budget = work if work <= 2e9 else 64 * 2 * n  # beyond: time 64 positions, extrapolate

    def per_element() -> None:
        g = reference_gradients(
            case.x, case.gamma, case.beta, case.dy, spec, FDOptions(max_work=budget)
        )
        assert compare(dx, g.dx, label, 1e-5, spec.axes).close

    t = best(per_element, 1 if work > 5e8 else reps)
    t_elem = f"{t:.3g} s" if budget == work else f"{t * work / budget:.3g} s (est.)"

    def full() -> None:
        r = check_backward(plain.batchnorm_backward, shapes=(shape,), degenerate=False)
        assert r.passed, str(r)

    t_full = best(full, reps)

    import torch
    from torch.autograd import gradcheck

    torch.set_num_threads(1)
    fn = _load("torch_correct.py").BatchNorm
    args = tuple(torch.tensor(a, requires_grad=True) for a in (case.x, case.gamma, case.beta))

    def gc(fast: bool) -> None:
        assert gradcheck(lambda x, g, b: fn.apply(x, g, b, 1e-5), args, fast_mode=fast)

    if n <= GRADCHECK_MAX_NUMEL and not (quick and n > 100):
        t_gc = f"{best(lambda: gc(False), 1):.3g} s"
    else:
        t_gc = f"skipped ({n}² Jacobian: minutes, > 4 GB)"
    t_fast = best(lambda: gc(True), reps)

    x = case.x.copy()

    def f(xv: np.ndarray) -> np.ndarray:
        return forward(xv, case.gamma, case.beta, spec)

    sample = n if n <= 8192 else 512
    t = best(lambda: cs231n_numerical(f, x, case.dy, sample), 1)
    t_cs = f"{t:.3g} s" if sample == n else f"{t * n / sample:.3g} s (est.)"
    return [label, t_elem, f"{t_full:.3g} s", t_gc, f"{t_fast:.3g} s", t_cs]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="small shapes only, no gradcheck default"
    )
    args = parser.parse_args()
    shapes = dict(list(SHAPES.items())[:2]) if args.quick else SHAPES
    head = [
        "shape (N, D)",
        "bncheck per-element FD",
        "bncheck verify (full)",
        "gradcheck default",
        "gradcheck fast_mode",
        "CS231n numerical",
    ]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for label, shape in shapes.items():
        print("| " + " | ".join(row(label, shape, args.quick)) + " |", flush=True)


if __name__ == "__main__":
    main()
