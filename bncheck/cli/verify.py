"""Check a batch-norm backward against the derived gradient, torch autograd and finite differences.

SUBMISSION is PATH (a file, or a folder holding one) or PATH:FUNCTION. PATH checks every
normalization function the file defines (batchnorm_backward, batchnorm_backward_alt,
spatial_batchnorm_backward, layernorm_backward, spatial_groupnorm_backward, torch
Functions...), each as the normalization its name says (--norm forces one), and prints a
summary first; PATH:FUNCTION checks one. The style is detected: cs231n
(layernorm_forward + layernorm_backward(dout, cache)), plain
(layernorm_backward(dy, x, gamma, eps); group norm: (dy, x, gamma, G, eps)) or torch
(a torch.autograd.Function). The submission runs in a child process; exit 0 all passed,
1 a check failed, 2 nothing could be loaded or called (a stub is "not implemented").
The inputs, their shapes and the order of the calls come from a seed, fresh for every
run and printed in the report: --seed N runs the same battery again.

examples:
  bncheck verify layers.py
  bncheck verify layers.py:batchnorm_backward_alt --json result.json
  bncheck verify my_ln.py --norm layernorm --shape 6,20
  bncheck verify my_bn.py --style plain --seed 3 --steps-table
  bncheck verify --example bug_dx_missing_dvar --shape 2048,2048
  bncheck verify layers.py --checks dx-vs-derived,dx-vs-fd   (ids: --list-checks)
  bncheck verify --explain mean-path-dropped   a mistake the report names, in the derivation
"""

from __future__ import annotations

import argparse
from typing import Any

HELP = "check a normalization's backward against derived, autograd and finite differences"
MAX_TIMEOUT = 86_400  # seconds: a day; the runner's poll() takes at most 24.8 days
# the presets of bncheck.spec.SPECS, written out so that --help imports no numpy
_NORMS = ("batchnorm", "spatial_batchnorm", "layernorm", "groupnorm", "instancenorm", "rmsnorm")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("submission", metavar="PATH[:FUNCTION]", nargs="?")
    parser.add_argument(
        "--example",
        metavar="NAME[:FUNCTION]",
        help="check a bundled example instead of PATH, from any folder: "
        "cs231n_correct, bug_dx_missing_dvar, ... (a wrong NAME lists them all)",
    )
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
        choices=("infer", *_NORMS),
        default="infer",
        help="what the submission normalizes (default infer, from each function's name: "
        "layernorm_* layer norm, spatial_groupnorm_* group norm (G = 2), spatial_* spatial "
        "batch norm on (N, C, H, W), ...; else batchnorm on (N, D))",
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
    parser.add_argument(
        "--shape",
        action="append",
        metavar="N,D",
        help="check on this shape (N,D for batch, layer and RMS norm; N,C,H,W for spatial "
        "batch, group and instance norm, C a multiple of G) instead of the drawn ones; "
        "repeat for several; the degenerate cases are kept",
    )
    parser.add_argument(
        "--checks", metavar="ID,ID", help="run only these checks (ids: --list-checks)"
    )
    parser.add_argument("--skip", metavar="ID,ID", help="leave these checks out")
    parser.add_argument(
        "--list-checks",
        action="store_true",
        help="list the checks with their ids and the styles they apply to, and exit",
    )
    parser.add_argument(
        "--explain",
        metavar="ID",
        help="show a mistake the Diagnosis section names (bncheck diagnose --explain ID) "
        "for --norm (default batchnorm), and exit",
    )


