"""A submission: where it is, which style it is written in, and which functions it names.

The file is read with ``ast`` first (``check/source.py``), so a syntax error, a missing
function or an unknown style is reported without running a line of it. Running it, in
the sandboxed child of ``bncheck.runner``, is ``check/sandboxed.py``.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from bncheck.check.source import Defs, parse_defs, read_defs, read_source
from bncheck.errors import SubmissionError, did_you_mean

__all__ = [
    "STYLES",
    "SubmissionError",
    "Target",
    "check_batchnorm",
    "norm_named",
    "parse_target",
    "resolve_target",
]

Style = Literal["cs231n", "plain", "torch"]
STYLES: tuple[str, ...] = ("cs231n", "plain", "torch")
BACKWARD = "batchnorm_backward"


@dataclass(frozen=True)
class Target:
    """What to run: the file, its style, and the names of the functions by role."""

    path: Path
    style: Style
    names: dict[str, str] = field(default_factory=dict)  # role -> name in the module

    @property
    def label(self) -> str:
        return f"{self.path}:{self.names.get('function') or self.names['backward']}"


_SKIP_FOLDERS = frozenset({"venv", "__pycache__", "site-packages", "node_modules"})


def _missing(name: str, defs: Defs, path: Path) -> SubmissionError:
    known = list(defs.functions) + defs.torch_classes
    hint = did_you_mean(name, known, n=3, cutoff=0.6) or (
        f"{path.name} defines: {', '.join(known) or 'no functions'}"
    )
    return SubmissionError(f"{path} has no function {name!r}", hint, code="missing-function")


def _find_file(folder: Path, backward: str) -> Path:
    """The one .py file under ``folder`` that defines ``backward`` (or a torch Function).

    When none does and a file did not parse, its syntax error is the answer: the function
    is most likely in it (first choice: a file whose text names ``backward``).
    """
    found, skipped = [], []
    unparsed: list[tuple[bool, Path, SubmissionError]] = []  # (names backward?, file, error)
    for p in _candidates(folder):
        try:
            source = read_source(p)
            defs = parse_defs(p, source)
        except SubmissionError as exc:  # unreadable, not a file, too large, not Python
            skipped.append(f"{p.name} [{exc.code}]")
            if exc.code in _PARSE_FAILED:
                unparsed.append((backward in source, p, exc))
            continue
        if backward in defs.functions or defs.torch_classes:
            found.append(p)
    if len(found) == 1:
        return found[0]
    if not found and unparsed:
        raise _unparsed(folder, backward, unparsed)
    if not found:
        unread = f"; could not read: {', '.join(skipped[:3])}" if skipped else ""
        raise SubmissionError(
            f"no file under {folder} defines {backward} or a torch.autograd.Function",
            f"name the file: bncheck verify PATH/layers.py{unread}",
            code="missing-function",
        )
    raise SubmissionError(
        f"{len(found)} files under {folder} define a backward: "
        + ", ".join(str(p) for p in found[:5]),
        "name one of them: bncheck verify FILE[:FUNCTION]",
        code="ambiguous-submission",
    )


_PARSE_FAILED = ("syntax-error", "parse-failed")


def _unparsed(
    folder: Path, backward: str, unparsed: list[tuple[bool, Path, SubmissionError]]
) -> SubmissionError:
    """The syntax error of the likeliest file, with where bncheck looked and why."""
    _, path, error = next((u for u in unparsed if u[0]), unparsed[0])
    others = [p.name for _, p, _ in unparsed if p != path]
    also = ""
    if others:
        also = f"; {', '.join(others[:3])} {'does' if len(others) == 1 else 'do'} not parse either"
    return SubmissionError(
        error.message,
        f"{error.hint}\n  no file under {folder} that Python can parse defines {backward}; "
        f"fix this one{also}",
        code=error.code,
    )


def _candidates(folder: Path) -> list[Path]:
    """The .py files under ``folder``, sorted: no hidden files or folders, no virtualenvs or
    caches, and no symlink (to a file or a folder) that leads outside ``folder``."""
    root = os.path.realpath(folder)
    files = []
    for here, dirs, names in os.walk(folder, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in _SKIP_FOLDERS)
        for name in sorted(names):
            if name.startswith(".") or not name.endswith(".py"):
                continue
            p = Path(here, name)
            if p.is_symlink() and not _inside(os.path.realpath(p), root):
                continue  # a link out of the folder (or a broken one, caught on reading)
            files.append(p)
    return files


def _inside(path: str, root: str) -> bool:
    try:
        return os.path.commonpath([path, root]) == root
    except ValueError:  # different drives on Windows
        return False


def parse_target(text: str) -> tuple[Path, str | None]:
    """``PATH`` or ``PATH:FUNCTION``."""
    path, sep, function = text.rpartition(":")
    if sep and path and function.isidentifier():
        return Path(path), function
    return Path(text), None


# Normalizations bncheck does not check yet: judged against batch norm, a correct one fails
# every gradient row. Matched in the name without "_" and lowercased, or as a word ("ln").
_OTHER_NORMS = {
    "layernorm": "layer normalization",
    "groupnorm": "group normalization",
    "instancenorm": "instance normalization",
    "rmsnorm": "RMS normalization",
}
_OTHER_WORDS = {"ln": "layernorm", "gn": "groupnorm"}
_SPATIAL = ("spatial", "batchnorm2d", "bn2d")  # batch norm over (N, H, W) of NCHW


def norm_named(name: str) -> str:
    """What a function or class name says it normalizes: "spatial_batchnorm", "batchnorm"
    (also for a name that says nothing, e.g. "backward"), or a key of _OTHER_NORMS."""
    camel = re.sub(r"([a-z0-9])([A-Z])|([A-Z])([A-Z][a-z])", r"\1\3_\2\4", name)
    words = re.findall(r"[a-z0-9]+", camel.lower())
    joined = "".join(words)
    others = [n for n in _OTHER_NORMS if n in joined]
    if "batchnorm" not in joined and "bn" not in words:  # "ln"/"gn" only when BN is not named
        others += [_OTHER_WORDS.get(w, "") for w in words]
    if any(others):
        return next(n for n in others if n)
    return "spatial_batchnorm" if any(s in joined for s in _SPATIAL) else "batchnorm"


def check_batchnorm(name: str, where: str) -> None:
    """Refuse a function of another normalization (exit 2), rather than fail it as batch norm."""
    norm = norm_named(name)
    if norm in _OTHER_NORMS:
        raise SubmissionError(
            f"{where}: {name} looks like {_OTHER_NORMS[norm]}, which bncheck does not check yet; "
            "against the batch-norm reference a correct one would fail every gradient row",
            "name a batch-norm function (PATH:batchnorm_backward, PATH:spatial_batchnorm_backward "
            "or a torch.autograd.Function that implements batch norm)",
            code="not-batchnorm",
        )


def _choose_name(defs: Defs, function: str | None, style: str | None, backward: str) -> str:
    """FUNCTION when given; else the spec's backward, or the torch Function when that is all."""
    if function:
        return function
    lone_class = style is None and backward not in defs.functions
    if defs.torch_classes and (style == "torch" or lone_class):
        return defs.torch_classes[0]
    return backward


