"""The sources of a gradient: derived (emitted from SymPy), autograd (torch), finite differences.

The fourth source, the submission, lives in ``submission`` and ``plan``. Every source
returns ``Grads`` for one ``Case`` in float64.

Autograd differentiates the trusted forward itself (``reference.forward`` with
``xp=torch``). Its gradients depend only on the spec, the inputs and torch's version,
never on the submission, so ``autograd_all`` keeps them in bncheck's cache (the folder
of ``emit.load``, under the same rules: a private regular file of ours, arrays read with
``allow_pickle=False``, anything odd recomputed) and, on a hit, never imports torch
(1–2 s of a verify that otherwise takes 0.5 s).
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bncheck.check.fd import FDOptions, reference_gradients
from bncheck.check.inputs import Case
from bncheck.check.reference import forward
from bncheck.spec import NormSpec

__all__ = [
    "TORCH_HINT",
    "Grads",
    "autograd",
    "autograd_all",
    "derived",
    "finite_differences",
    "torch_available",
]

TORCH_HINT = "pip install torch==2.13.0"


@dataclass(frozen=True)
class Grads:
    dx: np.ndarray
    dgamma: np.ndarray
    dbeta: np.ndarray

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter((self.dx, self.dgamma, self.dbeta))


def derived_function(spec: NormSpec) -> Callable[..., Any]:
    """The numpy backward emitted from the SymPy derivation (cached on disk by ``emit.load``)."""
    from bncheck.emit.load import load_backward

    return load_backward(spec, "numpy")


def derived(spec: NormSpec, case: Case) -> Grads:
    fn = derived_function(spec)
    case = case.astype(np.float64)
    dx, dgamma, dbeta = fn(case.dy, case.x, case.gamma, spec.eps)  # emitted code writes no input
    return Grads(np.asarray(dx), np.asarray(dgamma), np.asarray(dbeta))


def finite_differences(spec: NormSpec, case: Case, options: FDOptions) -> Grads:
    case = case.astype(np.float64)
    g = reference_gradients(case.x, case.gamma, case.beta, case.dy, spec, options)
    return Grads(g.dx, g.dgamma, g.dbeta)


def torch_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("torch") is not None


def autograd(spec: NormSpec, case: Case) -> Grads:
    """torch autograd through the reference forward, in float64 (torch imported here)."""
    import torch

    x, gamma, beta = (
        torch.tensor(np.asarray(a, dtype=np.float64), requires_grad=True)
        for a in (case.x, case.gamma, case.beta)
    )
    y = forward(x, gamma, beta, spec, xp=torch)
    y.backward(torch.tensor(np.asarray(case.dy, dtype=np.float64)))
    assert x.grad is not None and gamma.grad is not None and beta.grad is not None
    return Grads(x.grad.numpy(), gamma.grad.numpy(), beta.grad.numpy())


def autograd_all(spec: NormSpec, cases: Sequence[Case]) -> tuple[list[Grads | None], str]:
    """torch autograd for the ``fixed`` cases (``inputs.fixed_cases``), None for the others;
    for every case when none is fixed. Second: where they came from, for the report:
    "torch 2.13.0", or "torch 2.13.0, cached" when read from bncheck's cache (torch was
    then not imported). Keyed by bncheck's version and code, torch's version (read without
    importing torch), the spec and every case's arrays (dtype, shape, bytes).
    """
    chosen = [k for k, c in enumerate(cases) if c.fixed] or list(range(len(cases)))
    subset = [cases[k] for k in chosen]
    release = _torch_release()
    path = None if release is None else _autograd_file(spec, subset, release)
    grads = None if path is None else _read_grads(path, subset)
    if grads is not None and release is not None:
        label = f"torch {_public(release)}, cached"
    else:
        grads = [autograd(spec, c) for c in subset]
        if path is not None:
            _write_grads(path, grads)
        if release is None:  # torch without its metadata: not cached, its own word
            import torch

            release = str(torch.__version__)
        label = f"torch {_public(release)}"
    out: list[Grads | None] = [None] * len(cases)
    for k, g in zip(chosen, grads, strict=True):
        out[k] = g
    return out, label


_GRADS = ("dx", "dgamma", "dbeta")
_FORMAT = 1  # of the cache file; bump to orphan every file written before
# the code that computes a cached gradient: a change to either is a miss (editable installs)
_PRODUCERS = (Path(__file__).with_name("reference.py"), Path(__file__))


def _torch_release() -> str | None:
    """torch's version from its metadata, without importing it; None when it has none."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("torch")
    except PackageNotFoundError:
        return None


def _public(release: str) -> str:
    return release.split("+")[0]  # "2.13.0+cpu" -> "2.13.0"


def _autograd_file(spec: NormSpec, cases: Sequence[Case], release: str) -> Path:
    from bncheck import __version__
    from bncheck.emit.load import cache_folder

    h = hashlib.blake2b(digest_size=20)
    h.update(f"autograd {_FORMAT} bncheck {__version__} torch {release} {spec!r}".encode())
    for path in _PRODUCERS:
        try:
            h.update(path.read_bytes())
        except OSError:  # no sources (a bytecode-only install): the version alone keys it
            h.update(path.name.encode())
    for case in cases:
        for a in (case.x, case.gamma, case.beta, case.dy):
            a = np.ascontiguousarray(a)
            h.update(f"|{a.dtype.str}{a.shape}|".encode())
            h.update(a.data)
    return cache_folder() / f"autograd-{spec.name}-{h.hexdigest()}.npz"


def _read_grads(path: Path, cases: Sequence[Case]) -> list[Grads] | None:
    """The cached gradients, if the file is ours, private, and holds exactly the arrays
    expected (float64, the cases' shapes, uncompressed); else None: computed again."""
    from bncheck.emit.load import read_private

    wanted = {
        f"{g}{k}.npy": shape
        for k, c in enumerate(cases)
        for g, shape in zip(_GRADS, (c.x.shape, c.gamma.shape, c.gamma.shape), strict=True)
    }
    limit = 8 * sum(int(np.prod(s)) for s in wanted.values()) + 1024 * (len(wanted) + 1)
    data = read_private(path, limit)
    if data is None:
        return None
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:  # no member may inflate past the file
            infos = z.infolist()
            if sorted(i.filename for i in infos) != sorted(wanted) or any(
                i.compress_type != zipfile.ZIP_STORED or i.file_size > limit for i in infos
            ):
                return None
            arrays = {}
            for info in infos:
                a = np.load(io.BytesIO(z.read(info)), allow_pickle=False)
                if a.dtype != np.float64 or a.shape != wanted[info.filename]:
                    return None
                arrays[info.filename.removesuffix(".npy")] = a
    except Exception:  # a truncated or forged file: a miss, never trusted
        return None
    return [Grads(*(arrays[f"{g}{k}"] for g in _GRADS)) for k in range(len(cases))]


def _write_grads(path: Path, grads: list[Grads]) -> None:
    from bncheck.emit.load import write_private

    buf = io.BytesIO()
    arrays = {
        f"{g}{k}": np.asarray(a, np.float64)
        for k, gs in enumerate(grads)
        for g, a in zip(_GRADS, gs, strict=True)
    }
    np.savez(buf, **arrays)  # type: ignore[arg-type]
    write_private(path, buf.getvalue())


def reference_out(spec: NormSpec, case: Case) -> np.ndarray:
    case = case.astype(np.float64)
    return forward(case.x, case.gamma, case.beta, spec)
