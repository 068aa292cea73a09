"""The Python API: ``check_backward`` and ``assert_gradients_close``.

A CS231n notebook user checks a layer in one line::

    bncheck.check_backward(batchnorm_forward, batchnorm_backward)

Callables run in this process (a notebook's functions cannot be sent to another);
a path runs in a child process, as ``bncheck verify`` does.
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np

from bncheck.check import sources
from bncheck.check.battery import run_battery, select
from bncheck.check.evidence import CheckOptions, Evidence, References, gather, references
from bncheck.check.fd import step_table
from bncheck.check.inputs import Case, fixed_cases, make_cases
from bncheck.check.plan import Plan, make_plan, reply_bytes
from bncheck.check.reading import read_it
from bncheck.check.replies import check_replies
from bncheck.check.result import CheckResult, FileResult, FunctionResult, VerifyResult
from bncheck.check.sandboxed import failure_error, job, replies_of, run_jobs, spawn
from bncheck.check.submission import (
    UNSUPPORTED,
    SubmissionError,
    Target,
    check_supported,
    named_norm,
    norm_named,
    resolve_all,
    resolve_target,
)
from bncheck.errors import BncheckError, SpecError, UsageError
from bncheck.runner import Outcome, Policy
from bncheck.spec import SPECS, NormSpec, get_spec

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


def _fresh_seed() -> int:
    """32 bits from the OS: a battery a submission cannot know in advance (the report prints it)."""
    return int.from_bytes(os.urandom(4), "little")


@dataclass(frozen=True)
class VerifyOptions:
    """Everything a verify run depends on besides the submission; ``spec`` may be a name."""

    spec: NormSpec = field(default_factory=NormSpec)
    seed: int = field(default_factory=_fresh_seed)  # shapes and call order; replay with seed=
    style: str | None = None  # None: detect
    shapes: tuple[tuple[int, ...], ...] = ()  # () : the battery's own shapes
    degenerate: bool = True
    dtype: str = "float64"  # of the inputs; "float32" for code that computes in float32
    timeout: float = 60.0  # seconds, for a submission run in a child process
    steps_table: bool = False
    checks: CheckOptions = field(default_factory=CheckOptions)
    policy: Policy = field(default_factory=Policy)  # what the sandboxed child may not do
    # True: a function's name picks the preset when ``spec`` is batch norm on (N, D):
    # spatial_* (or *BatchNorm2d*) spatial batch norm, layernorm_* layer norm,
    # spatial_groupnorm_* group norm, ... (``options_for``); False: ``spec`` as given
    infer_norm: bool = True

    def __post_init__(self) -> None:
        if isinstance(self.spec, str):  # spec="spatial_batchnorm"
            object.__setattr__(self, "spec", get_spec(self.spec))
        elif not isinstance(self.spec, NormSpec):
            raise UsageError(
                f"spec must be a NormSpec or the name of one, not {type(self.spec).__name__}",
                f"e.g. spec={next(iter(SPECS))!r}",
            )


MAX_ELEMENTS = 2**24  # per shape: 128 MiB of float64, about 15 copies at the peak (README)


def _shapes(options: VerifyOptions) -> tuple[tuple[int, ...], ...]:
    """Shapes the user asked for, checked against the spec's layout."""
    spec = options.spec
    shapes = []
    for given in options.shapes:
        if not isinstance(given, (tuple, list)) or not all(
            isinstance(n, (int, np.integer)) and not isinstance(n, bool) for n in given
        ):
            raise UsageError(f"a shape is a tuple of integers, not {given!r}", "e.g. (64, 128)")
        shape = tuple(int(n) for n in given)
        shapes.append(shape)
        if len(shape) != spec.ndim:
            layout = ",".join(spec.layout)
            fits = [n for n, s in SPECS.items() if s.ndim == len(shape)]
            raise UsageError(
                f"shape {shape} has {len(shape)} axes; {spec.name} takes {spec.ndim} ({layout})",
                f"give {layout}, or check it as one of {', '.join(fits)} (--norm NAME)"
                if fits
                else f"give {layout}",
            )
        if min(shape) < 1:
            raise UsageError(f"shape {shape} has an axis of size below 1", "e.g. (64, 128)")
        try:
            spec.check_shape(shape)  # group norm: C divisible into G groups
        except SpecError as exc:
            raise UsageError(exc.message, exc.hint) from None
        if int(np.prod(shape, dtype=np.int64)) > MAX_ELEMENTS:
            raise UsageError(
                f"shape {shape} has more than {MAX_ELEMENTS} elements",
                "a check at (2048, 2048) already finds what a larger one would",
            )
    return tuple(shapes)


