"""The plan per normalization: its signature's arguments; running calls for batch norm only."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bncheck.check.inputs import make_cases
from bncheck.check.plan import make_plan
from bncheck.check.submission import Target
from bncheck.spec import SPECS


def _plan(norm: str, style: str):  # type: ignore[no-untyped-def]
    spec = SPECS[norm]
    names = {
        "cs231n": {"forward": f"{norm}_forward", "backward": f"{norm}_backward"},
        "plain": {"backward": f"{norm}_backward"},
        "torch": {"function": "F"},
    }[style]
    target = Target(Path("x.py"), style, names)  # type: ignore[arg-type]
    return make_plan(target, spec, make_cases(spec, seed=1), seed=1)


@pytest.mark.parametrize("norm", [n for n, s in SPECS.items() if not s.has_running])
def test_no_running_or_eval_calls_without_running_statistics(norm: str) -> None:
    plan = _plan(norm, "cs231n")
    assert plan.running == {}
    forwards = [op for op in plan.ops if op["op"] == "forward"]
    assert forwards and all(op["bn_param"] == {"eps": SPECS[norm].eps} for op in forwards)
    assert not any(op.get("optional") for op in plan.ops)  # the eval call is batch norm's


@pytest.mark.parametrize("norm", ["batchnorm", "spatial_batchnorm"])
def test_batch_norm_keeps_its_running_and_eval_calls(norm: str) -> None:
    plan = _plan(norm, "cs231n")
    assert set(plan.running) >= {"fresh", "given", "eval"}
    assert plan.ops[plan.running["eval"]]["bn_param"]["mode"] == "test"


@pytest.mark.parametrize("style", ["cs231n", "plain", "torch"])
def test_group_norm_calls_carry_g(style: str) -> None:
    plan = _plan("groupnorm", style)
    calls = [op for op in plan.ops if op["op"] != "backward"]  # a cs231n backward takes a cache
    assert calls and all(op["groups"] == SPECS["groupnorm"].groups for op in calls)


@pytest.mark.parametrize("norm", ["batchnorm", "layernorm", "instancenorm", "rmsnorm"])
def test_other_norms_have_no_g(norm: str) -> None:
    assert not any("groups" in op for op in _plan(norm, "plain").ops)


def test_gamma_of_each_case_is_the_presets_shape() -> None:
    """The plan hands each call the case's own gamma: (1, C, 1, 1) for CS231n's group norm."""
    plan = _plan("groupnorm", "cs231n")
    for op in plan.ops:
        if op["op"] == "forward":
            x = np.asarray(op["x"])
            assert op["gamma"].shape == SPECS["groupnorm"].param_shape(x.shape)
