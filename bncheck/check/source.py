"""A submission's file as text and as a syntax tree: read with caps, parsed, never run.

``read_source`` refuses what is not a regular, small, decodable Python file; ``parse_defs``
lists its top-level functions (with their required positional parameters), the
``torch.autograd.Function`` classes (a base imported under another name included),
module-level aliases of a function, and the functions that are still stubs (``is_stub``).
A syntax error becomes the user's message.
"""

from __future__ import annotations

import ast
import codecs
import io
import os
import stat
import tokenize
from dataclasses import dataclass
from pathlib import Path

from bncheck.errors import SubmissionError

__all__ = [
    "MAX_BYTES",
    "Defs",
    "is_stub",
    "parse_defs",
    "read_defs",
    "read_source",
    "resolve",
]


@dataclass(frozen=True)
class Defs:
    functions: dict[str, int]  # name -> number of positional parameters
    functions_lines: dict[str, int]
    torch_classes: list[str]
    # functions whose body computes nothing: the assignment's stub (``pass``, ``# TODO``,
    # ``dx, dgamma, dbeta = None, None, None`` and a return of those names)
    stubs: frozenset[str] = frozenset()


MAX_BYTES = 1 << 20  # 1 MiB: far above any hand-written layer, far below a hang or a crash
_KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def read_source(path: Path) -> str:
    """The text of the regular file ``path``, decoded as Python does; never blocks or crashes.

    A FIFO, device or folder is refused before it is opened (opening a FIFO would wait
    for a writer), and the open itself is non-blocking in case the file is swapped.
    """
    try:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode):
            raise _not_a_file(path, info.st_mode)
        if info.st_size > MAX_BYTES:
            raise _too_large(path, info.st_size)
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
        with os.fdopen(fd, "rb") as f:
            mode = os.fstat(f.fileno()).st_mode
            if not stat.S_ISREG(mode):  # replaced between the stat and the open
                raise _not_a_file(path, mode)
            data = f.read(MAX_BYTES + 1)
    except OSError as exc:
        raise SubmissionError(
            f"cannot read {path}: {exc.strerror or exc}",
            "check that the file exists and that you may read it",
            code="unreadable",
        ) from None
    if len(data) > MAX_BYTES:
        raise _too_large(path, len(data))
    return _decode(path, data)


def _not_a_file(path: Path, mode: int) -> SubmissionError:
    kind = next((name for test, name in _KINDS if test(mode)), "not a regular file")
    return SubmissionError(
        f"{path} is {kind}, not a Python file",
        "give the path of a .py file (or of a folder that holds one)",
        code="not-a-file",
    )


def _too_large(path: Path, size: int) -> SubmissionError:
    return SubmissionError(
        f"{path} is {size / (1 << 20):.1f} MiB; bncheck reads submissions up to "
        f"{MAX_BYTES >> 20} MiB",
        "a batch-norm layer fits in a few KiB: is this the right file? "
        "Move data and generated code out of it",
        code="submission-too-large",
    )


def _decode(path: Path, data: bytes) -> str:
    """Bytes to text as Python reads source: a UTF-8 BOM, or a PEP 263 coding cookie."""
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
        problem = ""
    except SyntaxError as exc:  # an unknown cookie, a cookie against a BOM, or bad bytes
        encoding, problem = "utf-8", exc.msg  # on line 1 or 2: the decoding says which
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        utf8 = codecs.lookup(encoding).name in ("utf-8", "utf-8-sig")
        raise SubmissionError(
            f"{path}:{line}: byte 0x{data[exc.start]:02x} is not valid "
            + ("UTF-8" if utf8 else encoding),
            f"line {line}: save the file as UTF-8 (your editor's 'Save with encoding'), "
            "or declare its encoding on line 1: # -*- coding: latin-1 -*-",
            code="not-utf8" if utf8 else "bad-encoding",
        ) from None
    if problem:
        raise SubmissionError(
            f"{path}: {problem}",
            "save the file as UTF-8 and remove the '# -*- coding: ... -*-' line",
            code="bad-encoding",
        )
    return text


def read_defs(path: Path) -> Defs:
    return parse_defs(path, read_source(path))


def parse_defs(path: Path, source: str) -> Defs:
    try:
        return _defs(ast.parse(source, filename=str(path)))
    except SyntaxError as exc:
        raise _syntax_error(path, exc) from None
    except (RecursionError, MemoryError, ValueError) as exc:  # nesting too deep; NUL bytes
        reason = "it is nested too deeply" if not isinstance(exc, ValueError) else str(exc)
        raise SubmissionError(
            f"{path}: could not parse: {reason}",
            "Python could not read this file either; split deeply nested expressions",
            code="parse-failed",
        ) from None


def _syntax_error(path: Path, exc: SyntaxError) -> SubmissionError:
    line = (exc.text or "").rstrip()
    offset = (exc.offset or 1) - 1 - (len(line) - len(line.lstrip()))
    shown = line.strip()
    if len(shown) > 120:  # a huge line (a minified or generated file): the part at the error
        start = max(0, min(offset - 60, len(shown) - 120))
        shown, offset = shown[start : start + 120], offset - start
    caret = " " * max(offset, 0) + "^"
    return SubmissionError(
        f"{path}:{exc.lineno}: syntax error: {exc.msg}",
        f"line {exc.lineno}: {shown}\n        {caret}" if line else "fix the syntax",
        code="syntax-error",
    )


