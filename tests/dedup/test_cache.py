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
