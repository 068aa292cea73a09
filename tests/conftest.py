"""Shared fixtures; ``--update-goldens`` rewrites golden files instead of comparing."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-goldens",
        action="store_true",
        help="rewrite derivations/ and cli/ transcripts from the current code",
    )


@pytest.fixture
def update_goldens(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-goldens"))


def check_golden(path: Path, actual: str, update: bool) -> None:
    """Compare ``actual`` with the committed file, or rewrite it under --update-goldens."""
    if update:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(actual, encoding="utf-8")
        return
    assert path.exists(), f"{path} is missing; run pytest --update-goldens"
    expected = path.read_text(encoding="utf-8")
    assert actual == expected, (
        f"{path.relative_to(ROOT)} is stale; regenerate with: pytest --update-goldens"
    )
