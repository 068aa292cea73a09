"""The numpy MLP of the experiments: its gradients are right, with and without BN."""

from __future__ import annotations

import numpy as np
import pytest

from bncheck.demos import mlp


def _loss(net: mlp.MLP, x: np.ndarray, labels: np.ndarray) -> float:
    logits, _ = net.forward(x, track=False)
    return mlp.cross_entropy(logits, labels)[0]


@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid", "linear"])
@pytest.mark.parametrize("bn", [False, True])
def test_gradients_match_central_differences(bn: bool, activation: str) -> None:
    rng = np.random.default_rng(3)
    x, labels = rng.normal(size=(12, 5)), rng.integers(0, 3, size=12)
    net = mlp.MLP(mlp.Net((5, 7, 6, 3), bn=bn, activation=activation), seed=1)
    logits, cache = net.forward(x, track=False)
    grads = net.backward(cache, mlp.cross_entropy(logits, labels)[1])
    h = 1e-6
    for params, derived in (
        (net.w, grads.w),
        (net.b, grads.b),
        (net.gamma, grads.gamma),
        (net.beta, grads.beta),
    ):
        for p, d in zip(params, derived, strict=True):
            assert (p is None) == (d is None)
            if p is None or d is None:
                continue
            assert d.shape == p.shape
            fd = np.zeros_like(p)
            for index in np.ndindex(p.shape):
                keep = p[index]
                p[index] = keep + h
                up = _loss(net, x, labels)
                p[index] = keep - h
                down = _loss(net, x, labels)
                p[index] = keep
                fd[index] = (up - down) / (2 * h)
            assert np.max(np.abs(fd - d)) < 1e-7 * max(1.0, float(np.max(np.abs(d))))


def test_bn_layers_have_gamma_beta_and_no_bias_and_the_logits_no_bn() -> None:
    net = mlp.MLP(mlp.Net((4, 5, 5, 3), bn=True), seed=0)
    assert [b is None for b in net.b] == [True, True, False]
    assert [g is None for g in net.gamma] == [False, False, True]


def test_running_statistics_follow_the_batches_and_serve_eval_mode() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(3.0, 2.0, size=(64, 4))
    net = mlp.MLP(mlp.Net((4, 6, 2), bn=True, activation="linear"), seed=0)
    for _ in range(200):
        net.forward(x)
    z = x @ net.w[0]
    running = net.running[0]
    assert running is not None
    assert np.allclose(running[0], z.mean(axis=0)) and np.allclose(running[1], z.var(axis=0))
    train, _ = net.forward(x, track=False)
    evaluated, _ = net.forward(x, train=False)
    assert np.allclose(train, evaluated, atol=1e-4)  # BN's eps is all that differs


def test_a_diverging_run_gives_a_non_finite_loss_and_no_warning() -> None:
    rng = np.random.default_rng(0)
    x, labels = rng.normal(size=(32, 8)), rng.integers(0, 4, size=32)
    net = mlp.MLP(mlp.Net((8, 16, 16, 4), bn=False), seed=0)
    loss = 0.0
    for _ in range(50):
        loss, grads = net.loss_and_grads(x, labels)
        net.sgd(grads, 1e6)
    assert not np.isfinite(loss) or loss > 100


def test_batches_cover_an_epoch_in_equal_batches() -> None:
    it = mlp.batches(10, 3, np.random.default_rng(0))
    epoch = [next(it) for _ in range(3)]
    assert all(len(b) == 3 for b in epoch)
    assert len(set(np.concatenate(epoch).tolist())) == 9  # the short last batch is dropped
    with pytest.raises(ValueError, match="batch size"):
        next(mlp.batches(4, 5, np.random.default_rng(0)))


def test_digits_split_is_seeded_standardised_and_disjoint() -> None:
    pytest.importorskip("sklearn", reason="scikit-learn's digits: pip install -e '.[teach]'")
    from bncheck.demos import digits

    a, b = digits.load(0), digits.load(0)
    assert np.array_equal(a.x_train, b.x_train) and np.array_equal(a.y_val, b.y_val)
    assert a.x_train.shape == (1300, 64) and a.x_val.shape == (497, 64)
    assert np.allclose(a.x_train.mean(axis=0), 0.0)
    spread = a.x_train.std(axis=0)
    assert np.all(np.isclose(spread, 1.0) | (spread == 0))
    assert set(a.y_train.tolist()) == set(range(digits.CLASSES))
    assert not np.array_equal(digits.load(1).y_val, a.y_val)


def test_digits_without_scikit_learn_say_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import sys

    from bncheck.demos import digits
    from bncheck.errors import MissingDependencyError

    monkeypatch.setitem(sys.modules, "sklearn", None)  # import sklearn now raises ImportError
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    with pytest.raises(MissingDependencyError, match="scikit-learn") as info:
        digits.load(0)
    assert "teach" in info.value.hint
