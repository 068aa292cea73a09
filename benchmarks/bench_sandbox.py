"""What the sandbox costs: ``bncheck verify`` now against an earlier bncheck, side by side.

Run:  python benchmarks/bench_sandbox.py --before DIR [--rounds 15]

DIR is a checkout of an earlier bncheck (e.g. ``git worktree add /tmp/before HEAD~1``).
Each round runs the same command with both, in alternating order (interleaved, so a
busy moment of this shared machine hits both), and records their ratio; the table
gives the median time of each and the median of the paired ratios with its spread
(25th-75th percentile), never a best-of. The command is the README's:
``bncheck verify bncheck/examples/cs231n_correct.py --seed 0``, with torch autograd off
(``import torch`` alone is 1.5-2.5 s here and would drown the sandbox) and on.

Then the sandbox's own overhead, in this process: a child that imports numpy and
makes no call, with and without the namespaces layer.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]


def _command(root: Path, *extra: str) -> list[str]:
    example = root / "bncheck" / "examples" / "cs231n_correct.py"
    return [sys.executable, "-m", "bncheck", "verify", str(example), "--seed", "0", *extra]


def _time(root: Path, extra: tuple[str, ...]) -> float:
    env = {**os.environ, "PYTHONPATH": str(root)}  # that checkout's bncheck, not the installed
    # bytecode cached, as for an installed bncheck (this machine's shell sets the opposite,
    # and every run would then compile bncheck's sources again)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    start = time.perf_counter()
    done = subprocess.run(_command(root, *extra), env=env, cwd=root, capture_output=True)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{root}: exit {done.returncode}\n{done.stderr.decode()[-2000:]}")
    return elapsed


def _quartiles(values: list[float]) -> tuple[float, float, float]:
    q = statistics.quantiles(values, n=4)
    return q[0], statistics.median(values), q[2]


def compare(before: Path, rounds: int, extra: tuple[str, ...]) -> None:
    _time(before, extra), _time(HERE, extra)  # warm the caches (emitted code, page cache)
    old, new = [], []
    for i in range(rounds):
        pair = [(before, old), (HERE, new)]
        for root, times in pair if i % 2 == 0 else pair[::-1]:
            times.append(_time(root, extra))
    ratios = [n / o for n, o in zip(new, old, strict=True)]
    lo, mid, hi = _quartiles(ratios)
    label = " ".join(extra) or "(torch autograd on)"
    print(
        f"| {label} | {statistics.median(old):.3f} s | {statistics.median(new):.3f} s "
        f"| {mid:.2f} ({lo:.2f}-{hi:.2f}) |"
    )


def overhead(rounds: int) -> None:
    from bncheck.runner import Job, namespaces, start

    job = Job(HERE / "bncheck" / "examples" / "plain_correct.py", {"backward": "x"}, [])
    for label, patch in (("with namespaces", None), ("without namespaces", ())):
        if patch is not None:
            namespaces._PROBE["prefix"] = ()  # as on a machine where unshare is refused
        times = []
        for _ in range(rounds):
            t = time.perf_counter()
            start(job).wait()
            times.append(time.perf_counter() - t)
        lo, mid, hi = (1000 * t for t in _quartiles(times))
        print(f"| sandboxed child, no call, {label} | {mid:.0f} ms ({lo:.0f}-{hi:.0f}) |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, required=True, help="a checkout of bncheck")
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    print(f"{args.rounds} interleaved rounds; median time; median of paired ratios (IQR)\n")
    print("| verify, cs231n_correct.py --seed 0 | before | now | now / before |")
    print("|---|---:|---:|---:|")
    compare(args.before.resolve(), args.rounds, ("--autograd", "off"))
    compare(args.before.resolve(), max(args.rounds // 3, 5), ())
    print("\n| sandbox alone | median (IQR) |\n|---|---:|")
    overhead(args.rounds)


if __name__ == "__main__":
    main()
