"""The rubric: the default, its round trip, every kind of error, and options verify accepts."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from bncheck.check.api import verify
from bncheck.check.battery import CHECKS, IDS
from bncheck.errors import UsageError
from bncheck.examples import path as example
from bncheck.grade.rubric import DEFAULT_RUBRIC, GradedFunction, Rubric, load_rubric, parse_rubric

MINIMAL = """\
[[functions]]
name = "batchnorm_backward"

[functions.points]
dx-vs-derived = 3
"""


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "rubric.toml"
    p.write_text(text)
    return p


def test_default_rubric() -> None:
    rubric = load_rubric(None)
    assert [f.name for f in rubric.functions] == [
        "batchnorm_backward",
        "batchnorm_backward_alt",
        "spatial_batchnorm_backward",
        "layernorm_backward",
        "spatial_groupnorm_backward",
    ]
    for f in rubric.functions:
        assert f.max_points == pytest.approx(10.0)
        assert set(f.points) | f.hidden | set(f.feedback) <= set(IDS)
        assert f.points["dx-vs-derived"] + f.points["dx-vs-fd"] >= 4  # dx carries most
        assert f.points["sandbox"] == 0
        styles = {c.id: c.styles for c in CHECKS}
        assert all(f.style in styles[c] for c in f.points)  # every point can be earned
    assert rubric.max_points == pytest.approx(50.0)  # 30 for a file without the last two
    assert [f.when_defined for f in rubric.functions] == [False, False, False, True, True]
    assert not any(
        c in f.points for f in rubric.functions[3:] for c in ("running-stats", "eval-mode")
    )
    assert rubric.functions[0].visibility("running-stats") == "after_due_date"
    assert rubric.functions[0].visibility("dx-vs-derived") == "visible"
    assert rubric.functions[0].points_for("dtypes") == 0.0
    assert rubric.functions[1].optional and not rubric.functions[0].optional
    assert rubric.forbid_imports == ("bncheck",) and not rubric.write_files
    assert rubric.source == DEFAULT_RUBRIC
    assert re.fullmatch(r"[0-9a-f]{64}", rubric.digest)
    assert all(len(line) <= 100 for line in DEFAULT_RUBRIC.splitlines())


def test_default_round_trips_through_init_rubric_text(tmp_path: Path) -> None:
    written = _write(tmp_path, DEFAULT_RUBRIC)  # what --init-rubric FILE writes
    assert load_rubric(written) == load_rubric(None)


def test_digest_is_of_the_data_not_the_text() -> None:
    base = parse_rubric(MINIMAL)
    spelled_out = parse_rubric(
        "# a comment\ntimeout = 60\nforbid_imports = ['bncheck']\n\n"
        + MINIMAL.replace("= 3", "= 3.0  # points")
    )
    assert spelled_out.digest == base.digest and spelled_out.source != base.source
    assert parse_rubric(MINIMAL.replace("= 3", "= 4")).digest != base.digest
    assert parse_rubric("timeout = 30\n" + MINIMAL).digest != base.digest


def test_minimal_rubric_defaults() -> None:
    rubric = parse_rubric(MINIMAL)
    assert rubric.functions == (
        GradedFunction("batchnorm_backward", points={"dx-vs-derived": 3.0}),
    )
    assert (rubric.timeout, rubric.memory_mib, rubric.dtype) == (60.0, 4096, "float64")
    assert rubric.degenerate and not rubric.autograd


def test_bncheck_is_always_forbidden() -> None:
    rubric = parse_rubric('forbid_imports = ["torch"]\n' + MINIMAL)
    assert rubric.forbid_imports == ("bncheck", "torch")
    rubric = parse_rubric('forbid_imports = ["torch", "bncheck", "torch"]\n' + MINIMAL)
    assert rubric.forbid_imports == ("bncheck", "torch")


FUNCTION = '[[functions]]\nname = "batchnorm_backward"\n'


@pytest.mark.parametrize(
    ("text", "where", "hint"),
    [
        ("timeout = \n" + MINIMAL, "not valid TOML: .*line 1", "init-rubric"),
        ("[[functions]\n", "not valid TOML: .*line 1", ""),
        ("timout = 5\n" + MINIMAL, "key timout is not a rubric key", "did you mean timeout"),
        (FUNCTION + "points_ = {}\n", r"'batchnorm_backward', key points_", "did you mean points"),
        (
            FUNCTION + "[functions.points]\ndx-vs-derivd = 1\n",
            "dx-vs-derivd is not a check id",
            "did you mean dx-vs-derived",
        ),
        (FUNCTION + 'hidden = ["runing-stats"]\n', r"\.hidden, key runing-stats", "running-stats"),
        (
            FUNCTION + '[functions.feedback]\nmutaton = "x"\n',
            r"\.feedback, key mutaton",
            "mutation",
        ),
        (FUNCTION + "[functions.feedback]\nmutation = 3\n", "must be a string", ""),
        (FUNCTION + "[functions.points]\ndx-vs-fd = -1\n", "must be 0 or more", ""),
        (FUNCTION + '[functions.points]\ndx-vs-fd = "2"\n', "must be a number", ""),
        (FUNCTION + "[functions.points]\ndx-vs-fd = true\n", "must be a number", ""),
        (FUNCTION + "[functions.points]\ndx-vs-fd = nan\n", "must be finite", ""),
        (FUNCTION + "[functions.points]\nderived-vs-fd = 1\n", "checks bncheck itself", "0"),
        (
            FUNCTION + "[functions.points]\ndx-vs-autograd = 1\n",
            "autograd = false",
            "autograd = true",
        ),
        (
            FUNCTION + 'style = "plain"\n[functions.points]\nrunning-stats = 1\n',
            "never runs on style = 'plain'",
            "change the function's style",
        ),
        (FUNCTION + 'style = "cs231"\n', "key style cannot be 'cs231'", "did you mean cs231n"),
        (FUNCTION + 'norm = "batchnrom"\n', "key norm cannot be", "did you mean batchnorm"),
        (
            '[[functions]]\nname = "weightnorm_backward"\n',
            "looks like weight normalization, which bncheck does not check",
            "layer, group",
        ),
        (
            '[[functions]]\nname = "layernorm_backward"\n[functions.points]\nrunning-stats = 1\n',
            "never runs for layernorm: only batch norm has running statistics",
            "give it 0",
        ),
        (
            FUNCTION + 'norm = "groupnorm"\n[functions.points]\neval-mode = 1\n',
            "never runs for groupnorm",
            "",
        ),
        ('[[functions]]\nname = "x"\nwhen_defined = "yes"\n', "must be true or false", ""),
        ('[[functions]]\nname = "not a name"\n', "must be a Python name", ""),
        ("[[functions]]\nstyle = 'plain'\n", r"\[\[functions\]\] #1, key name is missing", ""),
        (FUNCTION + FUNCTION, "graded twice", "keep one"),
        ("timeout = 60\n", "key functions is missing", "init-rubric"),
        ("functions = []\n", "key functions is empty", ""),
        ("functions = 3\n", "key functions must be a list", ""),
        ("functions = [3]\n", "must be a list of tables", ""),
        ("timeout = 0\n" + MINIMAL, "above 0 and at most 86400", ""),
        ("timeout = 1e6\n" + MINIMAL, "above 0 and at most 86400", ""),
        ("timeout = '60'\n" + MINIMAL, "key timeout must be a number", ""),
        ("memory_mib = 10\n" + MINIMAL, "from 64 to 1048576", ""),
        ("memory_mib = 4096.5\n" + MINIMAL, "whole number", ""),
        ("dtype = 'float16'\n" + MINIMAL, "key dtype cannot be 'float16'", "float32"),
        ("degenerate = 1\n" + MINIMAL, "must be true or false", ""),
        ("write_files = 'no'\n" + MINIMAL, "must be true or false", ""),
        ("forbid_imports = 'torch'\n" + MINIMAL, "must be a list", ""),
        ("forbid_imports = ['torch; rm']\n" + MINIMAL, "not a module name", ""),
        ("forbid_imports = ['numpy']\n" + MINIMAL, "cannot hold numpy", ""),
    ],
)
def test_rubric_errors(tmp_path: Path, text: str, where: str, hint: str) -> None:
    p = _write(tmp_path, text)
    with pytest.raises(UsageError) as info:
        load_rubric(p)
    error = info.value
    assert error.code == "bad-rubric"
    assert error.message.startswith(f"{p}: ")  # names the file
    assert re.search(where, error.message), error.message
    assert hint in error.hint


def test_unreadable_rubric(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="cannot read the rubric") as info:
        load_rubric(tmp_path / "missing.toml")
    assert "--init-rubric" in info.value.hint
    bad = tmp_path / "latin1.toml"
    bad.write_bytes(b"# caf\xe9\n" + MINIMAL.encode())
    with pytest.raises(UsageError, match="not UTF-8"):
        load_rubric(bad)


def test_verify_options_follow_the_rubric() -> None:
    rubric = parse_rubric(
        'timeout = 12\ndtype = "float32"\ndegenerate = false\nautograd = true\n'
        'forbid_imports = ["torch"]\n' + MINIMAL + '\n[[functions]]\nname = "bn_back"\n'
        'norm = "spatial_batchnorm"\nstyle = "plain"\n'
    )
    first, second = rubric.functions
    o = rubric.verify_options(first, 7)
    assert (o.seed, o.timeout, o.dtype, o.degenerate, o.style) == (7, 12.0, "float32", False, None)
    assert o.spec.name == "batchnorm" and o.infer_norm  # spatial_* names still inferred
    assert o.checks.autograd == "auto"
    assert o.policy.forbid_imports == ("bncheck", "torch")
    o = rubric.verify_options(second, 8)
    assert o.spec.name == "spatial_batchnorm" and not o.infer_norm and o.style == "plain"
    assert load_rubric(None).verify_options(first, 1).checks.autograd == "off"


def test_verify_accepts_the_options(tmp_path: Path) -> None:
    rubric = load_rubric(None)
    backward, alt, *_ = rubric.functions
    result = verify(
        f"{example('cs231n_correct.py')}:{backward.name}", rubric.verify_options(backward, 3)
    )
    assert result.passed and result.seed == 3 and result.style == "cs231n"
    assert {c.id for c in result.checks} >= set(backward.points)  # every point can be earned
    assert not any(c.id.endswith("-vs-autograd") for c in result.checks)  # autograd off
    result = verify(f"{example('cs231n_correct.py')}:{alt.name}", rubric.verify_options(alt, 4))
    assert result.passed


def test_verify_infers_spatial_from_the_name(tmp_path: Path) -> None:
    layers = example("cs231n_correct.py").read_text()
    spatial = tmp_path / "layers.py"
    spatial.write_text(
        layers
        + """

