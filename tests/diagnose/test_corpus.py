"""The labelled corpus (``corpus/``): 55 implementations written apart from the bundled
examples, in other names and shapes of code. No file is ever given a wrong diagnosis;
correct files get none, files whose mistake is outside the catalog get "no known
mistake" with an attribution, and catalog mistakes are named.

``python -m tests.diagnose.corpus_score --seeds 1,2,3`` prints the table the README quotes.
"""

from __future__ import annotations

import pytest

from tests.diagnose.corpus import CORPUS
from tests.diagnose.corpus_score import OUTSIDE, run


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_corpus_file_is_diagnosed_as_labelled(name: str) -> None:
    _, style, labels = CORPUS[name]
    if style == "torch":
        pytest.importorskip("torch", reason="a torch-style submission needs torch")
    result, status, ids = run(name, seed=1)
    assert result != "wrong", (name, labels, status, ids)
    if labels == (OUTSIDE,):
        assert result == "unknown"
    else:
        assert result == "right", (name, labels, status, ids)
