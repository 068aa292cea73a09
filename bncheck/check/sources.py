"""The sources of a gradient: derived (emitted from SymPy), autograd (torch), finite differences.

The fourth source, the submission, lives in ``submission`` and ``plan``. Every source
returns ``Grads`` for one ``Case`` in float64.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from bncheck.check.fd import FDOptions, reference_gradients
from bncheck.check.inputs import Case
from bncheck.check.reference import forward
from bncheck.spec import NormSpec

__all__ = ["TORCH_HINT", "Grads", "autograd", "derived", "finite_differences"]

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
    dx, dgamma, dbeta = fn(case.dy, case.x.copy(), case.gamma, spec.eps)
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
        torch.tensor(a, dtype=torch.float64, requires_grad=True)
        for a in (case.x, case.gamma, case.beta)
    )
    stat = [1 if a in spec.axes else n for a, n in enumerate(case.x.shape)]
    m = int(np.prod([case.x.shape[a] for a in spec.axes]))
    mu = x.sum(dim=spec.axes, keepdim=True) / m
    xmu = x - mu
    dof = m if spec.variance == "biased" else m - 1
    var = (xmu * xmu).sum(dim=spec.axes, keepdim=True) / dof
    y = gamma.reshape(stat) * xmu / torch.sqrt(var + spec.eps) + beta.reshape(stat)
    y.backward(torch.tensor(case.dy, dtype=torch.float64))
    assert x.grad is not None and gamma.grad is not None and beta.grad is not None
    return Grads(x.grad.numpy(), gamma.grad.numpy(), beta.grad.numpy())


def reference_out(spec: NormSpec, case: Case) -> np.ndarray:
    case = case.astype(np.float64)
    return forward(case.x, case.gamma, case.beta, spec)
