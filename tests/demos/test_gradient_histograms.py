"""∂ℓ/∂W per layer at initialisation of a 20-layer MLP on real digits, with and without BN."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("sklearn", reason="trains on scikit-learn's digits: pip install -e '.[teach]'")

from bncheck.demos import gradient_histograms as gh


@pytest.fixture(scope="module")
def result() -> gh.GradientHistograms:
    return gh.gradient_histograms()


# ------------------------------------------------------------ the statistics themselves


def test_kurtosis_and_tails_of_a_gaussian_sample() -> None:
    g = np.random.default_rng(1).normal(3.0, 2.0, size=400_000)
    assert abs(gh.excess_kurtosis(g)) < 0.05
    assert gh.beyond(g) == pytest.approx(gh.GAUSSIAN_BEYOND_3SD, rel=0.15)  # ±33 of 1,080
    assert round(gh.GAUSSIAN_BEYOND_3SD, 5) == 0.0027


def test_kurtosis_and_tails_of_heavy_tailed_samples() -> None:
    rng = np.random.default_rng(2)
    laplace = rng.laplace(size=400_000)  # excess kurtosis 3; P(|x| > 3σ) = exp(−3√2)
    assert gh.excess_kurtosis(laplace) == pytest.approx(3.0, abs=0.15)
    assert gh.beyond(laplace) == pytest.approx(math.exp(-3 * math.sqrt(2)), rel=0.1)
    t = rng.standard_t(8, size=400_000)  # excess kurtosis 6/(ν − 4) = 1.5
    assert gh.excess_kurtosis(t) == pytest.approx(1.5, abs=0.25)
    uniform = rng.uniform(size=400_000)  # light-tailed: −1.2, nothing beyond 3σ
    assert gh.excess_kurtosis(uniform) == pytest.approx(-1.2, abs=0.02)
    assert gh.beyond(uniform) == 0.0


def test_kurtosis_is_scale_and_shift_free() -> None:
    g = np.random.default_rng(3).laplace(size=1000)
    assert gh.excess_kurtosis(1e-6 * g + 5) == pytest.approx(gh.excess_kurtosis(g), rel=1e-6)


# ------------------------------------------------------------ what the network measured


def test_every_layer_is_measured_on_the_same_entries(result: gh.GradientHistograms) -> None:
    o = result.options
    for net in result.networks:
        assert [layer.index for layer in net.layers] == list(range(1, o.depth + 1))
        for layer in net.layers:
            assert sum(layer.counts) + layer.outside == o.batches * math.prod(layer.shape)
            assert len(layer.counts) == o.bins
    assert result.plain.layers[0].shape == (64, 100)
    assert result.plain.layers[-1].shape == (100, 10)


def test_without_bn_relu_gradients_are_heavy_tailed(result: gh.GradientHistograms) -> None:
    plain = result.plain
    assert plain.median("kurtosis") > 10  # a Laplace's is 3
    assert all(layer.kurtosis > 3 for layer in plain.layers)
    assert plain.median("beyond_3sd") > 5 * gh.GAUSSIAN_BEYOND_3SD
    # much of it is dead units: their rows and columns of ∂ℓ/∂W are exactly 0
    assert plain.median("zeros") > 0.2
    assert plain.median("kurtosis_nonzero") > 5  # and heavy-tailed without them too


def test_with_bn_the_tails_are_light_but_not_gaussian(result: gh.GradientHistograms) -> None:
    bn = result.bn
    assert 0.5 < bn.median("kurtosis") < 2
    assert gh.GAUSSIAN_BEYOND_3SD < bn.median("beyond_3sd") < 2 * result.plain.median("beyond_3sd")
    assert bn.median("beyond_3sd") < result.plain.median("beyond_3sd") / 2
    # the 3 always-0 pixels give 3 exact-0 rows of layer 1; BN leaves no dead unit above it
    assert bn.layers[0].zeros == pytest.approx(3 / 64)
    assert all(layer.zeros == 0 for layer in bn.layers[1:])


def test_with_bn_the_scale_grows_towards_the_input(result: gh.GradientHistograms) -> None:
    rms = [layer.rms for layer in result.bn.layers[:-1]]  # the hidden, normalised layers
    assert all(a > b for a, b in itertools.pairwise(rms))  # monotone
    assert result.bn.growth > 10
    plain = [layer.rms for layer in result.plain.layers[:-1]]
    assert max(plain) / min(plain) < 5  # without BN it stays within a small factor
    assert result.plain.layers[0].rms == pytest.approx(0.0108, rel=0.01)
    assert result.bn.layers[0].rms == pytest.approx(0.197, rel=0.01)


def test_the_control_setting_without_bn_is_light_tailed(result: gh.GradientHistograms) -> None:
    assert result.control is not None
    tanh_plain, tanh_bn = result.control
    assert (tanh_plain.activation, tanh_plain.bn, tanh_bn.bn) == ("tanh", False, True)
    assert tanh_plain.median("kurtosis") < 3
    assert tanh_plain.median("zeros") == 0


def test_seeded() -> None:
    o = gh.Options(depth=4, width=16, batch=32, batches=2, control=None)
    a, b = gh.gradient_histograms(o), gh.gradient_histograms(o)
    assert a == b
    assert gh.gradient_histograms(gh.Options(seed=1, depth=4, width=16, batch=32, batches=2)) != a


def test_the_conclusion_quotes_the_numbers(result: gh.GradientHistograms) -> None:
    from bncheck.report.experiments.gradient_histograms import conclude

    text = conclude(result)
    assert "\n" not in text
    assert f"{result.plain.median('kurtosis'):.2f}" in text
    assert f"{result.bn.growth:.2f}×" in text
    assert "the claim on tails holds" in text
    assert "the scale does not concentrate with BN" in text


# ------------------------------------------------------------ the CLI's files


def test_json(tmp_path: Path) -> None:
    from bncheck.cli import main

    path = tmp_path / "gh.json"
    assert main(["demo", "gradient-histograms", "--json", str(path)]) == 0
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["demo"] == "gradient-histograms"
    assert data["options"]["seed"] == 0
    assert len(data["histogram_edges"]) == data["options"]["bins"] + 1
    roles = [(n["role"], n["bn"]) for n in data["networks"]]
    assert roles == [("main", False), ("main", True), ("control", False), ("control", True)]
    layer = data["networks"][1]["layers"][0]
    assert {"rms", "kurtosis", "beyond_3sd", "zeros", "counts", "outside"} <= set(layer)
    assert data["conclusion"].startswith("ReLU/He at initialisation")


def test_plot(tmp_path: Path, result: gh.GradientHistograms) -> None:
    pytest.importorskip("matplotlib", reason="plots need matplotlib: pip install -e '.[plot]'")
    from bncheck.report.plots import figure, save_plot

    fig = figure("gradient-histograms", result)
    shown = [ax for ax in fig.axes if ax.get_visible()]
    assert len(shown) == 4 and all(ax.get_legend() is not None for ax in shown)
    import matplotlib.pyplot as plt

    plt.close(fig)
    path = tmp_path / "gh.png"
    save_plot("gradient-histograms", result, path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
