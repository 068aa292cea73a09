"""The bundled examples: correct ones pass in all three styles; each classic bug fails, by name."""

from __future__ import annotations

import pytest

from bncheck.check.api import VerifyOptions, verify
from bncheck.check.evidence import CheckOptions
from bncheck.examples import BUGS, CORRECT, path

NO_TORCH = VerifyOptions(checks=CheckOptions(autograd="off"))


def _verify(name: str):
    if name.startswith("torch"):
        pytest.importorskip("torch", reason="the torch-style example needs torch")
    return verify(str(path(name)), NO_TORCH)


@pytest.mark.parametrize("name", CORRECT)
def test_correct_examples_pass(name: str) -> None:
    result = _verify(name)
    assert result.passed, str(result)
    assert result.style == name.split("_")[0]


# file -> (failing check, pair it must name, words the message must contain)
EXPECTED = {
    "bug_dmu_missing_1_over_m.py": ("dx", "submission vs derived (float64)", "dx differs at ["),
    "bug_unbiased_variance.py": ("out", "submission vs reference forward", "out differs at ["),
    "bug_eps_outside_sqrt.py": ("dx", "submission vs derived (float64)", "zero-variance feature"),
    "bug_dgamma_keepdims.py": ("dgamma shape", "like gamma", "(1, "),
    "bug_dx_missing_dvar.py": ("dx", "submission vs finite differences", "dx differs at ["),
    "bug_mutates_dout.py": ("mutation", "inputs and cache unchanged", "dout"),
    "bug_hidden_state.py": ("hidden state", "repeated", "earlier call"),
    "bug_running_var_momentum.py": ("running stats", "cs231n convention", "momentum"),
}


def test_every_bug_has_an_expectation() -> None:
    assert set(EXPECTED) == set(BUGS)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_classic_bug_fails_with_its_message(name: str) -> None:
    result = _verify(name)
    check, pair, words = EXPECTED[name]
    assert not result.passed
    rows = [c for c in result.failures if c.name == check and pair in c.pair]
    assert rows, f"{check} ({pair}) did not fail:\n{result}"
    assert words in rows[0].message, rows[0].message


@pytest.mark.parametrize(
    "name", ["bug_dmu_missing_1_over_m.py", "bug_dx_missing_dvar.py", "bug_eps_outside_sqrt.py"]
)
def test_wrong_dx_names_element_and_values(name: str) -> None:
    (row,) = [c for c in _verify(name).failures if c.title == "dx: submission vs derived (float64)"]
    assert row.worst_index is not None and len(row.worst_index) == 2
    assert "submission" in row.message and "vs derived" in row.message and " in " in row.message


def test_shape_only_bug_fails_nothing_else() -> None:
    result = _verify("bug_dgamma_keepdims.py")
    assert [c.id for c in result.failures] == ["dgamma-shape", "dbeta-shape"]
    assert "the values of out, dx, dgamma and dbeta are right" in result.read_it


def test_mutation_only_bug_fails_nothing_else() -> None:
    result = _verify("bug_mutates_dout.py")
    assert [c.name for c in result.failures] == ["mutation"]


def test_sum_of_dx_catches_the_missing_one_over_m() -> None:
    result = _verify("bug_dmu_missing_1_over_m.py")
    assert "Σ_batch dx = 0" in [c.name for c in result.failures]


def test_consistent_unbiased_variance_is_caught_by_forward_and_not_by_self_consistency() -> None:
    result = _verify("bug_unbiased_variance.py")
    names = {c.name: c.passed for c in result.checks}
    assert names["out"] is False and names["dx"] is False
    assert names["self-consistency"] is True  # its backward matches its own (wrong) forward
