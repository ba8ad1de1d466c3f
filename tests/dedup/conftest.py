"""Fixtures for dedup tests: small chat rows with planted duplicates, an isolated cache."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.dedup.dedup_data import chat, long_text


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Embedding cache in a temp folder, never the user's ~/.cache."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("CURATE_CACHE_DIR", str(cache))
    return cache


@pytest.fixture
def dup_rows() -> list[dict]:
    """8 rows: 0 original, 1 exact copy (case/space/punct changed), 2 near copy (one word
    changed), 3-7 unrelated; row 4 has an id field."""
    base = long_text(1)
    words = base.split()
    words[30] = "changed"
    return [
        chat("Tell me a story.", base),
        chat("  tell me a STORY ", base.upper() + "!!"),
        chat("Tell me a story.", " ".join(words)),
        chat("Another question.", long_text(2)),
        chat("Third question.", long_text(3), id="q3"),
        chat("Fourth question.", long_text(4)),
        chat("Fifth question.", long_text(5)),
        chat("Sixth question.", long_text(6)),
    ]
