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


# ------------------------------------------------------------ on real digits


@pytest.fixture(scope="module")
def on_digits() -> ti.TinyInit:
    pytest.importorskip(
        "sklearn", reason="trains on scikit-learn's digits: pip install -e '.[teach]'"
    )
    return ti.tiny_init(ti.Options(data="digits"))


def test_digits_are_the_task(on_digits: ti.TinyInit) -> None:
    r = on_digits
    assert (r.features, r.classes, r.examples, r.held_out) == (64, 10, 512, 497)
    assert r.chance_loss == pytest.approx(math.log(10))
    assert all(math.isnan(t.val_accuracy) for t in ti.tiny_init(ti.Options(steps=1)).results)


def test_on_digits_bn_in_every_layer_trains_and_no_bn_does_not(on_digits: ti.TinyInit) -> None:
    none, every = on_digits["none"], on_digits["every"]
    assert none.scales[-1] < 1e-15  # collapsed, as on the blobs
    assert not none.trained and not on_digits["last"].trained
    # only the logits' bias learns (the class frequencies): the loss barely moves from ln 10
    assert 0 < none.first - none.last < 0.01 and none.val_accuracy < 0.15
    assert every.trained and every.last < 0.5
    assert every.accuracy > 0.9 and every.val_accuracy > 0.8
    assert not every.chaotic and not none.chaotic


def test_the_digits_report_says_so(on_digits: ti.TinyInit) -> None:
    import io

    from rich.console import Console

    from bncheck.report.demo_json import demo_json
    from bncheck.report.demos import conclude_tiny_init, print_tiny_init

    out = io.StringIO()
    print_tiny_init(Console(file=out, width=100, color_system=None), on_digits)
    text = out.getvalue()
    assert "on real digits" in text.splitlines()[0]
    assert "held out" in text and f"{on_digits['every'].val_accuracy:.0%}" in text
    assert conclude_tiny_init(on_digits).startswith("on 512 real digits")
    data = demo_json("tiny-init", on_digits)
    assert (data["data"], data["classes"], data["held_out"]) == ("digits", 10, 497)
    assert data["networks"][1]["held_out_accuracy"] == on_digits["every"].val_accuracy


def test_the_synthetic_json_says_synthetic(result: ti.TinyInit) -> None:
    from bncheck.report.demo_json import demo_json

    data = demo_json("tiny-init", result)
    assert (data["data"], data["features"], data["held_out"]) == ("synthetic", 20, 0)
    assert all(n["held_out_accuracy"] is None for n in data["networks"])


def test_the_plot_title_names_the_data(on_digits: ti.TinyInit, result: ti.TinyInit) -> None:
    pytest.importorskip("matplotlib", reason="plots need matplotlib: pip install -e '.[plot]'")
    import matplotlib.pyplot as plt

    from bncheck.report.plots import figure

    for r, words in ((on_digits, "512 real digits"), (result, "synthetic blobs")):
        fig = figure("tiny-init", r)
        assert words in fig.axes[0].get_title()
        plt.close(fig)


def test_unknown_data_is_refused() -> None:
    with pytest.raises(ValueError, match="synthetic, digits"):
        ti.tiny_init(ti.Options(data="blobs"))
