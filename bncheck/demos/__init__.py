"""The paper's teaching examples, computed (rendering lives in ``bncheck.report.demos``).

* ``mean_dependence``: Section 2, a bias update that ignores how E[x] depends on b;
* ``scale_invariance``: Section 3.3, BN((aW)u) = BN(Wu) and its gradients;
* ``tiny_init``: a 7-layer network with W ~ U(-0.001, 0.001), with and without BN.

``DEMOS`` is the one table of them, by the name the CLI uses. It imports nothing: each
module imports numpy (and SymPy where it derives) when its demo runs. The renderers
(text, JSON, plot) are chosen by the result's type, in ``bncheck.report``.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

__all__ = ["DEMOS", "Demo"]


@dataclass(frozen=True)
class Demo:
    """One demo: ``bncheck.demos.<module>`` has ``Options`` and a function named ``<module>``."""

    name: str  # as the CLI spells it: mean-dependence
    trains: bool  # gradient descent: takes --steps and --lr

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
        Demo("mean-dependence", trains=True),
        Demo("scale-invariance", trains=False),
        Demo("tiny-init", trains=True),
    )
}
