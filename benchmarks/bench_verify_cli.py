"""Wall time of ``bncheck verify`` on the bundled example, as ratios to ``import numpy``.

Run:  python benchmarks/bench_verify_cli.py [--rounds 15] [--venv /tmp/venv_nt]

Each round runs every command once, in an order rotated from round to round
(interleaved, so a busy moment of this shared machine hits all of them), and divides
each time by the same round's ``python -c "import numpy"``. The table gives the median
of those paired ratios with their spread (25th-75th percentile) and the median time;
never a best-of. Every command is the real ``bncheck verify`` (nothing patched); the
commands:

* ``python -c "import numpy"``: the unit, measured in the same rounds;
* with ``--venv DIR``, ``bncheck verify bncheck/examples/cs231n_correct.py --seed 0`` in
  a virtual environment without torch (``python -m venv DIR && DIR/bin/pip install -e .``);
* the same with torch installed and ``--autograd off``: what a machine without torch runs;
* torch installed, first run: ``BNCHECK_CACHE_DIR`` (bncheck's cache folder,
  ``emit.load.cache_folder``) is a fresh empty folder in every run, so SymPy derives the
  emitted backward and torch computes the autograd gradients;
* torch installed, autograd not cached: a fresh folder holding only the emitted code
  (copied from bncheck's cache), so torch is imported and computes autograd in every run;
* torch installed, autograd from bncheck's cache (one run before the rounds warms it);
* the same without ``--seed``: a fresh battery in every run (the fixed cases, whose
  autograd gradients are cached, are the same).

For each command with torch the table says in how many runs the report said "cached".

Goals (issue 8): at most 1.5 s with torch installed after the first run, 0.6 s without.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]
EXAMPLE = "bncheck/examples/cs231n_correct.py"


@dataclass(frozen=True)
class Command:
    argv: list[str]
    torch: bool = False  # torch installed and autograd on: count the "cached" reports
    # "": bncheck's own cache folder; "empty": a fresh empty one each run; "emitted": a
    # fresh one each run holding a copy of the emitted code only
    cache: str = ""


def _commands(venv: Path | None) -> dict[str, Command]:
    verify = ["-m", "bncheck", "--no-color", "verify", EXAMPLE]
    seeded = [*verify, "--seed", "0"]
    commands = {'python -c "import numpy"': Command([sys.executable, "-c", "import numpy"])}
    if venv is not None:
        commands["verify, in a venv without torch"] = Command(
            [str(venv / "bin" / "python"), *seeded]
        )
    commands |= {
        "verify `--autograd off`": Command([sys.executable, *seeded, "--autograd", "off"]),
        "verify, torch installed, first run (empty cache folder)": Command(
            [sys.executable, *seeded], torch=True, cache="empty"
        ),
        "verify, torch installed, autograd not cached (`import torch`)": Command(
            [sys.executable, *seeded], torch=True, cache="emitted"
        ),
        "verify, torch installed, autograd read from the cache": Command(
            [sys.executable, *seeded], torch=True
        ),
        "the same without `--seed` (a fresh battery each run)": Command(
            [sys.executable, *verify], torch=True
        ),
    }
    return commands


def _run(command: Command, emitted: list[Path]) -> tuple[float, str]:
    env = dict(os.environ)
    # bytecode cached, as for an installed bncheck (this machine's shell sets the opposite,
    # and every run would then compile bncheck's sources again)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    folder = None
    if command.cache:
        folder = tempfile.mkdtemp(prefix="bncheck-cache-")  # private (0700), as bncheck wants
        env["BNCHECK_CACHE_DIR"] = folder
        if command.cache == "emitted":
            for file in emitted:
                shutil.copy2(file, folder)
    try:
        start = time.perf_counter()
        done = subprocess.run(command.argv, cwd=HERE, env=env, capture_output=True, text=True)
        elapsed = time.perf_counter() - start
    finally:
        if folder is not None:
            shutil.rmtree(folder)
    if done.returncode not in (0, 1):  # 1: a check failed, still a full run
        argv = " ".join(command.argv)
        raise SystemExit(f"{argv}: exit {done.returncode}\n{done.stderr[-2000:]}")
    return elapsed, done.stdout


def _quartiles(values: list[float]) -> tuple[float, float, float]:
    if len(values) < 3:  # the exclusive quartiles of 2 values lie outside them
        return min(values), statistics.median(values), max(values)
    q = statistics.quantiles(values, n=4)  # of 3 values: the lowest and the highest
    return q[0], statistics.median(values), q[2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--venv", type=Path, help="a virtual environment without torch")
    args = parser.parse_args()
    from bncheck.emit.load import cache_folder  # light: no SymPy, no torch

    commands = _commands(args.venv)
    names = list(commands)
    # warm: the emitted code, the autograd cache, the page cache
    for name in names:
        _run(commands[name], [])
    emitted = sorted(cache_folder().glob("emitted-*"))
    if not emitted:
        raise SystemExit(f"no emitted code in {cache_folder()} after the warm-up runs")
    times: dict[str, list[float]] = {name: [] for name in names}
    cached: dict[str, int] = dict.fromkeys(names, 0)
    for r in range(args.rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            elapsed, out = _run(commands[name], emitted)
            times[name].append(elapsed)
            cached[name] += ", cached" in out
    unit = times[names[0]]
    print(f"{args.rounds} interleaved rounds on this machine; ratio = time / same round's numpy\n")
    print("| command | × `import numpy`, median (25th-75th pct) | median time | autograd cached |")
    print("|---|---:|---:|---:|")
    for name in names:
        lo, mid, hi = _quartiles([t / u for t, u in zip(times[name], unit, strict=True)])
        hits = f"{cached[name]} of {args.rounds}" if commands[name].torch else ""
        median = statistics.median(times[name])
        print(f"| {name} | {mid:.2f} ({lo:.2f}-{hi:.2f}) | {median:.2f} s | {hits} |")


if __name__ == "__main__":
    main()
