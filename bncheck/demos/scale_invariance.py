"""Section 3.3 of Ioffe & Szegedy (2015): back-propagation through BN is scale invariant.

For a layer z = W·u followed by BN and a scalar a > 0:

    BN((aW)u) = BN(Wu)
    ∂BN((aW)u)/∂u = ∂BN(Wu)/∂u
    ∂BN((aW)u)/∂(aW) = (1/a)·∂BN(Wu)/∂W

So the scale of W does not change the layer's Jacobian with respect to its input,
and larger weights get *smaller* gradients: a weight that grows slows its own
growth, which stabilises training.

The trap is eps. Var[aWu] = a²·Var[Wu], but sqrt(a²·Var + eps) ≠ a·sqrt(Var + eps):
the identities are exact only when eps = 0 or when eps scales with a² (eps → a²·eps).
``prove`` checks the exact forms with SymPy on explicit sizes (every Jacobian entry,
residual cancelled to 0) and shows that with a fixed eps they are not identities;
``measure`` shows numerically how close they are with eps = 1e-5.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import sympy as sp

from bncheck.check import reference
from bncheck.demos import Shown
from bncheck.spec import NormSpec

__all__ = ["Identity", "Options", "Row", "ScaleInvariance", "measure", "prove", "scale_invariance"]

SCALES = (0.01, 0.1, 0.5, 2.0, 10.0, 100.0)


@dataclass(frozen=True)
class Options:
    seed: int = 0
    scales: tuple[float, ...] = SCALES
    eps: float = 1e-5  # the usual eps; the table also shows eps = 0
    m: int = 16  # batch size of the numeric check
    d_in: int = 5
    d_out: int = 4


@dataclass(frozen=True)
class Identity:
    """One identity checked by SymPy on every entry, in one eps regime."""

    name: str  # "forward", "d/du" or "d/d(aW)"
    eps_rule: str  # "eps = 0", "eps -> a²·eps" or "fixed eps"
    holds: bool
    entries: int  # how many entries were cancelled to 0 (or tried)
    seconds: float


@dataclass(frozen=True)
class Row:
    """Numeric comparison at one scale a, with eps = Options.eps and with eps = 0."""

    a: float
    forward: float  # max |BN((aW)u) − BN(Wu)|, eps = Options.eps
    forward_eps0: float  # the same with eps = 0
    du: float  # max |∂ℓ/∂u at aW − at W| / max |∂ℓ/∂u at W|, eps = Options.eps
    du_eps0: float
    dW_ratio: float  # a·‖∂ℓ/∂(aW)‖ / ‖∂ℓ/∂W‖: 1 when the (1/a) law holds, eps = Options.eps
    dW_ratio_eps0: float
    dW_norm: float  # ‖∂ℓ/∂(aW)‖, eps = Options.eps: falls like 1/a


@dataclass(frozen=True)
class ScaleInvariance(Shown):
    options: Options
    sizes: tuple[int, int, int]  # (m, d_in, d_out) of the SymPy proof
    identities: tuple[Identity, ...]
    rows: tuple[Row, ...]


# ---------------------------------------------------------------- SymPy proof


def _bn(z: sp.Matrix, e: sp.Expr, gamma: tuple, beta: tuple) -> tuple[sp.Matrix, list[sp.Expr]]:
    """Batch norm of each column of z (biased variance, eps = e), and each column's radicand."""
    m = z.shape[0]
    out, radicands = sp.zeros(*z.shape), []
    for c in range(z.shape[1]):
        col = list(z[:, c])
        mu = sum(col) / m
        var = sum((zi - mu) ** 2 for zi in col) / m
        radicands.append(var + e)
        for i in range(m):
            out[i, c] = gamma[c] * (col[i] - mu) / sp.sqrt(var + e) + beta[c]
    return out, radicands


def _name_roots(expr: sp.Expr, roots: dict[sp.Expr, sp.Expr]) -> sp.Expr:
    """Replace (radicand)^(k/2) by root^k, so each side is rational and ``cancel`` decides."""

    def named(p: sp.Pow) -> sp.Expr:
        root = roots.get(sp.expand(p.base))
        return p if root is None else root ** (2 * p.exp)

    return expr.replace(
        lambda p: isinstance(p, sp.Pow) and p.exp.is_Rational and not p.exp.is_integer, named
    )


