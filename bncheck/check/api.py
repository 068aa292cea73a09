"""The Python API: ``check_backward`` and ``assert_gradients_close``.

A CS231n notebook user checks a layer in one line::

    bncheck.check_backward(batchnorm_forward, batchnorm_backward)

Callables run in this process (a notebook's functions cannot be sent to another), with
no time limit; with ``timeout=``, in a forked worker that is killed at the limit
(``check/worker.py``). A path runs in a child process, as ``bncheck verify`` does. What a
run is asked to do (``VerifyOptions``, its battery, the preset a name picks) is
``bncheck.check.options``, re-exported here.
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import math
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from bncheck.check.battery import run_battery, select
from bncheck.check.evidence import CheckOptions, Evidence, References, gather, references
from bncheck.check.fd import step_table
from bncheck.check.options import VerifyOptions, battery, options_for, preset
from bncheck.check.plan import Plan, make_plan, reply_bytes
from bncheck.check.reading import read_it
from bncheck.check.replies import check_replies
from bncheck.check.result import CheckResult, FileResult, FunctionResult, VerifyResult
from bncheck.check.sandboxed import failure_error, job, replies_of, run_jobs, spawn
from bncheck.check.submission import (
    SubmissionError,
    Target,
    check_supported,
    norm_named,
    resolve_all,
    resolve_target,
)
from bncheck.errors import BncheckError, UsageError
from bncheck.runner import Outcome
from bncheck.spec import NormSpec

if TYPE_CHECKING:
    from bncheck.diagnose.result import Diagnosis

__all__ = [
    "VerifyOptions",
    "assert_gradients_close",
    "battery",
    "check_backward",
    "judge",
    "options_for",
    "preset",
    "verify",
    "verify_file",
]


def judge(
    target: Target,
    plan: Plan,
    replies: list[dict[str, Any]],
    options: VerifyOptions,
    outcome: Outcome | None = None,
    refs: References | None = None,
) -> VerifyResult:
    """Judge the replies to ``plan``: the battery on the evidence, as a VerifyResult.

    ``refs``: the references if they were computed while the child ran; else here.
    """
    refs = refs or references(plan, options.checks)
    evidence = gather(target, plan, replies, options.checks, refs, outcome)
    rows = run_battery(evidence)
    diagnosis, failed = _diagnose(evidence, rows)
    isolation: tuple[tuple[str, str], ...] = ()
    if outcome is not None:
        isolation = (("sandbox", "; ".join(outcome.isolation)),)
    if refs.autograd_from and refs.autograd is not None:
        fixed = sum(g is not None for g in refs.autograd)
        on = "every case" if fixed == len(refs.autograd) else f"the {fixed} fixed cases"
        isolation = (("autograd", f"{refs.autograd_from}, compared on {on}"), *isolation)
    steps: tuple[tuple[float, float], ...] = ()
    if options.steps_table:
        case = plan.cases[0].astype(float)  # the table is about float64 differences
        exact = evidence.cases[0].derived.dx
        steps = tuple(step_table(case.x, case.gamma, case.beta, case.dy, options.spec, exact))
    return VerifyResult(
        target=target.label,
        style=target.style,
        seed=options.seed,
        checks=tuple(rows),
        conventions=(
            *options.spec.conventions(),
            ("finite differences", f"float64, {options.checks.fd.describe(options.spec)}"),
            ("tolerances", options.checks.tolerances.describe()),
            *isolation,
        ),
        notes=(*evidence.notes, *failed),
        steps=steps,
        read_it=read_it(
            rows,
            float32_digits=evidence.float32_digits,
            spatial=options.spec.name == "spatial_batchnorm",
            spec=options.spec,
        ),
        diagnosis=diagnosis,
    )


def _diagnose(
    evidence: Evidence, rows: list[CheckResult]
) -> tuple[Diagnosis | None, tuple[str, ...]]:
    """The diagnosis of the rows, and a note instead when the diagnoser fails: a bug in
    it must never cost the verdict. Imported here: check/ does not depend on diagnose/."""
    try:
        from bncheck.diagnose import diagnose

        return diagnose(evidence, rows), ()
    except Exception as exc:
        why = f"{type(exc).__name__}: {exc}"
        return None, (f"bncheck's diagnoser failed (a bncheck bug, please report it): {why}",)


def verify(text: str, options: VerifyOptions | None = None) -> VerifyResult:
    """Run the battery on the submission named by ``PATH`` or ``PATH:FUNCTION``, sandboxed.

    ``PATH`` names the one normalization function the file defines, or else the spec's
    backward (``batchnorm_backward``) or a torch Function; ``verify_file`` checks them all.
    """
    options = options or VerifyOptions()
    target = resolve_target(text, options.style, f"{options.spec.name}_backward")
    options = options_for(target.names.get("function") or target.names["backward"], options)
    plan = make_plan(target, options.spec, battery(options), options.seed)
    # The child starts Python and numpy (~0.1 s) while we copy its folder; its file-size
    # limit fits the reply to this plan (a (2048, 2048) check sends back ~1 GiB).
    child = spawn(target, options.timeout, options.policy, reply_bytes(plan))
    try:
        child.send(job(target, plan.ops))
        # While the child works: the emitted reference (SymPy, when not cached). The child
        # cannot reach the cache (own HOME, audit hook), and a cached file is executed only
        # if it is ours, private and shaped like emitted code (emit/load.py).
        # Then every reference gradient (and torch's 1.2 s import), before the replies come.
        refs = references(plan, options.checks)
        outcome = child.wait()
    finally:
        child.close()
    replies = replies_of(target, outcome)
    check_replies(target, plan.ops, replies)  # from the child: its shape is checked first
    return judge(target, plan, replies, options, outcome, refs)


def verify_file(text: str, options: VerifyOptions | None = None) -> VerifyResult | FileResult:
    """``bncheck verify PATH``: every normalization function the file defines, each with the
    preset its name says, in one sandboxed child (``sandboxed.run_jobs``).

    A file that names one such function (or none: ``verify`` finds the spec's backward or
    a torch Function) gives that function's VerifyResult, as ``verify`` does; two or more
    give a FileResult. A stub is "not implemented", never a failure.
    """
    options = options or VerifyOptions()
    path, found = resolve_all(text, options.style)
    if len(found) < 2:
        return verify(text, options)
    select(options.checks.only, options.checks.skip)  # an unknown id: a usage error, now
    rows: dict[str, FunctionResult] = {}
    planned: list[tuple[str, Target, VerifyOptions, Plan]] = []
    for name, target in found:
        if isinstance(target, SubmissionError):
            rows[name] = FunctionResult(name, norm_named(name), error=target.to_dict())
            continue
        try:
            chosen = options_for(name, options)
            plan = make_plan(target, chosen.spec, battery(chosen), chosen.seed)
        except SubmissionError as exc:
            rows[name] = FunctionResult(name, norm_named(name), target.style, error=exc.to_dict())
            continue
        planned.append((name, target, chosen, plan))
    refs: dict[tuple[NormSpec, CheckOptions], References] = {}

    def references_all() -> None:  # while the child runs; functions of one spec share them
        for _, _, chosen, plan in planned:
            key = (chosen.spec, chosen.checks)
            if key not in refs:
                refs[key] = references(plan, chosen.checks)

    if planned:
        outcomes = run_jobs(
            [(job(t, plan.ops), t.style) for _, t, _, plan in planned],
            options.timeout,
            options.policy,
            reply=max(reply_bytes(plan) for *_, plan in planned),
            during=references_all,
        )
        for (name, target, chosen, plan), outcome in zip(planned, outcomes, strict=True):
            try:
                if isinstance(outcome, Exception):
                    raise outcome
                replies = replies_of(target, outcome)
                check_replies(target, plan.ops, replies)
                result = judge(
                    target, plan, replies, chosen, outcome, refs[(chosen.spec, chosen.checks)]
                )
                rows[name] = FunctionResult(name, chosen.spec.name, target.style, result)
            except SubmissionError as exc:
                rows[name] = FunctionResult(
                    name, chosen.spec.name, target.style, error=exc.to_dict()
                )
    return FileResult(str(path), options.seed, tuple(rows[name] for name, _ in found))


def _in_process(
    funcs: dict[str, Any], style: str, options: VerifyOptions, timeout: float | None = None
) -> VerifyResult:
    """Callables from this process (a notebook's), with no sandbox: here when ``timeout`` is
    None; else in a forked worker, killed when ``timeout`` seconds pass (``worker.py``)."""
    from bncheck.check import worker
    from bncheck.runner import calls

    names = {role: getattr(f, "__name__", role) for role, f in funcs.items()}
    name = str(names.get("function") or names["backward"])
    check_supported(name, "<in-process>")
    options = options_for(name, options)
    target = Target(Path("<in-process>"), style, names)  # type: ignore[arg-type]
    plan = make_plan(target, options.spec, battery(options), options.seed)
    files = set()
    for f in funcs.values():
        with contextlib.suppress(TypeError, OSError):  # builtins and lambdas have no file
            files.add(str(Path(inspect.getfile(f)).resolve()))
    refs: list[References] = []
    try:
        if timeout is None:
            replies = calls.execute(plan.ops, funcs, files)  # each call gets its own copy
        else:  # the references are computed here while the worker makes the calls
            shown = {role: str(n) for role, n in names.items()}
            replies = worker.run(
                plan.ops,
                funcs,
                files,
                timeout,
                reply_bytes(plan),
                shown,
                during=lambda: refs.append(references(plan, options.checks)),
            )
            check_replies(target, plan.ops, replies)  # decoded: the shape judge() expects
    except calls.CallFailed as failed:
        raise failure_error(target, failed.info) from None
    return judge(target, plan, replies, options, refs=refs[0] if refs else None)


def _is_torch_function(obj: Any) -> bool:
    return inspect.isclass(obj) and hasattr(obj, "apply") and hasattr(obj, "backward")


def check_backward(
    forward: Callable[..., Any] | str | Path | ModuleType | type,
    backward: Callable[..., Any] | None = None,
    *,
    style: str | None = None,
    options: VerifyOptions | None = None,
    timeout: float | None = None,
    **overrides: Any,
) -> VerifyResult:
    """Verify a batch-norm backward; returns a frozen VerifyResult (never raises on a failed check).

    ``check_backward(batchnorm_forward, batchnorm_backward)``: cs231n style, in-process.
    ``check_backward(batchnorm_backward)``: plain style, ``(dy, x, gamma, eps)``.
    ``check_backward(MyBatchNorm)``: a torch.autograd.Function subclass.
    ``check_backward("layers.py")`` or ``"layers.py:batchnorm_backward_alt"``: in a child process.
    ``overrides`` replace fields of ``options`` (seed=, spec=, shapes=, ...).

    ``timeout`` (seconds). Callables run in this process and, by default (None), with **no
    time limit**: a loop that never ends holds the session until it is interrupted. With
    ``timeout=5`` they run in a forked worker process (Linux and other POSIX systems) that
    is killed after 5 s, and a ``SubmissionError`` (code ``timeout``) names the callable
    and the call; the session goes on. The worker is not a sandbox: it is your own code,
    so it has no memory or file limits; it costs about 20-80 ms a check (more when torch
    is loaded), and what the callables change in this process's objects (a global, a list
    they append to) stays in the worker. A path always runs in the sandboxed child, under
    ``timeout`` or else ``options.timeout`` (60 s).
    """
    if timeout is not None:
        _check_timeout(timeout)
    options = dataclasses.replace(options or VerifyOptions(), style=style, **overrides)
    if isinstance(forward, (str, Path)):
        return verify(str(forward), _with_timeout(options, timeout))
    if isinstance(forward, ModuleType):
        path = getattr(forward, "__file__", None)
        if path is None:
            raise UsageError(f"module {forward.__name__} has no file", "pass its functions instead")
        return verify(path, _with_timeout(options, timeout))
    if _is_torch_function(forward):
        return _in_process({"function": forward}, "torch", options, timeout)
    if not callable(forward):
        raise UsageError(
            f"check_backward takes callables, a module or a path, not {type(forward).__name__}",
            "e.g. check_backward(batchnorm_forward, batchnorm_backward)",
        )
    if backward is not None:
        funcs = {"forward": forward, "backward": backward}
        return _in_process(funcs, "cs231n", options, timeout)
    return _in_process({"backward": forward}, "plain", options, timeout)


def _check_timeout(timeout: Any) -> None:
    """A number of seconds above 0 and at most a day, as the sandbox's limit must be."""
    number = isinstance(timeout, (int, float)) and not isinstance(timeout, bool)
    if not (number and math.isfinite(timeout) and 0 < timeout <= 86_400):
        raise UsageError(
            f"timeout must be a number of seconds above 0 and at most 86400, not {timeout!r}",
            "e.g. timeout=10, or timeout=None for no limit on callables",
        )


def _with_timeout(options: VerifyOptions, timeout: float | None) -> VerifyOptions:
    return options if timeout is None else dataclasses.replace(options, timeout=float(timeout))


def assert_gradients_close(*args: Any, **kwargs: Any) -> VerifyResult:
    """``check_backward``, raising a readable AssertionError when a check fails (for pytest).

    A submission that cannot be loaded or called fails the assertion too, with bncheck's
    message and hint; pytest shows the assertion, not bncheck's frames.
    """
    __tracebackhide__ = True
    try:
        result = check_backward(*args, **kwargs)
    except BncheckError as exc:
        raise AssertionError(f"bncheck could not check it [{exc.code}]: {exc}") from None
    if not result.passed:
        lines = [result.verdict, *(str(c) for c in result.failures), result.read_it]
        raise AssertionError("\n".join(lines))
    return result
