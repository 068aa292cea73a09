"""SymPy derivation of the normalization backward pass for a symbolic group size m.

Importing this package imports sympy (≈0.3 s): only the commands that derive do.
"""

from bncheck.symbolic.derive import Derivation, Step, derive
from bncheck.symbolic.graph import Forward, forward_for
from bncheck.symbolic.prove import Proof, prove

__all__ = ["Derivation", "Forward", "Proof", "Step", "derive", "forward_for", "prove"]