def run(args: argparse.Namespace, console: Any) -> int:
    if args.list_checks:
        return _list_checks(console)
    if args.explain is not None:
        from bncheck.cli.diagnose import explain

        return explain(console, args.explain, "batchnorm" if args.norm == "infer" else args.norm)
    _take_example(args)
    from bncheck.check.submission import parse_target
    from bncheck.cli.output import check_writable, write_atomic

    if args.json:  # a bad path fails now, not after the check; never over the submission
        check_writable(args.json, refuse=[parse_target(args.submission)[0]], option="--json")

    import dataclasses
    import json
    import math
    import os

    from bncheck import __version__, examples
    from bncheck.check.api import VerifyOptions, verify, verify_file
    from bncheck.check.evidence import CheckOptions
    from bncheck.check.fd import FDOptions
    from bncheck.check.result import SCHEMA_VERSION, FileResult
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
    spec = dataclasses.replace(get_spec(norm), variance=args.variance)
    if spec.has_running:  # running statistics are batch norm's alone
        spec = dataclasses.replace(spec, running=args.running)
    options = VerifyOptions(  # its seed: a fresh one, drawn here once, unless --seed N
        spec=spec,
        infer_norm=args.norm == "infer",
        style=args.style,
        dtype=args.dtype,
        timeout=args.timeout,
        steps_table=args.steps_table,
        shapes=tuple(_shape(text) for text in args.shape or ()),
        checks=CheckOptions(
            fd=FDOptions(method=args.fd),
            autograd=args.autograd,
            only=_ids(args.checks),
            skip=_ids(args.skip),
        ),
    )
    if args.seed is not None:
        options = dataclasses.replace(options, seed=args.seed)
    try:
        one = parse_target(args.submission)[1] is not None  # PATH:FUNCTION
        result = (verify if one else verify_file)(args.submission, options)
        if args.example is not None:  # no absolute path of this install in the report
            folder = str(examples.path("x.py").parent) + os.sep
            result = _relabel(result, folder, "bundled example ")
    except BaseException as exc:  # the JSON says why, for graders' scripts (exit 2 or 3)
        if args.json:  # and no earlier file at the path (a forged "passed") survives
            error = {
                "schema_version": SCHEMA_VERSION,
                "bncheck_version": __version__,
                "passed": False,
                "style": args.style,
                "error": _error(exc),
                "checks": [],
            }
            write_atomic(args.json, json.dumps(error, indent=2) + "\n")
        raise
    console.print(result)
    if args.json:
        write_atomic(args.json, result.to_json() + "\n")
        console.print(f"wrote {args.json}", markup=False)
    if isinstance(result, FileResult):
        return result.exit_code
    return 0 if result.passed else 1


def _relabel(result: Any, folder: str, label: str) -> Any:
    """``result`` with ``folder`` in its target(s) shown as ``label``."""
    import dataclasses

    from bncheck.check.result import FileResult

    if isinstance(result, FileResult):
        functions = tuple(
            dataclasses.replace(f, result=_relabel(f.result, folder, label))
            if f.result is not None
            else f
            for f in result.functions
        )
        target = result.target.replace(folder, label, 1)
        return dataclasses.replace(result, target=target, functions=functions)
    return dataclasses.replace(result, target=result.target.replace(folder, label, 1))


def _list_checks(console: Any) -> int:
    from rich.table import Table

    from bncheck.check.battery import CHECKS

    table = Table("id", "what it checks", "styles", show_edge=False, pad_edge=False)
    for check in CHECKS:
        table.add_row(check.id, check.about, ", ".join(check.styles))
    console.print(table)
    return 0


def _ids(text: str | None) -> tuple[str, ...]:
    """--checks a,b: ids, checked against the battery when it is built."""
    return tuple(i.strip() for i in (text or "").split(",") if i.strip())


def _shape(text: str) -> tuple[int, ...]:
    """--shape 64,128 (or 8x3x5x4): positive sizes; the layout is checked with the spec."""
    from bncheck.errors import UsageError

    parts = text.replace("x", ",").replace(" ", "").strip("()").split(",")
    try:
        shape = tuple(int(p) for p in parts)
    except ValueError:
        raise UsageError(
            f"--shape {text!r} is not a list of sizes",
            "e.g. --shape 64,128 (N,D) or --shape 8,3,5,4 (N,C,H,W)",
        ) from None
    return shape


def _take_example(args: argparse.Namespace) -> None:
    """Exactly one of PATH and --example NAME; NAME becomes the bundled file's path."""
    from bncheck import examples
    from bncheck.errors import UsageError

    if (args.submission is None) == (args.example is None):
        raise UsageError(
            "give a submission PATH[:FUNCTION] or --example NAME"
            + (", not both" if args.example is not None else ""),
            f"e.g. bncheck verify layers.py, or bncheck verify --example {examples.NAMES[0]}; "
            f"the examples are: {', '.join(examples.NAMES)}",
        )
    if args.example is not None:
        from bncheck.cli import check_choice

        name, colon, function = args.example.partition(":")
        check_choice("example", name, examples.NAMES)
        args.submission = f"{examples.path(name + '.py')}{colon}{function}"


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
