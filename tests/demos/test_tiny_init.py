"""W ~ U(-0.001, 0.001) in 7 layers: the activations collapse without BN; BN trains."""

from __future__ import annotations

import itertools
import math

import pytest

from bncheck.demos import tiny_init as ti


@pytest.fixture(scope="module")
def result() -> ti.TinyInit:
    return ti.tiny_init(ti.Options())


def test_activations_collapse_layer_by_layer_without_bn(result: ti.TinyInit) -> None:
    scales = result["none"].scales
    assert len(scales) == 7
    assert all(b < 0.1 * a for a, b in itertools.pairwise(scales))
    assert scales[-1] < 1e-8


def test_bn_in_every_layer_keeps_unit_scale(result: ti.TinyInit) -> None:
    assert all(s > 0.1 for s in result["every"].scales)
    assert result["every"].raw_scales[-1] < 1e-2  # W·h itself is still tiny


def test_without_bn_the_loss_does_not_move(result: ti.TinyInit) -> None:
    none = result["none"]
    assert abs(none.last - math.log(4)) < 1e-6
    assert not none.trained


def test_with_bn_the_loss_falls_clearly(result: ti.TinyInit) -> None:
    every = result["every"]
    assert every.trained and every.last < 0.3 and every.accuracy > 0.9


def test_bn_before_the_softmax_trains_only_when_eps_is_below_the_variance(
    result: ti.TinyInit,
) -> None:
    assert result["last-eps0"].trained
    assert result["last-eps0"].scales[-1] == pytest.approx(1.0, rel=1e-3)
    assert not result["last"].trained  # eps = 1e-5 swamps a variance of ~1e-31


def test_seeded() -> None:
    o = ti.Options(steps=3, width=16, n=32)
    assert ti.tiny_init(o) == ti.tiny_init(o)