def battery(options: VerifyOptions) -> tuple[Case, ...]:
    """The cases of one run: drawn from the seed (or ``options.shapes``), the degenerate
    ones, and ``inputs.fixed_cases`` when torch autograd is compared."""
    if options.dtype not in ("float64", "float32"):
        raise UsageError(f"dtype must be float64 or float32, not {options.dtype!r}")
    seed = options.seed
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise UsageError(
            f"the seed must be a non-negative integer, not {seed!r}",
            "leave it out for a fresh random seed, or give the seed a report printed (--seed N)",
        )
    dtype = np.dtype(options.dtype).type
    cases = make_cases(options.spec, seed, options.degenerate, dtype, _shapes(options))
    if options.checks.autograd != "off" and sources.torch_available():
        # torch autograd is compared on these, the same every run, from a cache (inputs.py)
        cases += fixed_cases(options.spec, options.degenerate, dtype)
    return cases


def preset(name: str, spec: NormSpec) -> NormSpec:
    """The preset ``name`` with the conventions of ``spec`` (eps, variance; running
    statistics and mode only where the preset has them)."""
    base = SPECS[name]
    if base.has_running:
        return dataclasses.replace(
            base,
            eps=spec.eps,
            variance=spec.variance,
            running=spec.running,
            momentum=spec.momentum,
            mode=spec.mode,
        )
    return dataclasses.replace(base, eps=spec.eps, variance=spec.variance)


def options_for(name: str, options: VerifyOptions) -> VerifyOptions:
    """The options for the function ``name``: the preset its name says (``named_norm``:
    layernorm_backward is layer norm, spatial_groupnorm_backward group norm, spatial_*
    spatial batch norm), or spatial batch norm when every shape asked for is 4-D (N, C, H, W).

    The name decides only when ``options.spec`` is the default batch norm on (N, D) and
    ``infer_norm``; the preset takes eps and every convention of ``options.spec``. A
    layer-style norm then takes the rank of the shapes asked for ((N, T, D), as
    ``torch.nn.LayerNorm(D)``).
    """
    spec = options.spec
    if options.infer_norm and spec.name == "batchnorm":
        named = named_norm(name)
        if named is None or named in UNSUPPORTED:  # refused by check_supported, not here
            named = "batchnorm"
        four_d = bool(options.shapes) and all(len(s) == 4 for s in options.shapes)
        if named == "batchnorm" and four_d:
            named = "spatial_batchnorm"
        if named != "batchnorm":
            spec = preset(named, spec)
    ranks = {len(s) for s in options.shapes}
    if len(ranks) == 1 and spec.ndim not in ranks:
        # layer norm over the last axis of (N, T, D), as torch.nn.LayerNorm(D); any other
        # preset keeps its rank, and _shapes says which it takes
        with contextlib.suppress(SpecError):
            spec = spec.with_rank(ranks.pop())
    return options if spec == options.spec else dataclasses.replace(options, spec=spec)


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


def _in_process(funcs: dict[str, Any], style: str, options: VerifyOptions) -> VerifyResult:
    """Callables from this process (a notebook's): run here, with no sandbox."""
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
    try:
        replies = calls.execute(plan.ops, funcs, files)  # each call gets its own copy
    except calls.CallFailed as failed:
        raise failure_error(target, failed.info) from None
    return judge(target, plan, replies, options)


def _is_torch_function(obj: Any) -> bool:
    return inspect.isclass(obj) and hasattr(obj, "apply") and hasattr(obj, "backward")


def check_backward(
    forward: Callable[..., Any] | str | Path | ModuleType | type,
    backward: Callable[..., Any] | None = None,
    *,
    style: str | None = None,
    options: VerifyOptions | None = None,
    **overrides: Any,
) -> VerifyResult:
    """Verify a batch-norm backward; returns a frozen VerifyResult (never raises on a failed check).

    ``check_backward(batchnorm_forward, batchnorm_backward)``: cs231n style, in-process.
    ``check_backward(batchnorm_backward)``: plain style, ``(dy, x, gamma, eps)``.
    ``check_backward(MyBatchNorm)``: a torch.autograd.Function subclass.
    ``check_backward("layers.py")`` or ``"layers.py:batchnorm_backward_alt"``: in a child process.
    ``overrides`` replace fields of ``options`` (seed=, spec=, shapes=, ...).
    """
    options = dataclasses.replace(options or VerifyOptions(), style=style, **overrides)
    if isinstance(forward, (str, Path)):
        return verify(str(forward), options)
    if isinstance(forward, ModuleType):
        path = getattr(forward, "__file__", None)
        if path is None:
            raise UsageError(f"module {forward.__name__} has no file", "pass its functions instead")
        return verify(path, options)
    if _is_torch_function(forward):
        return _in_process({"function": forward}, "torch", options)
    if not callable(forward):
        raise UsageError(
            f"check_backward takes callables, a module or a path, not {type(forward).__name__}",
            "e.g. check_backward(batchnorm_forward, batchnorm_backward)",
        )
    if backward is not None:
        return _in_process({"forward": forward, "backward": backward}, "cs231n", options)
    return _in_process({"backward": forward}, "plain", options)


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
