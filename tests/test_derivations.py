"""derivations/ holds the committed output of `bncheck derive --write`; it must be current."""

from __future__ import annotations

import pytest

from bncheck.emit.artifacts import artifacts
from bncheck.spec import SPECS
from tests.conftest import ROOT, check_golden


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SPECS))
def test_derivations_are_current(name: str, update_goldens: bool) -> None:
    for filename, text in artifacts(SPECS[name]).items():
        check_golden(ROOT / "derivations" / name / filename, text, update_goldens)


@pytest.mark.parametrize("name", sorted(SPECS))
def test_committed_emitted_code_runs(name: str) -> None:
    import runpy

    import numpy as np

    from bncheck.check.reference import forward

    spec = SPECS[name]
    namespace = runpy.run_path(str(ROOT / "derivations" / name / "backward_numpy.py"))
    rng = np.random.default_rng(0)
    shape = (6, 3) if spec.layout == "ND" else (2, 4, 3, 5)
    dy, x = rng.standard_normal(shape), rng.standard_normal(shape)
    gamma = np.ones(spec.param_shape(shape))
    dx, dgamma, dbeta = namespace[f"{name}_backward"](dy, x, gamma)
    assert dx.shape == shape and dgamma.shape == dbeta.shape == gamma.shape
    # dβ is Σ dy, and with γ = 1 dγ is Σ dy·y, over the axes γ is not indexed by.
    assert np.allclose(dbeta.reshape(-1), dy.sum(axis=spec.reduce_axes).reshape(-1))
    y = forward(x, gamma, np.zeros_like(gamma), spec)
    assert np.allclose(dgamma.reshape(-1), (dy * y).sum(axis=spec.reduce_axes).reshape(-1))
    if spec.center:  # dx sums to zero over every group: shifting a group leaves y unchanged
        grouped = dx.reshape(spec.view_shape(shape)).sum(axis=spec.view_axes)
        assert np.allclose(grouped, 0, atol=1e-12)
