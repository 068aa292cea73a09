"""A check's memory: the plan shares the cases' arrays, every call gets its own copy, a
large case is checked per element only, and the child's reply fits the bound its limits use.

Measured (benchmarks/bench_memory.py): a check at (2048, 2048) held ~87 arrays the size of
x in bncheck's process; it now holds about a dozen.
"""

from __future__ import annotations

import importlib.util
import io
import tracemalloc
from types import ModuleType

import numpy as np
import pytest

import bncheck
from bncheck.check.evidence import CheckOptions
from bncheck.check.inputs import make_cases
from bncheck.check.plan import LARGE, make_plan, reply_bytes
from bncheck.check.submission import resolve_target
from bncheck.examples import path as example
from bncheck.runner import calls, protocol
from bncheck.spec import NormSpec

BN = NormSpec()
OFF = CheckOptions(autograd="off")


def _module(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name.removesuffix(".py"), example(name))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_ops_hold_the_cases_arrays_not_copies() -> None:
    target = resolve_target(str(example("cs231n_correct.py")))
    plan = make_plan(target, BN, make_cases(BN, seed=1), seed=1)
    ours = {id(a) for c in plan.cases for a in (c.x, c.gamma, c.beta, c.dy)}
    ours |= {id(plan.hidden["dy2"]), id(plan.hidden["dy3"])}
    direction_ops = {op for pair in plan.dir_ops for op in pair}
    for n, op in enumerate(plan.ops):
        for key in ("x", "gamma", "beta", "dy"):
            if key in op and n not in direction_ops:  # x ± h·v is an array of its own
                assert id(op[key]) in ours, (n, op["op"], key)


def test_a_submission_that_writes_to_its_inputs_changes_no_other_call() -> None:
    """In-process, ops share arrays: each call must get its own copy (runner.calls). The
    backward scales dout in place; with a shared dout, the next call on it (the hidden
    block's A, or a direction) would see the scaled one and fail rows of its own."""
    layers = _module("bug_mutates_dout.py")
    for seed in range(4):
        cases = make_cases(BN, seed=seed)
        before = [(c.x.copy(), c.dy.copy()) for c in cases]
        result = bncheck.check_backward(
            layers.batchnorm_forward, layers.batchnorm_backward, seed=seed, checks=OFF
        )
        assert {c.id for c in result.checks if c.passed is False} == {"mutation"}, seed
        for c, (x, dy) in zip(make_cases(BN, seed=seed), before, strict=True):
            np.testing.assert_array_equal(c.x, x)
            np.testing.assert_array_equal(c.dy, dy)


def test_a_large_case_is_checked_per_element_and_a_small_one_is_case_a() -> None:
    target = resolve_target(str(example("cs231n_correct.py")))
    big = make_cases(BN, seed=3, degenerate=False, shapes=((300, 250),))
    assert big[0].x.size > LARGE
    plan = make_plan(target, BN, big, seed=3)
    assert plan.cases[0].x.size <= LARGE and plan.cases[1] is big[0]
    calls_on_big = [op for op in plan.ops if op.get("x") is big[0].x or op.get("dy") is big[0].dy]
    assert sorted(op["op"] for op in calls_on_big) == ["backward", "forward"]
    # with the degenerate cases too, case A is an ordinary case (drawn: none is small)
    plan = make_plan(target, BN, make_cases(BN, seed=3, shapes=((300, 250),)), seed=3)
    assert plan.cases[0].x.size <= LARGE and not plan.cases[0].note
    # a battery of ordinary size is planned as before
    small = make_cases(BN, seed=3)
    assert make_plan(target, BN, small, seed=3).cases[:-1] == small


def test_a_large_check_holds_a_few_copies_of_its_input() -> None:
    layers = _module("cs231n_correct.py")
    shape = (600, 500)
    copy = 8 * shape[0] * shape[1]

    def check(shapes: tuple[tuple[int, int], ...]) -> None:
        result = bncheck.check_backward(
            layers.batchnorm_forward,
            layers.batchnorm_backward,
            shapes=shapes,
            degenerate=False,
            seed=0,
            checks=OFF,
        )
        assert result.passed, str(result)

    check(((16, 8),))  # imports and the emitted backward first
    tracemalloc.start()
    try:
        start = tracemalloc.get_traced_memory()[0]
        check((shape,))
        peak = tracemalloc.get_traced_memory()[1] - start
    finally:
        tracemalloc.stop()
    assert peak < 15 * copy, f"{peak / copy:.1f} copies"


@pytest.mark.parametrize("name", ["cs231n_correct.py", "plain_correct.py", "torch_correct.py"])
def test_the_reply_fits_its_bound(name: str) -> None:
    """``reply_bytes`` sizes the child's file and reply limits: a correct submission's reply,
    as the child writes it, always fits (a (2048, 2048) reply is ~130 MiB, past the 64 MiB
    default)."""
    if name.startswith("torch"):
        pytest.importorskip("torch", reason="the torch-style example needs torch")
    for style_seed in (4, 5):
        target = resolve_target(str(example(name)))
        module = _module(name)
        funcs = {role: getattr(module, fn) for role, fn in target.names.items()}
        for shapes in ((), ((300, 250),)):
            cases = make_cases(BN, seed=style_seed, degenerate=not shapes, shapes=shapes)
            plan = make_plan(target, BN, cases, seed=style_seed)
            replies = calls.execute(plan.ops, funcs, set())
            buffer = io.BytesIO()
            protocol.write(buffer, {"ok": True, "replies": replies})
            assert len(buffer.getvalue()) <= reply_bytes(plan), (style_seed, shapes)
