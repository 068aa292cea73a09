"""Every preset: bncheck's derived-free references (finite differences, autograd of the
reference forward, torch's own function) agree with each other, on random cases and on
the degenerate ones; the finite-difference schemes are right when γ varies inside a group.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bncheck.check import sources
from bncheck.check.compare import Tolerances, compare
from bncheck.check.evidence import CheckOptions, references
from bncheck.check.fd import (
    FDOptions,
    directional_check,
    directions,
    reference_gradients,
    step_table,
)
from bncheck.check.inputs import Case, make_cases
from bncheck.check.plan import make_plan
from bncheck.check.reference import forward, group_loss
from bncheck.check.submission import Target
from bncheck.check.terms import gradient_terms
from bncheck.spec import SPECS, NormSpec

NEW = ("layernorm", "groupnorm", "instancenorm", "rmsnorm")
GRADS = ("dx", "dgamma", "dbeta")


def torch_or_skip() -> Any:
    return pytest.importorskip("torch", reason="autograd references need torch")


def derived_or_skip(spec: NormSpec) -> Callable[[Case], sources.Grads]:
    """``sources.derived`` for ``spec``, or a skip while the emitted backward for it has not
    landed (bncheck/emit, bncheck/symbolic): loading or calling it raises."""
    case = make_cases(spec, seed=0, degenerate=False)[0]
    try:
        grads = sources.derived(spec, case)
    except Exception as exc:  # not emitted yet, or emitted for batch norm's axes only
        pytest.skip(f"the emitted backward for {spec.name} is not there yet: {exc!r}"[:200])
    if [np.shape(g) for g in grads] != [case.x.shape, case.gamma.shape, case.gamma.shape]:
        pytest.skip(f"the emitted backward for {spec.name} returns other shapes")
    return lambda c: sources.derived(spec, c)


def close(
    got: sources.Grads, want: sources.Grads, case: Case, spec: NormSpec, rtol: float
) -> list[str]:
    """The checker's own comparison (group scale, terms that cancel): the names that fail."""
    terms = gradient_terms(case.x, case.gamma, case.dy, spec)
    bad = []
    for k, name in enumerate(GRADS):
        grouped = name == "dx"
        diff = compare(
            list(got)[k],
            list(want)[k],
            case.name,
            rtol,
            spec.view_axes if grouped else (),
            terms=terms[k],
            view=spec.view_shape(case.shape) if grouped else None,
        )
        if not diff.close:
            bad.append(f"{name} in {case.name}: excess {diff.excess:.3g}")
    return bad


def native_agrees(theirs: sources.Grads, ours: sources.Grads, case: Case, spec: NormSpec) -> bool:
    """torch's own function's gradients against ours, under the closed-form tolerance.

    With one element per group x̂ is exactly 0 in ours, and dγ = Σ dy·x̂ exactly 0; torch's
    fused group_norm (x·a + b) leaves ~1e-16·|x|/sqrt(eps) there: checked to 1e-10.
    """
    if spec.group_size(case.shape) > 1:
        return close(theirs, ours, case, spec, Tolerances().analytic) == []
    return all(np.max(np.abs(u - v)) < 1e-10 for u, v in zip(theirs, ours, strict=True))


@pytest.mark.parametrize("norm", sorted(SPECS))
def test_reference_forward_is_torchs_own_function(norm: str) -> None:
    """reference.forward against F.batch_norm, F.layer_norm, F.group_norm, F.instance_norm,
    F.rms_norm (+ β): the same y, and the same gradients, on every case."""
    torch = torch_or_skip()
    spec = SPECS[norm]
    name = sources.torch_function(spec)
    assert name is not None
    for case in make_cases(spec, seed=11):
        t = [torch.tensor(a) for a in (case.x, case.gamma, case.beta)]
        y = sources._torch_forward(spec, name, *t).numpy()
        want = forward(case.x, case.gamma, case.beta, spec)
        scale = np.abs(case.gamma).max() + np.abs(case.beta).max()
        assert np.max(np.abs(y - want)) <= 1e-12 * scale, (name, case.name)
        ours, theirs = sources.autograd(spec, case), sources.autograd(spec, case, "torch")
        assert native_agrees(theirs, ours, case, spec), (name, case.name)


