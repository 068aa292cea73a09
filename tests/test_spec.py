from __future__ import annotations

import dataclasses

import pytest

from bncheck.errors import BncheckError, SpecError, UsageError
from bncheck.spec import SPECS, NormSpec, get_spec


def test_defaults_are_the_papers_conventions() -> None:
    spec = NormSpec()
    assert (spec.eps, spec.variance, spec.mode, spec.axes) == (1e-5, "biased", "train", (0,))
    assert spec.effective_momentum == 0.9  # cs231n running statistics by default
    assert NormSpec(running="pytorch").effective_momentum == 0.1


def test_momentum_not_given_follows_the_running_convention() -> None:
    """One value, one owner: replace(spec, running=...) must not keep the other's momentum."""
    spec = dataclasses.replace(get_spec("batchnorm"), running="pytorch")
    assert spec.momentum is None and spec.effective_momentum == 0.1
    assert dict(spec.conventions())["running statistics"] == (
        "pytorch: running = (1-0.1)*running + 0.1*batch"
    )
    back = dataclasses.replace(spec, running="cs231n")
    assert back.effective_momentum == 0.9
    assert "0.9*running" in dict(back.conventions())["running statistics"]


def test_a_momentum_given_is_kept_across_conventions() -> None:
    spec = dataclasses.replace(NormSpec(momentum=0.5), running="pytorch")
    assert spec.effective_momentum == 0.5
    assert "(1-0.5)*running + 0.5*batch" in dict(spec.conventions())["running statistics"]


def test_spatial_batchnorm_is_a_spec_not_a_code_path() -> None:
    spec = SPECS["spatial_batchnorm"]
    assert spec.feature_axes == (1,) and not spec.features_trailing
    assert SPECS["batchnorm"].features_trailing


@pytest.mark.parametrize(
    "kwargs",
    [
        {"axes": (2,)},
        {"axes": ()},
        {"axes": (0, 1)},
        {"axes": (1, 0), "layout": "NCH"},
        {"eps": -1e-5},
        {"variance": "population"},
        {"mode": "inference"},
        {"momentum": 1.5},
        {"momentum": -1.0},  # no sentinel: leave it out (None) for the convention's default
        {"momentum": float("nan")},
        {"layout": "NN"},
    ],
)
def test_bad_specs_are_rejected_with_a_message(kwargs) -> None:
    with pytest.raises(SpecError) as info:
        NormSpec(**kwargs)
    assert info.value.code == "bad-spec" and info.value.message


def test_conventions_are_stated() -> None:
    labels = [label for label, _ in NormSpec(variance="unbiased").conventions()]
    assert labels == ["normalization", "variance", "eps", "mode", "running statistics"]
    assert "1/(m-1)" in dict(NormSpec(variance="unbiased").conventions())["variance"]


def test_unknown_spec_suggests_close_names() -> None:
    with pytest.raises(UsageError) as info:
        get_spec("batchnrom")
    assert info.value.code == "unknown-norm"
    assert info.value.hint.startswith("did you mean batchnorm")


def test_error_text_has_message_and_hint() -> None:
    err = BncheckError("it broke", "do this", code="x-y")
    assert str(err) == "it broke\n  hint: do this"
    assert err.to_dict() == {"code": "x-y", "message": "it broke", "hint": "do this"}


# ---- the normalization family: statistics axes vs parameter axes --------------------------


@pytest.mark.parametrize(
    ("name", "shape", "m", "gamma", "inside", "running"),
    [
        ("batchnorm", (6, 5), 6, (5,), False, True),
        ("spatial_batchnorm", (2, 4, 3, 5), 30, (4,), False, True),
        ("layernorm", (6, 5), 5, (5,), True, False),
        ("groupnorm", (2, 4, 3, 5), 30, (1, 4, 1, 1), True, False),  # C/G = 2 channels × H × W
        ("instancenorm", (2, 4, 3, 5), 15, (4,), False, False),
        ("rmsnorm", (6, 5), 5, (5,), True, False),
    ],
)
def test_presets_are_data(name, shape, m, gamma, inside, running) -> None:
    spec = SPECS[name]
    spec.check_shape(shape)
    assert spec.group_size(shape) == m
    assert spec.param_shape(shape) == gamma
    assert spec.gamma_in_group is inside
    assert spec.has_running is running
    assert ("running statistics" in dict(spec.conventions())) is running


def test_groupnorm_view_cuts_the_channels_into_groups() -> None:
    spec = SPECS["groupnorm"]  # G = 2
    assert spec.view_shape((2, 6, 3, 5)) == (2, 2, 3, 3, 5)
    assert spec.view_axes == (2, 3, 4)  # one group: C/G channels × H × W of one sample
    assert spec.stat_shape((2, 6, 3, 5)) == (2, 2, 1, 1, 1)
    assert spec.reduce_axes == (0, 2, 3)  # dγ sums over N, H, W
    with pytest.raises(SpecError, match="not divisible into 2 groups"):
        spec.check_shape((2, 5, 3, 3))


def test_rmsnorm_states_that_no_mean_is_subtracted() -> None:
    rows = dict(SPECS["rmsnorm"].conventions())
    assert "no mean subtracted" in rows["statistics"] and "variance" not in rows


@pytest.mark.parametrize(
    "kwargs",
    [
        {"name": "layernorm", "axes": (1,), "param_axes": (1,), "mode": "eval"},  # no running stats
        {
            "layout": "NCHW",
            "axes": (1, 2, 3),
            "param_axes": (0,),
            "groups": 2,
        },  # C not a param axis
        {"layout": "NCHW", "axes": (1, 2, 3), "param_axes": (1,), "groups": 0},
        {"axes": (0, 1)},  # every axis reduced and no param_axes: γ has no axis
        {"param_axes": (2,)},
        {"param_axes": (1, 1)},
    ],
)
def test_bad_family_specs_are_rejected(kwargs) -> None:
    with pytest.raises(SpecError) as info:
        NormSpec(**kwargs)
    assert info.value.message


def test_layer_style_norms_take_any_leading_axes() -> None:
    spec = SPECS["layernorm"].with_rank(3)  # (N, T, D), as torch.nn.LayerNorm(D)
    assert spec.layout == "NTD" and spec.axes == (2,) and spec.param_shape((2, 3, 4)) == (4,)
    assert SPECS["rmsnorm"].with_rank(2) is SPECS["rmsnorm"]
    with pytest.raises(SpecError, match="takes 2 axes"):
        SPECS["batchnorm"].with_rank(3)
