"""The normalization family in a submission: names, stubs, every function of a file, refusals."""

from __future__ import annotations

from pathlib import Path

import pytest

from bncheck.check.source import parse_defs
from bncheck.check.submission import (
    SubmissionError,
    Target,
    named_norm,
    norm_functions,
    norm_named,
    resolve_all,
    resolve_target,
)
from bncheck.examples import path as example
from bncheck.spec import SPECS


@pytest.mark.parametrize(
    ("name", "norm"),
    [
        ("batchnorm_backward", "batchnorm"),
        ("batchnorm_backward_alt", "batchnorm"),
        ("spatial_batchnorm_backward", "spatial_batchnorm"),
        ("BatchNorm2dFunction", "spatial_batchnorm"),
        ("layernorm_backward", "layernorm"),
        ("layer_norm_backward", "layernorm"),
        ("LayerNormFunction", "layernorm"),
        ("ln_backward", "layernorm"),
        ("spatial_groupnorm_backward", "groupnorm"),
        ("GroupNorm", "groupnorm"),
        ("gn_backward", "groupnorm"),
        ("instancenorm_backward", "instancenorm"),
        ("InstanceNorm2d", "instancenorm"),
        ("rmsnorm_backward", "rmsnorm"),
        ("RMSNorm", "rmsnorm"),
        ("rms_backward", "rmsnorm"),
        ("bn_gn_backward", "batchnorm"),  # an abbreviation does not override batch norm
        ("BatchNormLN", "batchnorm"),
        ("weightnorm_backward", "weightnorm"),
    ],
)
def test_the_name_says_the_preset(name: str, norm: str) -> None:
    assert named_norm(name) == norm == norm_named(name)


@pytest.mark.parametrize("name", ["backward", "MyFunction", "affine_backward", "relu_backward"])
def test_a_name_that_says_no_normalization(name: str) -> None:
    assert named_norm(name) is None and norm_named(name) == "batchnorm"


def test_every_preset_can_be_named() -> None:
    assert {norm_named(f"{name}_backward") for name in SPECS} == set(SPECS)


# CS231n's layers.py as handed out: other layers, and the norm layers still stubs
STARTER = '''
import numpy as np

def affine_backward(dout, cache):
    x, w, b = cache
    return dout @ w.T, x.T @ dout, dout.sum(0)

def relu_backward(dout, cache):
    return dout * (cache > 0)

def batchnorm_forward(x, gamma, beta, bn_param):
    mode = bn_param["mode"]
    eps = bn_param.get("eps", 1e-5)
    N, D = x.shape
    out, cache = None, None
    if mode == "train":
        #######################################################################
        # TODO: Implement the training-time forward pass for batch norm.      #
        #######################################################################
        pass
    elif mode == "test":
        pass
    else:
        raise ValueError('Invalid forward batchnorm mode "%s"' % mode)
    return out, cache

def batchnorm_backward(dout, cache):
    dx, dgamma, dbeta = None, None, None
    # TODO: Implement the backward pass for batch normalization.
    pass
    return dx, dgamma, dbeta

def batchnorm_backward_alt(dout, cache):
    """Alternative backward pass for batch normalization."""
    dx, dgamma, dbeta = None, None, None
    pass
    return dx, dgamma, dbeta

def layernorm_forward(x, gamma, beta, ln_param):
    out, cache = None, None
    eps = ln_param.get("eps", 1e-5)
    pass
    return out, cache

def layernorm_backward(dout, cache):
    dx, dgamma, dbeta = None, None, None
    pass
    return dx, dgamma, dbeta

def spatial_groupnorm_forward(x, gamma, beta, G, gn_param):
    out, cache = None, None
    eps = gn_param.get("eps", 1e-5)
    pass
    return out, cache

def spatial_groupnorm_backward(dout, cache):
    raise NotImplementedError

def batchnorm_backwards(dy, x, gamma, eps=1e-5):
    return dy, dy.sum(0), dy.sum(0)

def affine_bn_relu_backward(dout, cache):
    fc_cache, bn_cache, relu_cache = cache
    return relu_backward(dout, relu_cache), None, None
'''


def test_the_norm_functions_of_a_starter_file_in_file_order() -> None:
    defs = parse_defs(Path("layers.py"), STARTER)
    assert norm_functions(defs) == [
        "batchnorm_backward",
        "batchnorm_backward_alt",
        "layernorm_backward",
        "spatial_groupnorm_backward",
    ]  # affine/relu name no norm, affine_bn_relu is a composite layer, and
    # batchnorm_backwards (misspelled) is not a backward


