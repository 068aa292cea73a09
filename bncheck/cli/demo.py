"""Run one of the paper's teaching demos (Ioffe & Szegedy 2015).

demos:
  mean-dependence    Section 2: a bias update that ignores how E[x] depends on b moves b
                     without bound while the output and the loss stay fixed
  scale-invariance   Section 3.3: BN((aW)u) = BN(Wu) and its gradients, proved by SymPy
                     and measured for several a
  tiny-init          a 7-layer net with W ~ U(-0.001, 0.001): dead without BN, trained with it
                     (--data digits: on real handwritten digits)

on real data (scikit-learn's digits; pip install '.[teach]' in your clone):
  learning-rate        a grid of learning rates with and without BN: the largest stable rate
                       and the steps to a target validation accuracy (the paper: 30x, 14x)
  gradient-histograms  per-layer gradients at initialisation of a 20-layer net, with and
                       without BN: their spread and their tails
  batch-noise          one example's BN output as its batch companions change (batch 16, 64,
                       512), and the train/validation gap at small and large batches

examples:
  bncheck demo mean-dependence
  bncheck demo mean-dependence --steps 50 --json drift.json --plot drift.png
  bncheck demo tiny-init --steps 200 --lr 0.05
  bncheck demo tiny-init --data digits
  bncheck demo learning-rate --plot lr.png
"""

from __future__ import annotations

import argparse
from typing import Any

from bncheck.demos import DEMOS

HELP = "the paper's teaching demos, and its claims measured on real digits"
DATA = ("synthetic", "digits")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", metavar="DEMO", help=f"one of {', '.join(DEMOS)}")
    parser.add_argument(
        "--steps",
        type=int,
        help="gradient steps (default 20 for mean-dependence, 100 for tiny-init, 500 per run "
        "for learning-rate); epochs for batch-noise (default 20)",
    )
    parser.add_argument("--lr", type=float, help="learning rate (default 0.1)")
    parser.add_argument(
        "--data",
        help="tiny-init's task: synthetic (Gaussian blobs, the default) or digits (real, "
        "scikit-learn's 8x8 handwritten digits)",
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--json", metavar="FILE", help="write the results as JSON to FILE")
    parser.add_argument("--plot", metavar="FILE", help="save a PNG plot to FILE (needs matplotlib)")


def _validate(args: argparse.Namespace) -> dict[str, Any]:
    """Check the arguments at the boundary; return the demo's option overrides."""
    import math

    from bncheck.cli import check_choice
    from bncheck.errors import UsageError

    check_choice("demo", args.name, DEMOS)
    if args.seed < 0:
        raise UsageError(
            f"--seed must be a non-negative integer, got {args.seed}",
            "e.g. --seed 0 (the default)",
            code="bad-option",
        )
    overrides: dict[str, Any] = {"seed": args.seed}
    demo = DEMOS[args.name]
    given = [name for name in ("steps", "lr", "data") if getattr(args, name) is not None]
    refused = [name for name in given if name not in demo.takes]
    if refused:
        flags = " and ".join(f"--{name}" for name in refused)
        works = ", ".join(f"--{name}" for name in (*demo.takes, "seed", "json", "plot"))
        raise UsageError(
            f"{args.name} does not take {flags}",
            f"leave {'them' if len(refused) > 1 else 'it'} out; {works} work",
            code="bad-option",
        )
    if args.data is not None:
        check_choice("data", args.data, DATA)
        overrides["data"] = args.data
    if args.steps is not None:
        if not 1 <= args.steps <= 100_000:
            raise UsageError(f"--steps must be between 1 and 100000, got {args.steps}")
        overrides["steps"] = args.steps
    if args.lr is not None:
        if not (math.isfinite(args.lr) and args.lr > 0):
            raise UsageError(f"--lr must be a positive number, got {args.lr}", "e.g. --lr 0.1")
        overrides["lr"] = args.lr
    return overrides


def _require_data(name: str, overrides: dict[str, Any]) -> None:
    """Real digits need scikit-learn: say so before any work (and before any file is written)."""
    if DEMOS[name].digits or overrides.get("data") == "digits":
        from bncheck.errors import MissingDependencyError

        try:
            import sklearn.datasets  # noqa: F401  (the demo loads it next anyway)
        except ImportError:
            raise MissingDependencyError.for_module(
                "scikit-learn", "teach", f"bncheck demo {name} (real digits)"
            ) from None


def compute(name: str, overrides: dict[str, Any]) -> Any:
    """The demo's results (frozen dataclasses from bncheck.demos)."""
    return DEMOS[name].run(**overrides)


def run(args: argparse.Namespace, console: Any) -> int:
    import json

    from bncheck.cli.output import check_writable, write_atomic

    overrides = _validate(args)
    _require_data(args.name, overrides)
    if args.json is not None:  # a bad path fails before the work
        check_writable(args.json, option="--json")
    if args.plot is not None:  # never the same file as --json
        check_writable(args.plot, refuse=[args.json] if args.json else [], option="--plot")
        from bncheck.report.plots import require_matplotlib

        require_matplotlib()  # fail before the work when matplotlib is missing
        _check_plot_format(args.plot)

    from bncheck.report.demos import print_demo

    result = compute(args.name, overrides)
    print_demo(result, console)
    if args.json is not None:
        from bncheck.report.demo_json import demo_json

        text = json.dumps(demo_json(args.name, result), indent=2, ensure_ascii=False)
        write_atomic(args.json, text + "\n")
        console.print(f"wrote {args.json}", markup=False)
    if args.plot is not None:
        write_atomic(args.plot, _plot_bytes(args.name, result, args.plot))
        console.print(f"wrote {args.plot}", markup=False)
    return 0


# formats matplotlib writes through Pillow, which may have been built without some of them
_PILLOW = ("avif", "gif", "jpeg", "jpg", "tif", "tiff", "webp")


def _check_plot_format(plot: str) -> None:
    """matplotlib picks the format from the extension: one it can write here, or a UsageError."""
    import shutil
    from pathlib import Path

    import matplotlib
    from matplotlib.backend_bases import FigureCanvasBase

    from bncheck.errors import UsageError

    formats = FigureCanvasBase.get_supported_filetypes()
    ext = Path(plot).suffix[1:].lower()
    why = ""
    if ext not in formats:
        why = f"matplotlib cannot write .{ext} files" if ext else "the file name has no extension"
    elif ext in _PILLOW:
        from PIL import Image

        if f".{ext}" not in Image.registered_extensions():
            why = f"this Pillow cannot write .{ext} files"
    elif ext == "pgf" and shutil.which(matplotlib.rcParams["pgf.texsystem"]) is None:
        why = f"matplotlib writes .pgf with {matplotlib.rcParams['pgf.texsystem']}, not installed"
    if why:
        raise UsageError(
            f"--plot {plot}: {why}",
            "the extension chooses the format: e.g. --plot plot.png, plot.pdf or plot.svg",
            code="bad-option",
        )


def _plot_bytes(name: str, result: Any, plot: str) -> bytes:
    """The plot's file contents, drawn in a private folder under the same file name.

    The name keeps matplotlib's choice of format by extension; the bytes then go to
    ``plot`` through ``write_atomic``, never straight to a path that may hold a link.
    """
    import tempfile
    from pathlib import Path

    from bncheck.report.plots import save_plot

    with tempfile.TemporaryDirectory(prefix="bncheck-plot-") as folder:
        file = Path(folder) / (Path(plot).name or "plot.png")
        save_plot(name, result, file)
        return file.read_bytes()
