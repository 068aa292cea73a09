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


def test_committed_emitted_code_runs() -> None:
    import runpy

    import numpy as np

    namespace = runpy.run_path(str(ROOT / "derivations" / "batchnorm" / "backward_numpy.py"))
    rng = np.random.default_rng(0)
    dy, x = rng.standard_normal((6, 3)), rng.standard_normal((6, 3))
    dx, dgamma, dbeta = namespace["batchnorm_backward"](dy, x, np.ones(3))
    assert dx.shape == (6, 3) and dgamma.shape == dbeta.shape == (3,)
    assert np.allclose(dx.sum(0), 0, atol=1e-12)
