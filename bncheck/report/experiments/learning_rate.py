"""The learning-rate demo's text, JSON and plot: a grid of rates with and without BN.

The text prints only digits that hold on any CPU: an unstable run's loss and accuracy
depend on the last bits of the arithmetic (they differ between OpenBLAS kernels), so the
table shows its status and no numbers; the JSON has them all.
"""

from __future__ import annotations

import math
from typing import Any

from rich.console import Console
from rich.table import Table

from bncheck.demos.learning_rate import STUCK, LearningRate, Run
from bncheck.report.console import prose, rule

__all__ = ["body", "conclude", "draw", "show"]

# The paper's numbers (Section 4.2.2, Inception on ImageNet)
PAPER_RATE = 30  # BN-x30: 30 times Inception's initial rate (the rate it used, not a limit)
PAPER_STEPS = 14  # BN-x5 reached Inception's 72.2% in 14 times fewer steps
PAPER_SAME = 31.0 / 13.3  # BN-Baseline, at Inception's rate: 13.3M steps against 31.0M (Figure 3)


def _rate(lr: float) -> str:
    return f"{lr:g}"


def _times(ratio: float | None) -> str:
    return "—" if ratio is None else f"{ratio:.1f}×"


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f}%"


def _target(r: LearningRate) -> str:
    return f"{100 * r.options.target:g}%"


def _status(run: Run) -> str:
    if run.status == "non-finite":
        return f"no: non-finite at step {run.non_finite_at}"
    return "no: stuck" if run.status == "stuck" else "yes"


def _steps(r: LearningRate, run: Run | None) -> str:
    steps = r.steps_to_target(run)
    return "—" if steps is None else str(steps)


def _next_rate(r: LearningRate, run: Run) -> float | None:
    """The grid's next rate above ``run``'s: where the edge of stability may lie below."""
    return next((lr for lr in sorted(r.options.rates) if lr > run.lr), None)


def _stable_bounds(r: LearningRate) -> tuple[float, float | None] | None:
    """The ratio's range that the grid allows: the true edges lie below the next rates up."""
    bn, plain = r.largest_stable(True), r.largest_stable(False)
    if bn is None or plain is None:
        return None
    bn_next, plain_next = _next_rate(r, bn), _next_rate(r, plain)
    low = bn.lr / plain_next if plain_next is not None else 0.0
    high = bn_next / plain.lr if bn_next is not None else None
    return low, high


def _largest(run: Run | None) -> str:
    return "none stable" if run is None else _rate(run.lr)


def _fewest(r: LearningRate, run: Run | None) -> str:
    steps = r.steps_to_target(run)
    return "never" if run is None or steps is None else f"{steps} (lr {_rate(run.lr)})"


def conclude(r: LearningRate) -> str:
    plain, bn = r.largest_stable(False), r.largest_stable(True)
    fast_plain, fast_bn = r.fastest(False), r.fastest(True)
    same = fast_plain is not None and fast_bn is not None and fast_plain.lr == fast_bn.lr
    where = (
        f", both at lr {_rate(fast_bn.lr)}"
        if same and fast_bn is not None
        else f", at lr {_rate(fast_plain.lr)} and {_rate(fast_bn.lr)}"
        if fast_plain is not None and fast_bn is not None
        else ""
    )
    return (
        f"largest stable rate {_largest(plain)} without BN, {_largest(bn)} with BN "
        f"({_times(r.stable_ratio)}; the paper used 30×); fewest steps to {_target(r)} "
        f"validation accuracy {_steps(r, fast_plain)} without BN, {_steps(r, fast_bn)} with BN "
        f"({_times(r.steps_ratio)}{where}; the paper: 14×)."
    )


def _grid(r: LearningRate) -> Table:
    table = Table(show_edge=False, pad_edge=False)
    table.add_column("lr", justify="right")
    for name in ("no BN", "BN"):
        table.add_column(f"{name}: stable?")
        table.add_column(f"to {_target(r)}", justify="right")
        table.add_column("final", justify="right")
    for plain, bn in zip(r.grid(False), r.grid(True), strict=True):
        table.add_row(
            _rate(plain.lr),
            *(
                cell
                for run in (plain, bn)
                for cell in (_status(run), _steps(r, run), _percent(run.final_accuracy))
            ),
        )
    return table


