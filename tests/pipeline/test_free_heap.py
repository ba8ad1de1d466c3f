"""The stage loop gives the C heap's free pages back before each stage (glibc), so what one
stage freed among the records still held is not resident under the next stage's peak."""

from __future__ import annotations

import ctypes.util
import os

import numpy as np
import pytest

from curate import heap
from curate.heap import release_free_heap
from curate.records import Record
from curate.stage import Batch, BatchResult, run_stages

PAGE = os.sysconf("SC_PAGE_SIZE")
MB = 1 << 20
# (Asks the C library itself: ``os.confstr("CS_GNU_LIBC_VERSION")`` raises OSError on musl.)
linux_glibc = pytest.mark.skipif(heap._malloc_trim() is None, reason="malloc_trim is glibc's")


@linux_glibc
def test_malloc_trim_is_found_without_a_library_search(monkeypatch: pytest.MonkeyPatch) -> None:
    """``ctypes.util.find_library`` ran ``ldconfig -p`` in a subprocess (~6 ms, gcc where
    ldconfig is missing) at every first use; the symbol is in this process already."""

    def searched(name: str) -> None:
        raise AssertionError(f"find_library({name!r}) called")

    monkeypatch.setattr(ctypes.util, "find_library", searched)
    heap._malloc_trim.cache_clear()
    try:
        assert heap._malloc_trim() is not None
    finally:
        heap._malloc_trim.cache_clear()


def _rss() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * PAGE


def _holes(n: int = 12_000, size: int = 8192) -> list[bytes]:
    """~n * size bytes of heap chunks made, one in 16 kept: the rest are free chunks between
    live ones, which glibc does not give back by itself (only the heap's top)."""
    made = [bytes([i % 251]) * size for i in range(n)]
    kept = made[::16]
    del made
    return kept


@linux_glibc
def test_release_free_heap_returns_the_pages_between_live_chunks() -> None:
    kept = _holes()
    before = _rss()
    assert release_free_heap()
    assert before - _rss() > 40 * MB, (before / MB, _rss() / MB)
    assert all(b[:1] == bytes([(16 * i) % 251]) for i, b in enumerate(kept))  # untouched


@linux_glibc
def test_each_stage_starts_without_the_last_ones_free_heap() -> None:
    seen: dict[str, int] = {}
    held: list[bytes] = []

    class Churn:
        name = "churn"

        def __call__(self, batch: Batch, done: object) -> BatchResult:
            held.extend(_holes())
            seen["churn_end"] = _rss()
            return BatchResult.keep_all(batch, None)

    class Next:
        name = "next"

        def __call__(self, batch: Batch, done: object) -> BatchResult:
            seen["next_start"] = _rss()
            return BatchResult.keep_all(batch, None)

    batch = Batch.of([Record("s", i + 1, {"i": i}) for i in range(3)], np.zeros((3, 2), np.float32))
    out, done = run_stages([Churn(), Next()], batch, lambda d: None)
    assert len(out) == 3 and set(done) == {"churn", "next"}
    # 3202ffb: the ~70 MB freed in "churn" was still resident when "next" started.
    assert seen["churn_end"] - seen["next_start"] > 40 * MB, seen
    assert len(held) == 750


def test_dedup_gives_the_heap_back_before_each_method(monkeypatch: pytest.MonkeyPatch) -> None:
    """Between exact, near and semantic (one stage), the last method's garbage is released
    before the next one starts: the semantic step's peak sits on what the near pass left."""
    import curate.dedup.engine as engine
    from curate.dedup import DedupConfig, dedup

    calls: list[bool] = []

    def spy() -> bool:
        calls.append(release_free_heap())  # the real call, counted
        return calls[-1]

    monkeypatch.setattr(engine, "release_free_heap", spy)
    rows = [
        {"messages": [{"role": "user", "content": f"text {i % 5} of the set"}]} for i in range(20)
    ]
    recs = [Record("s", i + 1, r) for i, r in enumerate(rows)]
    res = dedup(recs, DedupConfig(methods=("exact", "near")))
    assert len(res.result.kept) == 5
    assert len(calls) == 2  # 3202ffb: none
