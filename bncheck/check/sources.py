"""The sources of a gradient: derived (emitted from SymPy), autograd (torch), finite differences.

The fourth source, the submission, lives in ``submission`` and ``plan``. Every source
returns ``Grads`` for one ``Case`` in float64.

Autograd differentiates the trusted forward itself (``reference.forward`` with
``xp=torch``); ``via="torch"`` differentiates torch's own function for the spec instead
(``torch_function``: F.batch_norm, F.layer_norm, F.group_norm, F.instance_norm,
F.rms_norm plus β), a second reference independent of ours, and the label says so.
Its gradients depend only on the spec, the inputs and torch's version, never on the
submission, so ``autograd_all`` keeps them in bncheck's cache (the folder
of ``emit.load``, under the same rules: a private regular file of ours, arrays read with
``allow_pickle=False``, anything odd recomputed) and, on a hit, never imports torch
(1–2 s of a verify that otherwise takes 0.5 s).
"""

from __future__ import annotations

import dataclasses
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
    "torch_function",
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
    """``<name>_backward(dy, x, gamma, eps)`` (GroupNorm: ``(dy, x, gamma, G, eps)``), dgamma and
    dbeta shaped like gamma."""
    fn = derived_function(spec)
    case = case.astype(np.float64)
    extra = {} if spec.groups is None else {"G": spec.groups}
    # emitted code writes no input
    dx, dgamma, dbeta = fn(case.dy, case.x, case.gamma, eps=spec.eps, **extra)
    return Grads(np.asarray(dx), np.asarray(dgamma), np.asarray(dbeta))


def finite_differences(spec: NormSpec, case: Case, options: FDOptions) -> Grads:
    case = case.astype(np.float64)
    g = reference_gradients(case.x, case.gamma, case.beta, case.dy, spec, options)
    return Grads(g.dx, g.dgamma, g.dbeta)


def torch_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("torch") is not None


def torch_function(spec: NormSpec) -> str | None:
    """The name of torch's own function for ``spec``'s maths, or None when torch has none
    (the unbiased variance in training, an axis layout torch does not offer)."""
    nd, axes, params = spec.ndim, spec.axes, spec.parameter_axes
    trailing = axes == tuple(range(nd - len(axes), nd))
    if not spec.affine:
        return None
    if not spec.center:
        ok = trailing and params == axes and spec.groups is None
        return "F.rms_norm" if ok else None
    if spec.variance != "biased":  # torch normalizes with the biased variance
        return None
    if spec.groups is not None:
        return "F.group_norm" if axes == tuple(range(1, nd)) and params == (1,) else None
    if trailing and params == axes:
        return "F.layer_norm"
    if nd >= 2 and params == (1,) and axes == (0, *range(2, nd)):
        return "F.batch_norm"
    if nd >= 3 and params == (1,) and axes == tuple(range(2, nd)):
        return "F.instance_norm"
    return None


def _torch_forward(spec: NormSpec, name: str, x: Any, gamma: Any, beta: Any) -> Any:
    """y by torch's own ``name`` (``torch_function``); gamma, beta of any shape (flattened)."""
    import torch
    import torch.nn.functional as F

    w, b, eps = gamma.reshape(-1), beta.reshape(-1), spec.eps
    # F.batch_norm and F.instance_norm refuse one element per channel (our "N = 1" case)
    # before they call these ops; the maths is the same
    if name == "F.batch_norm":
        return torch.batch_norm(x, w, b, None, None, True, 0.0, eps, False)
    if name == "F.instance_norm":
        return torch.instance_norm(x, w, b, None, None, True, 0.0, eps, False)
    if name == "F.group_norm":
        assert spec.groups is not None  # torch_function says F.group_norm for groups only
        return F.group_norm(x, spec.groups, w, b, eps=eps)
    normalized = tuple(x.shape[a] for a in spec.axes)
    w, b = gamma.reshape(normalized), beta.reshape(normalized)
    if name == "F.layer_norm":
        return F.layer_norm(x, normalized, w, b, eps=eps)
    return F.rms_norm(x, normalized, w, eps=eps) + b  # torch's RMSNorm has no β


