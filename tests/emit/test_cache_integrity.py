"""The emitted-code cache is executed, so it must not be a way in.

``_check_emitted`` accepts exactly the shape the emitter produces (every preset,
variance and backend: this is the test that fails loudly when the emitter gains a
construct) and nothing that could run other code. A cache file that was poisoned,
that someone else could have written (mode, folder, owner) or that is a symlink is a
miss: the source is derived again and the file replaced.
"""

from __future__ import annotations

import functools
import linecache
import os
import stat
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from bncheck.emit import load
from bncheck.emit.codegen import emit_source
from bncheck.emit.printers import BACKENDS
from bncheck.spec import SPECS, NormSpec, get_spec

BN = get_spec("batchnorm")
# more of what the emitter prints: no gamma, eval mode, eps = 0, an (N, C, L) layout
VARIANTS: dict[str, dict[str, Any]] = {
    "no-affine": {"affine": False},
    "eval": {"mode": "eval"},
    "eps-0": {"eps": 0.0},
    "NCL": {"layout": "NCL", "axes": (0, 2)},
}


ROOT_ONLY = pytest.mark.skipif(os.geteuid() != 0, reason="only root can give a file away")


@functools.cache
def _clean(spec: NormSpec, backend: str) -> str:
    return emit_source(spec, backend)


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private cache folder (this test's tmp_path) and an empty in-memory table."""
    monkeypatch.setenv("BNCHECK_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(load, "_LOADED", {})
    return tmp_path


def _executed(fn: object) -> str:
    """The whole source ``load_backward`` compiled (it registers it in linecache)."""
    return "".join(linecache.getlines(fn.__code__.co_filename))  # type: ignore[attr-defined]


# -- what the check accepts -------------------------------------------------------------


@pytest.mark.parametrize("backend", sorted(BACKENDS))
@pytest.mark.parametrize("variance", ["biased", "unbiased"])
@pytest.mark.parametrize("name", sorted(SPECS))
def test_every_emitted_source_passes_the_check(name: str, variance: Any, backend: str) -> None:
    spec = replace(get_spec(name), variance=variance)
    source = _clean(spec, backend)
    assert load._check_emitted(source, f"{spec.name}_backward"), (
        f"the emitter printed a construct _check_emitted refuses ({name}, {variance}, "
        f"{backend}); extend load._ATTRIBUTES or load._NODES if it is safe:\n{source}"
    )


@pytest.mark.parametrize("backend", sorted(BACKENDS))
@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_other_specs_pass_the_check(variant: str, backend: str) -> None:
    spec = replace(BN, **VARIANTS[variant])
    assert load._check_emitted(_clean(spec, backend), "batchnorm_backward")


def test_the_check_wants_the_function_of_the_spec() -> None:
    assert not load._check_emitted(_clean(BN, "numpy"), "spatial_batchnorm_backward")


# -- what it refuses ----------------------------------------------------------------------


def _inject(source: str, line: str) -> str:
    """``line`` as a statement of the function, just before its return."""
    head, sep, tail = source.rpartition("\n    return ")
    assert sep, "the emitted function ends with a return"
    return f"{head}\n    {line}{sep}{tail}"


def test_an_injected_harmless_statement_still_passes() -> None:
    """The control for the refusals below: _inject itself yields accepted code."""
    assert load._check_emitted(_inject(_clean(BN, "numpy"), "w = np.sum(x)"), "batchnorm_backward")
    loop = "for w in range(0, x.shape[0], 2):\n        v = x[w : w + 2]"
    assert load._check_emitted(_inject(_clean(BN, "numpy"), loop), "batchnorm_backward")
    assert load._check_emitted(
        _inject(_clean(BN, "torch"), "w = torch.sum(x)"), "batchnorm_backward"
    )


@pytest.mark.parametrize(
    "tail",
    ["import os", "open('MARKER', 'w')", "import os\nos.system('true')", "x = 1", "def g(): pass"],
)
def test_appended_statements_are_refused(tail: str) -> None:
    assert not load._check_emitted(_clean(BN, "numpy") + "\n" + tail + "\n", "batchnorm_backward")


@pytest.mark.parametrize(
    ("backend", "line"),
    [
        ("numpy", "w = np.load('w.npy', allow_pickle=True)"),
        ("numpy", "np.save('w.npy', x)"),
        ("torch", "w = torch.load('w.pt')"),
        ("numpy", "w = x.__class__"),
        ("numpy", "w = np.sum.__globals__"),
        ("numpy", "w = __import__('os')"),
        ("numpy", "exec('1')"),
        ("numpy", "w = eval('1')"),
        ("numpy", "w = open('MARKER', 'w')"),
        ("numpy", "w = globals()"),
        ("numpy", "w = exec"),  # a name the function does not define
        ("numpy", "w = lambda: 0"),
        ("numpy", "w = [v for v in x]"),
        ("numpy", "w = {v: v for v in x}"),
        ("numpy", "global np"),
        ("numpy", "import os"),
        ("numpy", "x.shape = 1"),
        # slices and `for r in range(...)` are emitted (blocks of rows); nothing more is:
        ("numpy", "w = x[0:1].__class__"),
        ("numpy", "w = min(x)"),  # a builtin the emitter does not call
        ("numpy", "w = getattr(x, 'shape')"),
        ("numpy", "for x.shape in range(1):\n        w = x"),  # a target that is not a name
        ("numpy", "for w in range(1):\n        w = x\n    else:\n        w = dy"),
        ("numpy", "while eps:\n        w = x"),
        ("numpy", "w = np.sum(*x)"),
        ("numpy", "w = x.sum()()"),  # a call of something that is not an attribute
    ],
)
def test_a_forbidden_statement_in_the_body_is_refused(backend: str, line: str) -> None:
    assert not load._check_emitted(_inject(_clean(BN, backend), line), "batchnorm_backward")


SIGNATURE = "def batchnorm_backward(dy, x, gamma, eps=1e-05):"


@pytest.mark.parametrize(
    "signature",
    [
        "@np.sum\ndef batchnorm_backward(dy, x, gamma, eps=1e-05):",
        "def batchnorm_backward(dy, x, gamma, eps=1e-05, *args):",
        "def batchnorm_backward(dy, x, gamma, eps=1e-05, **kwargs):",
        "def batchnorm_backward(dy, x, gamma, *, eps=1e-05):",
        "def batchnorm_backward(dy, x, gamma, /, eps=1e-05):",
        "def batchnorm_backward(dy, x, gamma, eps=np.sum(1e-05)):",  # not a constant
        "def batchnorm_backward(dy, x, gamma, eps=(lambda: 1e-05)()):",
        "def batchnorm_backward(dy, x, gamma, eps=1e-05) -> np.load('w.npy'):",
        # an annotation runs when the def does, and is outside the function's body:
        "def batchnorm_backward(dy: np.__dict__['__builtins__']['exec']('1'), x, gamma, eps=0.1):",
        "def batchnorm_backward(dy, x: np.load('w.npy'), gamma, eps=1e-05):",
        "def batchnorm(dy, x, gamma, eps=1e-05):",  # another name
        "async def batchnorm_backward(dy, x, gamma, eps=1e-05):",
    ],
)
def test_a_forbidden_signature_is_refused(signature: str) -> None:
    source = _clean(BN, "numpy")
    assert source.count(SIGNATURE) == 1
    assert not load._check_emitted(source.replace(SIGNATURE, signature), "batchnorm_backward")


@pytest.mark.parametrize(
    "header",
    ["import os as np", "from numpy import *", "import numpy as np, os", "import numpy"],
)
def test_only_the_emitters_import_is_accepted(header: str) -> None:
    source = _clean(BN, "numpy")
    assert source.count("import numpy as np\n") == 1
    assert not load._check_emitted(
        source.replace("import numpy as np\n", header + "\n"), "batchnorm_backward"
    )


@pytest.mark.parametrize("junk", ["(" * 300 + ")" * 300, "-" * 100_000 + "1", "\0", "def ("])
def test_unparsable_or_hostile_text_is_refused(junk: str) -> None:
    assert not load._check_emitted(junk, "batchnorm_backward")


# -- a poisoned cache file --------------------------------------------------------------


@pytest.mark.parametrize("entry", ["load_backward", "cached_source"])
def test_a_poisoned_cache_is_derived_again(cache: Path, entry: str) -> None:
    clean = _clean(BN, "numpy")
    assert load.cached_source(BN, "numpy") == clean
    path = load._cache_file(BN, "numpy")
    assert path.parent == cache and path.read_text(encoding="utf-8") == clean
    marker = cache / "MARKER"
    poison = f"\nimport os\nos.system('touch {marker}')\n"
    with open(path, "a", encoding="utf-8") as f:
        f.write(poison)

    if entry == "load_backward":
        used = _executed(load.load_backward(BN, "numpy"))
    else:
        used = load.cached_source(BN, "numpy")
    assert used == clean
    assert not marker.exists()
    assert path.read_text(encoding="utf-8") == clean  # replaced by the clean source
    load.load_source(clean + poison, "batchnorm_backward", "<control>")
    assert marker.exists(), "the control: executing the poisoned file does touch the marker"


def _tampered(cache: Path) -> tuple[Path, str]:
    """The cache file, holding source that passes the check but is not what SymPy derives."""
    assert load.cached_source(BN, "numpy") == _clean(BN, "numpy")
    path = load._cache_file(BN, "numpy")
    text = _clean(BN, "numpy").replace("    return dx,", "    dx *= 2  # tampered\n    return dx,")
    assert text != _clean(BN, "numpy") and load._check_emitted(text, "batchnorm_backward")
    path.write_text(text, encoding="utf-8")
    return path, text


def test_a_private_cache_file_of_ours_is_used(cache: Path) -> None:
    """The control for the tests below: a trusted file is executed as it is."""
    _, text = _tampered(cache)
    assert load.cached_source(BN, "numpy") == text
    assert _executed(load.load_backward(BN, "numpy")) == text


@pytest.mark.parametrize("mode", [0o666, 0o620, 0o602], ids=oct)
def test_a_cache_file_others_may_write_is_not_used(cache: Path, mode: int) -> None:
    path, _ = _tampered(cache)
    path.chmod(mode)
    assert _executed(load.load_backward(BN, "numpy")) == _clean(BN, "numpy")
    assert path.read_text(encoding="utf-8") == _clean(BN, "numpy")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


@pytest.mark.parametrize("mode", [0o777, 0o770, 0o703], ids=oct)
def test_a_cache_file_in_a_folder_others_may_write_is_not_used(cache: Path, mode: int) -> None:
    _tampered(cache)
    cache.chmod(mode)
    try:
        assert _executed(load.load_backward(BN, "numpy")) == _clean(BN, "numpy")
        assert load.cached_source(BN, "numpy") == _clean(BN, "numpy")  # and on every later read
    finally:
        cache.chmod(0o700)


def test_a_symlinked_cache_file_is_not_used(cache: Path) -> None:
    path, text = _tampered(cache)
    elsewhere = cache / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    target = elsewhere / "valid.py"
    path.rename(target)
    path.symlink_to(target)
    assert load.cached_source(BN, "numpy") == _clean(BN, "numpy")
    assert target.read_text(encoding="utf-8") == text  # the link's target is left alone
    assert not path.is_symlink() and path.read_text(encoding="utf-8") == _clean(BN, "numpy")


@ROOT_ONLY
def test_a_cache_file_owned_by_another_user_is_not_used(cache: Path) -> None:
    path, _ = _tampered(cache)
    os.chown(path, 65534, -1)
    assert _executed(load.load_backward(BN, "numpy")) == _clean(BN, "numpy")
    assert path.stat().st_uid == os.geteuid()  # replaced by a file of ours


@ROOT_ONLY
def test_a_cache_folder_owned_by_another_user_is_not_used(cache: Path) -> None:
    _tampered(cache)
    os.chown(cache, 65534, -1)
    try:
        assert load.cached_source(BN, "numpy") == _clean(BN, "numpy")
    finally:
        os.chown(cache, 0, -1)


def test_an_oversized_or_undecodable_cache_file_is_not_used(cache: Path) -> None:
    path, text = _tampered(cache)
    path.write_bytes(text.encode() + b"#" * (load._MAX_SOURCE + 1))
    assert load.cached_source(BN, "numpy") == _clean(BN, "numpy")
    path.write_bytes(b"\xff" + text.encode())
    assert load.cached_source(BN, "numpy") == _clean(BN, "numpy")


def test_a_loaded_function_is_kept_whatever_happens_to_the_file(cache: Path) -> None:
    fn = load.load_backward(BN, "numpy")
    path = load._cache_file(BN, "numpy")
    path.write_text("garbage", encoding="utf-8")
    assert load.load_backward(BN, "numpy") is fn
    assert load.load_cached(BN, "numpy") is fn
