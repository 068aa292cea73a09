"""Wall time of ``bncheck verify`` on the bundled example, as ratios to ``import numpy``.

Run:  python benchmarks/bench_verify_cli.py [--rounds 15] [--venv /tmp/venv_nt]

Each round runs every command once, in an order rotated from round to round
(interleaved, so a busy moment of this shared machine hits all of them), and divides
each time by the same round's ``python -c "import numpy"``. The table gives the median
of those paired ratios with their spread (25th-75th percentile) and the median time;
never a best-of. The commands:

* ``python -c "import numpy"``: the unit, measured in the same rounds;
* ``bncheck verify bncheck/examples/cs231n_correct.py --seed 0``, torch installed, its
  autograd gradients from bncheck's cache (one run before the rounds warms it); the
  table says in how many runs the report said "cached";
* the same with ``--autograd off``: what a machine without torch runs;
* with ``--venv DIR``, the same command in a virtual environment without torch
  (``python -m venv DIR && DIR/bin/pip install -e .``).

Goals (issue 8): at most 1.5 s with torch installed after the first run, 0.6 s without.
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
EXAMPLE = "bncheck/examples/cs231n_correct.py"


def _commands(venv: Path | None) -> dict[str, list[str]]:
    verify = ["-m", "bncheck", "--no-color", "verify", EXAMPLE, "--seed", "0"]
    commands = {
        'python -c "import numpy"': [sys.executable, "-c", "import numpy"],
        "verify, torch installed (autograd cached)": [sys.executable, *verify],
        "verify --autograd off": [sys.executable, *verify, "--autograd", "off"],
    }
    if venv is not None:
        commands["verify, venv without torch"] = [str(venv / "bin" / "python"), *verify]
    return commands


def _run(command: list[str]) -> tuple[float, str]:
    env = dict(os.environ)
    # bytecode cached, as for an installed bncheck (this machine's shell sets the opposite,
    # and every run would then compile bncheck's sources again)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    start = time.perf_counter()
    done = subprocess.run(command, cwd=HERE, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode not in (0, 1):  # 1: a check failed, still a full run
        raise SystemExit(f"{' '.join(command)}: exit {done.returncode}\n{done.stderr[-2000:]}")
    return elapsed, done.stdout


def _quartiles(values: list[float]) -> tuple[float, float, float]:
    if len(values) < 2:
        return values[0], values[0], values[0]
    q = statistics.quantiles(values, n=4)
    return q[0], statistics.median(values), q[2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--venv", type=Path, help="a virtual environment without torch")
    args = parser.parse_args()
    commands = _commands(args.venv)
    for command in commands.values():  # warm: the emitted code, the autograd cache, the page cache
        _run(command)
    times: dict[str, list[float]] = {name: [] for name in commands}
    cached: dict[str, int] = dict.fromkeys(commands, 0)
    names = list(commands)
    for r in range(args.rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            elapsed, out = _run(commands[name])
            times[name].append(elapsed)
            cached[name] += ", cached" in out
    unit = times[names[0]]
    print(f"{args.rounds} interleaved rounds on this machine; ratio = time / same round's numpy\n")
    print("| command | × `import numpy`, median (25th-75th pct) | median time | autograd cached |")
    print("|---|---:|---:|---:|")
    for name in names:
        lo, mid, hi = _quartiles([t / u for t, u in zip(times[name], unit, strict=True)])
        with_torch = "torch" in name and "without" not in name
        hits = f"{cached[name]} of {args.rounds}" if with_torch else ""
        median = statistics.median(times[name])
        print(f"| {name} | {mid:.2f} ({lo:.2f}-{hi:.2f}) | {median:.2f} s | {hits} |")


if __name__ == "__main__":
    main()
