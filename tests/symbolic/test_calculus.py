from __future__ import annotations

import sympy as sp

from bncheck.symbolic.calculus import contract_deltas, pull_constants, sum_of_sums

m = sp.Symbol("m", integer=True, positive=True)
i, j, k = sp.symbols("i j k", integer=True, positive=True)
x = sp.IndexedBase("x")
c = sp.Symbol("c")


def test_contract_replaces_the_summed_index_by_the_delta_partner() -> None:
    s = sp.Sum(c * x[k] * sp.KroneckerDelta(j, k), (k, 1, m))
    assert contract_deltas(s) == c * x[j]


def test_contract_keeps_terms_without_a_delta_summed() -> None:
    s = sp.Sum(x[k] * sp.KroneckerDelta(j, k) + x[k] ** 2, (k, 1, m))
    assert contract_deltas(s) == x[j] + sp.Sum(x[k] ** 2, (k, 1, m))


def test_pull_moves_index_free_factors_out_and_keeps_products() -> None:
    s = sp.Sum(c * (x[k] - 1) * x[k], (k, 1, m))
    assert pull_constants(s) == c * sp.Sum((x[k] - 1) * x[k], (k, 1, m))


def test_sum_of_a_constant_is_m_times_it() -> None:
    assert sum_of_sums(sp.Sum(x[k] - c, (k, 1, m))) == sp.Sum(x[k], (k, 1, m)) - m * c