@pytest.mark.parametrize("norm", sorted(SPECS))
@pytest.mark.parametrize("method", ["central", "complex"])
def test_finite_differences_agree_with_autograd_on_every_case(norm: str, method: str) -> None:
    """Random cases and the degenerate ones (a zero-variance row or block, a mean of 1e4,
    one element per group) under the tolerance the battery uses for this referee."""
    torch_or_skip()
    spec = SPECS[norm]
    label = "complex step" if method == "complex" else "finite differences"
    rtol = Tolerances().for_pair(label, np.dtype(np.float64))
    for seed in (2, 3):
        for case in make_cases(spec, seed=seed):
            fd = sources.finite_differences(spec, case, FDOptions(method))
            assert close(fd, sources.autograd(spec, case), case, spec, rtol) == []
            # and much tighter than the battery asks, where nothing cancels
            if method == "complex":
                assert close(fd, sources.autograd(spec, case), case, spec, 1e-11) == []


@pytest.mark.parametrize("norm", NEW)
def test_derived_agrees_with_the_references(norm: str) -> None:
    """Once the emitted backward for the preset exists (skipped until then)."""
    torch_or_skip()
    spec = SPECS[norm]
    derived = derived_or_skip(spec)
    for case in make_cases(spec, seed=5):
        d = derived(case)
        assert close(d, sources.autograd(spec, case), case, spec, 1e-9) == []
        fd = sources.finite_differences(spec, case, FDOptions("complex"))
        assert close(d, fd, case, spec, Tolerances().complex) == []


def _old_dgamma(case: Case, spec: NormSpec) -> np.ndarray:
    """The scheme before the family: every γ moved by ±1, one loss per statistics group."""
    one = np.ones_like(case.gamma)
    up = group_loss(forward(case.x, case.gamma + one, case.beta, spec), case.dy, spec)
    down = group_loss(forward(case.x, case.gamma - one, case.beta, spec), case.dy, spec)
    return (up - down) / 2


@pytest.mark.parametrize("norm", sorted(SPECS))
def test_dgamma_schemes_at_once_and_one_by_one(norm: str) -> None:
    """ "at once" reads one loss per parameter element, "one by one" the whole loss per
    parameter element moved: both are dγ, dβ for every preset. The old readout, one loss
    per statistics group, is dγ for batch norm only."""
    torch_or_skip()
    spec = SPECS[norm]
    for case in make_cases(spec, seed=7)[:3]:
        want = sources.autograd(spec, case)
        for params in ("at once", "one by one"):
            g = reference_gradients(
                case.x, case.gamma, case.beta, case.dy, spec, FDOptions(params=params)
            )
            scale = 1e-12 * max(1.0, float(np.abs(want.dgamma).max()))
            np.testing.assert_allclose(g.dgamma, want.dgamma, rtol=0, atol=scale)
            np.testing.assert_allclose(g.dbeta, want.dbeta, rtol=0, atol=scale)
        old = _old_dgamma(case, spec)
        if spec.has_running:
            np.testing.assert_allclose(old, want.dgamma, atol=1e-12 * np.abs(old).max())
        else:  # a loss per row, per (sample, block), per (sample, channel): not dγ
            assert old.shape != want.dgamma.shape or not np.allclose(old, want.dgamma)


