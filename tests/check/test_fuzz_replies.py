"""Whatever a submission returns, the parent's checks answer with rows, never a crash.

Replies are built as the sandboxed child builds them (``runner.calls.execute`` on a
correct submission, then ``calls.pack`` of what a wrong one might return instead) and
sent through ``runner.protocol`` as the child sends them; the parent then runs what
``bncheck verify`` runs on them (``check_replies``, ``api.judge``, the renderers).
The only outcomes allowed: a VerifyResult whose failed rows say why, or a
SubmissionError (exit 2). Anything else is exit 3, "a bug in bncheck".

tests/cli/test_never_exit_3.py runs a handful of such submissions through the CLI.
"""

from __future__ import annotations

import copy
import functools
import importlib.util
import io
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import bncheck
from bncheck.check.api import VerifyOptions, judge
from bncheck.check.evidence import CheckOptions, References, references
from bncheck.check.inputs import make_cases
from bncheck.check.plan import Plan, make_plan
from bncheck.check.replies import check_replies
from bncheck.check.result import VerifyResult
from bncheck.check.submission import SubmissionError, Target
from bncheck.examples import path
from bncheck.runner import calls, protocol
from bncheck.spec import NormSpec, get_spec

SEED = 5
DTYPES = ("bool", "int8", "int64", "uint8", "uint64", "float16", "float32", "float64", ">f8")


def _square(g: np.ndarray) -> np.ndarray:
    """(D, D) where (D,) or (N, D) was expected."""
    row = g.ravel()[: g.shape[-1] if g.ndim else 1]
    return np.outer(row, row)


# What a student's code returns where it should return ``g`` (an array bncheck expects).
TRANSFORMS: dict[str, Callable[[np.ndarray], Any]] = {
    "as is": lambda g: g,
    "transposed": lambda g: g.T,  # forward returning out.T
    "(D, D)": lambda g: _square(g),  # dgamma = dout.T @ x_norm
    "keepdims": lambda g: g[None],
    "column": lambda g: g.reshape(-1, 1),
    "flat": lambda g: g.ravel(),
    "0-d": lambda g: np.asarray(g.sum()),
    "numpy scalar": lambda g: g.sum(),
    "empty": lambda g: g.reshape(-1)[:0],  # also of a 0-d input (eps)
    "stacked": lambda g: np.stack([g, g]),
    "python float": lambda g: float(g.sum()),
    "nested list": lambda g: g.tolist(),
    "None": lambda g: None,
    "str": lambda g: "dgamma",
    "dict": lambda g: {"dx": g},
}


@dataclass(repr=False)  # hypothesis shows the strategies drawn from a world: keep it short
class World:
    """One style's plan, a correct submission's replies to it, and bncheck's references."""

    style: str
    target: Target
    plan: Plan
    replies: list[dict[str, Any]]
    refs: References
    options: VerifyOptions

    def __repr__(self) -> str:
        return f"world({self.style!r}, {self.plan.spec.name!r})"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:  # hypothesis's printer
        printer.text(repr(self))

    def gradient_ops(self) -> list[int]:
        return [i for i, op in enumerate(self.plan.ops) if "dy" in op]

    def forward_ops(self) -> list[int]:
        return [i for i, op in enumerate(self.plan.ops) if op["op"] in ("forward", "torch")]


def _load(name: str) -> Any:
    spec = importlib.util.spec_from_file_location(f"fuzz_{name[:-3]}", path(name))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@functools.cache