def resolve_target(text: str, style: str | None = None, backward: str = BACKWARD) -> Target:
    """Find the file, check the names exist, detect (or apply) the style.

    ``backward`` is the default function name, ``<norm>_backward`` of the NormSpec.
    """
    path, function = parse_target(text)
    try:
        path.stat()
    except (FileNotFoundError, NotADirectoryError):
        raise SubmissionError(
            f"no such file or folder: {path}", "check the path", code="file-not-found"
        ) from None
    except OSError as exc:
        raise SubmissionError(
            f"cannot read {path}: {exc.strerror or exc}",
            "check that you may read the file and its folders",
            code="unreadable",
        ) from None
    if path.is_dir():
        path = _find_file(path, backward)
    if path.suffix != ".py":
        raise SubmissionError(f"{path} is not a Python file", "give a .py file", code="not-python")
    defs = read_defs(path)
    if style is not None and style not in STYLES:
        raise SubmissionError(f"unknown style {style!r}", f"choose one of: {', '.join(STYLES)}")
    name = _choose_name(defs, function, style, backward)
    check_batchnorm(name, str(path))
    if name in defs.torch_classes and style in (None, "torch"):
        return Target(path, "torch", {"function": name})
    if name not in defs.functions:
        raise _missing(name, defs, path)
    arity = defs.functions[name]
    chosen = style or ("cs231n" if arity == 2 else "plain")
    if chosen == "torch":
        raise SubmissionError(
            f"{name} in {path} is a function, not a torch.autograd.Function subclass",
            "drop --style torch, or name the Function class: PATH:ClassName",
            code="wrong-style",
        )
    if chosen == "plain":
        return Target(path, "plain", {"backward": name})
    forward = name.replace("backward", "forward").removesuffix("_alt")
    if forward not in defs.functions:
        raise _missing(forward, defs, path)
    return Target(path, "cs231n", {"forward": forward, "backward": name})
