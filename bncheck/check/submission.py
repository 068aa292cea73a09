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
    "UNSUPPORTED",
    "SubmissionError",
    "Target",
    "check_supported",
    "named_norm",
    "norm_functions",
    "norm_named",
    "parse_target",
    "resolve_all",
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
        # the default name, or any normalization's backward (a lone layernorm_backward)
        others = backward == BACKWARD and bool(norm_functions(defs))
        if backward in defs.functions or defs.torch_classes or others:
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


# What a function or class name says it normalizes, matched in the name lowercased with
# "_" removed (CamelCase split first): a preset of ``bncheck.spec.SPECS``. The first match
# wins, so "spatial_groupnorm" is group norm, not spatial batch norm.
_NAMED = (
    ("groupnorm", "groupnorm"),
    ("instancenorm", "instancenorm"),
    ("layernorm", "layernorm"),
    ("rmsnorm", "rmsnorm"),
)
# Abbreviations, as whole words, only when batch norm is not named ("bn_gn" is batch norm).
_WORDS = {"ln": "layernorm", "gn": "groupnorm", "rms": "rmsnorm"}
_SPATIAL = ("spatial", "batchnorm2d", "bn2d")  # batch norm over (N, H, W) of NCHW
# Normalizations bncheck cannot check: judged against any preset, a correct one would
# fail every gradient row, so they are refused (``check_supported``).
UNSUPPORTED = {
    "weightnorm": "weight normalization",
    "spectralnorm": "spectral normalization",
    "batchrenorm": "batch renormalization",
    "localresponsenorm": "local response normalization",
    "lrn": "local response normalization",
    "adanorm": "adaptive normalization",
    "adain": "adaptive instance normalization",
}


def _words(name: str) -> list[str]:
    camel = re.sub(r"([a-z0-9])([A-Z])|([A-Z])([A-Z][a-z])", r"\1\3_\2\4", name)
    return re.findall(r"[a-z0-9]+", camel.lower())


def named_norm(name: str) -> str | None:
    """What a function or class name says it normalizes: a preset name ("layernorm",
    "spatial_batchnorm", ...), a key of UNSUPPORTED, or None when it names none
    ("backward", "MyFunction")."""
    words = _words(name)
    joined = "".join(words)
    for key in UNSUPPORTED:
        if key in joined if len(key) > 3 else key in words:
            return key
    for text, preset in _NAMED:
        if text in joined:
            return preset
    batch = "batchnorm" in joined or "bn" in words or "batchnorm2d" in joined
    if not batch:
        found = [_WORDS[w] for w in words if w in _WORDS]
        if found:
            return found[0]
    if any(s in joined for s in _SPATIAL):
        return "spatial_batchnorm"
    return "batchnorm" if batch else None


def norm_named(name: str) -> str:
    """What a name says it normalizes, batch norm when it says nothing (``named_norm``)."""
    return named_norm(name) or "batchnorm"


def check_supported(name: str, where: str) -> None:
    """Refuse a function of a normalization bncheck cannot check (exit 2), rather than fail it."""
    norm = norm_named(name)
    if norm in UNSUPPORTED:
        raise SubmissionError(
            f"{where}: {name} looks like {UNSUPPORTED[norm]}, which bncheck does not check; "
            "judged as another normalization a correct one would fail every gradient row",
            "bncheck checks batch norm, spatial batch norm, layer norm, group norm, instance "
            "norm and RMSNorm: name one of those functions, or force one with --norm NAME",
            code="unsupported-norm",
        )


def _choose_name(defs: Defs, function: str | None, style: str | None, backward: str) -> str:
    """FUNCTION when given; else the spec's backward, or the one normalization function the
    file names (``norm_functions``), or the torch Function when that is all."""
    if function:
        return function
    named = norm_functions(defs)
    if backward not in defs.functions and len(named) == 1:  # layernorm_backward alone
        return named[0]
    lone_class = style is None and backward not in defs.functions
    if defs.torch_classes and (style == "torch" or lone_class):
        return defs.torch_classes[0]
    return backward


def _locate(text: str, backward: str) -> tuple[Path, str | None, Defs]:
    """The file named by ``text`` (a folder: the one file in it that defines ``backward``),
    the FUNCTION of ``PATH:FUNCTION``, and what the file defines."""
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
    return path, function, read_defs(path)