def _summary(r: LearningRate) -> Table:
    plain, bn = r.largest_stable(False), r.largest_stable(True)
    bounds = _stable_bounds(r)
    within = ""
    if bounds is not None:
        low, high = bounds
        within = f" ({low:.2g}–{high:.2g}×)" if high is not None else f" (≥ {low:.2g}×)"
    table = Table(show_edge=False, pad_edge=False)
    table.add_column("")
    table.add_column("no BN", justify="right")
    table.add_column("BN", justify="right")
    table.add_column("ratio", justify="right")
    table.add_column("paper (Inception)", justify="right")
    table.add_row(
        "largest stable rate",
        _largest(plain),
        _largest(bn),
        _times(r.stable_ratio) + within,
        f"{PAPER_RATE}× (used)",
    )
    table.add_row(
        f"fewest steps to {_target(r)}",
        _fewest(r, r.fastest(False)),
        _fewest(r, r.fastest(True)),
        _times(r.steps_ratio),
        f"{PAPER_STEPS}× (BN-x5)",
    )
    fast_plain = r.fastest(False)
    if fast_plain is not None:  # BN at the rate that suits the network without it
        same = next(run for run in r.grid(True) if run.lr == fast_plain.lr)
        plain_steps, bn_steps = r.steps_to_target(fast_plain), r.steps_to_target(same)
        table.add_row(
            "  at the same rate",
            _fewest(r, fast_plain),
            _fewest(r, same),
            _times(None if plain_steps is None or bn_steps is None else plain_steps / bn_steps),
            f"{PAPER_SAME:.1f}× (BN-Baseline)",
        )
    return table


def show(console: Console, r: LearningRate) -> None:
    o = r.options
    sizes = " → ".join(str(s) for s in o.sizes)
    prose(console, "Larger learning rates with BN? (Sections 3.3 and 4.2)", "bold")
    prose(
        console,
        f"scikit-learn's 8×8 digits (1,300 to train, 497 to validate); an MLP {sizes}, ReLU, "
        f"He init, with and without BN after every hidden layer; SGD, batch {o.batch}, "
        f"{o.steps} steps at each rate; the same weights and batches for every run, seed "
        f"{o.seed}. BN's backward is the code bncheck emits from SymPy.",
    )
    prose(
        console,
        f"Stable: every training loss finite and the last epoch's mean below {STUCK:g} nats "
        f"(a uniform guess scores ln 10 = {r.chance_loss:.2f}); stuck: finite but it stays above. "
        f"Validation accuracy in eval mode (running statistics), every {o.every} steps until "
        f"{_target(r)}; an unstable run shows no numbers (they depend on the CPU; --json has "
        "them).",
        "dim",
    )
    rule(console, f"Each rate: stable?, steps to {_target(r)} validation accuracy, final accuracy")
    console.print(_grid(r))
    rule(console, "Summary, beside the paper (Inception on ImageNet)")
    console.print(_summary(r))
    prose(
        console,
        "What this does not show: an MLP with three hidden layers on 1,300 tiny digits, "
        f"{o.steps} steps of plain SGD, is not Inception on ImageNet. The paper's 30× is the rate "
        "BN-x30 trained with, not a measured edge of divergence; its 14× is BN-x5 together with "
        "other changes (no dropout, a 6× faster rate decay, 5× less L2, no local response "
        "normalisation; Section 4.2.1) against a baseline trained for 31 million steps. Here the "
        "grid is in quarter decades, so a largest rate is known to one grid step (hence the "
        f"range), and steps to the target to {o.every}; digits is easy (both networks pass "
        f"{_target(r)} within a few epochs), which leaves little room for a large speed-up; one "
        "seed, one architecture. What it does show: with everything else equal, BN moves the edge "
        "of divergence up, and its networks above the edge fail by getting stuck rather than by "
        "overflowing (BN bounds the hidden layers; only the logits can run away).",
    )
    prose(console, conclude(r), "bold green")


def _run_json(r: LearningRate, run: Run) -> dict[str, Any]:
    def finite(value: float) -> float | None:
        return value if math.isfinite(value) else None  # JSON has no NaN

    return {
        "bn": run.bn,
        "lr": run.lr,
        "status": run.status,
        "stable": run.stable,
        "non_finite_at": run.non_finite_at,
        "last_epoch_loss": finite(run.last_epoch_loss),
        "steps_to_target": run.steps_to(r.options.target),
        "final_accuracy": run.final_accuracy,
        # an unstable run's numbers too: they depend on the CPU's last bits
        "last_accuracy": run.checks[-1][1] if run.checks else None,
        "losses": [finite(loss) for loss in run.losses],
        "checks": [{"step": step, "accuracy": accuracy} for step, accuracy in run.checks],
    }