def prove(m: int = 3, d_in: int = 2, d_out: int = 2) -> tuple[Identity, ...]:
    """Check the three identities entry by entry for explicit sizes, in each eps regime."""
    a, eps = sp.Symbol("a", positive=True), sp.Symbol("epsilon", positive=True)
    e = sp.Symbol("e", nonnegative=True)  # the eps of the layer, substituted per regime
    u = sp.Matrix(m, d_in, lambda i, n: sp.Symbol(f"u{i + 1}{n + 1}", real=True))
    w = sp.Matrix(d_in, d_out, lambda n, c: sp.Symbol(f"w{n + 1}{c + 1}", real=True))
    v = sp.Matrix(d_in, d_out, lambda n, c: sp.Symbol(f"v{n + 1}{c + 1}", real=True))
    gamma = sp.symbols(f"gamma1:{d_out + 1}", real=True)
    beta = sp.symbols(f"beta1:{d_out + 1}", real=True)
    roots_s = sp.symbols(f"s1:{d_out + 1}", positive=True)  # sqrt(Var[Wu] + eps), per column

    # One layer BN(V·u) with free weights V; the identities compare V = aW with V = W.
    y, radicands = _bn(u * v, e, gamma, beta)
    jacobians = {
        "forward": (list(y), 1),
        "d/du": ([sp.diff(yi, x) for yi in y for x in u], 1),
        "d/d(aW)": ([sp.diff(yi, x) for yi in y for x in v], a),  # times a: (1/a)·∂BN(Wu)/∂W
    }
    out = []
    for rule, e_w, e_aw in (
        ("eps = 0", 0, 0),
        ("eps -> a²·eps", eps, a**2 * eps),
        ("fixed eps", eps, eps),
    ):
        at_w = {**dict(zip(v, w, strict=True)), e: e_w}
        at_aw = {**{vi: a * wi for vi, wi in zip(v, w, strict=True)}, e: e_aw}
        roots: dict[sp.Expr, sp.Expr] = {}
        for r, s in zip(radicands, roots_s, strict=True):
            base = sp.expand(r.xreplace(at_w))
            roots[base] = s
            roots[sp.expand(a**2 * base)] = a * s  # Var[aWu] + a²·eps = a²·(Var[Wu] + eps)
        for name, (entries, factor) in jacobians.items():
            if rule == "fixed eps" and name != "forward":
                continue  # the forward already fails; its derivatives cannot all agree
            start = time.perf_counter()
            holds = True
            for entry in entries:
                diff = factor * entry.xreplace(at_aw) - entry.xreplace(at_w)
                if rule == "fixed eps":  # one point where it fails is a disproof
                    free = sorted(diff.free_symbols - {a}, key=str)
                    point = {x: sp.Rational(k + 2, 3) for k, x in enumerate(free)}
                    holds = holds and bool(abs(diff.xreplace({**point, a: 2}).evalf(30)) < 1e-25)
                else:
                    holds = holds and bool(sp.cancel(sp.together(_name_roots(diff, roots))) == 0)
                if not holds:
                    break
            out.append(Identity(name, rule, holds, len(entries), time.perf_counter() - start))
    return tuple(out)


# ---------------------------------------------------------------- numbers


def _forward(z: np.ndarray, eps: float) -> np.ndarray:
    d = z.shape[1]  # gamma = 1, beta = 0
    return reference.forward(z, np.ones(d), np.zeros(d), NormSpec(eps=eps))


def _grads(
    u: np.ndarray, v: np.ndarray, g: np.ndarray, eps: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """BN(V·u), and ∂ℓ/∂u, ∂ℓ/∂V for ℓ = Σ g ⊙ BN(V·u), through the emitted backward."""
    from bncheck.emit import load_backward

    z = u @ v
    dz, _, _ = load_backward()(g, z, np.ones(v.shape[1]), eps)
    return _forward(z, eps), dz @ v.T, u.T @ dz


def measure(o: Options) -> tuple[Row, ...]:
    rng = np.random.default_rng(o.seed)
    u = rng.normal(size=(o.m, o.d_in))
    w = rng.normal(size=(o.d_in, o.d_out)) / np.sqrt(o.d_in)  # Var[Wu] ≈ 1
    g = rng.normal(size=(o.m, o.d_out))  # an upstream gradient that hides nothing
    rows = []
    for a in o.scales:
        cols = []
        for eps in (o.eps, 0.0):
            y1, du1, dw1 = _grads(u, w, g, eps)
            ya, dua, dwa = _grads(u, a * w, g, eps)
            cols.append(
                (
                    float(np.max(np.abs(ya - y1))),
                    float(np.max(np.abs(dua - du1)) / np.max(np.abs(du1))),
                    float(a * np.linalg.norm(dwa) / np.linalg.norm(dw1)),
                    float(np.linalg.norm(dwa)),
                )
            )
        (f, du, ratio, norm), (f0, du0, ratio0, _) = cols
        rows.append(Row(a, f, f0, du, du0, ratio, ratio0, norm))
    return tuple(rows)


def scale_invariance(options: Options | None = None) -> ScaleInvariance:
    o = Options() if options is None else options
    sizes = (3, 2, 2)
    return ScaleInvariance(o, sizes, prove(*sizes), measure(o))
