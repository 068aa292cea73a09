"""Term attribution: the derived basis per preset, and a fit that reads the mistake."""

from __future__ import annotations

import pytest

from bncheck.check.api import VerifyOptions, preset, verify
from bncheck.check.evidence import CheckOptions
from bncheck.diagnose.attribute import basis
from bncheck.spec import SPECS, get_spec
from tests.diagnose.corpus_score import HERE


@pytest.mark.parametrize("name", sorted(SPECS))
def test_the_basis_is_read_off_the_derived_dx(name: str) -> None:
    parts = basis(SPECS[name])
    steps = sorted(b.step for b in parts)
    # a term through ∂ℓ/∂x̂, one through ∂ℓ/∂σ², and one through ∂ℓ/∂μ where there is a mean
    assert steps == (["dmu", "dvar", "dxhat"] if SPECS[name].center else ["dvar", "dxhat"])


def test_an_outside_catalog_mistake_gets_an_attribution_that_reads_it() -> None:
    """dμ divided by D twice (layer norm): the Σ(g·γ) term is D times too small."""
    spec = preset("layernorm", get_spec("layernorm"))
    options = VerifyOptions(spec=spec, seed=1, checks=CheckOptions(autograd="off"))
    result = verify(str(HERE / "ln_plain_dmu_over_d_squared.py"), options)
    d = result.diagnosis
    assert d is not None and d.status == "unknown" and not d.findings
    assert d.attribution is not None and d.attribution.linear is not False
    by_step = {t.step: t for t in d.attribution.terms}
    assert by_step["dmu"].reading.startswith("m times too small")
    assert by_step["dxhat"].reading.startswith("as derived")
    assert by_step["dvar"].reading.startswith("as derived")
    assert d.attribution.residual < 1e-6
