"""What a verify run is asked to do: ``VerifyOptions``, the battery of cases it draws, and
the preset a function's name picks (``options_for``). ``bncheck.check.api`` runs it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from dataclasses import dataclass, field

import numpy as np

from bncheck.check import sources
from bncheck.check.evidence import CheckOptions
from bncheck.check.inputs import Case, fixed_cases, make_cases
from bncheck.check.submission import UNSUPPORTED, named_norm
from bncheck.errors import SpecError, UsageError
from bncheck.runner import Policy
from bncheck.spec import SPECS, NormSpec, get_spec

__all__ = ["MAX_ELEMENTS", "VerifyOptions", "battery", "options_for", "preset"]


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
    # seconds, the sandboxed child's limit (a file). Callables run in this process with no
    # limit unless check_backward(..., timeout=S) is given (a forked worker: check/worker.py)
    timeout: float = 60.0
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
