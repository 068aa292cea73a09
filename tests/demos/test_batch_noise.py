"""BN's batch statistics are noisy like 1/√m; the train/validation gap at small and large batch."""

from __future__ import annotations

import io
import itertools
import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("sklearn", reason="trains on scikit-learn's digits: pip install -e '.[teach]'")

from bncheck.demos import batch_noise as bn

# Smaller than the defaults (20 epochs, 4 seeds, 1,000 draws), same sizes and batches.
SMALL = bn.Options(steps=4, seeds=2, draws=600)


@pytest.fixture(scope="module")
def result() -> bn.BatchNoise:
    return bn.batch_noise(SMALL)


# ---------------------------------------------------------------- part 1: the noise


def test_the_spread_shrinks_with_every_larger_batch(result: bn.BatchNoise) -> None:
    spreads = result.noise.spreads
    assert [s.m for s in spreads] == list(SMALL.sizes)
    for a, b in itertools.pairwise(spreads):
        assert b.iid < a.iid and b.pooled < a.pooled


def test_the_spread_falls_like_one_over_root_m(result: bn.BatchNoise) -> None:
    # 600 draws: each unit's std is known to ≈ 3% (1/√(2·600)); the median over 64 units
    # better. 1/√m has slope −1/2; √(m − 1)/m, the exact law, has −0.49 over 16..512.
    noise = result.noise
    assert noise.slope("iid") == pytest.approx(-0.5, abs=0.05)
    assert noise.exact_slope == pytest.approx(-0.492, abs=0.001)
    first = noise.spreads[0]
    for s in noise.spreads:
        assert first.iid / s.iid == pytest.approx(math.sqrt(s.m / first.m), rel=0.10)


def test_drawing_from_the_finite_training_set_shrinks_it_by_the_pool_factor(
    result: bn.BatchNoise,
) -> None:
    noise = result.noise
    assert noise.slope("pooled") < -0.53  # steeper than 1/√m: at 512 the pool is 40% used
    assert noise.slope("corrected") == pytest.approx(-0.5, abs=0.05)
    last = noise.spreads[-1]
    assert last.pool_factor == pytest.approx(math.sqrt((1300 - 512) / 1298))
    assert last.pooled / last.iid == pytest.approx(last.pool_factor, rel=0.08)
    assert noise.spreads[0].pooled / noise.spreads[0].iid == pytest.approx(1.0, abs=0.05)


# ---------------------------------------------------------------- part 2: the gap


def test_the_settings_hold_the_examples_seen_and_the_step_per_example(
    result: bn.BatchNoise,
) -> None:
    labels = [s.label for s in result.settings]
    assert labels == ["batch 16", "batch 64", "batch 512", "batch 512, ghost 16"]
    for s in result.settings:
        assert s.lr == pytest.approx(SMALL.lr * s.batch / 64)
        assert s.updates == round(SMALL.steps * 1300 / s.batch)
        assert len(s.runs) == SMALL.seeds
        assert [r.seed for r in s.runs] == [0, 1]
        assert all(len(r.val_acc) == SMALL.steps + 1 for r in s.runs)
    assert result.control.statistics == 16 and result.large.statistics == 512


def test_the_gap_numbers_are_consistent_with_the_accuracies(result: bn.BatchNoise) -> None:
    for s in result.settings:
        for run in s.runs:
            assert run.gap == run.train_acc[-1] - run.val_acc[-1]
            # accuracies are counts of images: k/1300 and k/497
            assert run.train_acc[-1] * 1300 == pytest.approx(round(run.train_acc[-1] * 1300))
            assert run.val_acc[-1] * 497 == pytest.approx(round(run.val_acc[-1] * 497))
        assert s.mean("gap") == pytest.approx(s.mean("train_acc") - s.mean("val_acc"))
        assert s.curve("val_acc")[-1] == pytest.approx(s.mean("val_acc"))
        assert s.mean("train_acc") > 0.8  # it trained, even in 4 epochs
    diffs = result.paired(result.small, result.large)
    assert diffs == tuple(
        a.gap - b.gap for a, b in zip(result.small.runs, result.large.runs, strict=True)
    )


