"""`dedup` runs without the cycle collector (issue 15): its full collections walked every
record the caller holds, set off by the embedder's and the union-finds' small objects."""

from __future__ import annotations

import gc
import sys
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

import pytest

import curate
from curate.dedup import DedupConfig, dedup
from tests.dedup.identity_data import identity_records

CURATE = Path(curate.__file__).resolve().parent


def _curate_work(frame: FrameType | None) -> str | None:
    """The innermost frame of curate's own work under a ``dedup`` call, if any: not
    ``dedup``'s entry (which pauses the collector) nor the pause itself, where a collection
    may still start."""
    work = None
    while frame is not None:
        code = frame.f_code
        path = Path(code.co_filename)
        if path.is_relative_to(CURATE) and path.name != "gcpause.py":
            if code.co_name == "dedup" and path.name == "engine.py":
                return work
            work = work or f"{path.name}:{code.co_name}"
        frame = frame.f_back
    return None


@pytest.fixture
def eager_collector() -> Iterator[list[str]]:
    """A collection on (almost) every allocation; those started inside curate's code noted."""
    seen: list[str] = []
    threshold = gc.get_threshold()

    def note(phase: str, _info: dict) -> None:
        where = _curate_work(sys._getframe(1)) if phase == "start" else None
        if where is not None:
            seen.append(where)

    gc.set_threshold(1, 1, 1)
    gc.callbacks.append(note)
    try:
        yield seen
    finally:
        gc.callbacks.remove(note)
        gc.set_threshold(*threshold)


def test_dedup_collects_nothing_and_turns_the_collector_back_on(
    tmp_path: Path, eager_collector: list[str]
) -> None:
    records = identity_records(300)
    cfg = DedupConfig(methods=("exact", "near", "semantic"), model="fast", cache_dir=tmp_path)
    assert gc.isenabled()
    res = dedup(records, cfg)
    assert res.clusters  # the data has duplicates: every method really ran
    assert {c.method for c in res.clusters} >= {"exact", "semantic"}
    # Without the pause: thousands, in the embedder, the search and the clusters.
    assert eager_collector == []
    assert gc.isenabled()


def test_dedup_leaves_a_paused_collector_paused(tmp_path: Path) -> None:
    gc.disable()
    try:
        dedup(identity_records(50), DedupConfig(methods=("exact",), cache_dir=tmp_path))
        assert not gc.isenabled()
    finally:
        gc.enable()
