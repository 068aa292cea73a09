"""Peak memory of one check at a large shape, in copies of the input.

Run:  python benchmarks/bench_memory.py [--shape 2048,2048] [--autograd auto|off]

Each measurement runs in a fresh Python process, so one peak cannot hide another:

* in-process: ``check_backward(forward, backward, shapes=(shape,), degenerate=False,
  seed=0)`` on the functions of ``bncheck/examples/cs231n_correct.py``, imported here;
* sandboxed: ``check_backward("bncheck/examples/cs231n_correct.py", ...)``, the same
  check with the submission in bncheck's child process.

A tiny check runs first (imports, the emitted backward, torch when autograd is on), then
the RSS is read; the peak is ``ru_maxrss`` of the process (RUSAGE_SELF) after the large
check, minus that RSS. The child's peak (RUSAGE_CHILDREN) is its whole peak, minus the
child's peak on the tiny check. One copy is one float64 array of the shape (32 MiB at
(2048, 2048)).
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parents[1]

_MEASURE = r"""
import importlib.util, json, resource, sys
import numpy as np
import bncheck
from bncheck.check.evidence import CheckOptions
from bncheck.examples import path

shape, mode, autograd = tuple(json.loads(sys.argv[1])), sys.argv[2], sys.argv[3]
checks = CheckOptions(autograd=autograd)
example = path("cs231n_correct.py")
if mode == "in-process":
    spec = importlib.util.spec_from_file_location("cs231n_correct", example)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    target = (module.batchnorm_forward, module.batchnorm_backward)
else:
    target = (str(example),)

def rss_kib():
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))

def check(shapes):
    result = bncheck.check_backward(*target, shapes=shapes, degenerate=False, seed=0, checks=checks)
    assert result.passed, str(result)

check(((16, 8),))  # imports, the emitted backward, torch: not the check's memory
before = rss_kib()
child_before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
check((shape,))
print(json.dumps({
    "self": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before,
    "child": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss - child_before,
    "torch": "torch" in sys.modules,
}))
"""


def measure(shape: tuple[int, ...], mode: str, autograd: str) -> dict[str, Any]:
    """The peaks, or {"error": the last line of the traceback} when the check failed."""
    out = subprocess.run(
        [sys.executable, "-c", _MEASURE, json.dumps(shape), mode, autograd],
        cwd=HERE,
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        return {"error": (out.stderr.strip().splitlines() or [f"exit {out.returncode}"])[-1]}
    return json.loads(out.stdout.splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", default="2048,2048", help="N,D (default 2048,2048)")
    parser.add_argument("--autograd", choices=("auto", "off"), default="auto")
    args = parser.parse_args()
    shape = tuple(int(n) for n in args.shape.split(","))
    copy_kib = 8 * math.prod(shape) / 1024
    print(f"shape {shape}: one float64 copy = {copy_kib / 1024:.0f} MiB; autograd {args.autograd}")
    print("| check | bncheck's process | the submission's child |")
    print("|---|---:|---:|")
    for mode in ("in-process", "sandboxed"):
        got = measure(shape, mode, args.autograd)
        if "error" in got:
            print(f"| {mode} | failed: {got['error'][:200]} | |", flush=True)
            continue
        child = f"{got['child'] / copy_kib:.1f} copies" if mode == "sandboxed" else "—"
        torch = " (torch imported)" if got["torch"] else ""
        print(f"| {mode}{torch} | {got['self'] / copy_kib:.1f} copies | {child} |", flush=True)


if __name__ == "__main__":
    main()