def test_a_ghost_step_is_the_mean_of_its_blocks_gradients() -> None:
    from bncheck.demos import digits, mlp

    data = digits.load(0)
    net = mlp.Net((64, 8, 8, 10), bn=True)
    x, y = data.x_train[:32], data.y_train[:32]
    ghosted, by_hand, whole = mlp.MLP(net, 3), mlp.MLP(net, 3), mlp.MLP(net, 3)
    bn._step(ghosted, x, y, lr=0.5, ghost=16)
    _, a = by_hand.loss_and_grads(x[:16], y[:16])
    _, b = by_hand.loss_and_grads(x[16:], y[16:])
    by_hand.sgd(a, 0.25)
    by_hand.sgd(b, 0.25)
    bn._step(whole, x, y, lr=0.5, ghost=None)
    for k in range(net.depth):
        np.testing.assert_allclose(ghosted.w[k], by_hand.w[k], rtol=1e-12, atol=1e-14)
    assert not np.allclose(ghosted.w[0], whole.w[0])  # other statistics, other gradient


def test_seeded() -> None:
    tiny = bn.Options(steps=1, seeds=1, draws=40, sizes=(16, 64), batches=(16, 64), width=16)
    first = bn.batch_noise(tiny)
    assert first == bn.batch_noise(tiny)
    assert first != bn.batch_noise(replace(tiny, seed=1))


@pytest.mark.parametrize(
    ("diffs", "expected"),
    [
        ((-0.01, -0.012, -0.009), "smaller"),
        ((0.01, 0.012, 0.009), "larger"),
        ((-0.01, 0.01, -0.002), "not clearly different"),
        ((-0.01,), "not clearly different"),
    ],
)
def test_verdict(diffs: tuple[float, ...], expected: str) -> None:
    from bncheck.report.experiments.batch_noise import verdict

    assert verdict(diffs) == expected


# ---------------------------------------------------------------- report, JSON, plot


def test_the_report_quotes_its_own_numbers(result: bn.BatchNoise) -> None:
    from rich.console import Console

    from bncheck.report.demos import print_demo
    from bncheck.report.experiments.batch_noise import conclude

    out = io.StringIO()
    print_demo(result, Console(file=out, width=100, color_system=None))
    text = " ".join(out.getvalue().split())
    line = conclude(result)
    assert "\n" not in line
    assert " ".join(line.split()) in text
    assert f"{result.noise.spreads[0].iid:#.3g}" in line
    assert f"{100 * result.small.mean('gap'):.2f}" in line
    assert "What this does not show" in text
    assert f"{result.noise.slope('iid'):.3f}" in text


def test_json_from_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from bncheck.cli import main

    path = tmp_path / "noise.json"
    assert main(["demo", "batch-noise", "--steps", "2", "--json", str(path)]) == 0
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["demo"] == "batch-noise"
    assert data["options"]["steps"] == 2
    assert data["conclusion"].startswith("the example's BN output spreads by")
    assert [s["m"] for s in data["noise"]["spreads"]] == [16, 32, 64, 128, 256, 512]
    settings = data["gap"]["settings"]
    assert [s["batch"] for s in settings] == [16, 64, 512, 512]
    assert [s["bn_statistics_over"] for s in settings] == [16, 64, 512, 16]
    for s in settings:
        gaps = [r["train_accuracy"][-1] - r["validation_accuracy"][-1] for r in s["runs"]]
        assert s["gap_mean"] == pytest.approx(sum(gaps) / len(gaps))
    assert "wrote" in capsys.readouterr().out


def test_plot(result: bn.BatchNoise, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib", reason="plots need matplotlib: pip install -e '.[plot]'")
    from bncheck.report.plots import save_plot

    path = tmp_path / "noise.png"
    save_plot("batch-noise", result, path)
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) < 80_000
