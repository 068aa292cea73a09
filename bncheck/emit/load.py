"""Turn emitted source into a live function that tracebacks and ``inspect`` can read.

Importing SymPy and deriving costs ~0.5 s, half of a ``bncheck verify``. The emitted
source only changes when the code that produces it (or SymPy) changes, so it is
cached on disk under a key made of exactly that: the bytes of ``bncheck/symbolic``,
``bncheck/emit``, ``spec.py`` and ``names.py``, the SymPy version and the spec (its
``repr``: every field, axes, parameter axes, groups, centring, keepdims, eps, ...). The
cache lives in ``~/.cache/bncheck`` (``BNCHECK_CACHE_DIR`` overrides), never in the
repository. This module imports no SymPy itself.

The cache is executed, so it is an attack surface: a submission that appended code to
it once made every later verify pass. Sandboxed children cannot reach it (their own
HOME, the audit hook); and before a cached file is executed it must be a regular
file of ours that no one else may write, and its syntax tree must have the shape the
emitter produces: one import, one function, assignments of arithmetic on its own
names, a whitelist of numpy/torch calls and a loop over blocks of rows
(``_check_emitted``). Anything else is a miss: SymPy derives the source again and
the file is replaced.
"""

from __future__ import annotations

import ast
import contextlib
import hashlib
import linecache
import os
import stat
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import Any

from bncheck.spec import NormSpec

__all__ = [
    "cache_folder",
    "cached_source",
    "load_backward",
    "load_cached",
    "load_source",
    "read_private",
    "write_private",
]

_PACKAGE = Path(__file__).resolve().parents[1]


def load_source(source: str, name: str, filename: str) -> Callable[..., Any]:
    """Compile ``source``, register it in linecache under ``filename``, return ``name``."""
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    namespace: dict[str, Any] = {"__name__": filename}
    exec(compile(source, filename, "exec"), namespace)
    fn: Callable[..., Any] = namespace[name]
    return fn


# What emitted code may call or read on an array or on numpy/torch (see emit/printers.py);
# a test checks that every emitted source passes, so a new printer rule fails loudly here.
_ATTRIBUTES = frozenset(
    {
        "ones",
        "einsum",
        "sqrt",
        "rsqrt",
        "sum",
        "addcmul",
        "addcmul_",
        "mul_",
        "shape",
        "dtype",
        "reshape",
        # code blocked over rows (see emit/codegen.py): dx allocated once, zeroed
        # sums, element-wise results written into dx's rows, the size of one row
        "empty_like",
        "zeros",
        "subtract",
        "multiply",
        "nbytes",
        "device",
    }
)
# The only functions emitted code may call by name: the loop over blocks of rows and its
# size. Neither can reach anything outside the arrays.
_BUILTINS = frozenset({"range", "max"})
_MODULES = {"import numpy as np": "np", "import torch": "torch"}
_NODES = (
    ast.Expr, ast.Assign, ast.AugAssign, ast.Return, ast.Name, ast.Load, ast.Store,
    ast.Constant, ast.BinOp, ast.UnaryOp, ast.Call, ast.keyword, ast.Attribute,
    ast.Subscript, ast.Tuple, ast.operator, ast.unaryop, ast.Slice, ast.For,
)  # fmt: skip
_MAX_SOURCE = 1 << 20


