"""The battery cannot be learned: shapes, number of calls and their order come from the seed.

Hostile or unlucky submissions that a fixed battery passed: right for exactly the
first 10 calls, right only for D <= 16, right only for N <= 32. Each must fail for
every seed, and the bundled examples must keep their verdicts.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bncheck.check.api import VerifyOptions, verify
from bncheck.check.evidence import CheckOptions
from bncheck.check.inputs import make_cases
from bncheck.check.plan import Plan, make_plan
from bncheck.check.submission import Target
from bncheck.cli import main
from bncheck.errors import UsageError
from bncheck.examples import BUGS, CORRECT, path
from bncheck.spec import NormSpec

GRADIENT_OPS = ("backward", "plain", "torch")


def _options(seed: int) -> VerifyOptions:
    return VerifyOptions(seed=seed, checks=CheckOptions(autograd="off"), timeout=30)


def _plan(style: str, seed: int, spec: NormSpec | None = None) -> Plan:
    spec = spec or NormSpec()
    return make_plan(Target(Path("x.py"), style, {}), spec, make_cases(spec, seed), seed)  # type: ignore[arg-type]


def _signature(plan: Plan) -> list[tuple[str, tuple[int, ...]]]:
    return [(op["op"], op["x"].shape if "x" in op else op["dy"].shape) for op in plan.ops]


def _is_gradient(op: dict[str, Any]) -> bool:
    return op["op"] in GRADIENT_OPS and "dy" in op


@pytest.mark.parametrize("style", ["cs231n", "plain", "torch"])
def test_order_comes_from_the_seed(style: str) -> None:
    assert _signature(_plan(style, 4)) == _signature(_plan(style, 4))
    orders = {tuple(_signature(_plan(style, seed))) for seed in range(8)}
    assert len(orders) == 8
    where = {_plan(style, seed).main[0] for seed in range(8)}
    assert len(where) > 1  # the first case is not always the first call


@pytest.mark.parametrize("style", ["cs231n", "plain", "torch"])
def test_every_gradient_call_is_checked(style: str) -> None:
    for seed in range(8):
        plan = _plan(style, seed)
        assert len(plan.main) == len(plan.cases) == len(set(plan.main))
        # A and A2 are compared with main[0] and derived; A3 (A with dy + dy2) with A + A2
        # by the diagnoser's linearity test
        hidden = {plan.hidden[k] for k in ("A", "A2", "A3")}
        gradients = {n for n, op in enumerate(plan.ops) if _is_gradient(op)}
        assert gradients == set(plan.main) | hidden
        saved = {op["save"]: n for n, op in enumerate(plan.ops) if op.get("save")}
        for case, n in zip(plan.cases, plan.main, strict=True):
            op = plan.ops[n]
            assert np.array_equal(op["dy"], case.dy)
            if style == "cs231n":  # its forward, with the case's x, ran before it
                assert saved[op["cache"]] < n
                assert np.array_equal(plan.ops[saved[op["cache"]]]["x"], case.x)
            else:
                assert np.array_equal(op["x"], case.x)


def test_blocks_the_hidden_state_check_reads_stay_whole() -> None:
    for seed in range(8):
        plan = _plan("cs231n", seed)
        a, b, a2 = (plan.hidden[k] for k in ("A", "B", "A2"))
        assert (b, a2) == (a + 1, a + 2)
        assert [plan.ops[n]["save"] for n in (a - 2, a - 1)] == ["hA", "hB"]
        assert plan.main[0] - 1 == plan.forwards[0]  # case A's forward, then its backward


def test_plain_battery_makes_more_than_ten_calls() -> None:
    for seed in range(20):
        assert len(_plan("plain", seed).ops) > 10


def _write(tmp_path: Path, name: str, body: str) -> str:
    source = textwrap.dedent("""
        import numpy as np

        calls = [0]


        def _right(dy, x, gamma, eps, m):
            xmu = x - x.mean(axis=0)
            inv_std = 1.0 / np.sqrt((xmu * xmu).mean(axis=0) + eps)
            xhat = xmu * inv_std
            dbeta = dy.sum(axis=0)
            dgamma = (dy * xhat).sum(axis=0)
            return gamma * inv_std / m * (m * dy - dbeta - xhat * dgamma), dgamma, dbeta

    """) + textwrap.dedent(body)
    file = tmp_path / name
    file.write_text(source, encoding="utf-8")
    return str(file)


HOSTILE = {
    "right_for_the_first_10_calls.py": """
        def batchnorm_backward(dy, x, gamma, eps=1e-5):
            calls[0] += 1
            dx, dgamma, dbeta = _right(dy, x, gamma, eps, x.shape[0])
            return (dx if calls[0] <= 10 else 1.01 * dx), dgamma, dbeta
    """,
    "wrong_for_the_first_10_calls.py": """
        def batchnorm_backward(dy, x, gamma, eps=1e-5):
            calls[0] += 1
            dx, dgamma, dbeta = _right(dy, x, gamma, eps, x.shape[0])
            return (dx if calls[0] > 10 else 1.01 * dx), dgamma, dbeta
    """,
    "loops_over_16_features.py": """
        def batchnorm_backward(dy, x, gamma, eps=1e-5):
            dx, dgamma, dbeta = _right(dy, x, gamma, eps, x.shape[0])
            out = np.zeros_like(dx)
            for j in range(min(16, x.shape[1])):  # BUG: features past the 16th are left at 0
                out[:, j] = dx[:, j]
            return out, dgamma, dbeta
    """,
    "right_only_for_n_up_to_32.py": """
        def batchnorm_backward(dy, x, gamma, eps=1e-5):
            m = min(x.shape[0], 32)  # BUG: a batch size capped at 32
            return _right(dy, x, gamma, eps, m)
    """,
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_submissions_a_fixed_battery_passed_fail_for_every_seed(name: str, tmp_path: Path) -> None:
    target = _write(tmp_path, name, HOSTILE[name])
    for seed in range(10):
        result = verify(target, _options(seed))
        assert not result.passed, f"seed {seed}:\n{result}"
        assert result.style == "plain"


def test_the_honest_version_of_the_hostile_submissions_passes(tmp_path: Path) -> None:
    body = """
        def batchnorm_backward(dy, x, gamma, eps=1e-5):
            calls[0] += 1
            return _right(dy, x, gamma, eps, x.shape[0])
    """
    target = _write(tmp_path, "honest.py", body)
    for seed in range(3):
        assert verify(target, _options(seed)).passed


def _example(name: str) -> str:
    if name.startswith("torch"):
        pytest.importorskip("torch", reason="the torch-style example needs torch")
    return str(path(name))


@pytest.mark.parametrize("name", CORRECT)
def test_correct_examples_pass_for_every_seed(name: str) -> None:
    target = _example(name)
    for seed in range(3 if name.startswith("torch") else 8):  # the child imports torch: 2.4 s
        result = verify(target, _options(seed))
        assert result.passed, f"seed {seed}:\n{result}"


@pytest.mark.parametrize("name", sorted(BUGS))
def test_bundled_bugs_fail_for_every_seed(name: str) -> None:
    for seed in range(8):
        assert not verify(_example(name), _options(seed)).passed, f"{name} passed seed {seed}"


def test_the_seed_is_fresh_by_default_and_reported() -> None:
    assert len({VerifyOptions().seed for _ in range(5)}) > 1
    assert all(0 <= VerifyOptions().seed < 2**32 for _ in range(5))
    result = verify(str(path("plain_correct.py")), _options(2**32 - 1))
    assert result.seed == 2**32 - 1 and f"seed {2**32 - 1}" in str(result)


@pytest.mark.parametrize("seed", [-1, 1.5, True])
def test_a_bad_seed_is_a_usage_error(seed: Any) -> None:
    with pytest.raises(UsageError, match="non-negative integer"):
        verify(str(path("plain_correct.py")), VerifyOptions(seed=seed))


def test_a_negative_seed_on_the_command_line_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", str(path("plain_correct.py")), "--seed", "-1"]) == 2
    err = capsys.readouterr().err
    assert "--seed must be a non-negative integer" in err and "Traceback" not in err
