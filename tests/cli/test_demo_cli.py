"""bncheck demo and bncheck tour: options, JSON, plots, errors, and no heavy imports."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bncheck.cli import main
from bncheck.demos import DEMOS
from tests.conftest import ROOT


def test_mean_dependence_json_has_the_done_when_numbers(tmp_path: Path) -> None:
    out = tmp_path / "md.json"
    assert main(["demo", "mean-dependence", "--steps", "20", "--json", str(out)]) == 0
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["demo"] == "mean-dependence" and data["options"]["steps"] == 20
    for rule in ("naive", "full"):
        records = data[rule]
        assert [r["step"] for r in records] == list(range(21))
        assert {"step", "b_norm", "loss"} <= set(records[0])
    naive, full = data["naive"], data["full"]
    b0, b20 = (
        sum(v * v for v in (a - b for a, b in zip(naive[k]["b"], naive[0]["b"], strict=True)))
        for k in (0, 20)
    )
    assert b0 == 0 and b20**0.5 > 1e-2
    loss0 = naive[0]["loss"]
    assert max(abs(r["loss"] - loss0) for r in naive) <= 1e-9 * abs(loss0)
    assert {r["b_norm"] for r in full} == {full[0]["b_norm"]}
    assert data["sympy"]["dl/db"] == "0"
    assert "b moved" in data["conclusion"]


def test_unknown_demo_suggests_a_close_match(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "mean-dependance"]) == 2
    err = capsys.readouterr().err
    assert "unknown demo 'mean-dependance'" in err
    assert "did you mean mean-dependence? choose one of: " + ", ".join(DEMOS) in err


def test_tiny_init_json_says_which_runs_are_chaotic(tmp_path: Path) -> None:
    """The text report shows "chaotic" instead of digits; the JSON has the numbers behind it."""
    out = tmp_path / "ti.json"
    assert main(["demo", "tiny-init", "--steps", "3", "--json", str(out)]) == 0
    data = json.loads(out.read_text(encoding="utf-8"))
    threshold = data["chaos_threshold"]
    for net in data["networks"]:
        assert isinstance(net["chaotic"], bool) and net["sensitivity"] >= 0
        assert net["chaotic"] == (net["sensitivity"] > threshold * abs(net["losses"][-1]))


def test_one_table_of_demos() -> None:
    from bncheck.cli import demo, tour

    assert list(DEMOS)[:3] == ["mean-dependence", "scale-invariance", "tiny-init"]
    assert {"learning-rate", "gradient-histograms", "batch-noise"} <= set(DEMOS)
    assert all(name in (demo.__doc__ or "") for name in DEMOS)  # bncheck demo -h
    assert not DEMOS["scale-invariance"].takes and "lr" in DEMOS["tiny-init"].takes
    assert tour.DEMOS is DEMOS


@pytest.mark.parametrize(
    "argv",
    [
        ["demo", "scale-invariance", "--steps", "5"],
        ["demo", "tiny-init", "--steps", "0"],
        ["demo", "mean-dependence", "--lr", "-1"],
        ["demo", "mean-dependence", "--lr", "nan"],
    ],
)
def test_bad_options_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    assert "error [" in capsys.readouterr().err


def test_plot_without_matplotlib_says_how_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    png = tmp_path / "md.png"
    assert main(["demo", "mean-dependence", "--plot", str(png)]) == 2
    captured = capsys.readouterr()
    assert "error [missing-dependency]: --plot needs matplotlib" in captured.err
    # commands that work from a clone: bncheck is not on a package index yet
    assert "pip install matplotlib" in captured.err and "pip install '.[plot]'" in captured.err
    assert "bncheck[plot]" not in captured.err
    assert captured.out == "" and not png.exists()  # it failed before doing the work


@pytest.mark.parametrize("demo", ["mean-dependence", "tiny-init"])
def test_plot_writes_a_png(demo: str, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib", reason="the plot extra is not installed")
    png = tmp_path / "plot.png"
    assert main(["demo", demo, "--steps", "3", "--plot", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_demo_and_tour_import_nothing_heavy_at_parser_time() -> None:
    code = (
        "import sys, bncheck.cli.demo, bncheck.cli.tour; "
        "print(sorted(m for m in ('numpy', 'sympy', 'torch', 'rich') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.stdout.strip() == "[]", out.stderr


def test_tour_runs_without_torch() -> None:
    code = (
        "import sys; sys.modules['torch'] = None; from bncheck.cli import main; "
        "sys.exit(main(['tour']))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert "PASSED" in out.stdout and "FAILED" in out.stdout


@pytest.mark.parametrize(
    "argv", [["learning-rate"], ["batch-noise"], ["tiny-init", "--data", "digits"]]
)
def test_a_demo_on_digits_without_scikit_learn_says_what_to_install(
    argv: list[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "sklearn", None)  # import sklearn raises ImportError
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    out = tmp_path / "out.json"
    assert main(["demo", *argv, "--json", str(out)]) == 2
    err = capsys.readouterr().err
    assert "needs scikit-learn" in err and "pip install '.[teach]'" in err
    assert not out.exists()  # nothing written, no work done


def test_options_a_demo_does_not_take_are_refused(capsys: pytest.CaptureFixture) -> None:
    assert main(["demo", "gradient-histograms", "--steps", "5", "--lr", "1"]) == 2
    err = capsys.readouterr().err
    assert "gradient-histograms does not take --steps and --lr" in err
    assert main(["demo", "tiny-init", "--data", "digitz"]) == 2
    assert "did you mean digits?" in capsys.readouterr().err