def autograd(spec: NormSpec, case: Case, via: str = "forward") -> Grads:
    """torch autograd in float64 (torch imported here) through the reference forward, or
    with ``via="torch"`` through torch's own function (``torch_function``)."""
    import torch

    x, gamma, beta = (
        torch.tensor(np.asarray(a, dtype=np.float64), requires_grad=True)
        for a in (case.x, case.gamma, case.beta)
    )
    if via == "forward":
        y = forward(x, gamma, beta, spec, xp=torch)
    else:
        name = torch_function(spec)
        if name is None:
            raise ValueError(f"torch has no function of its own for {spec.name}")
        y = _torch_forward(spec, name, x, gamma, beta)
    y.backward(torch.tensor(np.asarray(case.dy, dtype=np.float64)))
    assert x.grad is not None and gamma.grad is not None and beta.grad is not None
    return Grads(x.grad.numpy(), gamma.grad.numpy(), beta.grad.numpy())


def autograd_all(
    spec: NormSpec, cases: Sequence[Case], via: str = "forward"
) -> tuple[list[Grads | None], str]:
    """torch autograd for the ``fixed`` cases (``inputs.fixed_cases``), None for the others;
    for every case when none is fixed. Second: where they came from, for the report:
    "torch 2.13.0", or "torch 2.13.0, cached" when read from bncheck's cache (torch was
    then not imported); with ``via="torch"`` the function too, "torch 2.13.0, F.layer_norm".
    Keyed by bncheck's version and code, torch's version (read without importing torch),
    ``via``, the spec (every field) and every case's arrays (dtype, shape, bytes).
    """
    chosen = [k for k, c in enumerate(cases) if c.fixed] or list(range(len(cases)))
    subset = [cases[k] for k in chosen]
    release = _torch_release()
    path = None if release is None else _autograd_file(spec, subset, release, via)
    grads = None if path is None else _read_grads(path, subset)
    what = "" if via == "forward" else f", {torch_function(spec)}"
    if grads is not None and release is not None:
        label = f"torch {_public(release)}{what}, cached"
    else:
        grads = [autograd(spec, c) if via == "forward" else autograd(spec, c, via) for c in subset]
        if path is not None:
            _write_grads(path, grads)
        if release is None:  # torch without its metadata: not cached, its own word
            import torch

            release = str(torch.__version__)
        label = f"torch {_public(release)}{what}"
    out: list[Grads | None] = [None] * len(cases)
    for k, g in zip(chosen, grads, strict=True):
        out[k] = g
    return out, label


_GRADS = ("dx", "dgamma", "dbeta")
_FORMAT = 1  # of the cache file; bump to orphan every file written before
# the code that computes a cached gradient: a change to either is a miss (editable installs)
# (spec.py too: its view_shape, param_shape and friends decide what reference.forward does)
_PRODUCERS = (
    Path(__file__).with_name("reference.py"),
    Path(__file__),
    Path(__file__).parents[1] / "spec.py",
)


def _torch_release() -> str | None:
    """torch's version from its metadata, without importing it; None when it has none."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("torch")
    except PackageNotFoundError:
        return None


def _public(release: str) -> str:
    return release.split("+")[0]  # "2.13.0+cpu" -> "2.13.0"


def _spec_key(spec: NormSpec) -> str:
    """Every field of the spec by name (axes, param_axes, groups, center, param_keepdims,
    eps, variance, ...): any of them may change the gradients, so each is in the key."""
    return ", ".join(f"{f.name}={getattr(spec, f.name)!r}" for f in dataclasses.fields(spec))


def _autograd_file(
    spec: NormSpec, cases: Sequence[Case], release: str, via: str = "forward"
) -> Path:
    from bncheck import __version__
    from bncheck.emit.load import cache_folder

    h = hashlib.blake2b(digest_size=20)
    head = f"autograd {_FORMAT} bncheck {__version__} torch {release} via {via}"
    h.update(f"{head} {_spec_key(spec)}".encode())
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