def body(r: LearningRate) -> dict[str, Any]:
    plain, bn = r.largest_stable(False), r.largest_stable(True)
    fast_plain, fast_bn = r.fastest(False), r.fastest(True)
    return {
        "stuck_loss": STUCK,
        "chance_loss": r.chance_loss,
        "runs": [_run_json(r, run) for run in r.runs],
        "summary": {
            "largest_stable_rate": {
                "no_bn": None if plain is None else plain.lr,
                "bn": None if bn is None else bn.lr,
                "ratio": r.stable_ratio,
                "ratio_range_in_grid": _stable_bounds(r),
            },
            "fewest_steps_to_target": {
                "no_bn": r.steps_to_target(fast_plain),
                "no_bn_rate": None if fast_plain is None else fast_plain.lr,
                "bn": r.steps_to_target(fast_bn),
                "bn_rate": None if fast_bn is None else fast_bn.lr,
                "ratio": r.steps_ratio,
            },
            "paper": {
                "rate_ratio": PAPER_RATE,
                "steps_ratio": PAPER_STEPS,
                "steps_ratio_same_rate": PAPER_SAME,
            },
        },
        "conclusion": conclude(r),
    }


def _epoch_means(run: Run) -> tuple[list[int], list[float]]:
    """The training loss averaged over each whole epoch (a non-finite run ends before it)."""
    losses = run.losses if run.non_finite_at is None else run.losses[:-1]
    n = len(losses) // run.epoch
    steps = [(k + 1) * run.epoch for k in range(n)]
    means = [sum(losses[k * run.epoch : (k + 1) * run.epoch]) / run.epoch for k in range(n)]
    return steps, means


def draw(plt: Any, r: LearningRate) -> Any:
    from matplotlib.ticker import LogLocator, NullFormatter, ScalarFormatter

    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.6))
    target = r.options.target
    colors = {False: "tab:orange", True: "tab:blue"}
    names = {False: "no BN", True: "BN"}
    reached: dict[bool, list[tuple[float, int]]] = {
        bn: [(run.lr, n) for run in r.grid(bn) if (n := run.steps_to(target)) is not None]
        for bn in (False, True)
    }
    top = 1.5 * max((steps for bn in reached for _, steps in reached[bn]), default=r.options.steps)
    for bn in (False, True):
        if reached[bn]:
            lrs, steps = zip(*reached[bn], strict=True)
            left.plot(lrs, steps, "-o", color=colors[bn], label=f"{names[bn]}: stable")
        failed = [run.lr for run in r.grid(bn) if not run.stable]
        marker = "x" if bn else "+"
        left.plot(failed, [top] * len(failed), marker, color=colors[bn], ms=9, ls="none")
        left.plot([], [], marker, color=colors[bn], ls="none", label=f"{names[bn]}: unstable")
    left.set(
        xscale="log",
        yscale="log",
        xlabel="learning rate",
        ylabel=f"steps to {100 * target:g}% validation accuracy",
        title="speed, and where each network fails",
    )
    left.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    left.yaxis.set_major_formatter(ScalarFormatter())
    left.yaxis.set_minor_formatter(NullFormatter())
    left.legend(fontsize="small")
    # the training loss at no BN's edge, one grid step above it, and at BN's edge
    edges = [run.lr for run in (r.largest_stable(False), r.largest_stable(True)) if run]
    plain = r.largest_stable(False)
    above = None if plain is None else _next_rate(r, plain)
    picks = sorted({*edges, *(() if above is None else (above,))})
    styles = dict(zip(picks, ("-", "--", ":", "-."), strict=False))
    for bn in (False, True):
        for lr in picks:
            run = next(run for run in r.grid(bn) if run.lr == lr)
            at, means = _epoch_means(run)
            if at:  # else it overflowed within the first epoch
                label = f"{names[bn]}, lr {_rate(lr)}" + ("" if run.stable else f" ({run.status})")
                right.plot(at, means, styles[lr], color=colors[bn], label=label)
    right.axhline(STUCK, color="grey", lw=0.8, ls=":")
    right.set(
        yscale="log",
        xlabel="step",
        ylabel="training loss (epoch mean)",
        title=f"training loss; stuck above {STUCK:g}",
    )
    right.legend(fontsize="small")
    return fig
