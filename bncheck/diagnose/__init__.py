"""Which mistake: the classic wrong gradients, derived by SymPy, matched against a
submission's outputs; and a term-by-term attribution for the rest."""

from bncheck.diagnose.catalog import CATALOG, Mistake, by_id
from bncheck.diagnose.match import diagnose
from bncheck.diagnose.result import Attribution, Diagnosis, Finding, Term

__all__ = ["CATALOG", "Attribution", "Diagnosis", "Finding", "Mistake", "Term", "by_id", "diagnose"]