def _check_emitted(source: str, name: str) -> bool:
    """True when ``source`` has the shape of emitted code: safe to execute."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    if len(tree.body) != 2 or not isinstance(tree.body[1], ast.FunctionDef):
        return False
    module = _MODULES.get(ast.unparse(tree.body[0]))
    fn = tree.body[1]
    if module is None or fn.name != name or fn.decorator_list or fn.returns is not None:
        return False
    args = fn.args
    if args.vararg or args.kwarg or args.kwonlyargs or args.posonlyargs:
        return False
    if not all(isinstance(d, ast.Constant) for d in args.defaults):
        return False
    if any(a.annotation is not None for a in args.args):  # run by the def, and not walked below
        return False
    known = {module} | {a.arg for a in args.args} | _BUILTINS
    for node in ast.walk(ast.Module(body=fn.body, type_ignores=[])):
        if isinstance(node, ast.Module):
            continue
        if not isinstance(node, _NODES):
            return False
        if isinstance(node, (ast.Assign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if not all(isinstance(t, ast.Name) for t in targets):
                return False
            known |= {t.id for t in targets if isinstance(t, ast.Name)}
        elif isinstance(node, ast.For):  # for r in range(...): a name, no else
            if not isinstance(node.target, ast.Name) or node.orelse:
                return False
            known.add(node.target.id)
        elif isinstance(node, ast.Attribute):
            if node.attr not in _ATTRIBUTES:  # no np.load, no __class__
                return False
        elif (
            isinstance(node, ast.Call)
            and not isinstance(node.func, ast.Attribute)
            and not (isinstance(node.func, ast.Name) and node.func.id in _BUILTINS)
        ):
            return False  # no open(), exec(), __import__(): only range() and max() by name
    loads = [n.id for n in ast.walk(fn) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)]
    return all(n in known for n in loads)


def cache_folder() -> Path:
    """bncheck's own cache: ``BNCHECK_CACHE_DIR``, else ``$XDG_CACHE_HOME/bncheck`` or
    ``~/.cache/bncheck``. Shared by every cache of bncheck (emitted code, autograd)."""
    return Path(
        os.environ.get("BNCHECK_CACHE_DIR")
        or os.path.join(
            os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "bncheck"
        )
    )


def read_private(path: Path, limit: int) -> bytes | None:
    """The bytes of ``path`` if it is a regular file of ours, in a folder of ours, that no one
    else may write, of at most ``limit`` bytes; else None (a miss, never an error)."""
    try:
        folder = os.stat(path.parent)
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(fd)
        uid = os.geteuid()
        private = (info.st_mode | folder.st_mode) & (stat.S_IWGRP | stat.S_IWOTH) == 0
        if not (stat.S_ISREG(info.st_mode) and info.st_uid == uid == folder.st_uid and private):
            return None
        if info.st_size > limit:
            return None
        try:
            data = f.read(limit + 1)
        except OSError:
            return None
        return data if len(data) <= limit else None


def write_private(path: Path, data: bytes) -> None:
    """Write ``path`` atomically, private to us (folder 0o700, file 0o600). A read-only home,
    or a full disk, only costs time: the next run computes it again."""
    with contextlib.suppress(OSError):
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            tmp.replace(path)  # atomic: a concurrent reader sees all of it or none
        finally:
            with contextlib.suppress(OSError):
                tmp.unlink()


def _read_cache(path: Path) -> str | None:
    """The cached source if the file is ours, private to us, and small; else None."""
    data = read_private(path, _MAX_SOURCE)
    try:
        return None if data is None else data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _cache_file(spec: NormSpec, backend: str) -> Path:
    root = cache_folder()
    digest = hashlib.sha256(f"{spec!r} {backend} sympy {version('sympy')}".encode())
    producers = [*_PACKAGE.glob("symbolic/*.py"), *_PACKAGE.glob("emit/*.py")]
    for path in sorted([*producers, _PACKAGE / "spec.py", _PACKAGE / "names.py"]):
        digest.update(path.read_bytes())
    return root / f"emitted-{spec.name}-{backend}-{digest.hexdigest()[:20]}.py"


def _verified(spec: NormSpec, backend: str) -> str | None:
    """The cached source when it is there, ours and has the shape of emitted code."""
    source = _read_cache(_cache_file(spec, backend))
    if source is not None and _check_emitted(source, f"{spec.name}_backward"):
        return source
    return None


def cached_source(spec: NormSpec, backend: str) -> str:
    """``emit_source(spec, backend)``, from the disk cache when the producing code is unchanged."""
    source = _verified(spec, backend)
    if source is not None:
        return source
    from bncheck.emit.codegen import emit_source  # SymPy, only on a miss

    source = emit_source(spec, backend)
    write_private(_cache_file(spec, backend), source.encode("utf-8"))
    return source


_LOADED: dict[tuple[NormSpec, str], Callable[..., Any]] = {}


def _load(spec: NormSpec, backend: str, source: str) -> Callable[..., Any]:
    # The source's digest: two specs of one name (other groups, eps) get two linecache entries.
    digest = hashlib.sha256(source.encode()).hexdigest()[:12]
    filename = f"<bncheck-emitted {backend} {spec.name} {spec.variance} {digest}>"
    fn = load_source(source, f"{spec.name}_backward", filename)
    _LOADED[spec, backend] = fn
    return fn


def load_cached(spec: NormSpec | None = None, backend: str = "numpy") -> Callable[..., Any] | None:
    """``load_backward`` from memory or a verified cache file; None where SymPy is needed."""
    spec = NormSpec() if spec is None else spec
    if (spec, backend) in _LOADED:
        return _LOADED[spec, backend]
    source = _verified(spec, backend)
    return None if source is None else _load(spec, backend, source)


def load_backward(spec: NormSpec | None = None, backend: str = "numpy") -> Callable[..., Any]:
    """The emitted ``<name>_backward(dy, x, gamma, eps)`` for ``spec``, ready to call.

    Loaded once per process; later calls return the same function, whatever happens
    to the cache file meanwhile.
    """
    spec = NormSpec() if spec is None else spec  # an unknown backend: emit_source says so
    return load_cached(spec, backend) or _load(spec, backend, cached_source(spec, backend))
