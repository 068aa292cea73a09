"""torch autograd's gradients are cached on disk: a hit needs no torch, anything odd is a miss.

Most tests replace torch's computation by a counter (``autograd``), so they run without
torch and see every computation; one test runs the real thing in a fresh process.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from bncheck.check import sources
from bncheck.check.inputs import fixed_cases, make_cases
from bncheck.check.sources import Grads, autograd_all
from bncheck.spec import SPECS, NormSpec
from tests.conftest import ROOT

BN = NormSpec()


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """A private cache folder, torch 9.9.9 by its metadata, and autograd as a counter."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("BNCHECK_CACHE_DIR", str(folder))
    monkeypatch.setattr(sources, "_torch_release", lambda: "9.9.9+cpu")
    computed: list[str] = []

    def fake(spec: NormSpec, case: sources.Case) -> Grads:
        computed.append(case.name)
        x = np.asarray(case.x, np.float64)
        return Grads(2 * x + spec.eps, case.gamma + 1.0, case.beta - 1.0)

    monkeypatch.setattr(sources, "autograd", fake)
    yield computed


def _files(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "cache").glob("autograd-*.npz"))


def _same(a: list[Grads | None], b: list[Grads | None]) -> bool:
    return all(
        (u is None and v is None)
        or (u is not None and v is not None and all(map(np.array_equal, u, v)))
        for u, v in zip(a, b, strict=True)
    )


def test_computed_once_then_read_from_the_cache(cache: list[str], tmp_path: Path) -> None:
    cases = make_cases(BN, seed=1)
    first, label = autograd_all(BN, cases)
    assert label == "torch 9.9.9" and len(cache) == len(cases)
    again, label = autograd_all(BN, cases)
    assert label == "torch 9.9.9, cached" and len(cache) == len(cases)  # nothing computed
    assert _same(first, again)
    (path,) = _files(tmp_path)
    assert path.stat().st_mode & 0o077 == 0 and path.parent.stat().st_mode & 0o077 == 0


def test_only_the_fixed_cases_when_there_are_some(cache: list[str]) -> None:
    cases = (*make_cases(BN, seed=2), *fixed_cases(BN))
    grads, _ = autograd_all(BN, cases)
    assert [g is not None for g in grads] == [c.fixed for c in cases]
    assert cache == [c.name for c in cases if c.fixed]
    # another run's own battery, the same fixed cases: a hit
    grads, label = autograd_all(BN, (*make_cases(BN, seed=3), *fixed_cases(BN)))
    assert label.endswith(", cached") and len(cache) == len(fixed_cases(BN))


@pytest.mark.parametrize(
    "change",
    ["torch", "spec", "bytes", "dtype"],
)
def test_the_key_is_torch_the_spec_and_every_array(
    change: str, cache: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    cases = make_cases(BN, seed=4)
    autograd_all(BN, cases)
    spec = BN
    if change == "torch":
        monkeypatch.setattr(sources, "_torch_release", lambda: "9.9.10+cpu")
    elif change == "spec":
        spec = dataclasses.replace(BN, eps=1e-3)
    elif change == "bytes":
        x = cases[2].x.copy()
        x.flat[0] = np.nextafter(x.flat[0], np.inf)  # one ulp of one element
        cases = (*cases[:2], dataclasses.replace(cases[2], x=x), *cases[3:])
    else:
        cases = tuple(c.astype(np.float32) for c in cases)
    _, label = autograd_all(spec, cases)
    assert label == "torch 9.9.10" if change == "torch" else label == "torch 9.9.9"


def _forge(path: Path, how: str) -> None:
    if how == "truncated":
        path.write_bytes(path.read_bytes()[:-100])
    elif how == "not a zip":
        path.write_bytes(b"\x93NUMPY" + bytes(range(256)) * 8)
    elif how == "pickled":  # an object array: loaded with allow_pickle=False, it is refused
        with np.load(path) as z:
            arrays = dict(z)
        arrays["dx0"] = np.array([object()] * arrays["dx0"].size, dtype=object)
        with path.open("wb") as f:
            np.savez(f, **arrays)
    elif how == "wrong shape":
        with np.load(path) as z:
            arrays = dict(z)
        arrays["dgamma0"] = np.zeros(3)
        with path.open("wb") as f:
            np.savez(f, **arrays)
    elif how == "compressed":
        with np.load(path) as z:
            arrays = dict(z)
        with path.open("wb") as f:
            np.savez_compressed(f, **arrays)
    elif how == "others may write it":
        path.chmod(0o622)
    elif how == "others may write the folder":
        path.parent.chmod(0o777)
    elif how == "a symlink":
        real = path.with_name("elsewhere.npz")
        path.rename(real)
        path.symlink_to(real)


@pytest.mark.parametrize(
    "how",
    [
        "truncated",
        "not a zip",
        "pickled",
        "wrong shape",
        "compressed",
        "others may write it",
        "others may write the folder",
        "a symlink",
    ],
)
def test_an_odd_cache_file_is_not_trusted(how: str, cache: list[str], tmp_path: Path) -> None:
    cases = make_cases(BN, seed=5)
    first, _ = autograd_all(BN, cases)
    (path,) = _files(tmp_path)
    _forge(path, how)
    again, label = autograd_all(BN, cases)
    path.parent.chmod(0o700)
    assert label == "torch 9.9.9" and len(cache) == 2 * len(cases)  # computed again
    assert _same(first, again)


def test_without_torch_metadata_nothing_is_cached(
    cache: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("torch", reason="the label then comes from torch itself")
    monkeypatch.setattr(sources, "_torch_release", lambda: None)
    cases = make_cases(BN, seed=6)
    autograd_all(BN, cases)
    _, label = autograd_all(BN, cases)
    assert not label.endswith("cached") and len(cache) == 2 * len(cases)
    assert not _files(tmp_path)


_HIT = """
import sys
from bncheck.check.inputs import fixed_cases
from bncheck.check.sources import autograd_all
from bncheck.spec import SPECS
spec = SPECS[sys.argv[1]]
grads, label = autograd_all(spec, fixed_cases(spec))
print(label, "torch" in sys.modules, sum(g is not None for g in grads))
"""


@pytest.mark.parametrize("norm", sorted(SPECS))
def test_a_hit_never_imports_torch(norm: str, tmp_path: Path) -> None:
    """The real thing, in fresh processes: the first computes with torch, the second reads."""
    pytest.importorskip("torch", reason="computing autograd needs torch")
    env = {**os.environ, "BNCHECK_CACHE_DIR": str(tmp_path)}

    def run() -> list[str]:
        done = subprocess.run(
            [sys.executable, "-c", _HIT, norm], cwd=ROOT, env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.split()

    n = str(len(fixed_cases(SPECS[norm])))
    first, second = run(), run()
    assert first[-2:] == ["True", n] and "cached" not in " ".join(first)
    assert second[-3:] == ["cached", "False", n]
