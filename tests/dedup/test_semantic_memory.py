"""The semantic search's lighter paths give the pairs the plain formula gives, bit for bit:
one set's faiss search (``explain``: every candidate kept, as ``curate run`` asks) reading its
queries back from the index's lists and keeping pair codes per chunk, with the index and the
projected rows freed before the pairs' cosines; and the list scan's pair codes."""

from __future__ import annotations

import tracemalloc
import weakref

import numpy as np
import pytest

import curate.dedup.semantic as sem
from curate.dedup.near import sorted_unique, sorted_unique_in_place
from curate.embed import unit_rows_in_place


def _vectors(n: int, dim: int, seed: int) -> np.ndarray:
    """Unit vectors sharing a common direction (as static embeddings do), with near copies."""
    rng = np.random.default_rng(seed)
    v = rng.standard_normal((n, dim)).astype(np.float32) + 2.0
    v[n // 2 : n // 2 + 800] = v[:800] + 0.2 * rng.standard_normal((800, dim))
    return unit_rows_in_place(v.astype(np.float32))


def _plain(vecs: np.ndarray, neighbours: int, floor: float, min_score: float | None) -> tuple:
    """What the search computed before: the projected array kept beside the index, every
    candidate's two rows gathered, then ``sorted_unique`` of their codes."""
    n = len(vecs)
    with sem.faiss_threads():
        base, queries = sem._project(vecs, vecs, 0)
        index = sem._index(base, 0)
        k = neighbours + 1
        full = np.zeros(n, dtype=bool)
        found_i, found_j = [], []
        for lo in range(0, n, sem.SEARCH_CHUNK):
            scores, idx = index.search(queries[lo : lo + sem.SEARCH_CHUNK], k)
            ok_last = (idx[:, -1] >= 0) & (scores[:, -1] >= floor)
            full[lo : lo + len(idx)] = ok_last
            rows = np.repeat(np.arange(lo, lo + len(idx)), k)
            i, j = sem._over(rows, idx.ravel(), scores.ravel(), min_score, True)
            found_i.append(i)
            found_j.append(j)
    i, j = np.concatenate(found_i), np.concatenate(found_j)
    codes = sorted_unique(np.minimum(i, j) * n + np.maximum(i, j))
    pairs = np.stack((codes // n, codes % n), axis=1)
    sims = np.minimum(np.einsum("ij,ij->i", vecs[pairs[:, 0]], vecs[pairs[:, 1]]), 1.0)
    return pairs, sims.astype(np.float64), full


@pytest.mark.parametrize("min_score", [None, 0.3, 0.36])
def test_one_set_search_equals_the_plain_search(monkeypatch, min_score) -> None:
    monkeypatch.setattr(sem, "SEARCH_CHUNK", 1_000)  # many chunks, one uneven
    monkeypatch.setattr(sem, "PAIR_CHUNK", 777)
    vecs = _vectors(sem.FLAT_LIMIT + 1_500, 96, seed=7)  # > FLAT_LIMIT and SEARCH_DIMS
    want = _plain(vecs, 10, 0.35, min_score)
    # None is ``explain`` and 0.3 a floor under ``full_floor`` (faiss's search); 0.36 is
    # over it (the list scan).
    got = sem.semantic_search(vecs, neighbours=10, min_score=min_score, full_floor=0.35)
    assert len(want[0]) > 1_000 and want[2].any() and not want[2].all()
    assert np.array_equal(got.pairs, want[0])
    assert np.array_equal(got.sims, want[1])
    assert np.array_equal(got.full, want[2])


def test_queries_read_back_from_the_index_are_the_projected_rows() -> None:
    vecs = _vectors(sem.FLAT_LIMIT + 500, 96, seed=8)
    with sem.faiss_threads():
        base, _ = sem._project(vecs, vecs, 0)
        index = sem._index(base, 0)
        queries = sem._Queries(index, base)
        assert queries.array is None  # the array is not kept: the lists are read
        for lo, hi in ((0, 1_000), (4_321, 8_500)):
            assert np.array_equal(queries[lo:hi], base[lo:hi])


def test_list_scan_pair_codes_equal_sorted_unique() -> None:
    rng = np.random.default_rng(2)
    i = rng.integers(0, 5_000, 40_000)
    j = rng.integers(0, 5_000, 40_000)
    want = sorted_unique(np.minimum(i, j) * 5_000 + np.maximum(i, j))
    assert np.array_equal(sem._pair_codes(i, j, 5_000), want)
    assert np.array_equal(want, np.unique(np.minimum(i, j) * 5_000 + np.maximum(i, j)))
    for size in (0, 1):
        a = np.arange(size, dtype=np.int64)
        assert np.array_equal(sorted_unique_in_place(a), a)
    # In place: the caller's array is the one sorted (no sorted copy beside it).
    own = rng.integers(0, 50, 1_000)
    before = own.copy()
    got = sorted_unique_in_place(own)
    assert np.array_equal(own, np.sort(before))
    assert np.array_equal(got, np.unique(before))


def test_a_chunk_of_queries_numbers_only_its_own_rows() -> None:
    """A chunk read back from the index's lists numbers its own rows only: an arange over
    all n rows cut down to each chunk made the reads O(n^2 / chunk) (~2 GB written per
    search at 1M rows, tens of seconds at 10M)."""
    import faiss

    rng = np.random.default_rng(3)
    base = unit_rows_in_place(rng.standard_normal((2_000, 8)).astype(np.float32))
    with sem.faiss_threads():
        quantizer = faiss.IndexFlatIP(8)
        index = faiss.IndexIVFFlat(quantizer, 8, 4, faiss.METRIC_INNER_PRODUCT)
        index.train(base)
        index.add(base)
        # 5M rows declared (only the shape is read), 2,000 in the lists: the chunk asks
        # the index for its 1,000 rows; numbering all 5M rows first took 40 MB.
        queries = sem._Queries(index, np.broadcast_to(np.float32(0), (5_000_000, 8)))
        assert queries.array is None
        tracemalloc.start()
        try:
            got = queries[100:1_100]
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert np.array_equal(got, base[100:1_100])
    assert peak < 1_000_000  # the chunk's rows and numbers (~40 KB)


def test_pairs_are_divided_out_of_their_codes_into_one_array() -> None:
    rng = np.random.default_rng(4)
    n = 50_000
    codes = sorted_unique(rng.integers(0, n * n, 200_000))
    want = np.stack((codes // n, codes % n), axis=1)
    tracemalloc.start()
    try:
        got = sem._code_pairs(codes, n)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert np.array_equal(got, want)
    assert got.dtype == want.dtype and got.flags.c_contiguous
    # The pairs alone (3.2 MB): a quotient and a remainder stacked took twice that.
    assert peak < got.nbytes + 1_000_000


@pytest.mark.parametrize("min_score", [None, 0.5])
def test_the_pairs_cosines_are_computed_without_the_index_alive(monkeypatch, min_score) -> None:
    """At the pairs' cosines nothing of the search is left: the index is gone (its memory is
    faiss's, which tracemalloc does not see: a weak reference to it tells), and the traced
    memory is the pairs and a chunk of rows, not the projected rows and the candidates beside
    them. The projected rows are gone before the candidates' codes are made too: on faiss's
    path (None: ``explain``) and on the list scan's (0.5)."""
    vecs = _vectors(sem.FLAT_LIMIT + 4_000, 256, seed=9)
    n = len(vecs)
    seen: list[int] = []
    refs: dict[str, list] = {"index": [], "projected": []}
    make_index, project, pair_codes, dots = sem._index, sem._project, sem._pair_codes, sem._dots

    def gone(kind: str) -> bool:
        return bool(refs[kind]) and all(ref() is None for ref in refs[kind])

    def index_spy(base, seed):  # noqa: ANN001, ANN202
        index = make_index(base, seed)
        refs["index"].append(weakref.ref(index))
        return index

    def project_spy(base, queries, seed):  # noqa: ANN001, ANN202
        out = project(base, queries, seed)
        refs["projected"] += [weakref.ref(a) for a in out]
        return out

    def pair_codes_spy(i, j, n):  # noqa: ANN001, ANN202
        assert gone("projected")
        return pair_codes(i, j, n)

    def dots_spy(a, b, pairs):  # noqa: ANN001, ANN202
        assert gone("index") and gone("projected")
        seen.append(tracemalloc.get_traced_memory()[0] - start)
        return dots(a, b, pairs)

    # A first search imports faiss and fills the libraries' caches, outside the trace.
    sem.semantic_search(vecs[:9_000], neighbours=10, min_score=min_score, full_floor=0.5)
    for name, spy in (
        ("_index", index_spy),
        ("_project", project_spy),
        ("_pair_codes", pair_codes_spy),
        ("_dots", dots_spy),
    ):
        monkeypatch.setattr(sem, name, spy)
    tracemalloc.start()
    try:
        start = tracemalloc.get_traced_memory()[0]
        found = sem.semantic_search(vecs, neighbours=10, min_score=min_score, full_floor=0.5)
    finally:
        tracemalloc.stop()
    assert len(found.pairs) >= 800  # the planted near copies at least
    pairs_bytes = found.pairs.nbytes + found.full.nbytes
    # Before: the projected rows (n x 64 float32) and the candidates' rows and codes
    # (~5 x 8 bytes per candidate) were alive here too, ~3x the pairs.
    assert seen and seen[0] < pairs_bytes + n * 16
