"""Every bundled buggy example is diagnosed with its own mistake; every correct one with none.

End to end: ``verify`` runs the submission in its sandboxed child, the battery judges it,
and ``VerifyResult.diagnosis`` says which mistake the evidence shows.
"""

from __future__ import annotations

import pytest

from bncheck.check.api import VerifyOptions, preset, verify
from bncheck.check.evidence import CheckOptions
from bncheck.examples import BUGS, CORRECT, FAMILY, MISTAKES, path
from bncheck.spec import get_spec


def _options(name: str, seed: int) -> VerifyOptions:
    norm = FAMILY.get(name, ("batchnorm", "", ""))[0]
    return VerifyOptions(
        spec=preset(norm, get_spec(norm)), seed=seed, checks=CheckOptions(autograd="off")
    )


def _needs_torch(name: str) -> None:
    if "torch" in name:
        pytest.importorskip("torch", reason="the torch-style example needs torch")


def test_every_bug_has_its_mistake() -> None:
    assert set(MISTAKES) == set(BUGS) | {n for n, (_, _, bug) in FAMILY.items() if bug}


@pytest.mark.parametrize("name", sorted(MISTAKES))
def test_buggy_examples_are_diagnosed_with_their_own_mistake(name: str) -> None:
    result = verify(str(path(name)), _options(name, seed=3))
    assert not result.passed
    assert result.diagnosis is not None
    assert result.diagnosis.status == "named", result.diagnosis
    assert result.diagnosis.ids == (MISTAKES[name],)
    finding = result.diagnosis.findings[0]
    assert finding.evidence and finding.hint and finding.step


CORRECT_ALL = sorted([*CORRECT, *(n for n, (_, _, bug) in FAMILY.items() if not bug)])


@pytest.mark.parametrize("name", CORRECT_ALL)
@pytest.mark.parametrize("seed", [0, 7])
def test_correct_examples_get_no_diagnosis(name: str, seed: int) -> None:
    _needs_torch(name)
    result = verify(str(path(name)), _options(name, seed))
    assert result.passed
    assert result.diagnosis is not None and result.diagnosis.status == "none"
    assert result.diagnosis.findings == ()