def _defs(tree: ast.Module) -> Defs:
    """Top-level functions with their number of required positional parameters (a
    ``debug=False`` or ``**kwargs`` does not change the style), torch Function classes,
    and module-level aliases of a function (``batchnorm_backward_alt = batchnorm_backward``).
    """
    functions, lines, classes, stubs = {}, {}, [], set()
    aliases = _aliases(tree)
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            positional = len(node.args.posonlyargs) + len(node.args.args)
            functions[node.name] = positional - len(node.args.defaults)
            lines[node.name] = node.lineno
            if is_stub(node):
                stubs.add(node.name)
        elif (
            isinstance(node, ast.Assign)
            and isinstance(node.value, ast.Name)
            and node.value.id in functions
        ):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    functions[target.id] = functions[node.value.id]
                    lines[target.id] = node.lineno
        elif isinstance(node, ast.ClassDef):
            bases = [resolve(ast.unparse(b), aliases) for b in node.bases]
            if any(b.split(".")[-1] == "Function" for b in bases):
                classes.append(node.name)
    return Defs(functions, lines, classes, frozenset(stubs))


def _nothing(value: ast.expr | None) -> bool:
    """None, ``None, None`` or ``...``: a value a stub starts its results with."""
    if value is None:
        return True
    if isinstance(value, ast.Constant):
        return value.value is None or value.value is Ellipsis
    return isinstance(value, ast.Tuple) and all(_nothing(v) for v in value.elts)


def _reads(value: ast.expr) -> bool:
    """What a stub may still do: read its parameters (``ln_param.get("eps", 1e-5)``,
    ``bn_param["mode"]``, ``x.shape``), never compute with them."""
    if isinstance(value, (ast.Name, ast.Constant, ast.Attribute, ast.Subscript)):
        return not any(isinstance(n, (ast.BinOp, ast.Call)) for n in ast.walk(value))
    if isinstance(value, ast.Tuple):
        return all(_reads(v) for v in value.elts)
    return (
        isinstance(value, ast.Call)
        and isinstance(value.func, ast.Attribute)
        and value.func.attr in ("get", "setdefault")
        and all(isinstance(a, (ast.Constant, ast.Name)) for a in value.args)
    )


def is_stub(node: ast.FunctionDef) -> bool:
    """The body computes nothing (CS231n's starter code): only a docstring, ``pass``,
    results set to None, reads of its parameters, and a return of None or of names
    that hold None. ``raise NotImplementedError`` is a stub too."""
    empty: set[str] = set()  # names that hold None
    body = node.body
    returned = False
    for stmt in body:
        if isinstance(stmt, ast.Pass) or (
            isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant)
        ):
            continue
        if isinstance(stmt, ast.Raise):
            exc = stmt.exc.func if isinstance(stmt.exc, ast.Call) else stmt.exc
            return isinstance(exc, ast.Name) and exc.id == "NotImplementedError"
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
            names = _target_names(stmt.targets[0])
            if names is None:
                return False
            if _nothing(stmt.value):
                empty.update(names)
            elif _reads(stmt.value):
                empty.difference_update(names)
            else:
                return False
            continue
        if isinstance(stmt, ast.Return):
            value = stmt.value
            items = value.elts if isinstance(value, ast.Tuple) else [value]
            ok = all(_nothing(v) or (isinstance(v, ast.Name) and v.id in empty) for v in items)
            if not ok:
                return False
            returned = True
            continue
        return False
    return returned or not body or all(isinstance(s, (ast.Pass, ast.Expr)) for s in body)


def _target_names(target: ast.expr) -> list[str] | None:
    if isinstance(target, ast.Name):
        return [target.id]
    if isinstance(target, ast.Tuple) and all(isinstance(t, ast.Name) for t in target.elts):
        return [t.id for t in target.elts if isinstance(t, ast.Name)]
    return None


def _aliases(tree: ast.Module) -> dict[str, str]:
    """``from torch.autograd import Function as F`` and ``F = torch.autograd.Function``
    at module level both give {"F": "torch.autograd.Function"}."""
    aliases: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            module = f"{node.module}." if isinstance(node, ast.ImportFrom) else ""
            aliases.update({a.asname: module + a.name for a in node.names if a.asname})
        elif isinstance(node, ast.Assign) and isinstance(node.value, (ast.Name, ast.Attribute)):
            names = [t.id for t in node.targets if isinstance(t, ast.Name)]
            aliases.update(dict.fromkeys(names, ast.unparse(node.value)))
    return aliases


def resolve(name: str, aliases: dict[str, str]) -> str:
    """``name`` with its first part replaced through ``aliases`` while one applies."""
    for _ in range(8):  # bounded: F = G; G = F
        head, dot, rest = name.partition(".")
        if head not in aliases:
            break
        name = aliases[head] + dot + rest
    return name