def test_the_old_readout_fails_where_gamma_varies_inside_a_group() -> None:
    """LayerNorm on a square shape (old and new readouts have the same shape): the loss
    of row n moves with every γ_d, so it reads Σ_d of row n's terms, not dγ_d."""
    torch_or_skip()
    spec = SPECS["layernorm"]
    case = make_cases(spec, seed=1, shapes=((6, 6),), degenerate=False)[0]
    want = sources.autograd(spec, case).dgamma
    assert not np.allclose(_old_dgamma(case, spec), want, rtol=1e-3)
    g = reference_gradients(case.x, case.gamma, case.beta, case.dy, spec)
    np.testing.assert_allclose(g.dgamma, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("norm", sorted(SPECS))
def test_cost_in_forwards(norm: str) -> None:
    """2·m forwards for dx (m with the complex step), 4 for dγ and dβ "at once", 4 per
    parameter element "one by one": batch norm's cost is unchanged."""
    spec = SPECS[norm]
    case = make_cases(spec, seed=8, degenerate=False)[0]
    m, p = spec.group_size(case.shape), case.gamma.size
    for opts, want in (
        (FDOptions(), 2 * m + 4),
        (FDOptions("complex"), m + 4),
        (FDOptions(params="one by one"), 2 * m + 4 * p),
    ):
        g = reference_gradients(case.x, case.gamma, case.beta, case.dy, spec, opts)
        assert g.forwards == want == opts.forwards(spec, case.shape, p)
        assert g.complete and g.m == m


def test_the_description_names_the_scheme_where_it_matters() -> None:
    assert FDOptions().describe() == "central, step 1e-05·σ"  # batch norm: as it was
    assert FDOptions().describe(SPECS["batchnorm"]) == "central, step 1e-05·σ"
    assert "one loss per parameter element" in FDOptions().describe(SPECS["layernorm"])
    assert "one loss per parameter element" in FDOptions().describe(SPECS["groupnorm"])
    assert "one element at a time" in FDOptions(params="one by one").describe()


@pytest.mark.parametrize("norm", sorted(SPECS))
def test_large_cases_sample_positions_inside_groups(norm: str) -> None:
    torch_or_skip()
    spec = SPECS[norm]
    case = make_cases(spec, seed=9, degenerate=False)[0]
    g = reference_gradients(
        case.x, case.gamma, case.beta, case.dy, spec, FDOptions(max_work=4 * case.x.size)
    )
    assert not g.complete and g.positions == 2
    known = np.isfinite(g.dx)
    # a computed position is one element of every group: as many as there are groups
    assert known.sum() == 2 * case.x.size // g.m
    want = sources.autograd(spec, case).dx
    np.testing.assert_allclose(g.dx[known], want[known], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("norm", sorted(SPECS))
def test_random_directions_for_every_preset(norm: str) -> None:
    """⟨w, J v⟩ = ⟨Jᵀw, v⟩ with the reference forward: right gradients pass, and a dx off
    by 0.1%, or a dγ of the wrong preset, does not."""
    torch_or_skip()
    spec = SPECS[norm]
    rng = np.random.default_rng(6)
    case = make_cases(spec, seed=6, degenerate=False)[0]
    dirs = directions(case.x, case.gamma, spec, 4, rng)
    h = 1e-5

    def outputs(i: int, sign: int) -> np.ndarray:
        vx, vg, vb = dirs[i]
        x, g, b = case.x + sign * h * vx, case.gamma + sign * h * vg, case.beta + sign * h * vb
        return forward(x, g, b, spec)

    right = tuple(sources.autograd(spec, case))
    assert directional_check(outputs, right, case.dy, dirs, h).rel_err < 1e-7
    wrong = (right[0] * 1.001, right[1], right[2])
    assert directional_check(outputs, wrong, case.dy, dirs, h).rel_err > 1e-5


@pytest.mark.parametrize("norm", NEW)
def test_step_table_for_every_preset(norm: str) -> None:
    torch_or_skip()
    spec = SPECS[norm]
    case = make_cases(spec, seed=10, degenerate=False)[0]
    dx = sources.autograd(spec, case).dx
    errors = dict(step_table(case.x, case.gamma, case.beta, case.dy, spec, dx))
    best = min(errors.values())
    assert best < 1e-8 and errors[1e-1] > 100 * best and errors[1e-12] > 100 * best


@pytest.mark.parametrize("norm", sorted(SPECS))
def test_references_of_a_plan(norm: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``evidence.references`` for a plain-style plan: fd and autograd agree per case (the
    derived gradients too, once emitted)."""
    torch_or_skip()
    monkeypatch.setenv("BNCHECK_CACHE_DIR", str(tmp_path / "cache"))
    spec = SPECS[norm]
    derived_or_skip(spec)  # references() computes the derived gradients too
    plan = make_plan(Target("p.py", "plain", {"backward": "f"}), spec, make_cases(spec, 12), 12)
    refs = references(plan, CheckOptions())
    assert refs.autograd is not None and refs.autograd_from.startswith("torch ")
    rtol = Tolerances().central
    for k, case in enumerate(plan.cases):
        auto = refs.autograd[k]
        assert auto is not None
        assert close(refs.fd[k], auto, case, spec, rtol) == []
        assert close(refs.derived[k], auto, case, spec, Tolerances().analytic) == []
    native = references(plan, CheckOptions(autograd="torch"))
    assert native.autograd_from.endswith(str(sources.torch_function(spec)))
    for k, case in enumerate(plan.cases):
        a, b = native.autograd, refs.autograd
        assert a is not None and b is not None and a[k] is not None and b[k] is not None
        assert native_agrees(a[k], b[k], case, spec), case.name


def test_the_cache_key_holds_every_field_of_the_spec(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """groups, center, param_keepdims, param_axes each change the gradients: each changes
    the key of the autograd cache."""
    monkeypatch.setenv("BNCHECK_CACHE_DIR", str(tmp_path / "cache"))
    cases = make_cases(SPECS["groupnorm"], seed=1)
    base = SPECS["groupnorm"]
    keys = {
        sources._autograd_file(s, cases, "9.9.9")
        for s in (
            base,
            dataclasses.replace(base, groups=1),
            dataclasses.replace(base, center=False),
            dataclasses.replace(base, param_keepdims=False),
            dataclasses.replace(base, eps=1e-3),
        )
    }
    assert len(keys) == 5
    assert sources._autograd_file(base, cases, "9.9.9", "torch") not in keys
