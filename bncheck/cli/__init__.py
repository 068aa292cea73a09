"""The ``bncheck`` command: argparse sub-commands, one module per command.

``main(argv) -> int`` is testable without a runner. Building the parser imports
only the standard library, so ``bncheck --help`` starts in well under 0.15 s;
numpy, sympy, rich and torch are imported inside the command that needs them.
"""

from __future__ import annotations

import argparse
import importlib
import io
import sys
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["COMMANDS", "build_parser", "check_choice", "main"]

# name -> module with add_arguments(parser) and run(args, console) -> int
COMMANDS: dict[str, str] = {
    "derive": "bncheck.cli.derive",
    "verify": "bncheck.cli.verify",
    "demo": "bncheck.cli.demo",
    "tour": "bncheck.cli.tour",
    "grade": "bncheck.cli.grade",
    "diagnose": "bncheck.cli.diagnose",
}

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3

_EPILOG = """exit codes: 0 all checks passed, 1 a check failed,
            2 usage error or the submission could not be loaded, 3 internal error"""


def build_parser() -> argparse.ArgumentParser:
    from bncheck import __version__

    parser = argparse.ArgumentParser(
        prog="bncheck",
        description="Derive, emit and verify the Batch Normalization backward pass "
        "(Ioffe & Szegedy, 2015).",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"bncheck {__version__}")
    parser.add_argument("--no-color", action="store_true", help="plain output, no colours")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(module_name)
        command = sub.add_parser(
            name,
            help=module.HELP,
            description=module.__doc__,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        # SUPPRESS: unless given here, the global flag's value stands (`bncheck --no-color verify`)
        command.add_argument(
            "--no-color",
            action="store_true",
            default=argparse.SUPPRESS,
            help="plain output, no colours",
        )
        module.add_arguments(command)
        command.set_defaults(_module=module)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    _safe_streams()
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or argparse's own usage error (2)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE

    from bncheck.errors import BncheckError
    from bncheck.report.console import make_console

    console = make_console(no_color=args.no_color)
    errors = make_console(no_color=args.no_color, file=sys.stderr)
    try:
        return int(args._module.run(args, console))
    except BncheckError as exc:
        errors.print(
            f"bncheck {args.command}: error [{exc.code}]: {exc.message}",
            markup=False,
            soft_wrap=True,
        )
        if exc.hint:
            errors.print(f"  hint: {exc.hint}", markup=False, soft_wrap=True)
        return EXIT_USAGE
    except KeyboardInterrupt:
        errors.print("bncheck: interrupted")
        return 130
    except OSError as exc:
        if exc.filename is None:
            return _internal(errors, args.command, exc)
        # a path the user gave (--json FILE, --plot FILE) that cannot be written or read
        errors.print(
            f"bncheck {args.command}: error [file-error]: cannot use {exc.filename}: "
            f"{exc.strerror or exc}",
            markup=False,
            soft_wrap=True,
        )
        errors.print("  hint: check that the folder exists and that you may write there")
        return EXIT_USAGE
    except Exception as exc:  # a bug in bncheck, not a user mistake
        return _internal(errors, args.command, exc)


def check_choice(kind: str, value: str, allowed: Iterable[str]) -> None:
    """A UsageError ``unknown-KIND`` with a close match and the choices, unless value is one."""
    from bncheck.errors import UsageError, did_you_mean

    allowed = list(allowed)
    if value not in allowed:
        hint = did_you_mean(value, allowed)
        raise UsageError(
            f"unknown {kind} {value!r}",
            f"{hint + ' ' if hint else ''}choose one of: {', '.join(allowed)}",
            code=f"unknown-{kind}",
        )


_SAFE_ERRORS = ("backslashreplace", "namereplace", "replace", "xmlcharrefreplace", "ignore")


def _safe_streams() -> None:
    """Escape (\\u03c3) what the terminal's encoding cannot show, never a UnicodeEncodeError.

    Reports print σ, Σ, ⟨⟩ and x̂; under PYTHONIOENCODING=ascii or latin-1, or a C locale
    without Python's UTF-8 mode (errors="surrogateescape"), stdout's encoding has none of them.
    """
    for stream in (sys.stdout, sys.stderr):
        if not isinstance(stream, io.TextIOWrapper) or stream.errors in _SAFE_ERRORS:
            continue
        try:
            "σΣ⟨⟩x̂".encode(stream.encoding)
        except (UnicodeEncodeError, LookupError):
            stream.reconfigure(errors="backslashreplace")


def _internal(errors: Console, command: str, exc: BaseException) -> int:
    import traceback

    errors.print(f"bncheck {command}: internal error: {exc!r}", markup=False)
    errors.print(traceback.format_exc(), markup=False)
    errors.print("  please report this with the command you ran", markup=False)
    return EXIT_INTERNAL
