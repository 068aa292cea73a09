"""Check a batch-norm backward against the derived gradient, torch autograd and finite differences.

SUBMISSION is PATH (a file, or a folder holding one) or PATH:FUNCTION. The style is
detected: cs231n (batchnorm_forward + batchnorm_backward(dout, cache)), plain
(batchnorm_backward(dy, x, gamma, eps)) or torch (a torch.autograd.Function).
The submission runs in a child process; exit 0 all passed, 1 a check failed,
2 the submission could not be loaded or called.

examples:
  bncheck verify layers.py
  bncheck verify layers.py:batchnorm_backward_alt --json result.json
  bncheck verify my_bn.py --style plain --seed 3 --steps-table
"""

from __future__ import annotations

import argparse
from typing import Any

HELP = "check a batchnorm_backward against derived, autograd and finite differences"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("submission", metavar="PATH[:FUNCTION]")
    parser.add_argument("--style", choices=("cs231n", "plain", "torch"), help="override detection")
    parser.add_argument("--json", metavar="FILE", help="also write the result as JSON")
    parser.add_argument("--seed", type=int, default=0, help="seed of the inputs (default 0)")
    parser.add_argument(
        "--norm",
        choices=("batchnorm", "spatial_batchnorm"),
        default="batchnorm",
        help="what the submission normalizes (default batchnorm on (N, D))",
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
    import dataclasses
    import json
    from pathlib import Path

    from bncheck.check.api import VerifyOptions, verify
    from bncheck.check.checks import CheckOptions
    from bncheck.check.fd import FDOptions
    from bncheck.errors import BncheckError
    from bncheck.spec import get_spec

    spec = dataclasses.replace(get_spec(args.norm), variance=args.variance, running=args.running)
    options = VerifyOptions(
        spec=spec,
        seed=args.seed,
        style=args.style,
        dtype=args.dtype,
        timeout=args.timeout,
        steps_table=args.steps_table,
        checks=CheckOptions(fd=FDOptions(method=args.fd), autograd=args.autograd),
    )
    try:
        result = verify(args.submission, options)
    except BncheckError as exc:  # exit 2, and the JSON says why, for graders' scripts
        if args.json:
            error = {"passed": False, "style": args.style, "error": exc.to_dict(), "checks": []}
            Path(args.json).write_text(json.dumps(error, indent=2) + "\n", encoding="utf-8")
        raise
    console.print(result)
    if args.json:
        Path(args.json).write_text(result.to_json() + "\n", encoding="utf-8")
        console.print(f"wrote {args.json}", markup=False)
    return 0 if result.passed else 1
