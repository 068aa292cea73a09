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


def test_only_the_eps0_run_is_chaotic(result: ti.TinyInit) -> None:
    # BN's gradient ∝ 1/σ with σ ≈ 1e-17 blows the weights up in one step; the rest is chaos
    assert result["last-eps0"].sensitivity > 1e3 * ti.CHAOS * result["last-eps0"].last
    assert [t.config.key for t in result.results if t.chaotic] == ["last-eps0"]
    assert all(t.sensitivity < 1e-12 for t in result.results if not t.chaotic)


def test_the_report_shows_no_digits_of_a_chaotic_run(result: ti.TinyInit) -> None:
    import io

    from rich.console import Console

    from bncheck.report.demos import print_tiny_init

    out = io.StringIO()
    print_tiny_init(Console(file=out, width=100, color_system=None), result)
    text = out.getvalue()
    last0 = result["last-eps0"]
    rows = [line for line in text.splitlines() if "│" in line]
    (row,) = [line for line in rows if line.startswith(last0.config.label + " ")]
    assert [cell.strip() for cell in row.split("│")][2:] == ["chaotic", "chaotic", "yes"]
    assert f"{last0.last:.4f}" not in text
    assert f"{result['every'].last:.4f}" in text  # a stable run keeps its digits
