"""Near dedup's verified pairs, reused by a later near pass over the records dedup kept.

``curate run``'s audit computes the duplicate share again on the kept records, with dedup's
fingerprints (``Features.subset``). The Jaccard of a pair dedup verified depends only on the
two texts and the settings, so the later pass takes it from ``Features.verified`` instead of
shingling the texts again; the pairs, Jaccards and clusters must be the ones a fresh pass
finds.
"""

from __future__ import annotations

import random
from dataclasses import replace

import numpy as np
import pytest

from curate.dedup import DedupConfig, dedup, find_duplicates, find_leaks, near
from curate.dedup import engine as engine_module
from curate.dedup.engine import Engine
from curate.dedup.features import verified_between
from curate.records import Record

WORDS = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi".split()


def _records(n: int, seed: int) -> list[Record]:
    """Texts with many near copies (one or two words changed), some exact copies."""
    rng = random.Random(seed)
    bases = [" ".join(rng.choices(WORDS, k=rng.randint(8, 40))) for _ in range(n // 4)]
    out = []
    for i in range(n):
        words = rng.choice(bases).split()
        for _ in range(rng.randint(0, 2)):
            words[rng.randrange(len(words))] = rng.choice(WORDS)
        data = {"messages": [{"role": "user", "content": " ".join(words)}]}
        out.append(Record("t.jsonl", i + 1, data))
    return out


CFG = DedupConfig(methods=("exact", "near"), key="conversation", seed=0)


def _shingled(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The number of documents the engine's near passes shingle, one entry per pass."""
    counts: list[int] = []

    def counting(*args, shingles_of=None, **kw):
        counts.append(0)

        def counted(local: np.ndarray):
            counts[-1] += local.size
            return shingles_of(local)

        return near.near_pairs(*args, shingles_of=counted if shingles_of else None, **kw)

    monkeypatch.setattr(engine_module, "near_pairs", counting)
    return counts


def test_verified_between_keeps_the_pairs_of_the_rows_given() -> None:
    records = _records(400, 1)
    engine = Engine(records, CFG)
    engine.clusters(np.ones(len(records), dtype=bool))
    feats = engine.features()
    assert feats.verified is not None
    pairs, jac = feats.verified
    assert pairs.shape[0] > 100
    rng = np.random.default_rng(0)
    idx = np.sort(rng.choice(len(records), 250, replace=False))
    # Rows of two subsets, as the split's leakage check sees them (train, then test).
    first, second = idx[::2], idx[1::2]
    a, b = feats.subset(first), feats.subset(second)
    local = np.arange(a.lengths.size)[::3], np.arange(b.lengths.size)
    got = verified_between([a, b], [local[0], local[1]])
    assert got is not None
    got_map = {(int(p), int(q)): j for (p, q), j in zip(got[0].tolist(), got[1], strict=True)}
    docs = np.concatenate((first[local[0]], second[local[1]]))
    pos = {int(r): k for k, r in enumerate(docs.tolist())}
    want = {
        (min(pos[p], pos[q]), max(pos[p], pos[q])): j
        for (p, q), j in zip(pairs.tolist(), jac, strict=True)
        if p in pos and q in pos
    }
    assert got_map == want and len(want) > 5
    # Fingerprints of another run share no table: nothing is taken from it.
    other = Engine(records, CFG).features().subset(second)
    assert verified_between([a, other], [local[0], local[1]]) is None


def test_a_pass_over_the_kept_records_equals_a_fresh_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    records = _records(600, 2)
    # Dedup at a higher threshold than the later pass: that pass then finds near copies.
    result = dedup(records, replace(CFG, near_threshold=0.95))
    kept_rows = result.kept_rows
    assert result.features is not None and result.features.verified is not None
    kept = [records[i] for i in kept_rows.tolist()]
    known = result.features.subset(kept_rows)
    assert known.verified is not None and known.verified[0].shape[0] > 20
    shingled = _shingled(monkeypatch)
    reused = find_duplicates(kept, CFG, features=known)
    fresh = find_duplicates(kept, CFG)
    assert reused == fresh
    # The reuse is real: the pass over the kept records shingles fewer documents.
    assert len(shingled) == 2 and shingled[0] < shingled[1]
    assert sum(len(c.removed) for c in fresh if c.method == "near") > 5


def test_near_pairs_reads_no_text_of_a_known_pair() -> None:
    records = _records(500, 3)
    engine = Engine(records, CFG)
    feats = engine.features()
    n = len(records)
    kw = dict(
        shingle_size=CFG.shingle_size,
        num_perm=CFG.num_perm,
        bands=CFG.bands,
        seed=CFG.seed,
        sig=feats.sig,
        usable=feats.usable,
    )
    read: list[int] = []

    def docs_of(local: np.ndarray) -> list[bytes]:
        read.extend(local.tolist())
        return [engine.texts.words(int(k)) for k in local.tolist()]

    pairs, sims, sim = near.near_pairs(docs_of, n, **kw)
    fresh_reads = len(read)
    # Half the pairs known: only the other half's documents are read.
    half = np.arange(0, pairs.shape[0], 2)
    read.clear()
    again, again_sims, again_sim = near.near_pairs(
        docs_of, n, verified=(pairs[half], sims[half]), **kw
    )
    assert np.array_equal(again, pairs)
    assert again_sims.tolist() == sims.tolist()
    assert len(read) < fresh_reads
    rest = {int(k) for p in np.delete(pairs, half, axis=0).tolist() for k in p}
    assert set(read) == rest
    for a, b in pairs[:30].tolist():
        assert again_sim(a, b) == sim(a, b) == again_sim(b, a)


def test_stable_argsort_is_numpys_stable_argsort() -> None:
    """``candidate_pairs`` sorts each band's keys with ``stable_argsort``: the order of a
    bucket's members decides which pairs its 64-member window forms."""
    rng = np.random.default_rng(4)
    for n in (0, 1, 2, 5, 100, 5000):
        for distinct in (1, 3, max(1, n // 10), max(1, n)):
            key = rng.integers(0, distinct, n).astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
            order, ks = near.stable_argsort(key)
            want = np.argsort(key, kind="stable")
            assert np.array_equal(order, want)
            assert np.array_equal(ks, key[want])


def test_a_leakage_check_between_kept_records_equals_a_fresh_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The split's leakage check (train against test) takes dedup's Jaccards too."""
    records = _records(600, 5)
    result = dedup(records, replace(CFG, near_threshold=0.95))
    rows = result.kept_rows
    train, test = rows[rows % 3 != 0], rows[rows % 3 == 0]
    feats = result.features
    assert feats is not None
    both = [feats.subset(train), feats.subset(test)]
    assert verified_between(both, [np.arange(train.size), np.arange(test.size)]) is not None
    side = [[records[i] for i in r.tolist()] for r in (train, test)]
    shingled = _shingled(monkeypatch)
    reused = find_leaks(
        side[0],
        CFG,
        side[1],
        features=feats.subset(train),
        against_features=feats.subset(test),
    )
    fresh = find_leaks(side[0], CFG, side[1])
    assert len(shingled) == 2 and shingled[0] < shingled[1]
    assert [(k.index, k.method, k.similarity, k.match_index) for k in reused] == [
        (k.index, k.method, k.similarity, k.match_index) for k in fresh
    ]
    assert sum(k.method == "near" for k in fresh) > 5