def test_stubs_are_found_without_running_the_file() -> None:
    defs = parse_defs(Path("layers.py"), STARTER)
    assert {
        "batchnorm_backward",
        "batchnorm_backward_alt",
        "layernorm_forward",
        "layernorm_backward",
        "spatial_groupnorm_forward",
        "spatial_groupnorm_backward",
    } <= defs.stubs
    # code that computes is never a stub, however short
    assert not {"affine_backward", "relu_backward", "batchnorm_backwards"} & defs.stubs
    # a forward whose train branch is a stub but which raises for a bad mode: not detected
    # statically (it has an if); its None results are caught when it runs
    assert "batchnorm_forward" not in defs.stubs


def test_correct_examples_are_not_stubs() -> None:
    for name in ("cs231n_correct.py", "layernorm_cs231n_correct.py", "groupnorm_cs231n_correct.py"):
        assert not parse_defs(example(name), example(name).read_text()).stubs


def test_resolve_all_reports_stubs_as_not_implemented(tmp_path: Path) -> None:
    file = tmp_path / "layers.py"
    file.write_text(STARTER)
    path, found = resolve_all(str(file))
    assert path == file
    names = [name for name, _ in found]
    assert names[:2] == ["batchnorm_backward", "batchnorm_backward_alt"]
    for _, got in found:
        assert isinstance(got, SubmissionError) and got.code == "not-implemented"
    assert "layernorm_backward and layernorm_forward are not implemented" in str(found[2][1])


def test_resolve_all_finds_each_style(tmp_path: Path) -> None:
    file = tmp_path / "mixed.py"
    text = example("cs231n_correct.py").read_text()
    text += example("rmsnorm_plain_correct.py").read_text().split("import numpy as np", 1)[1]
    file.write_text(text)
    _, found = resolve_all(str(file))
    targets = dict(found)
    assert targets["batchnorm_backward"] == Target(
        file, "cs231n", {"forward": "batchnorm_forward", "backward": "batchnorm_backward"}
    )
    assert targets["rmsnorm_backward"] == Target(file, "plain", {"backward": "rmsnorm_backward"})


def test_a_file_that_names_no_normalization_lists_nothing(tmp_path: Path) -> None:
    file = tmp_path / "bn.py"
    file.write_text("def backward(dy, x, gamma, eps=1e-5):\n    return dy, dy, dy\n")
    assert resolve_all(str(file))[1] == []
    assert resolve_target(str(file), backward="backward").names == {"backward": "backward"}


def test_group_norm_styles_are_detected() -> None:
    target = resolve_target(str(example("groupnorm_cs231n_correct.py")))
    assert target.style == "cs231n"
    assert target.names == {
        "forward": "spatial_groupnorm_forward",
        "backward": "spatial_groupnorm_backward",
    }


def test_plain_group_norm_with_g_before_eps_is_plain(tmp_path: Path) -> None:
    file = tmp_path / "gn.py"
    file.write_text("def groupnorm_backward(dy, x, gamma, G, eps=1e-5):\n    return dy, 1, 1\n")
    assert resolve_target(f"{file}:groupnorm_backward").style == "plain"


def test_a_normalization_bncheck_cannot_check_is_refused(tmp_path: Path) -> None:
    file = tmp_path / "wn.py"
    file.write_text("def weightnorm_backward(dy, x, gamma, eps=1e-5):\n    return dy, 1, 1\n")
    with pytest.raises(SubmissionError) as info:
        resolve_target(f"{file}:weightnorm_backward")
    assert info.value.code == "unsupported-norm"
    assert "weight normalization" in info.value.message and "--norm" in info.value.hint


def test_a_stub_named_alone_is_not_implemented(tmp_path: Path) -> None:
    file = tmp_path / "layers.py"
    file.write_text(STARTER)
    with pytest.raises(SubmissionError) as info:
        resolve_target(f"{file}:spatial_groupnorm_backward")
    assert info.value.code == "not-implemented"


def test_a_folder_whose_file_defines_only_a_layer_norm_is_found(tmp_path: Path) -> None:
    (tmp_path / "notes.py").write_text("x = 1\n")
    (tmp_path / "ln.py").write_text(example("layernorm_cs231n_correct.py").read_text())
    target = resolve_target(str(tmp_path))
    assert target.path.name == "ln.py" and target.names["backward"] == "layernorm_backward"


HELPERS = """
def batchnorm_forward(x, gamma, beta, bn_param):
    return x, None


def batchnorm_backward(dout, cache):
    return dout, None, None


def batchnorm_backward_naive(dout, cache):  # a second version, kept to compare
    return dout, None, None


def batchnorm_backward_helper(dout, cache, axis=0):  # shared with layer norm
    return dout, None, None


def layernorm_backward_helper(dxhat, xhat, std):
    return dxhat


def layernorm_backward(dout, cache):
    return dout, None, None
"""


def test_a_students_helpers_are_not_checked_in_a_whole_file_run() -> None:
    """Found by a sweep of CS231n-style files: helpers named *_backward_<suffix> were
    called with a style's arguments and failed a correct file."""
    defs = parse_defs(Path("layers.py"), HELPERS)
    assert norm_functions(defs) == ["batchnorm_backward", "layernorm_backward"]
