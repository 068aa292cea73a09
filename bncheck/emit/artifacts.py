"""The files ``bncheck derive --write DIR`` produces for one normalization."""

from __future__ import annotations

from pathlib import Path

from bncheck.emit.codegen import emit_source
from bncheck.emit.document import render_markdown
from bncheck.errors import UsageError
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
    """Write every artifact under ``root/<name>/``; nothing is written if any cannot be made."""
    texts = artifacts(spec)  # compute everything first, so a failure leaves no half-written set
    folder = root / spec.name
    written = []
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for name, text in texts.items():
            path = folder / name
            path.write_text(text, encoding="utf-8")
            written.append(path)
    except OSError as exc:
        raise UsageError(
            f"cannot write the artifacts to {folder}: {exc.strerror or exc}",
            "give --write a folder you can write to (it is created if missing)",
            code="cannot-write",
        ) from None
    return written
