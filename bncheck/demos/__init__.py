"""The paper's teaching examples, computed (rendering lives in ``bncheck.report.demos``).

* ``mean_dependence``: Section 2, a bias update that ignores how E[x] depends on b;
* ``scale_invariance``: Section 3.3, BN((aW)u) = BN(Wu) and its gradients;
* ``tiny_init``: a 7-layer network with W ~ U(-0.001, 0.001), with and without BN, on
  synthetic blobs or on real digits;
* ``learning_rate``, ``gradient_histograms``, ``batch_noise``: the paper's experimental
  claims (larger learning rates, gradients at initialisation, the noise of mini-batch
  statistics), measured on scikit-learn's real digits (``digits``, the extra ``teach``) with
  small numpy MLPs (``mlp``) whose BN backward is the one bncheck emits.

``DEMOS`` is the one table of them, by the name the CLI uses. It imports nothing: each
module imports numpy (and SymPy where it derives) when its demo runs. The renderers
(text, JSON, plot) are chosen by the result's type, in ``bncheck.report``.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

__all__ = ["DEMOS", "Demo", "Shown", "name_of"]


@dataclass(frozen=True)
class Demo:
    """One demo: ``bncheck.demos.<module>`` has ``Options`` and a function named ``<module>``."""

    name: str  # as the CLI spells it: mean-dependence
    takes: tuple[str, ...] = ()  # the Options the CLI may set besides seed: steps, lr, data
    digits: bool = False  # trains on real digits (scikit-learn, the extra ``teach``) by default

    @property
    def module(self) -> str:
        return self.name.replace("-", "_")

    def run(self, **options: Any) -> Any:
        """The demo's results (a frozen dataclass), with these ``Options`` overridden."""
        module = importlib.import_module(f"{__name__}.{self.module}")
        return getattr(module, self.module)(module.Options(**options))


DEMOS: dict[str, Demo] = {
    demo.name: demo
    for demo in (
        Demo("mean-dependence", takes=("steps", "lr")),
        Demo("scale-invariance"),
        Demo("tiny-init", takes=("steps", "lr", "data")),
        Demo("learning-rate", takes=("steps",), digits=True),
        Demo("gradient-histograms", digits=True),
        Demo("batch-noise", takes=("steps",), digits=True),
    )
}


def name_of(result: object) -> str:
    """The demo whose module computed ``result``: tiny-init for a TinyInit."""
    module = type(result).__module__.rpartition(".")[2]
    for demo in DEMOS.values():
        if demo.module == module:
            return demo.name
    raise TypeError(f"not a demo's result: {type(result).__name__}")


class Shown:
    """A demo's result shows itself in Jupyter: its report, conclusion and plot inline.

    A mixin of every result class; the HTML is made by ``bncheck.report.notebook``.
    """

    def _repr_html_(self) -> str:
        from bncheck.report.notebook import demo_html

        return demo_html(self)
