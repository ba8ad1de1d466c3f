"""What the split holds while its leakage check runs (issue 15, memT): `best_matches` frees
each score block before making the next, and the split drops its groups before the check.
Same answers as the old code (its loop is copied here as the reference)."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

import curate.dedup.semantic as semantic
import curate.split as split_mod
from curate.dedup import DedupConfig
from curate.dedup.semantic import Rows, best_matches, centered_on
from curate.records import Record
from curate.split import SplitConfig, split_records


def _old_best_matches(
    queries: np.ndarray, base: Rows, min_score: float, mean: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """`best_matches` as of 6e74b8a (each block still bound when the next is made)."""
    q = np.ascontiguousarray(queries, dtype=np.float32)
    best = np.full(q.shape[0], -np.inf, dtype=np.float32)
    arg = np.full(q.shape[0], -1, dtype=np.int64)

    def rows(b: np.ndarray, own: bool) -> np.ndarray:
        return b if mean is None else centered_on(b, mean, in_place=own)

    for lo, part in base.chunks(semantic.DOT_CHUNK):
        scores = rows(part, not base.plain) @ q.T
        top = scores.argmax(axis=0)
        val = scores[top, np.arange(q.shape[0])]
        better = val > best
        best[better], arg[better] = val[better], top[better] + lo
    hit = np.flatnonzero(arg >= 0)
    pairs = np.stack((hit, arg[hit]), axis=1) if hit.size else np.zeros((0, 2), np.int64)
    sims = np.zeros(0)
    if hit.size:
        matched = rows(base.take(arg[hit]), True)
        sims = np.minimum(np.einsum("ij,ij->i", q[hit], matched).astype(np.float64), 1.0)
    ok = sims >= min_score
    return pairs[ok], sims[ok]


def _unit(rng: np.random.Generator, n: int, dims: int) -> np.ndarray:
    x = rng.standard_normal((n, dims)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.mark.parametrize("centre", [False, True])
def test_best_matches_equals_the_old_loop(monkeypatch: pytest.MonkeyPatch, centre: bool) -> None:
    monkeypatch.setattr(semantic, "DOT_CHUNK", 1000)
    rng = np.random.default_rng(7)
    array = _unit(rng, 5500, 32)
    idx = rng.permutation(5500)[:4300]
    mean = array.mean(axis=0) if centre else None
    base = Rows(array, idx, mean)
    q = _unit(rng, 300, 32)
    q[:40] = array[idx[rng.integers(0, 4300, 40)]] + 0.01  # near copies: matches to find
    if mean is not None:
        q = centered_on(q, mean)
    got = best_matches(q, base, 0.5, mean)
    want = _old_best_matches(q, base, 0.5, mean)
    assert len(want[0]) >= 40
    assert np.array_equal(got[0], want[0])
    assert got[1].tobytes() == want[1].tobytes()


def test_best_matches_holds_one_score_block(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(semantic, "DOT_CHUNK", 4096)
    rng = np.random.default_rng(3)
    array = _unit(rng, 4 * 4096, 8)
    base = Rows(array, np.arange(len(array)))  # chunks are copies, as the split's sides
    q = _unit(rng, 600, 8)
    block = 4096 * 600 * 4
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        best_matches(q, base, 0.9)
        peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    # 6e74b8a: two blocks (the last one still bound while the next product is made).
    assert peak < 1.5 * block, peak / block


def test_the_split_holds_no_groups_through_its_check(monkeypatch: pytest.MonkeyPatch) -> None:
    n = 30_000
    records = [
        Record("t.jsonl", i + 1, {"messages": [{"role": "user", "content": f"text {i}"}]})
        for i in range(n)
    ]
    seen: dict[str, int] = {}
    real_allocate = split_mod.allocate

    def allocate(*args, **kwargs):  # type: ignore[no-untyped-def]
        out = real_allocate(*args, **kwargs)
        seen["allocated"] = tracemalloc.get_traced_memory()[0]
        return out

    def leakage(*_args, **_kwargs) -> list[tuple[int, str, int]]:  # type: ignore[no-untyped-def]
        seen["check"] = tracemalloc.get_traced_memory()[0]
        return []

    monkeypatch.setattr(split_mod, "allocate", allocate)
    monkeypatch.setattr(split_mod, "_leakage", leakage)
    cfg = SplitConfig(test_size=0.2, seed=1, keep_duplicates_together=False)
    tracemalloc.start()
    try:
        result = split_records(records, cfg, dedup_config=DedupConfig(methods=("exact",)))
    finally:
        tracemalloc.stop()
    assert sum(len(v) for v in result.splits.values()) == n
    # Every record its own group: a dict entry and a one-item list each (~100 bytes).
    assert seen["allocated"] - seen["check"] > 60 * n, (seen["allocated"] - seen["check"]) / n


def test_column_argmax_equals_numpys() -> None:
    rng = np.random.default_rng(5)
    scores = rng.integers(-3, 4, size=(700, 301)).astype(np.float32)  # many ties
    scores[5, 7] = np.nan  # argmax picks the first NaN, as numpy's does
    for width in (1, 7, 128, 301, 1000):
        assert np.array_equal(semantic._column_argmax(scores, width), scores.argmax(axis=0))
