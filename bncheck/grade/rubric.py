"""The grading rubric: which functions are graded, points per check id, and the sandbox's limits.

A rubric is TOML (``DEFAULT_RUBRIC`` is the built-in one, with comments; ``bncheck grade
--init-rubric FILE`` writes it out). ``load_rubric`` validates every key, type, range and
check id at the boundary, with errors that name the file, the table and the key, so the
engine trusts what it gets. Check ids are those of ``bncheck.check.battery.CHECKS``.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from bncheck.errors import UsageError, did_you_mean

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

if TYPE_CHECKING:
    from bncheck.check.api import VerifyOptions

__all__ = ["DEFAULT_RUBRIC", "NORMS", "GradedFunction", "Rubric", "load_rubric", "parse_rubric"]

# the presets of bncheck.spec.SPECS, or "infer": the one the function's name says
NORMS = (
    "infer",
    "batchnorm",
    "spatial_batchnorm",
    "layernorm",
    "groupnorm",
    "instancenorm",
    "rmsnorm",
)
STYLES = ("cs231n", "plain", "torch")
DTYPES = ("float64", "float32")
# checks that need running statistics: batch norm's alone (``NormSpec.has_running``)
_RUNNING = ("running-stats", "eval-mode")
_MODULE = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")
_MAX_BYTES = 1 << 20

# the built-in rubric, documented in its comments; ``bncheck grade --init-rubric`` writes it
DEFAULT_RUBRIC = (Path(__file__).with_name("default_rubric.toml")).read_text(encoding="utf-8")


@dataclass(frozen=True)
class GradedFunction:
    """One function of the rubric and the points of its checks."""

    # the function graded: "batchnorm_backward" (cs231n style: with its forward),
    # "batchnorm_backward_alt", "spatial_batchnorm_backward", "layernorm_backward",
    # "spatial_groupnorm_backward", a plain "rmsnorm_backward", or a torch Function class
    name: str
    norm: str = "infer"  # infer (from the name) | a preset of bncheck.spec.SPECS
    style: str | None = None  # None: detected; cs231n | plain | torch
    optional: bool = False  # missing from a file: 0 points, but no "could not load" flag
    when_defined: bool = False  # missing from a file: not graded at all (no points, no maximum)
    points: Mapping[str, float] = field(default_factory=dict)  # check id -> points
    hidden: frozenset[str] = frozenset()  # ids students see only after the due date
    feedback: Mapping[str, str] = field(default_factory=dict)  # id -> text when it fails

    @property
    def max_points(self) -> float:
        return sum(self.points.values())

    def points_for(self, check: str) -> float:
        return self.points.get(check, 0.0)

    def visibility(self, check: str) -> Literal["visible", "after_due_date"]:
        return "after_due_date" if check in self.hidden else "visible"


@dataclass(frozen=True)
class Rubric:
    functions: tuple[GradedFunction, ...]
    timeout: float = 60.0  # seconds per function per student
    memory_mib: int = 4096
    forbid_imports: tuple[str, ...] = ("bncheck",)  # the audit hook's table
    write_files: bool = False  # may a submission write files in its working copy?
    dtype: str = "float64"
    degenerate: bool = True
    autograd: bool = False  # compare with torch autograd too (when torch is installed)
    source: str = ""  # the TOML text
    digest: str = ""  # sha256 of the canonical data (``canonical``), for the journal

    @property
    def max_points(self) -> float:
        return sum(f.max_points for f in self.functions)

    def canonical(self) -> dict[str, Any]:
        """The rubric as data, defaults filled in: what ``digest`` hashes (comments,
        spacing and key order do not count)."""
        return {
            "timeout": self.timeout,
            "memory_mib": self.memory_mib,
            "forbid_imports": list(self.forbid_imports),
            "write_files": self.write_files,
            "dtype": self.dtype,
            "degenerate": self.degenerate,
            "autograd": self.autograd,
            "functions": [
                {
                    "name": f.name,
                    "norm": f.norm,
                    "style": f.style,
                    "optional": f.optional,
                    # a key added later joins only when set: other rubrics keep their digest
                    **({"when_defined": True} if f.when_defined else {}),
                    "points": dict(f.points),
                    "hidden": sorted(f.hidden),
                    "feedback": dict(f.feedback),
                }
                for f in self.functions
            ],
        }

    def verify_options(self, function: GradedFunction, seed: int) -> VerifyOptions:
        """The options of ``bncheck.check.api.verify`` for one function of one student.

        The rubric's memory limit is not among them yet (``VerifyOptions`` has no field
        for it); the grader passes it to the runner's ``Limits``.
        """
        from bncheck.check.api import VerifyOptions
        from bncheck.check.evidence import CheckOptions
        from bncheck.runner import Policy
        from bncheck.spec import get_spec

        return VerifyOptions(
            spec=get_spec("batchnorm" if function.norm == "infer" else function.norm),
            seed=seed,
            style=function.style,
            degenerate=self.degenerate,
            dtype=self.dtype,
            timeout=self.timeout,
            checks=CheckOptions(autograd="auto" if self.autograd else "off"),
            policy=Policy(forbid_imports=self.forbid_imports, write_copy=self.write_files),
            infer_norm=function.norm == "infer",
        )


# ------------------------------------------------------------------ loading


def load_rubric(path: Path | None = None) -> Rubric:
    """The rubric in ``path``, validated; None: the default."""
    if path is None:
        return parse_rubric(DEFAULT_RUBRIC, "the default rubric")
    try:
        data = Path(path).read_bytes()[: _MAX_BYTES + 1]
    except OSError as exc:
        raise UsageError(
            f"cannot read the rubric {path}: {exc.strerror or exc}",
            "write one with: bncheck grade --init-rubric rubric.toml",
            code="bad-rubric",
        ) from None
    if len(data) > _MAX_BYTES:
        raise UsageError(f"{path}: a rubric of over 1 MiB?", "give the rubric's TOML file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(
            f"{path} is not UTF-8 text", "save it as UTF-8", code="bad-rubric"
        ) from None
    return parse_rubric(text, str(path))


def parse_rubric(text: str, where: str = "the rubric") -> Rubric:
    """A rubric from its TOML text; ``where`` names it in errors (a file name)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(
            f"{where}: not valid TOML: {exc}",
            "fix that line; bncheck grade --init-rubric FILE writes a commented example",
            code="bad-rubric",
        ) from None
    read = _Reader(where)
    read.keys(data, _TOP, "")
    functions = read.value(data, "functions", list, "", required=True)
    if not functions:
        raise read.error("", "functions", "is empty", "add at least one [[functions]] table")
    graded = tuple(read.function(f, n) for n, f in enumerate(functions, 1))
    names = [f.name for f in graded]
    for name in names:
        if names.count(name) > 1:
            raise read.error("[[functions]]", "name", f"{name!r} is graded twice", "keep one")
    autograd = read.value(data, "autograd", bool, "", default=False)
    if not autograd:
        for f in graded:
            scored = [c for c, p in f.points.items() if c.endswith("-vs-autograd") and p > 0]
            if scored:
                raise read.error(
                    read.table(f.name),
                    f"points.{scored[0]}",
                    "has points, but autograd = false: that check never runs",
                    "set autograd = true at the top of the rubric, or give it 0 points",
                )
    rubric = Rubric(
        functions=graded,
        timeout=read.timeout(data),
        memory_mib=read.memory(data),
        forbid_imports=read.forbid(data),
        write_files=read.value(data, "write_files", bool, "", default=False),
        dtype=read.choice(data, "dtype", DTYPES, "", "float64"),
        degenerate=read.value(data, "degenerate", bool, "", default=True),
        autograd=autograd,
        source=text,
    )
    canonical = json.dumps(rubric.canonical(), sort_keys=True, separators=(",", ":"))
    return replace(rubric, digest=hashlib.sha256(canonical.encode()).hexdigest())


