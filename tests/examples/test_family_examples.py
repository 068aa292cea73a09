"""The bundled family examples: each correct one passes in its style; each bug fails by name.

End to end (sandboxed child, emitted reference, finite differences): these need the
SymPy emission and the checker's numerics for every preset.
"""

from __future__ import annotations

import pytest

from bncheck.check.api import VerifyOptions, verify
from bncheck.check.evidence import CheckOptions
from bncheck.examples import FAMILY, NAMES, path

NO_TORCH = VerifyOptions(seed=0, checks=CheckOptions(autograd="off"))
CORRECT = sorted(name for name, (_, _, bug) in FAMILY.items() if not bug)
BUGGY = sorted(name for name, (_, _, bug) in FAMILY.items() if bug)


def _verify(name: str):  # type: ignore[no-untyped-def]
    if FAMILY[name][1] == "torch":
        pytest.importorskip("torch", reason="the torch-style example needs torch")
    return verify(str(path(name)), NO_TORCH)


def test_the_family_is_bundled_and_named() -> None:
    assert all(path(name).is_file() for name in FAMILY)
    assert all(name.removesuffix(".py") in NAMES for name in FAMILY)
    norms = {norm for norm, _, _ in FAMILY.values()}
    assert norms == {"layernorm", "groupnorm", "instancenorm", "rmsnorm"}
    for norm in ("layernorm", "groupnorm"):  # a correct one and at least two bugs, CS231n style
        mine = [v for v in FAMILY.values() if v[0] == norm and v[1] == "cs231n"]
        assert sum(not bug for *_, bug in mine) == 1 and sum(bool(bug) for *_, bug in mine) >= 2


@pytest.mark.parametrize("name", CORRECT)
def test_correct_family_examples_pass(name: str) -> None:
    result = _verify(name)
    norm, style, _ = FAMILY[name]
    assert result.passed, str(result)
    assert result.style == style
    assert dict(result.conventions)["normalization"].startswith(norm)
    assert "running statistics" not in dict(result.conventions)  # batch norm's alone


# file -> (the id of a check that must fail, the gradient its message names)
EXPECTED = {
    "layernorm_bug_stats_over_batch.py": ("dx-vs-derived", "dx"),
    "layernorm_bug_dgamma_wrong_axis.py": ("dgamma-shape", "dgamma"),
    "layernorm_bug_dmu_missing_1_over_m.py": ("dx-vs-derived", "dx"),
    "groupnorm_bug_dgamma_over_groups.py": ("dgamma-vs-derived", "dgamma"),
    "groupnorm_bug_dgamma_shape.py": ("dgamma-shape", "dgamma"),
    "groupnorm_bug_dmu_missing_1_over_m.py": ("dx-vs-derived", "dx"),
}


def test_every_family_bug_has_an_expectation() -> None:
    assert set(EXPECTED) == set(BUGGY)


@pytest.mark.parametrize("name", BUGGY)
def test_family_bug_fails_naming_the_gradient(name: str) -> None:
    result = _verify(name)
    check, gradient = EXPECTED[name]
    assert not result.passed
    row = result[check]
    assert row.passed is False, str(result)
    assert row.name.startswith(gradient) and gradient in row.message


def test_a_dgamma_bug_leaves_dx_right() -> None:
    result = _verify("groupnorm_bug_dgamma_over_groups.py")
    assert result["dx-vs-derived"].passed and result["dbeta-vs-derived"].passed
    assert "dgamma is wrong" in result.read_it
