"""The experiments on real digits, rendered: one module per demo, each with the same four
functions, which ``report.demos``, ``report.demo_json`` and ``report.plots`` dispatch to:

* ``conclude(r) -> str``: the one-line conclusion, quoting the result's own numbers;
* ``show(console, r)``: the terminal report (rich tables; plain text off a TTY);
* ``body(r) -> dict``: the JSON fields (``demo`` and ``options`` are added by ``demo_json``);
* ``draw(plt, r) -> fig``: the matplotlib figure, legends included.
"""

from bncheck.report.experiments import batch_noise, gradient_histograms, learning_rate

__all__ = ["MODULES", "batch_noise", "gradient_histograms", "learning_rate"]

MODULES = {
    "learning-rate": learning_rate,
    "gradient-histograms": gradient_histograms,
    "batch-noise": batch_noise,
}