def world(style: str, norm: str = "batchnorm") -> World:
    spec: NormSpec = get_spec(norm)
    if style == "cs231n":
        m = _load("cs231n_correct.py")
        funcs = {"forward": m.batchnorm_forward, "backward": m.batchnorm_backward}
        names = {"forward": "batchnorm_forward", "backward": "batchnorm_backward"}
    elif style == "plain":  # bncheck's own emitted backward: it takes (N, C, H, W) too
        funcs = {"backward": bncheck.load_backward(spec)}
        names = {"backward": "batchnorm_backward"}
    else:
        funcs = {"function": _load("torch_correct.py").BatchNorm}
        names = {"function": "BatchNorm"}
    shapes = ((4, 3), (3, 5)) if norm == "batchnorm" else ((2, 3, 2, 2), (3, 2, 1, 3))
    target = Target(Path("fuzz.py"), style, names)  # type: ignore[arg-type]
    plan = make_plan(target, spec, make_cases(spec, SEED, shapes=shapes), SEED)
    replies = calls.execute(copy.deepcopy(plan.ops), funcs, set())
    options = VerifyOptions(spec=spec, seed=SEED, checks=CheckOptions(autograd="off"))
    return World(style, target, plan, replies, references(plan, options.checks), options)


# -- what a wrong submission returns -------------------------------------------------


@st.composite
def recipes(draw: st.DrawFn) -> Callable[[np.ndarray], Any]:
    """A systematic mistake: the right array, poisoned, cast and reshaped; or any array."""
    if draw(st.integers(0, 5)) == 0:
        shape = hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=5)
        anything = draw(hnp.arrays(st.sampled_from(DTYPES).map(np.dtype), shape))
        return lambda g: anything
    name = draw(st.sampled_from(list(TRANSFORMS)))
    dtype = draw(st.none() | st.sampled_from(DTYPES))
    poison = draw(
        st.none() | st.tuples(st.sampled_from([np.nan, np.inf, -np.inf]), st.floats(0, 1))
    )

    def apply(g: np.ndarray) -> Any:
        a = np.array(g, dtype=np.float64)
        if poison is not None and a.size:
            a.flat[int(poison[1] * (a.size - 1))] = poison[0]
        with np.errstate(all="ignore"):  # NaN or 1e4 as an int, inf · 0 in an outer product
            return TRANSFORMS[name](a if dtype is None else a.astype(dtype))

    return apply


def _arrays(packed: dict[str, Any]) -> list[np.ndarray]:
    return [item["array"] for item in packed["items"]]


def _ops(draw: st.DrawFn, ops: list[int]) -> list[int]:
    which = draw(st.sampled_from(["one", "all", "some"]))
    if which == "one":
        return [draw(st.sampled_from(ops))]
    if which == "all":
        return ops
    return draw(st.lists(st.sampled_from(ops), min_size=1, unique=True))


Edit = Callable[[World, list[dict[str, Any]]], None]


@st.composite
def gradient_edits(draw: st.DrawFn, w: World) -> Edit:
    """dx, dgamma, dbeta: each through its own mistake; or another arity, or no tuple."""
    ops = _ops(draw, w.gradient_ops())
    arity = draw(st.sampled_from([3, 3, 3, 3, 0, 1, 2, 4, -1]))  # -1: not a tuple
    mistakes = [draw(recipes()) for _ in range(max(arity, 1))]

    def edit(w: World, replies: list[dict[str, Any]]) -> None:
        for i in ops:
            key = "grads" if w.style == "torch" else "returned"
            right = (_arrays(w.replies[i][key]) * 2)[: max(arity, 1)]
            values = [f(g) for f, g in zip(mistakes, right, strict=True)]
            replies[i][key] = calls.pack(values[0] if arity == -1 else tuple(values))

    return edit


@st.composite
def forward_edits(draw: st.DrawFn, w: World) -> Edit:
    """out through a mistake (out.T, bool, NaN...); a cs231n forward keeps its (out, cache)."""
    ops = _ops(draw, w.forward_ops())
    mistake = draw(recipes())
    forged_arity = draw(st.integers(0, 9)) == 0  # the child raises on it: only a forged reply

    def edit(w: World, replies: list[dict[str, Any]]) -> None:
        for i in ops:
            key = "out" if w.style == "torch" else "returned"
            out = mistake(_arrays(w.replies[i][key])[0])
            if w.style == "torch":
                replies[i]["out"] = calls.pack(out)
            else:
                replies[i]["returned"] = calls.pack(out if forged_arity else (out, "cache"))

    return edit


