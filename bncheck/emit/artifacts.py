"""The files ``bncheck derive --write DIR`` produces for one normalization."""

from __future__ import annotations

from pathlib import Path

from bncheck.emit.codegen import emit_source
from bncheck.emit.document import render_markdown
from bncheck.spec import NormSpec
from bncheck.symbolic import derive, prove

__all__ = ["artifacts", "write_artifacts"]


def artifacts(spec: NormSpec) -> dict[str, str]:
    """File name → content, deterministic for a given bncheck version."""
    d = derive(spec)
    return {
        "derivation.md": render_markdown(d, prove(d)),
        "backward_numpy.py": emit_source(spec, "numpy"),
        "backward_torch.py": emit_source(spec, "torch"),
    }


def write_artifacts(spec: NormSpec, root: Path) -> list[Path]:
    folder = root / spec.name
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in artifacts(spec).items():
        path = folder / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
