"""Check a batch-norm backward against the derived gradient, torch autograd and finite differences.

SUBMISSION is PATH (a file, or a folder holding one) or PATH:FUNCTION. The style is
detected: cs231n (batchnorm_forward + batchnorm_backward(dout, cache)), plain
(batchnorm_backward(dy, x, gamma, eps)) or torch (a torch.autograd.Function).
The submission runs in a child process; exit 0 all passed, 1 a check failed,
2 the submission could not be loaded or called. The inputs, their shapes and the
order of the calls come from a seed, fresh for every run and printed in the
report: --seed N runs the same battery again.

examples:
  bncheck verify layers.py
  bncheck verify layers.py:batchnorm_backward_alt --json result.json
  bncheck verify my_bn.py --style plain --seed 3 --steps-table
"""

from __future__ import annotations

import argparse
from typing import Any

HELP = "check a batchnorm_backward against derived, autograd and finite differences"
MAX_TIMEOUT = 86_400  # seconds: a day; the runner's poll() takes at most 24.8 days


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("submission", metavar="PATH[:FUNCTION]")
    parser.add_argument("--style", choices=("cs231n", "plain", "torch"), help="override detection")
    parser.add_argument("--json", metavar="FILE", help="also write the result as JSON")
    parser.add_argument(
        "--seed",
        type=int,
        metavar="N",
        help="seed of the inputs, shapes and call order (default: a fresh random seed, "
        "printed in the report; give it back to reproduce a run)",
    )
    parser.add_argument(
        "--norm",
        choices=("infer", "batchnorm", "spatial_batchnorm"),
        default="infer",
        help="what the submission normalizes (default infer: spatial_batchnorm on (N, C, H, W) "
        "for a function named spatial_*, else batchnorm on (N, D))",
    )
    parser.add_argument("--variance", choices=("biased", "unbiased"), default="biased")
    parser.add_argument(
        "--running",
        choices=("cs231n", "pytorch"),
        default="cs231n",
        help="running-statistics convention (default cs231n)",
    )
    parser.add_argument(
        "--fd",
        choices=("central", "complex"),
        default="central",
        help="finite differences of the reference: central or complex step",
    )
    parser.add_argument(
        "--autograd",
        choices=("auto", "off"),
        default="auto",
        help="compare with torch autograd when torch is installed (default auto)",
    )
    parser.add_argument(
        "--dtype",
        choices=("float64", "float32"),
        default="float64",
        help="dtype of the inputs (float32: compared under float32 tolerances)",
    )
    parser.add_argument(
        "--steps-table",
        action="store_true",
        help="show the finite-difference error for h from 1e-1 to 1e-12",
    )
    parser.add_argument("--timeout", type=float, default=60.0, metavar="SECONDS")


def run(args: argparse.Namespace, console: Any) -> int:
    from bncheck.check.submission import parse_target
    from bncheck.cli.output import check_writable, write_atomic

    if args.json:  # a bad path fails now, not after the check; never over the submission
        check_writable(args.json, refuse=[parse_target(args.submission)[0]], option="--json")

    import dataclasses
    import json
    import math

    from bncheck.check.api import VerifyOptions, verify
    from bncheck.check.checks import CheckOptions
    from bncheck.check.fd import FDOptions
    from bncheck.errors import UsageError
    from bncheck.spec import get_spec

    if args.seed is not None and args.seed < 0:
        raise UsageError(
            f"--seed must be a non-negative integer, got {args.seed}",
            "leave --seed out for a fresh random seed, or give the seed a report printed",
        )
    if not (math.isfinite(args.timeout) and 0 < args.timeout <= MAX_TIMEOUT):
        raise UsageError(
            f"--timeout must be a number of seconds above 0 and at most {MAX_TIMEOUT}, "
            f"got {args.timeout:g}",
            "e.g. --timeout 60 (the default)",
        )
    norm = "batchnorm" if args.norm == "infer" else args.norm  # infer: from the function's name
    spec = dataclasses.replace(get_spec(norm), variance=args.variance, running=args.running)
    options = VerifyOptions(  # its seed: a fresh one, drawn here once, unless --seed N
        spec=spec,
        infer_norm=args.norm == "infer",
        style=args.style,
        dtype=args.dtype,
        timeout=args.timeout,
        steps_table=args.steps_table,
        checks=CheckOptions(fd=FDOptions(method=args.fd), autograd=args.autograd),
    )
    if args.seed is not None:
        options = dataclasses.replace(options, seed=args.seed)
    try:
        result = verify(args.submission, options)
    except BaseException as exc:  # the JSON says why, for graders' scripts (exit 2 or 3)
        if args.json:  # and no earlier file at the path (a forged "passed") survives
            error = {"passed": False, "style": args.style, "error": _error(exc), "checks": []}
            write_atomic(args.json, json.dumps(error, indent=2) + "\n")
        raise
    console.print(result)
    if args.json:
        write_atomic(args.json, result.to_json() + "\n")
        console.print(f"wrote {args.json}", markup=False)
    return 0 if result.passed else 1


def _error(exc: BaseException) -> dict[str, str]:
    from bncheck.errors import BncheckError

    if isinstance(exc, BncheckError):
        return exc.to_dict()
    if isinstance(exc, KeyboardInterrupt):
        return {"code": "interrupted", "message": "interrupted", "hint": ""}
    return {
        "code": "internal-error",
        "message": f"{type(exc).__name__}: {exc}",
        "hint": "please report this with the command you ran",
    }