def replay(w: World, replies: list[dict[str, Any]]) -> None:
    """A memoising backward: every call answered with the first call's result."""
    key = "grads" if w.style == "torch" else "returned"
    first, *later = w.gradient_ops()
    for i in later:
        replies[i][key] = copy.deepcopy(w.replies[first][key])


@st.composite
def bn_param_edits(draw: st.DrawFn, w: World) -> Edit:
    """What a cs231n forward leaves in bn_param: any value, as the child packs it."""
    op = draw(st.sampled_from(w.forward_ops()))
    key = draw(st.sampled_from(["running_mean", "running_var", "mode", "eps"]))
    mistake = draw(recipes())
    number = st.floats() | st.integers(-(10**30), 10**30) | st.booleans()
    raw = draw(st.none() | st.text(max_size=5) | number)
    packed = draw(st.booleans())

    def edit(w: World, replies: list[dict[str, Any]]) -> None:
        bn = replies[op]["bn_param"]
        right = np.ones_like(w.plan.cases[0].gamma)
        bn[key] = calls._pack_param({key: mistake(right) if packed else raw})[key]

    return edit


@st.composite
def input_edits(draw: st.DrawFn, w: World) -> Edit:
    """An input changed in place (values, shape or dtype), or a cache digest that moved."""
    op = draw(st.sampled_from(range(len(w.plan.ops))))
    mistake = draw(recipes())
    digests = st.lists(st.lists(st.text(max_size=4), max_size=3), max_size=3)
    snapshot = draw(st.none() | digests)

    def edit(w: World, replies: list[dict[str, Any]]) -> None:
        reply, inputs = replies[op], replies[op]["inputs"]
        if inputs:
            k = sorted(inputs)[op % len(inputs)]
            value = mistake(inputs[k])
            if isinstance(value, np.ndarray):
                inputs[k] = value
        if "cache_after" in reply:
            reply["cache_after"] = snapshot
        if w.style == "torch":
            value = mistake(reply["inputs_after"]["x"])
            if isinstance(value, np.ndarray):
                reply["inputs_after"]["x"] = value

    return edit


@st.composite
def mistakes(draw: st.DrawFn, w: World) -> list[Edit]:
    kinds: list[Any] = [gradient_edits(w), input_edits(w), st.just(replay)]
    if w.forward_ops():  # cs231n and torch
        kinds.append(forward_edits(w))
    if w.style == "cs231n":
        kinds.append(bn_param_edits(w))
    return draw(st.lists(st.one_of(*kinds), min_size=1, max_size=3))


def through_the_protocol(replies: list[dict[str, Any]]) -> Any:
    """As the child sends them: JSON and .npy, read back by the parent's reader."""
    with tempfile.TemporaryDirectory() as folder:
        file = Path(folder) / "reply"
        with file.open("wb") as f:
            protocol.write(f, {"replies": replies})
        return protocol.read(file, 1 << 30)["replies"]


def outcome(w: World, replies: Any) -> VerifyResult | SubmissionError:
    """What ``bncheck verify`` does with the replies: a result, or exit 2; raises otherwise."""
    try:
        check_replies(w.target, w.plan.ops, replies)
        result = judge(w.target, w.plan, replies, w.options, None, w.refs)
    except SubmissionError as exc:
        assert exc.message and exc.hint and exc.code
        return exc
    from rich.console import Console

    Console(file=io.StringIO(), width=100).print(result)  # as the CLI prints it
    str(result)
    result.to_json()
    for row in result.checks:
        assert row.passed is True or row.message, f"{row.title} fails without saying why"
    return result


WORLDS = [("cs231n", "batchnorm"), ("plain", "batchnorm"), ("plain", "spatial_batchnorm")]


def _world(style: str, norm: str) -> World:
    if style == "torch":
        pytest.importorskip("torch", reason="torch is not installed (pip install torch==2.13.0)")
    return world(style, norm)