_TOP = (
    *("timeout", "memory_mib", "forbid_imports", "write_files"),
    *("dtype", "degenerate", "autograd", "functions"),
)
_FUNCTION = ("name", "norm", "style", "optional", "when_defined", "points", "hidden", "feedback")
_TYPES = {bool: "true or false", list: "a list", dict: "a table", str: "a string"}


class _Reader:
    """Validation with errors that say where: file, table, key."""

    def __init__(self, where: str) -> None:
        self.where = where

    def error(self, table: str, key: str, problem: str, hint: str = "") -> UsageError:
        at = f"{table}, key {key}" if table else f"key {key}"
        return UsageError(f"{self.where}: {at} {problem}", hint, code="bad-rubric")

    @staticmethod
    def table(name: str) -> str:
        return f"[[functions]] {name!r}"

    def keys(self, data: dict[str, Any], allowed: tuple[str, ...], table: str) -> None:
        for key in data:
            if key not in allowed:
                hint = did_you_mean(key, allowed) or f"known keys: {', '.join(allowed)}"
                raise self.error(table, key, "is not a rubric key", hint)

    def value(
        self,
        data: dict[str, Any],
        key: str,
        kind: type,
        table: str,
        default: Any = None,
        required: bool = False,
    ) -> Any:
        if key not in data:
            if required:
                raise self.error(table, key, "is missing", "see bncheck grade --init-rubric")
            return default
        value = data[key]
        if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
            raise self.error(table, key, f"must be {_TYPES[kind]}, not {value!r}")
        return value

    def number(self, data: dict[str, Any], key: str, table: str, default: float) -> float:
        value = data.get(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.error(table, key, f"must be a number, not {value!r}")
        if not math.isfinite(value):
            raise self.error(table, key, f"must be finite, not {value}")
        return float(value)

    def choice(
        self, data: dict[str, Any], key: str, choices: tuple[str, ...], table: str, default: Any
    ) -> Any:
        value = self.value(data, key, str, table, default)
        if value is not None and value not in choices:
            hint = f"{did_you_mean(value, choices)} choose one of: {', '.join(choices)}"
            raise self.error(table, key, f"cannot be {value!r}", hint.strip())
        return value

    def timeout(self, data: dict[str, Any]) -> float:
        value = self.number(data, "timeout", "", 60.0)
        if not 0 < value <= 86_400:
            raise self.error("", "timeout", f"must be above 0 and at most 86400 s, not {value:g}")
        return value

    def memory(self, data: dict[str, Any]) -> int:
        value = data.get("memory_mib", 4096)
        if isinstance(value, bool) or not isinstance(value, int) or not 64 <= value <= 1 << 20:
            raise self.error(
                "", "memory_mib", f"must be a whole number of MiB from 64 to 1048576, not {value!r}"
            )
        return value

    def forbid(self, data: dict[str, Any]) -> tuple[str, ...]:
        modules = self.value(data, "forbid_imports", list, "", default=["bncheck"])
        for m in modules:
            if not isinstance(m, str) or not _MODULE.match(m):
                raise self.error("", "forbid_imports", f"holds {m!r}, not a module name")
            if m == "numpy":
                raise self.error(
                    "", "forbid_imports", "cannot hold numpy", "every submission computes with it"
                )
        return tuple(dict.fromkeys(["bncheck", *modules]))  # bncheck always, once

    def function(self, data: Any, n: int) -> GradedFunction:
        from bncheck.check.submission import UNSUPPORTED, norm_named

        if not isinstance(data, dict):
            raise self.error("", "functions", "must be a list of tables: [[functions]]")
        name = self.value(data, "name", str, f"[[functions]] #{n}", required=True)
        table = self.table(name)
        if not name.isidentifier():
            raise self.error(table, "name", "must be a Python name (a function or class)")
        self.keys(data, _FUNCTION, table)
        named = norm_named(name)
        if named in UNSUPPORTED:
            raise self.error(
                table,
                "name",
                f"{name!r} looks like {UNSUPPORTED[named]}, which bncheck does not check",
                "grade batch, layer, group or instance norm or RMSNorm functions",
            )
        norm = self.choice(data, "norm", NORMS, table, "infer")
        style = self.choice(data, "style", STYLES, table, None)
        optional = self.value(data, "optional", bool, table, default=False)
        when_defined = self.value(data, "when_defined", bool, table, default=False)
        points = self.value(data, "points", dict, table, default={})
        checked = {c: self.number(points, c, f"{table}.points", 0.0) for c in points}
        preset = named if norm == "infer" else norm
        for c, p in checked.items():
            self.check_id(c, f"{table}.points", style)
            if c in _RUNNING and p > 0 and preset not in ("batchnorm", "spatial_batchnorm"):
                raise self.error(
                    f"{table}.points",
                    c,
                    f"never runs for {preset}: only batch norm has running statistics",
                    "give it 0, or remove it",
                )
            if p < 0:
                raise self.error(f"{table}.points", c, f"must be 0 or more, not {p:g}")
            if c == "derived-vs-fd" and p > 0:
                raise self.error(
                    f"{table}.points", c, "checks bncheck itself, not the submission", "give it 0"
                )
        hidden = self.value(data, "hidden", list, table, default=[])
        for c in hidden:
            self.check_id(c, f"{table}.hidden", style)
        feedback = self.value(data, "feedback", dict, table, default={})
        for c in feedback:
            self.check_id(c, f"{table}.feedback", style)
            self.value(feedback, c, str, f"{table}.feedback")
        return GradedFunction(
            name,
            norm,
            style,
            optional,
            when_defined,
            checked,
            frozenset(hidden),
            dict(feedback),
        )

    def check_id(self, check: Any, table: str, style: str | None) -> None:
        from bncheck.check.battery import CHECKS, IDS

        if not isinstance(check, str) or check not in IDS:
            hint = did_you_mean(str(check), IDS, n=2) or "bncheck verify --list-checks shows them"
            raise self.error(table, str(check), "is not a check id", hint)
        styles = next(c.styles for c in CHECKS if c.id == check)
        if style is not None and style not in styles:
            raise self.error(
                table,
                check,
                f"never runs on style = {style!r} (it needs {' or '.join(styles)})",
                "remove it, or change the function's style",
            )
