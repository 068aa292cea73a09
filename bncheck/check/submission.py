"""A submission: where it is, which style it is written in, and running it safely.

The file is read with ``ast`` first, so a syntax error, a missing function or an
unknown style is reported without running a line of it. Then it runs in a child
process (``bncheck.check.worker``) with a timeout; the parent only receives arrays.
"""

from __future__ import annotations

import ast
import difflib
import os
import pickle
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from bncheck.errors import BncheckError

__all__ = ["STYLES", "Child", "SubmissionError", "Target", "resolve_target", "start"]

Style = Literal["cs231n", "plain", "torch"]
STYLES: tuple[str, ...] = ("cs231n", "plain", "torch")
BACKWARD = "batchnorm_backward"


class SubmissionError(BncheckError):
    """The submission cannot be loaded or called (exit 2)."""

    code = "submission"


@dataclass(frozen=True)
class Target:
    """What to run: the file, its style, and the names of the functions by role."""

    path: Path
    style: Style
    names: dict[str, str] = field(default_factory=dict)  # role -> name in the module

    @property
    def label(self) -> str:
        return f"{self.path}:{self.names.get('function') or self.names['backward']}"


@dataclass(frozen=True)
class _Defs:
    functions: dict[str, int]  # name -> number of positional parameters
    functions_lines: dict[str, int]
    torch_classes: list[str]


def _read_defs(path: Path) -> _Defs:
    source = path.read_text(encoding="utf-8", errors="replace")
    try:
        tree = ast.parse(source, filename=str(path))
    except SyntaxError as exc:
        line = (exc.text or "").rstrip()
        caret = " " * max((exc.offset or 1) - 1 - (len(line) - len(line.lstrip())), 0) + "^"
        raise SubmissionError(
            f"{path}:{exc.lineno}: syntax error: {exc.msg}",
            f"line {exc.lineno}: {line.strip()}\n        {caret}" if line else "fix the syntax",
            code="syntax-error",
        ) from None
    functions, lines, classes = {}, {}, []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            functions[node.name] = len(node.args.posonlyargs) + len(node.args.args)
            lines[node.name] = node.lineno
        elif isinstance(node, ast.ClassDef):
            bases = [ast.unparse(b) for b in node.bases]
            if any(b.split(".")[-1] == "Function" for b in bases):
                classes.append(node.name)
    return _Defs(functions, lines, classes)


def _missing(name: str, defs: _Defs, path: Path) -> SubmissionError:
    known = list(defs.functions) + defs.torch_classes
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
    hint = (
        f"did you mean {' or '.join(close)}?"
        if close
        else (f"{path.name} defines: {', '.join(known) or 'no functions'}")
    )
    return SubmissionError(f"{path} has no function {name!r}", hint, code="missing-function")


def _find_file(folder: Path, backward: str) -> Path:
    """The one .py file under ``folder`` that defines ``backward`` (or a torch Function)."""
    found = []
    for p in sorted(folder.rglob("*.py")):
        if any(part.startswith(".") or part in ("venv", "__pycache__") for part in p.parts):
            continue
        try:
            defs = _read_defs(p)
        except SubmissionError:
            continue
        if backward in defs.functions or defs.torch_classes:
            found.append(p)
    if len(found) == 1:
        return found[0]
    if not found:
        raise SubmissionError(
            f"no file under {folder} defines {backward} or a torch.autograd.Function",
            "name the file: bncheck verify PATH/layers.py",
            code="missing-function",
        )
    raise SubmissionError(
        f"{len(found)} files under {folder} define a backward: "
        + ", ".join(str(p) for p in found[:5]),
        "name one of them: bncheck verify FILE[:FUNCTION]",
        code="ambiguous-submission",
    )


def parse_target(text: str) -> tuple[Path, str | None]:
    """``PATH`` or ``PATH:FUNCTION``."""
    path, sep, function = text.rpartition(":")
    if sep and path and function.isidentifier():
        return Path(path), function
    return Path(text), None


def _choose_name(defs: _Defs, function: str | None, style: str | None, backward: str) -> str:
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
    if not path.exists():
        raise SubmissionError(
            f"no such file or folder: {path}", "check the path", code="file-not-found"
        )
    if path.is_dir():
        path = _find_file(path, backward)
    if path.suffix != ".py":
        raise SubmissionError(f"{path} is not a Python file", "give a .py file", code="not-python")
    defs = _read_defs(path)
    if style is not None and style not in STYLES:
        raise SubmissionError(f"unknown style {style!r}", f"choose one of: {', '.join(STYLES)}")
    name = _choose_name(defs, function, style, backward)
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


@dataclass
class Child:
    """A child process running the calls; ``wait()`` returns the replies or raises."""

    target: Target
    process: subprocess.Popen[bytes]
    folder: tempfile.TemporaryDirectory[str]
    timeout: float

    def wait(self) -> list[dict[str, Any]]:
        try:
            try:
                out, _ = self.process.communicate(timeout=self.timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.communicate()
                raise SubmissionError(
                    f"{self.target.label} did not finish within {self.timeout:g} s",
                    "look for an infinite loop or a very slow loop over elements; "
                    "--timeout SECONDS raises the limit",
                    code="timeout",
                ) from None
            reply_path = Path(self.folder.name) / "reply.pkl"
            if not reply_path.exists():
                tail = out.decode(errors="replace").strip().splitlines()[-5:]
                raise SubmissionError(
                    f"{self.target.label} ended the process (status {self.process.returncode}) "
                    "before bncheck could read its results",
                    "does it call os._exit() or crash the interpreter?"
                    + ("\n  last output: " + " | ".join(tail) if tail else ""),
                    code="submission-crashed",
                )
            with reply_path.open("rb") as f:
                reply = pickle.load(f)
        finally:
            self.folder.cleanup()
        if not reply["ok"]:
            raise failure_error(self.target, reply["error"])
        return list(reply["replies"])


def failure_error(target: Target, info: dict[str, Any]) -> SubmissionError:
    """The message for a submission that raised or exited while we called it."""
    where = "while being imported" if info["where"] == "import" else f"in {info['where']}"
    if info["kind"] == "arity":  # a cs231n forward must return (out, cache)
        count = info["count"]
        return SubmissionError(
            f"{info['where']} returned {count} value{'s' * (count != 1)}; expected (out, cache)",
            f"end {info['where']} with: return out, cache",
            code="wrong-arity",
        )
    if info["kind"] == "exit":
        return SubmissionError(
            f"{target.path} called {info['message']} {where}",
            "a library function must return its results, not exit the interpreter",
            code="submission-exited",
        )
    return SubmissionError(
        f"{target.path} raised {info['type']} {where}: {info['message']}",
        "its traceback:\n" + info.get("traceback", ""),
        code="submission-raised",
    )


def start(target: Target, ops: list[dict[str, Any]], timeout: float = 60.0) -> Child:
    """Start the child process on ``ops``; the caller does other work, then ``wait()``."""
    folder = tempfile.TemporaryDirectory(prefix="bncheck-")
    request = {
        "path": str(target.path.resolve()),
        "display": str(target.path),
        "names": target.names,
        "ops": ops,
    }
    with (Path(folder.name) / "request.pkl").open("wb") as f:
        pickle.dump(request, f, protocol=pickle.HIGHEST_PROTOCOL)
    root = str(Path(__file__).resolve().parents[2])  # the folder that holds bncheck/
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([root, *filter(None, [env.get("PYTHONPATH")])])
    process = subprocess.Popen(
        [sys.executable, "-m", "bncheck.check.worker", folder.name],
        cwd=folder.name,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    return Child(target, process, folder, timeout)
