"""The eval-mode forward is an optional call: a forward without test mode raises there, its
reply records the error (validated strictly, as anything from the child), the calls go on,
and ``call_error`` words it for the eval-mode row."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bncheck.check.inputs import make_cases
from bncheck.check.plan import make_plan
from bncheck.check.replies import call_error, check_replies, returned
from bncheck.check.sandboxed import job, replies_of
from bncheck.check.submission import Target, resolve_target
from bncheck.cli import main
from bncheck.errors import SubmissionError
from bncheck.examples import path as example
from bncheck.runner import Limits, calls, start
from bncheck.spec import NormSpec

CORRECT = example("cs231n_correct.py").read_text(encoding="utf-8")
RAISE = '        raise ValueError(f"Invalid forward batchnorm mode {mode!r}")'


def _no_test_mode(tmp_path: Path) -> tuple[Path, int]:
    """The correct example whose forward knows no 'test' mode: its else branch raises."""
    assert CORRECT.count('    elif mode == "test":\n') == 1
    text = CORRECT.replace('    elif mode == "test":\n', '    elif mode == "eval":\n')
    file = tmp_path / "layers.py"
    file.write_text(text, encoding="utf-8")
    return file, text.splitlines().index(RAISE) + 1


def _plan(target: Target) -> Any:
    spec = NormSpec()
    return make_plan(target, spec, make_cases(spec, seed=0, shapes=((6, 4),)), seed=0)


def test_only_the_eval_mode_forward_is_optional(tmp_path: Path) -> None:
    plan = _plan(resolve_target(str(_no_test_mode(tmp_path)[0])))
    optional = [n for n, op in enumerate(plan.ops) if op.get("optional")]
    assert optional == [plan.running["eval"]]
    assert plan.ops[optional[0]]["bn_param"]["mode"] == "test"


def test_a_forward_without_test_mode_is_recorded_and_the_calls_go_on(tmp_path: Path) -> None:
    file, line = _no_test_mode(tmp_path)
    target = resolve_target(str(file))
    plan = _plan(target)
    outcome = start(job(target, plan.ops), Limits(wall=30)).wait()
    replies = replies_of(target, outcome)
    check_replies(target, plan.ops, replies)  # the error entry is a shape it accepts
    eval_op = plan.running["eval"]
    reply = replies[eval_op]
    assert set(reply) == {"error", "inputs"}
    assert reply["error"] == {
        "type": "ValueError",
        "message": "Invalid forward batchnorm mode 'test'",
        "where": f"layers.py, line {line}",
    }
    assert call_error(reply) == (
        f"ValueError: Invalid forward batchnorm mode 'test' (layers.py, line {line})"
    )
    assert sorted(reply["inputs"]) == ["beta", "gamma", "x"]
    # every other call ran and returned, before and after the one that raised
    assert 0 < eval_op < len(plan.ops) - 1
    others = [r for n, r in enumerate(replies) if n != eval_op]
    assert all("error" not in r and call_error(r) is None for r in others)
    assert returned(target, replies[plan.main[0]]).arrays[0].shape == (6, 4)


def test_the_verdict_is_never_an_internal_error(tmp_path: Path, capsys) -> None:
    file, _ = _no_test_mode(tmp_path)
    code = main(["verify", str(file), "--autograd", "off", "--seed", "0", "--no-color"])
    captured = capsys.readouterr()
    assert code in (1, 2), captured
    text = captured.out + captured.err
    assert "internal error" not in text and "Traceback" not in text
    assert "Invalid forward batchnorm mode 'test'" in text


# --- in the child's code (calls.execute), in-process ------------------------------------


def _ops(optional: bool = True) -> list[dict[str, Any]]:
    x, gamma, beta = np.arange(12.0).reshape(4, 3), np.ones(3), np.zeros(3)
    forward = {"op": "forward", "x": x, "gamma": gamma, "beta": beta, "save": ""}
    return [
        {**forward, "bn_param": {"mode": "train"}, "save": "c0"},
        {**forward, "bn_param": {"mode": "test"}, "optional": optional},
        {"op": "backward", "dy": x.copy(), "cache": "c0"},
    ]


def _forward(behaviour: Any) -> Any:
    def batchnorm_forward(x: Any, gamma: Any, beta: Any, bn_param: Any) -> Any:
        if bn_param["mode"] == "test":
            return behaviour()
        return x, (x,)

    return batchnorm_forward


def _backward(dy: Any, cache: Any) -> Any:
    return dy, dy[0], dy[0]


def _raise(exc: BaseException) -> Any:
    def behaviour() -> Any:
        raise exc

    return behaviour


def _target() -> Target:
    return Target(Path("layers.py"), "cs231n", {"forward": "f", "backward": "b"})


def test_an_optional_call_that_raises_is_recorded_in_process() -> None:
    ops = _ops()
    funcs = {
        "forward": _forward(_raise(ValueError("no\n  test\tmode " + "x" * 900))),
        "backward": _backward,
    }
    replies = calls.execute(ops, funcs, {__file__})
    error = replies[1]["error"]
    assert error["type"] == "ValueError" and error["where"].startswith("test_optional_calls.py")
    assert error["message"].startswith("no test mode xxx") and len(error["message"]) == 500
    check_replies(_target(), ops, replies)
    assert replies[2]["returned"]["count"] == 3  # the backward after it ran


@pytest.mark.parametrize(
    "exc",
    [SystemExit(3), MemoryError(), KeyboardInterrupt()],
    ids=["exit", "memory", "interrupt"],
)
def test_an_exit_or_running_out_of_memory_still_ends_the_run(exc: BaseException) -> None:
    funcs = {"forward": _forward(_raise(exc)), "backward": _backward}
    with pytest.raises(calls.CallFailed) as info:
        calls.execute(_ops(), funcs, set())
    assert info.value.info["op"] == 1


def test_a_call_that_is_not_optional_still_ends_the_run() -> None:
    funcs = {"forward": _forward(_raise(ValueError("no test mode"))), "backward": _backward}
    with pytest.raises(calls.CallFailed) as info:
        calls.execute(_ops(optional=False), funcs, set())
    assert info.value.info["type"] == "ValueError" and info.value.info["op"] == 1


@pytest.mark.parametrize(
    ("value", "code", "words"),
    [
        (None, "wrong-arity", "f returned 1 value; expected (out, cache)"),
        ((None, None), "not-an-array", "f returned a builtins.NoneType for out"),
        (("out", None), "not-an-array", "f returned a builtins.str for out"),
    ],
)
def test_an_eval_forward_that_returns_no_array_is_a_clear_error_never_a_crash(
    value: Any, code: str, words: str
) -> None:
    ops = _ops()
    replies = calls.execute(ops, {"forward": _forward(lambda: value), "backward": _backward}, set())
    check_replies(_target(), ops, replies)
    assert call_error(replies[1]) is None
    with pytest.raises(SubmissionError) as info:
        returned(_target(), replies[1], "forward")
    assert info.value.code == code and words in info.value.message


def test_a_non_optional_forward_that_returns_none_still_ends_the_run() -> None:
    funcs = {"forward": _forward(lambda: None), "backward": _backward}
    with pytest.raises(calls.CallFailed) as info:
        calls.execute(_ops(optional=False), funcs, set())
    assert info.value.info["kind"] == "arity"


# --- in the parent: the error entry is untrusted, validated strictly ------------------


def _replies_with(eval_reply: Any) -> list[Any]:
    ops = _ops()
    funcs = {"forward": _forward(lambda: (ops[0]["x"], None)), "backward": _backward}
    replies = calls.execute(ops, funcs, set())
    replies[1] = eval_reply
    return replies


INPUTS = {"x": np.ones((4, 3)), "gamma": np.ones(3), "beta": np.zeros(3)}
GOOD = {"type": "ValueError", "message": "no test mode", "where": "layers.py, line 3"}


def test_the_error_entry_is_accepted_for_an_optional_call() -> None:
    check_replies(_target(), _ops(), _replies_with({"error": GOOD, "inputs": INPUTS}))
    with pytest.raises(SubmissionError) as info:  # the same entry where no call may fail
        check_replies(
            _target(), _ops(optional=False), _replies_with({"error": GOOD, "inputs": INPUTS})
        )
    assert info.value.code == "bad-reply"


FORGED = {
    "type-not-a-string": {**GOOD, "type": 3},
    "message-a-list": {**GOOD, "message": ["no"]},
    "where-none": {**GOOD, "where": None},
    "type-a-bool": {**GOOD, "type": True},
    "extra-key": {**GOOD, "traceback": "..."},
    "missing-key": {"type": "ValueError", "message": "no"},
    "message-over-its-cap": {**GOOD, "message": "x" * 501},
    "type-over-its-cap": {**GOOD, "type": "E" * 101},
    "where-over-its-cap": {**GOOD, "where": "w" * 301},
    "not-a-dict": "ValueError: no",
}


@pytest.mark.parametrize("name", sorted(FORGED))
def test_a_forged_error_entry_is_a_bad_reply(name: str) -> None:
    with pytest.raises(SubmissionError) as info:
        check_replies(_target(), _ops(), _replies_with({"error": FORGED[name], "inputs": INPUTS}))
    assert info.value.code == "bad-reply"


@pytest.mark.parametrize(
    "reply",
    [
        {"error": GOOD},  # without the inputs
        {"error": GOOD, "inputs": INPUTS, "returned": {"tuple": True, "items": []}},
        {"error": GOOD, "inputs": {"x": "not an array"}},
    ],
    ids=["no-inputs", "error-and-results", "inputs-not-arrays"],
)
def test_an_error_reply_has_exactly_its_shape(reply: dict[str, Any]) -> None:
    with pytest.raises(SubmissionError) as info:
        check_replies(_target(), _ops(), _replies_with(reply))
    assert info.value.code == "bad-reply"


def test_call_error_words_it_on_one_clean_line() -> None:
    assert call_error({"error": GOOD}) == "ValueError: no test mode (layers.py, line 3)"
    assert call_error({"error": {**GOOD, "where": ""}}) == "ValueError: no test mode"
    assert call_error({"error": {**GOOD, "message": ""}}) == "ValueError (layers.py, line 3)"
    nasty = {"type": "Value\x1b[2JError", "message": "a\u202eb\n\x07 c", "where": "\rl.py"}
    assert call_error({"error": nasty}) == "ValueError: ab c (l.py)"
    for not_an_error in ({"returned": {}}, {"error": "x"}, {"error": FORGED["extra-key"]}, []):
        assert call_error(not_an_error) is None  # type: ignore[arg-type]


def test_returned_on_an_error_reply_is_a_submission_error_not_a_crash() -> None:
    with pytest.raises(SubmissionError) as info:
        returned(_target(), {"error": GOOD, "inputs": INPUTS}, "forward")
    assert info.value.code == "submission-raised"
    assert info.value.message == "f raised ValueError: no test mode (layers.py, line 3)"
    assert "bn_param['mode'] = 'test'" in info.value.hint
