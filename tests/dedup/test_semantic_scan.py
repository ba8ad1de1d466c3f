"""The inverted-list scan (matrix products per list) keeps exactly what faiss's own search keeps."""

from __future__ import annotations

import numpy as np
import pytest

import curate.dedup.semantic as sem
from curate.embed import unit_rows_in_place
from curate.progress import Progress
from curate.workers import available_cpus


def _planted(n: int, dim: int, seed: int) -> np.ndarray:
    """Unit vectors with near copies, and groups of 14 exact copies: with 11 neighbours per
    query their lists end in ties, which the scan must settle as faiss does."""
    rng = np.random.default_rng(seed)
    v = rng.standard_normal((n, dim)).astype(np.float32)
    v[n // 2 : n // 2 + 600] = v[:600] + 0.15 * rng.standard_normal((600, dim))
    v = np.concatenate([v, np.repeat(v[600:640], 14, axis=0)])
    return unit_rows_in_place(v.astype(np.float32))


def _both(index, base, queries, k, floor, own):  # noqa: ANN001, ANN202
    full_f = np.zeros(len(queries), bool)
    full_s = np.zeros(len(queries), bool)
    with Progress("test", len(queries), False) as bar:
        i, j = sem._faiss_search(
            index, queries, k, floor, floor, None if own else base, full_f, bar
        )
        si, sj, score = sem._scan_lists(index, queries, k, floor, full_s, bar)
    si, sj = sem._over(si, sj, score, floor, own)
    mine = set(zip(si.tolist(), sj.tolist(), strict=True))
    return (set(zip(i.tolist(), j.tolist(), strict=True)), full_f), (mine, full_s)


@pytest.mark.parametrize(("floor", "block"), [(0.75, None), (0.2, 3_000)])
def test_scan_keeps_the_index_own_pairs_and_full_flags(
    floor: float, block: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    if block is not None:  # lists scored in slices of queries
        monkeypatch.setattr(sem, "SCAN_BLOCK", block)
    vecs = _planted(sem.FLAT_LIMIT + 1_000, 32, seed=3)
    with sem.work_threads():
        index = sem._index(vecs, seed=0)
        assert hasattr(index, "nprobe")  # an IVF index: the scan is used
        (faiss_pairs, faiss_full), (scan_pairs, scan_full) = _both(
            index, vecs, vecs, 11, floor, own=True
        )
    assert scan_pairs == faiss_pairs
    assert np.array_equal(scan_full, faiss_full)
    assert faiss_full.sum() >= 40 * 14  # the tied groups' lists are full


def test_scan_against_another_set_one_neighbour() -> None:
    vecs = _planted(sem.FLAT_LIMIT + 2_000, 32, seed=4)
    base, queries = vecs[: sem.FLAT_LIMIT + 500], vecs[sem.FLAT_LIMIT + 500 :]
    with sem.work_threads():
        index = sem._index(base, seed=0)
        (faiss_pairs, faiss_full), (scan_pairs, scan_full) = _both(
            index, base, queries, 1, 0.5, own=False
        )
    assert scan_pairs == faiss_pairs and len(faiss_pairs) > 100
    assert np.array_equal(scan_full, faiss_full)


def test_semantic_search_gives_the_same_pairs_as_before() -> None:
    """End to end (projection, index, exact cosines): the scan's result equals the search
    through faiss's own loop."""
    vecs = _planted(sem.FLAT_LIMIT + 1_000, 96, seed=5)  # > SEARCH_DIMS: projected
    got = sem.semantic_search(vecs, neighbours=10, min_score=0.6)
    n = len(vecs)
    with sem.work_threads():
        sb, sq = sem._project(vecs, vecs, 0)
        index = sem._index(sb, 0)
        full = np.zeros(n, bool)
        with Progress("test", n, False) as bar:
            i, j = sem._faiss_search(index, sq, 11, 0.6, 0.6, None, full, bar)
    want = {(min(a, b), max(a, b)) for a, b in zip(i.tolist(), j.tolist(), strict=True)}
    assert {tuple(p) for p in got.pairs.tolist()} == want
    assert np.array_equal(got.full, full)


def test_too_many_candidates_give_the_search_back_to_faiss(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A low threshold would make the list scan gather far more candidates than faiss keeps
    (k per query): past the cap the search is faiss's own, with the same result."""
    vecs = _planted(sem.FLAT_LIMIT + 1_000, 96, seed=5)
    want = sem.semantic_search(vecs, neighbours=10, min_score=0.6)
    scans = []
    real_scan = sem._scan_lists

    def counted(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        scans.append(real_scan(*args, **kwargs))
        return scans[-1]

    monkeypatch.setattr(sem, "_scan_lists", counted)
    monkeypatch.setattr(sem, "SCAN_CANDIDATES_MAX", 3_000)
    bars = _bars(monkeypatch)
    got = sem.semantic_search(vecs, neighbours=10, min_score=0.6, progress=True)
    assert scans == [None]  # the scan gave up
    assert [bar.done for bar in bars] == [len(vecs)]  # faiss's search counted once
    assert np.array_equal(got.pairs, want.pairs) and np.array_equal(got.full, want.full)


def test_scan_threads_change_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    """The lists scanned on 1 or 2 threads (``CURATE_SCAN_THREADS``): the same candidates
    in the same order, the same scores and full flags, ties settled the same way."""
    vecs = _planted(sem.FLAT_LIMIT + 1_000, 32, seed=6)
    got = []
    with sem.work_threads():
        index = sem._index(vecs, seed=0)
        for threads in ("1", "2"):
            monkeypatch.setenv("CURATE_SCAN_THREADS", threads)
            assert sem.scan_threads() == min(int(threads), available_cpus())
            full = np.zeros(len(vecs), bool)
            with Progress("test", len(vecs), False) as bar:
                q, b, score = sem._scan_lists(index, vecs, 11, 0.5, full, bar)
            got.append((q.tobytes(), b.tobytes(), score.tobytes(), full.tobytes()))
    assert got[0] == got[1]
    assert full.sum() >= 40 * 14 and len(q) > len(vecs)  # ties and plenty of candidates


def test_scan_threads_stop_early_past_the_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    """Past ``SCAN_CANDIDATES_MAX`` the threaded scan gives up as the single one does, and
    leaves no thread behind."""
    import threading

    vecs = _planted(sem.FLAT_LIMIT + 1_000, 32, seed=6)
    monkeypatch.setattr(sem, "SCAN_CANDIDATES_MAX", 100)
    monkeypatch.setenv("CURATE_SCAN_THREADS", "2")
    with sem.work_threads():
        index = sem._index(vecs, seed=0)
        with Progress("test", len(vecs), False) as bar:
            got = sem._scan_lists(index, vecs, 11, 0.5, np.zeros(len(vecs), bool), bar)
    assert got is None
    assert not [t for t in threading.enumerate() if t.name.startswith("curate-scan")]


@pytest.mark.parametrize("threads", ["1", "2"])
def test_scan_gives_up_inside_a_list_past_the_cap(
    monkeypatch: pytest.MonkeyPatch, threads: str
) -> None:
    """One list of many copies of one vector holds far more candidates than the cap: the
    scan stops within that list, not after gathering all of it (memory, not the answer)."""
    import tracemalloc

    rng = np.random.default_rng(7)
    vecs = rng.standard_normal((sem.FLAT_LIMIT + 1_000, 32)).astype(np.float32)
    vecs[:6_000] = vecs[0]
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    monkeypatch.setattr(sem, "SCAN_CANDIDATES_MAX", 100_000)
    monkeypatch.setenv("CURATE_SCAN_THREADS", threads)
    with sem.work_threads():
        index = sem._index(vecs, seed=0)
        tracemalloc.start()
        try:
            with Progress("test", len(vecs), False) as bar:
                got = sem._scan_lists(index, vecs, 11, 0.5, np.zeros(len(vecs), bool), bar)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert got is None
    # 6,000 copies give 36M pairs (~580 MB of int64 candidates) when the list is gathered
    # whole; one block of the scan makes ~4M (~140 MB with its temporaries).
    assert peak < 250 * 2**20, peak


@pytest.mark.parametrize(("full_floor", "block"), [(0.6, None), (None, 3_000), (0.95, None)])
def test_scan_without_floor_keeps_every_query_k_best(
    full_floor: float | None, block: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``explain``'s search (no floor: each query's k best at any score) by the list scan:
    the index's own pairs and full flags, tied groups settled as faiss settles them."""
    if block is not None:
        monkeypatch.setattr(sem, "SCAN_BLOCK", block)
    vecs = _planted(sem.FLAT_LIMIT + 1_000, 32, seed=8)
    n = len(vecs)
    with sem.work_threads():
        index = sem._index(vecs, seed=0)
        full_f, full_s = np.zeros(n, bool), np.zeros(n, bool)
        with Progress("test", n, False) as bar:
            i, j = sem._faiss_search(index, vecs, 11, full_floor, None, None, full_f, bar)
            got = sem._scan_lists(index, vecs, 11, None, full_s, bar, full_floor=full_floor)
    assert got is not None
    si, sj = sem._over(*got, None, True)
    want = set(zip(i.tolist(), j.tolist(), strict=True))
    assert set(zip(si.tolist(), sj.tolist(), strict=True)) == want
    assert len(si) == len(want)  # no candidate twice
    # Every query's 11 best less itself, where a copy did not push it out of its own list.
    assert len(want) >= n * 10
    assert np.array_equal(full_s, full_f)
    if full_floor == 0.6:
        assert 40 * 14 <= full_f.sum() < n  # the tied groups' lists are full, not all


@pytest.mark.parametrize("chunk", [None, sem.SEARCH_CHUNK])
def test_explain_search_gives_the_same_pairs_as_faiss(
    chunk: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """End to end with ``min_score=None`` (``explain``): the scan's pairs, cosines and full
    flags equal the search through faiss's own loop, bit for bit (one chunk of queries, or
    three)."""
    if chunk is not None:
        monkeypatch.setattr(sem, "SCAN_QUERY_CHUNK", chunk)
    vecs = _planted(sem.FLAT_LIMIT + 1_000, 96, seed=9)
    scans = []
    real_scan = sem._scan_lists

    def counted(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        scans.append(real_scan(*args, **kwargs))
        return scans[-1]

    monkeypatch.setattr(sem, "_scan_lists", counted)
    got = sem.semantic_search(vecs, neighbours=10, min_score=None, full_floor=0.45)
    assert len(scans) == (1 if chunk is None else 3) and all(s is not None for s in scans)
    monkeypatch.setattr(sem, "_scan_lists", lambda *a, **k: None)
    want = sem.semantic_search(vecs, neighbours=10, min_score=None, full_floor=0.45)
    assert got.pairs.tobytes() == want.pairs.tobytes()
    assert got.sims.tobytes() == want.sims.tobytes()
    assert got.full.tobytes() == want.full.tobytes()
    assert 0 < want.full.sum() < len(vecs)


def test_best_first_orders_as_lexsort() -> None:
    """``_best_first``: by query, then score descending, as ``np.lexsort((-score, q))``,
    negative scores, zeros of both signs and ties included (equal keys in any order)."""
    rng = np.random.default_rng(10)
    q = rng.integers(0, 50, 20_000)
    score = rng.choice(np.float32([-0.75, -0.5, -0.0, 0.0, 0.25, 1.0]), 20_000)
    score[::7] = rng.standard_normal(score[::7].size).astype(np.float32)
    got, want = sem._best_first(q, score), np.lexsort((-score, q))
    assert np.array_equal(q[got], q[want])
    assert np.array_equal(score[got], score[want])  # -0.0 == 0.0 for the ties
    assert sorted(got.tolist()) == list(range(q.size))


def _scan_counted(monkeypatch: pytest.MonkeyPatch) -> list:
    """Every ``_scan_lists`` result, as the calls made it."""
    scans = []
    real_scan = sem._scan_lists

    def counted(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        scans.append(real_scan(*args, **kwargs))
        return scans[-1]

    monkeypatch.setattr(sem, "_scan_lists", counted)
    return scans


def _same_search(got: sem.Search, want: sem.Search) -> None:
    assert got.pairs.tobytes() == want.pairs.tobytes()
    assert got.sims.tobytes() == want.sims.tobytes()
    assert got.full.tobytes() == want.full.tobytes()


def test_explain_with_many_neighbours_is_faiss_search(monkeypatch: pytest.MonkeyPatch) -> None:
    """Past ``SCAN_RANKS_MAX`` the floors' ranks and the candidates cost more than faiss's
    search: ``explain``'s search is faiss's own, with its result."""
    vecs = _planted(sem.FLAT_LIMIT + 1_000, 32, seed=11)
    neighbours = sem.SCAN_RANKS_MAX  # k + 1 = SCAN_RANKS_MAX + 2
    scans = _scan_counted(monkeypatch)
    got = sem.semantic_search(vecs, neighbours=neighbours, min_score=None, full_floor=0.5)
    assert scans == []
    monkeypatch.setattr(sem, "_scan_lists", lambda *a, **k: None)
    _same_search(
        got, sem.semantic_search(vecs, neighbours=neighbours, min_score=None, full_floor=0.5)
    )


def test_scan_chunk_shrinks_as_k_grows() -> None:
    """More neighbours, fewer queries a chunk (the floors' ranks stay ~the default's), in
    whole search chunks."""
    assert sem._scan_chunk(11) == sem.SCAN_QUERY_CHUNK
    sizes = [sem._scan_chunk(k) for k in (11, 20, 33, sem.SCAN_RANKS_MAX - 1)]
    assert sizes == sorted(sizes, reverse=True) and sizes[-1] < sizes[0]
    for k, size in zip((11, 20, 33, sem.SCAN_RANKS_MAX - 1), sizes, strict=True):
        assert size % sem.SEARCH_CHUNK == 0 and size >= sem.SEARCH_CHUNK
        assert size * (k + 1) <= sem.SCAN_QUERY_CHUNK * sem.SCAN_CHUNK_RANKS


def test_explain_scan_with_more_neighbours_in_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Within ``SCAN_RANKS_MAX`` the scan, in the smaller chunks of a larger ``k``, gives
    faiss's result byte for byte."""
    vecs = _planted(sem.FLAT_LIMIT + 1_000, 32, seed=12)
    neighbours = sem.SCAN_RANKS_MAX - 2  # k + 1 = SCAN_RANKS_MAX
    monkeypatch.setattr(sem, "SCAN_QUERY_CHUNK", 4 * sem.SEARCH_CHUNK)
    assert sem._scan_chunk(neighbours + 1) == sem.SEARCH_CHUNK
    scans = _scan_counted(monkeypatch)
    got = sem.semantic_search(vecs, neighbours=neighbours, min_score=None, full_floor=0.5)
    assert len(scans) == 3 and all(s is not None for s in scans)
    monkeypatch.setattr(sem, "_scan_lists", lambda *a, **k: None)
    _same_search(
        got, sem.semantic_search(vecs, neighbours=neighbours, min_score=None, full_floor=0.5)
    )


def test_scan_floor_minus_infinity_where_first_lists_are_short() -> None:
    """Lists shorter than ``k + 1`` over a query's first ``FLOOR_LISTS``: no floor (-inf)
    for it, every row it scans gathered, and the index's own k best still kept (its worst
    ones score below zero here, so a floor of 0 would lose them)."""
    import faiss

    rng = np.random.default_rng(13)
    vecs = unit_rows_in_place(rng.standard_normal((3_000, 128)).astype(np.float32))
    n, k = len(vecs), 40
    with sem.work_threads():
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(128), 128, 600, faiss.METRIC_INNER_PRODUCT)
        index.cp.seed, index.cp.niter, index.cp.min_points_per_centroid = 0, 8, 1
        index.train(vecs)
        index.nprobe = sem.NPROBE
        index.add(vecs)
        _, probes = index.quantizer.search(vecs, sem.NPROBE)
        floors = sem._first_list_floors(index, vecs, probes, k)
        assert np.isneginf(floors).any()
        full_f, full_s = np.zeros(n, bool), np.zeros(n, bool)
        with Progress("test", n, False) as bar:
            i, j = sem._faiss_search(index, vecs, k, None, None, None, full_f, bar)
            got = sem._scan_lists(index, vecs, k, None, full_s, bar)
    assert got is not None
    si, sj = sem._over(*got, None, True)
    want = set(zip(i.tolist(), j.tolist(), strict=True))
    assert set(zip(si.tolist(), sj.tolist(), strict=True)) == want
    assert len(si) == len(want)
    # Queries without a floor keep candidates below 0 (a floor of 0 would lose them).
    assert (got[2][np.isneginf(floors)[got[0]]] < 0).any()
    assert np.array_equal(full_s, full_f)


def _bars(monkeypatch: pytest.MonkeyPatch) -> list[Progress]:
    """The progress bars ``semantic_search`` makes."""
    made: list[Progress] = []

    class Kept(Progress):
        def __init__(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
            super().__init__(*args, **kwargs)
            made.append(self)

    monkeypatch.setattr(sem, "Progress", Kept)
    return made


def test_explain_scan_past_the_cap_resumes_with_faiss(monkeypatch: pytest.MonkeyPatch) -> None:
    """The scan's second chunk passes the cap: faiss searches from that chunk on, the first
    chunk's codes are kept, the result is faiss's, and the bar ends at the row count."""
    vecs = _planted(sem.FLAT_LIMIT + 1_000, 32, seed=14)
    n = len(vecs)
    monkeypatch.setattr(sem, "SCAN_QUERY_CHUNK", sem.SEARCH_CHUNK)
    bars = _bars(monkeypatch)
    scans, searched = [], []
    real_scan, real_chunk = sem._scan_lists, sem._search_chunk

    def scan(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        with monkeypatch.context() as m:
            if scans:  # the second chunk: past the cap after its first lists
                m.setattr(sem, "SCAN_CANDIDATES_MAX", 20_000)
            scans.append(real_scan(*args, **kwargs))
        return scans[-1]

    def chunk(index, part, lo, *args):  # noqa: ANN001, ANN002, ANN202
        searched.append(lo)
        return real_chunk(index, part, lo, *args)

    monkeypatch.setattr(sem, "_scan_lists", scan)
    monkeypatch.setattr(sem, "_search_chunk", chunk)
    got = sem.semantic_search(vecs, neighbours=10, min_score=None, full_floor=0.45, progress=True)
    assert scans[0] is not None and scans[1:] == [None]
    assert searched == [sem.SEARCH_CHUNK, 2 * sem.SEARCH_CHUNK]  # not the first chunk again
    assert [bar.done for bar in bars] == [n]
    monkeypatch.setattr(sem, "_scan_lists", lambda *a, **k: None)
    _same_search(got, sem.semantic_search(vecs, neighbours=10, min_score=None, full_floor=0.45))
