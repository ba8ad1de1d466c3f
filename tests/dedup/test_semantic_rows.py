"""The semantic search over ``Rows`` (the run's vectors read in place, centred row by row)
gives what it gave over a centred copy of the rows, bit for bit; the encoders' chunked
normalisation gives the whole array's bits."""

from __future__ import annotations

import numpy as np

import curate.dedup.semantic as sem
from curate.embed import StaticEmbedder, fast_model_path, unit_rows_in_place


def _vectors(n: int, dim: int, seed: int) -> np.ndarray:
    """Unit vectors sharing a common direction (as static embeddings do), with near copies."""
    rng = np.random.default_rng(seed)
    v = rng.standard_normal((n, dim)).astype(np.float32) + 2.0
    v[n // 2 : n // 2 + 800] = v[:800] + 0.2 * rng.standard_normal((800, dim))
    return unit_rows_in_place(v.astype(np.float32))


def test_rows_search_equals_the_search_of_a_centred_copy(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(sem, "ROW_CHUNK", 1_000)  # many chunks, one uneven
    vecs = _vectors(sem.FLAT_LIMIT + 2_500, 96, seed=3)  # > FLAT_LIMIT and SEARCH_DIMS
    idx = np.sort(np.random.default_rng(1).choice(len(vecs), sem.FLAT_LIMIT + 1_500, False))
    # What the engine did before: a copy of the rows alive, centred in place.
    copy = vecs[idx]
    mean = sem.centre_of(copy)
    rows = sem.Rows(vecs, idx)
    assert np.array_equal(rows.mean_of(), mean)
    rows.mean = mean
    centred = sem.centered_on(copy, mean, in_place=True)
    assert np.array_equal(rows.whole(), centred)
    args = dict(neighbours=10, min_score=0.55, full_floor=0.55, cache_dir=tmp_path)
    want = sem.semantic_search(centred, **args)
    got = sem.semantic_search(rows, **args)
    # The neighbour cache is keyed on the same bytes: the second search read the first's.
    assert len(list((tmp_path / "neighbours").glob("*.npz"))) == 1
    fresh = sem.semantic_search(rows, **{**args, "cache_dir": None})
    for found in (got, fresh):
        assert np.array_equal(found.pairs, want.pairs) and len(want.pairs) > 500
        assert np.array_equal(found.sims, want.sims)
        assert np.array_equal(found.full, want.full)
        for a, b in want.pairs[:50].tolist():
            assert found.similarity(a, b) == want.similarity(a, b)


def test_projection_of_rows_equals_the_projection_of_the_array() -> None:
    vecs = _vectors(sem.FLAT_LIMIT + 500, 96, seed=4)
    queries = _vectors(3_000, 96, seed=5)
    with sem.work_threads():
        b0, q0 = sem._project(vecs, queries, 0)
        b1, q1 = sem._project(sem.Rows(vecs, np.arange(len(vecs))), sem.Rows(queries), 0)
    assert np.array_equal(b0, b1) and np.array_equal(q0, q1)
    # What the old code computed: the whole product, then a normalised copy.
    rng = np.random.default_rng(0)
    sample = vecs[np.sort(rng.choice(len(vecs), min(len(vecs), sem.PCA_SAMPLE), False))]
    m = sample.mean(axis=0)
    c = (sample - m).astype(np.float64)
    _, ev = np.linalg.eigh(c.T @ c)
    proj = np.ascontiguousarray(ev[:, ::-1][:, : sem.SEARCH_DIMS], dtype=np.float32)
    with sem.work_threads():
        assert np.array_equal(b1, unit_rows_in_place((vecs - m) @ proj))


def test_static_encoder_normalises_chunks_as_the_whole(monkeypatch) -> None:
    import curate.embed as embed

    monkeypatch.setattr(embed, "ENCODE_CHUNK", 3)  # chunks of 12 texts
    rng = np.random.default_rng(2)
    words = ["alpha", "beta", "gamma", "delta", "kappa", "omega", "tea", "code", "x"]
    texts = [" ".join(rng.choice(words, 1 + i % 9)) for i in range(50)]
    emb = StaticEmbedder(fast_model_path())
    got = emb.encode(texts)
    model = emb._load()
    parts = [model.encode(texts[lo : lo + 12], show_progress_bar=False) for lo in range(0, 50, 12)]
    assert np.array_equal(got, unit_rows_in_place(np.concatenate(parts).astype(np.float32)))


def test_slot_guard_by_groups_answers_each_pair_as_alone() -> None:
    """The slot guard takes the pairs a connected group at a time (and drops each group's
    slots after it): every pair gets the answer it gets on its own."""
    from curate.dedup import DedupConfig
    from curate.dedup.engine import Engine
    from curate.dedup.slots import Slots, different_slots
    from tests.dedup.dedup_data import chat, records_of

    rng = np.random.default_rng(7)
    names = ["Ingrid Berg", "Tom Hale", "Ana Ruiz", "Li Wei", "Sam Orr"]
    rows = [
        chat(f"Bill {names[i % 5]} in Seville ${10 + i % 2},950 for the order", "ok")
        for i in range(60)
    ]
    records = records_of(rows)
    engine = Engine(records, DedupConfig(methods=("semantic",), cache_dir=False))
    # Pairs inside 5 blocks of 12 records: 5 groups, taken in another order than the pairs'.
    drawn = rng.integers(0, 12, (300, 2)) + 12 * rng.integers(0, 5, (300, 1))
    pairs = np.array(sorted({tuple(sorted(p)) for p in drawn.tolist() if p[0] != p[1]}))
    raw = engine.texts.raw
    want = [not different_slots(Slots(raw(a)), Slots(raw(b))) for a, b in pairs.tolist()]
    got = engine._same_slots(pairs, int, int, engine)
    assert 0 < sum(want) < len(want)
    assert np.array_equal(got, pairs[np.array(want)])
    assert engine.slot_rejected == len(want) - sum(want)
    assert len(Engine._pair_groups(pairs)) == 5


def test_centre_of_keeps_numpys_mean_bits(monkeypatch) -> None:
    """``centre_of`` sums through ``Rows.mean_of`` a chunk at a time: the bits of numpy's
    float64 mean of all the rows together, whatever the chunking."""
    rng = np.random.default_rng(11)
    a = (rng.standard_normal((2_345, 64)) + 3.0).astype(np.float32)
    b = (rng.standard_normal((678, 64)) * 5.0).astype(np.float32)
    want = np.concatenate([a, b]).mean(axis=0, dtype=np.float64).astype(np.float32)
    for chunk in (sem.ROW_CHUNK, 1_000, 97, 1):
        monkeypatch.setattr(sem, "ROW_CHUNK", chunk)
        assert np.array_equal(sem.centre_of(a, b), want)
        assert np.array_equal(sem.centre_of(a), a.mean(axis=0, dtype=np.float64).astype(np.float32))
    assert sem.centre_of(a[:0]) is None


def test_cosine_of_rows_equals_cosine_of_their_arrays() -> None:
    vecs = _vectors(2_000, 32, seed=8)
    idx = np.arange(100, 400)
    mean = sem.centre_of(vecs[idx])
    centred = sem.centered_on(vecs[idx], mean)
    rows = sem.Rows(vecs, idx, mean)
    by_array, by_rows = sem.cosine_of(centred, centred), sem.cosine_of(rows, rows)
    plain = sem.cosine_of(sem.Rows(vecs), sem.Rows(vecs))
    for i, j in np.random.default_rng(0).integers(0, 300, (50, 2)).tolist():
        assert by_rows(i, j) == by_array(i, j)
        assert plain(i, j) == sem.cosine_of(vecs, vecs)(i, j)


def test_projection_in_the_vectors_own_memory_gives_the_same_bits_and_puts_them_back(
    monkeypatch,
) -> None:
    """A large projection operand is made in the run's vector array (its bytes kept in a
    temporary file and written back): the projected rows are those of an operand of its
    own, bit for bit, and the array is as it was, after an error too."""
    vecs = _vectors(30_000, 256, seed=5)  # 256 dims: the static model's
    before = vecs.copy()
    idx = np.sort(np.random.default_rng(2).choice(len(vecs), 27_000, False))
    rows = sem.Rows(vecs, idx)
    rows.mean = rows.mean_of()
    base, queries = sem.Rows(vecs, idx), rows  # one plain selection, one centred
    pmean = rows.take(np.arange(500)).mean(axis=0)
    proj = np.linalg.qr(np.random.default_rng(4).standard_normal((256, 64)))[0]
    proj = proj.astype(np.float32)
    spills: list[int] = []
    real = sem._spilled
    monkeypatch.setattr(sem, "_spilled", lambda a: spills.append(a.size) or real(a))
    monkeypatch.setattr(sem, "LEND_MIN_BYTES", 1 << 60)  # every operand its own array
    want = [sem._projected(r, pmean, proj) for r in (base, queries, sem.Rows(vecs))]
    assert spills == []
    monkeypatch.setattr(sem, "LEND_MIN_BYTES", 0)  # every operand in the vectors' memory
    got = [sem._projected(r, pmean, proj) for r in (base, queries, sem.Rows(vecs))]
    assert spills == [vecs.size] * 3
    for w, g in zip(want, got, strict=True):
        assert w.shape == g.shape and np.array_equal(w, g)
    assert np.array_equal(vecs, before)
    try:
        sem._projected(queries, pmean, proj[:100])  # a product that fails half-way
    except ValueError:
        pass
    else:
        raise AssertionError("the product should have failed")
    assert len(spills) == 4 and np.array_equal(vecs, before)
    # Rows out of order: the operand gets its own array, the vectors are never lent.
    sem._projected(sem.Rows(vecs, idx[::-1].copy()), pmean, proj)
    assert len(spills) == 4