def _to2d(x):
    N, C, H, W = x.shape
    return x.transpose(0, 2, 3, 1).reshape(-1, C)


def spatial_batchnorm_forward(x, gamma, beta, bn_param):
    N, C, H, W = x.shape
    out, cache = batchnorm_forward(_to2d(x), gamma, beta, bn_param)
    return out.reshape(N, H, W, C).transpose(0, 3, 1, 2), (cache, x.shape)


def spatial_batchnorm_backward(dout, cache):
    cache, (N, C, H, W) = cache
    dx, dgamma, dbeta = batchnorm_backward(_to2d(dout), cache)
    return dx.reshape(N, H, W, C).transpose(0, 3, 1, 2), dgamma, dbeta
"""
    )
    rubric = load_rubric(None)
    function = rubric.functions[2]
    result = verify(f"{spatial}:{function.name}", rubric.verify_options(function, 5))
    assert result.passed, [str(c) for c in result.failures]


def test_rubric_is_frozen() -> None:
    rubric = load_rubric(None)
    with pytest.raises(dataclasses.FrozenInstanceError):
        rubric.timeout = 1  # type: ignore[misc]
    assert isinstance(rubric, Rubric)


def test_write_files_reaches_the_policy() -> None:
    rubric = load_rubric()
    options = rubric.verify_options(rubric.functions[0], seed=1)
    assert rubric.write_files is False and options.policy.write_copy is False
    assert "bncheck" in options.policy.forbid_imports
