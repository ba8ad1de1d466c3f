"""Fixtures for the audit tests (data and helpers live in ``audit_data``)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.audit.audit_data import IDENTITY_LIKE, clean_rows, write_jsonl


@pytest.fixture(scope="session", autouse=True)
def _embedding_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Keep the embedder's on-disk cache out of the user's home during tests."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CURATE_CACHE_DIR", str(tmp_path_factory.mktemp("embed_cache")))
        yield


@pytest.fixture
def clean_path(tmp_path: Path) -> Path:
    return write_jsonl(tmp_path / "clean.jsonl", clean_rows())


@pytest.fixture
def identity_like_path(tmp_path: Path) -> Path:
    path = tmp_path / "identity.json"
    path.write_text(json.dumps(IDENTITY_LIKE, ensure_ascii=False, indent=2), encoding="utf-8")
    return path
