"""A grid of learning rates on real digits, with and without BN: BN stays stable higher up."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

pytest.importorskip(
    "sklearn", reason="the demo trains on scikit-learn's digits: pip install -e '.[teach]'"
)

from bncheck.demos import learning_rate as lr
from bncheck.report.experiments import learning_rate as report

# 200 steps at four rates: no BN overflows at 1.8 and 10, BN trains at 1.8 and is stuck at 10
SMALL = lr.Options(steps=200, rates=(0.1, 0.56, 1.8, 10.0))


@pytest.fixture(scope="module")
def result() -> lr.LearningRate:
    return lr.learning_rate(SMALL)


def run(r: lr.LearningRate, bn: bool, rate: float) -> lr.Run:
    return next(x for x in r.grid(bn) if x.lr == rate)


def test_bn_is_stable_at_a_larger_rate(result: lr.LearningRate) -> None:
    plain, bn = result.largest_stable(False), result.largest_stable(True)
    assert plain is not None and bn is not None
    assert bn.lr > plain.lr
    assert result.stable_ratio == pytest.approx(bn.lr / plain.lr)
    assert run(result, False, 1.8).status == "non-finite"
    assert run(result, True, 1.8).stable


def test_a_diverged_run_is_reported_as_diverged_not_as_a_number(result: lr.LearningRate) -> None:
    overflow = run(result, False, 10.0)
    assert overflow.status == "non-finite" and not overflow.stable
    assert overflow.non_finite_at is not None and overflow.non_finite_at < 20
    assert not math.isfinite(overflow.losses[-1]) and len(overflow.losses) < SMALL.steps
    assert overflow.final_accuracy is None and overflow.steps_to(0.0) is None
    stuck = run(result, True, 10.0)  # BN bounds the hidden layers: its loss stays finite, but high
    assert stuck.status == "stuck" and stuck.non_finite_at is None
    assert stuck.last_epoch_loss >= lr.STUCK and stuck.final_accuracy is None
    (row,) = [x for x in report.body(result)["runs"] if not x["bn"] and x["lr"] == 10.0]
    assert row["stable"] is False and row["final_accuracy"] is None
    assert row["steps_to_target"] is None and row["losses"][-1] is None  # JSON has no NaN


def test_stable_runs_learn_the_digits(result: lr.LearningRate) -> None:
    for bn in (False, True):
        good = run(result, bn, 0.56)
        assert good.stable and good.last_epoch_loss < 0.1
        assert good.final_accuracy is not None and good.final_accuracy > 0.93
        steps = good.steps_to(SMALL.target)
        assert steps is not None and steps % SMALL.every == 0 and steps <= 100


def test_every_rate_starts_from_the_same_weights_and_batch(result: lr.LearningRate) -> None:
    for bn in (False, True):
        assert len({x.losses[0] for x in result.grid(bn)}) == 1
    assert run(result, False, 0.1).losses[0] != run(result, True, 0.1).losses[0]  # BN changes it


def test_seeded_and_reproducible() -> None:
    o = lr.Options(steps=30, rates=(0.3, 10.0))
    # repr: a diverged run's losses end in nan, and nan != nan
    assert repr(lr.learning_rate(o)) == repr(lr.learning_rate(o))
    other = lr.learning_rate(lr.Options(steps=30, rates=(0.3, 10.0), seed=1))
    assert repr(other.runs[0].losses) != repr(lr.learning_rate(o).runs[0].losses)


def test_conclusion_quotes_its_numbers(result: lr.LearningRate) -> None:
    text = report.conclude(result)
    plain, bn = result.largest_stable(False), result.largest_stable(True)
    assert plain is not None and bn is not None
    assert f"largest stable rate {plain.lr:g} without BN, {bn.lr:g} with BN" in text
    assert f"{result.stable_ratio:.1f}×" in text and "30×" in text and "14×" in text
    steps = result.steps_to_target(result.fastest(True))
    assert f"{steps} with BN" in text and "\n" not in text


def test_the_report_shows_no_digits_of_an_unstable_run(result: lr.LearningRate) -> None:
    import io

    from rich.console import Console

    out = io.StringIO()
    report.show(Console(file=out, width=100, color_system=None), result)
    text = out.getvalue()
    (row,) = [line for line in text.splitlines() if line.strip().startswith("10 │")]
    cells = [cell.strip() for cell in row.split("│")]
    overflow = run(result, False, 10.0)
    overflowed = f"no: non-finite at step {overflow.non_finite_at}"
    assert cells[1:] == [overflowed, "—", "—", "no: stuck", "—", "—"]
    assert "What this does not show" in text and report.conclude(result) in " ".join(text.split())


def test_json_from_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from bncheck.cli import main

    path = tmp_path / "lr.json"
    assert main(["demo", "learning-rate", "--steps", "40", "--json", str(path)]) == 0  # the grid
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["demo"] == "learning-rate" and data["options"]["steps"] == 40
    assert data["conclusion"] in " ".join(capsys.readouterr().out.split())
    assert len(data["runs"]) == 2 * len(lr.Options().rates)
    assert set(data["summary"]) == {"largest_stable_rate", "fewest_steps_to_target", "paper"}


def test_plot_writes_a_png(result: lr.LearningRate, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib", reason="plots need matplotlib: pip install -e '.[plot]'")
    from bncheck.report.plots import save_plot

    path = tmp_path / "lr.png"
    save_plot("learning-rate", result, path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
