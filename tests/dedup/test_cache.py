"""The embedding cache: vectorised lookups and shard merging keep every vector right."""

from __future__ import annotations

import numpy as np

from curate import embed
from curate.embed import EmbeddingCache, get_embedder, text_key


def test_lookup_and_merge_return_the_stored_vectors(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(embed, "MAX_SHARDS", 3)
    rng = np.random.default_rng(0)
    cache = EmbeddingCache(tmp_path, "model-x")
    truth: dict[bytes, np.ndarray] = {}
    for shard in range(6):  # more shards than MAX_SHARDS: merged along the way
        texts = [f"text {shard} {i}" for i in range(50)] + ["shared text"]
        keys = [text_key(t) for t in texts]
        vecs = rng.standard_normal((len(keys), 8)).astype(np.float32)
        vecs[-1] = 0.5  # one model gives one vector per text, whichever shard holds it
        cache.store(keys, vecs)
        for k, v in zip(keys, vecs, strict=True):
            truth.setdefault(k, v)
    assert len(list(cache.dir.glob("shard-*.npz"))) <= 3
    fresh = EmbeddingCache(tmp_path, "model-x")  # a new process: read from disk
    probe = list(truth) + [text_key("never stored")]
    for c in (cache, fresh):
        vecs, found = c.lookup(probe)
        assert found.tolist() == [True] * len(truth) + [False]
        assert np.array_equal(vecs[:-1], np.stack(list(truth.values())))
        assert not vecs[-1].any()


def test_cached_embedder_rerun_embeds_nothing(tmp_path) -> None:
    texts = [f"sentence number {i} about the weather" for i in range(40)]
    first = get_embedder("fast", cache_dir=tmp_path)
    a = first.encode(texts)
    again = get_embedder("fast", cache_dir=tmp_path)
    b = again.encode(texts[::-1])
    assert (again.hits, again.misses) == (40, 0)
    assert np.array_equal(a, b[::-1])


def test_neighbour_search_is_cached_by_vectors_and_settings(tmp_path) -> None:
    from curate.dedup.semantic import semantic_search

    rng = np.random.default_rng(1)
    vecs = rng.standard_normal((2500, 16)).astype(np.float32)
    vecs[1::2] = vecs[::2] + 0.01 * rng.standard_normal((1250, 16)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    kw = {"neighbours": 3, "seed": 0, "min_score": 0.8}
    plain = semantic_search(vecs, **kw)
    cold = semantic_search(vecs, **kw, cache_dir=tmp_path)
    files = list((tmp_path / "neighbours").glob("*.npz"))
    assert len(files) == 1
    warm = semantic_search(vecs, **kw, cache_dir=tmp_path)
    for got in (cold, warm):
        assert np.array_equal(got.pairs, plain.pairs) and np.array_equal(got.sims, plain.sims)
    assert len(plain.pairs) >= 1250
    # Other vectors or other settings are another search, never a stale answer.
    moved = vecs.copy()
    moved[[0, 1]] = moved[[1, 0]]
    semantic_search(moved, **kw, cache_dir=tmp_path)
    semantic_search(vecs, **{**kw, "neighbours": 2}, cache_dir=tmp_path)
    assert len(list((tmp_path / "neighbours").glob("*.npz"))) == 3