@pytest.mark.parametrize(("style", "norm"), [*WORLDS, ("torch", "batchnorm")])
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_any_reply_is_a_result_or_exit_2(style: str, norm: str, data: st.DataObject) -> None:
    w = _world(style, norm)
    replies = copy.deepcopy(w.replies)
    for edit in data.draw(mistakes(w)):
        edit(w, replies)
    outcome(w, through_the_protocol(replies))


@pytest.mark.parametrize(("style", "norm"), [*WORLDS, ("torch", "batchnorm")])
def test_the_correct_replies_pass(style: str, norm: str) -> None:
    w = _world(style, norm)
    result = outcome(w, through_the_protocol(copy.deepcopy(w.replies)))
    assert isinstance(result, VerifyResult) and result.passed, str(result)


# -- the mistakes of issue 8, each a failed row that says what it got and expected ----


def _failures(w: World, edit: Edit) -> dict[str, str]:
    replies = copy.deepcopy(w.replies)
    edit(w, replies)
    result = outcome(w, through_the_protocol(replies))
    assert isinstance(result, VerifyResult), result
    return {c.title: c.message for c in result.failures}


def _each_gradient(change: Callable[[list[np.ndarray]], tuple[Any, ...]]) -> Edit:
    def edit(w: World, replies: list[dict[str, Any]]) -> None:
        for i in w.gradient_ops():
            replies[i]["returned"] = calls.pack(change(_arrays(w.replies[i]["returned"])))

    return edit


def test_dgamma_of_shape_d_by_d() -> None:  # dgamma = dout.T @ x_norm
    w = world("cs231n")
    failed = _failures(w, _each_gradient(lambda g: (g[0], np.outer(g[1], g[1]), g[2])))
    a = w.plan.cases[0]
    d = a.gamma.shape[0]
    assert failed["self-consistency: ⟨w, J v⟩ = ⟨Jᵀw, v⟩ on 4 random directions"] == (
        f"dgamma has shape ({d}, {d}) in {a.name}; expected ({d},), so ⟨Jᵀw, v⟩ cannot be formed"
    )
    assert failed["dgamma: submission vs derived (float64)"].startswith(
        f"dgamma has shape ({d}, {d}) in "
    )
    assert "dgamma shape: like gamma" in failed


def test_memoising_backward() -> None:
    failed = _failures(world("cs231n"), replay)
    assert "hidden state: repeated and interleaved calls" in failed
    assert "cannot be summed over the batch" in failed["Σ_batch dx = 0: every feature, every case"]


def test_forward_returning_out_transposed() -> None:
    w = world("cs231n")

    def transpose(w: World, replies: list[dict[str, Any]]) -> None:
        for i in w.forward_ops():
            out = _arrays(w.replies[i]["returned"])[0]
            replies[i]["returned"] = calls.pack((out.T, None))

    failed = _failures(w, transpose)
    a = w.plan.cases[0]
    n, d = a.x.shape
    assert failed["self-consistency: ⟨w, J v⟩ = ⟨Jᵀw, v⟩ on 4 random directions"].startswith(
        f"out has shape ({d}, {n}) at x + h·v; expected ({n}, {d})"
    )
    assert "so it cannot be compared" in failed["out: submission vs reference forward (float64)"]


def test_bool_and_int_gradients() -> None:
    failed = _failures(
        world("plain"),
        _each_gradient(lambda g: (g[0].astype(int), g[1] > 0, g[2].astype(np.uint8))),
    )
    dgamma = next(m for title, m in failed.items() if title.startswith("dgamma: submission vs"))
    assert dgamma.startswith("dgamma has dtype bool in ") and "expected real numbers" in dgamma
    assert failed["dtypes: like the input"].startswith("dx is int64 for float64 input in ")


def test_a_running_mean_past_float_range_is_a_value_not_a_crash() -> None:
    from bncheck.check.behaviour import _param

    got = _param({"running_mean": 10**400}, "running_mean")
    assert isinstance(got, str) and "401 digits" in got