def resolve_target(text: str, style: str | None = None, backward: str = BACKWARD) -> Target:
    """Find the file, check the names exist, detect (or apply) the style.

    ``backward`` is the default function name, ``<norm>_backward`` of the NormSpec.
    """
    path, function, defs = _locate(text, backward)
    if style is not None and style not in STYLES:
        raise SubmissionError(f"unknown style {style!r}", f"choose one of: {', '.join(STYLES)}")
    return _target(path, defs, _choose_name(defs, function, style, backward), style)


def _target(path: Path, defs: Defs, name: str, style: str | None) -> Target:
    """The Target of ``name`` in ``path``; a SubmissionError when it cannot be checked
    (missing, a style it is not written in, a normalization bncheck does not check, a stub)."""
    check_supported(name, str(path))
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
        _not_stub(path, defs, name)
        return Target(path, "plain", {"backward": name})
    forward = name.replace("backward", "forward").removesuffix("_alt")
    if forward not in defs.functions:
        raise _missing(forward, defs, path)
    _not_stub(path, defs, name, forward)
    return Target(path, "cs231n", {"forward": forward, "backward": name})


def _not_stub(path: Path, defs: Defs, *names: str) -> None:
    """A SubmissionError ``not-implemented`` when a function is still the assignment's stub."""
    stubs = [n for n in names if n in defs.stubs]
    if stubs:
        raise SubmissionError(
            f"{path}: {' and '.join(stubs)} {'is' if len(stubs) == 1 else 'are'} not "
            "implemented yet (the body computes nothing: pass, None returned, or "
            "NotImplementedError raised)",
            f"write {stubs[0]}, then check it again",
            code="not-implemented",
        )


def norm_functions(defs: Defs) -> list[str]:
    """The functions and torch Function classes of a file that name a normalization: every
    function with the word ``backward`` in its name (``batchnorm_backward_alt``,
    ``spatial_groupnorm_backward``, a plain ``layernorm_backward``...), in the file's order,
    then the Function classes. ``affine_backward`` or ``relu_backward`` name none and are
    left out, and so are a composite ``affine_bn_relu_backward`` and a misspelled
    ``batchnorm_backwards``."""
    functions = sorted(
        (n for n in defs.functions if _is_backward(n, defs.functions[n]) and _names_a_norm(n)),
        key=lambda n: defs.functions_lines[n],
    )
    return functions + [c for c in defs.torch_classes if _names_a_norm(c)]


def _is_backward(name: str, required: int) -> bool:
    """A name that ends in ``backward`` (or ``backward_alt``) and a signature one of the
    styles can call: (dout, cache), or (dy, x, gamma[, G][, eps]). A student's helper,
    ``layernorm_backward_helper(dxhat, xhat, std)`` or ``batchnorm_backward_naive``, is not
    checked in a whole-file run (name it: PATH:FUNCTION)."""
    words = _words(name)
    ends = words[-1:] == ["backward"] or words[-2:] == ["backward", "alt"]
    return ends and required in (2, 3, 4, 5)


# words of a composite layer (CS231n's affine_bn_relu_backward): its backward is not a norm's
_COMPOSITE = frozenset({"affine", "relu", "conv", "pool", "dropout", "softmax", "loss", "fc"})


def _names_a_norm(name: str) -> bool:
    return named_norm(name) is not None and not _COMPOSITE & set(_words(name))


def resolve_all(
    text: str, style: str | None = None
) -> tuple[Path, list[tuple[str, Target | SubmissionError]]]:
    """Every normalization function of the file named by ``text`` (a file or a folder),
    each as its Target or the SubmissionError that says why it cannot be checked (a stub:
    ``not-implemented``). An empty list when the file names no normalization: the caller
    then checks the one function ``resolve_target`` finds, as before."""
    path, function, defs = _locate(text, BACKWARD)
    if function is not None:
        raise SubmissionError(
            f"{text} names one function", "resolve it with resolve_target", code="usage"
        )
    if style is not None and style not in STYLES:
        raise SubmissionError(f"unknown style {style!r}", f"choose one of: {', '.join(STYLES)}")
    found: list[tuple[str, Target | SubmissionError]] = []
    for name in norm_functions(defs):
        try:
            found.append((name, _target(path, defs, name, style)))
        except SubmissionError as exc:
            found.append((name, exc))
    return path, found
