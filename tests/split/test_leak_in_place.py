"""The split's leakage check reads both sides' signatures in place (issue 15, mem22).

``Features.subset`` no longer copies the signatures (a subset reads the rows of the array it
was taken from), the near check passes both sides' rows of that one array to
``candidate_pairs`` (``sig_rows``) instead of joining copies, and ``candidate_pairs`` drops
the pairs inside one set a band at a time. The pairs, leaks and split must be the ones the
copies gave, and the check must hold far less memory than it did.
"""

from __future__ import annotations

import random
import tracemalloc
from dataclasses import replace

import numpy as np

import curate.split as split_mod
from curate.dedup import DedupConfig, find_leaks
from curate.dedup.features import Features, compute_features
from curate.dedup.near import (
    _Q,
    BUCKET_WINDOW,
    U64,
    _mix64_into,
    candidate_pairs,
    sorted_unique,
    stable_argsort,
)
from curate.records import Record

WORDS = (
    "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho"
    " sigma tau upsilon phi chi psi omega red green blue cyan amber violet olive coral"
).split()
CFG = DedupConfig(methods=("exact", "near"), key="conversation", seed=0)


def _records(n: int, seed: int) -> list[Record]:
    """Distinct texts, a tenth of them near copies (one word changed) of another."""
    rng = random.Random(seed)
    texts: list[str] = []
    for i in range(n):
        if i >= 10 and rng.random() < 0.1:
            words = rng.choice(texts).split()
            words[rng.randrange(len(words))] = rng.choice(WORDS)
        else:
            words = rng.choices(WORDS, k=rng.randint(12, 30))
        texts.append(" ".join(words))
    return [
        Record("t.jsonl", i + 1, {"messages": [{"role": "user", "content": t}]})
        for i, t in enumerate(texts)
    ]


def _copied(features: Features, idx: np.ndarray) -> Features:
    """``Features.subset`` as it was: every array a copy of the rows."""
    assert features.sig is not None and features.usable is not None
    return Features(
        features.settings,
        features.digests[idx],
        features.lengths[idx],
        features.signatures_of(idx),
        features.usable[idx],
        None if features.blank is None else features.blank[idx],
        features.verified,
        features.origin_of(idx),
    )


def _old_candidate_pairs(sig: np.ndarray, usable: np.ndarray, bands: int, cross: int | None):
    """``candidate_pairs`` before: every band's pairs kept, the cross filter at the end."""
    ids = np.flatnonzero(usable)
    if ids.size < 2:
        return np.zeros((0, 2), dtype=np.int64)
    rows = sig.shape[1] // bands
    found = []
    for b in range(bands):
        band = sig[ids, b * rows : (b + 1) * rows]
        key = band[:, 0].astype(U64)
        for r in range(1, rows):
            key = key * _Q + band[:, r].astype(U64)
        key = _mix64_into(key + U64(b))
        order, ks = stable_argsort(key)
        for d in range(1, BUCKET_WINDOW + 1):
            same = np.flatnonzero(ks[:-d] == ks[d:])
            if same.size == 0:
                break
            found.append(np.stack((ids[order[same]], ids[order[same + d]]), axis=1))
    if not found:
        return np.zeros((0, 2), dtype=np.int64)
    pairs = np.sort(np.concatenate(found), axis=1)
    if cross is not None:
        pairs = pairs[(pairs[:, 0] < cross) & (pairs[:, 1] >= cross)]
    n = int(usable.shape[0])
    codes = sorted_unique(pairs[:, 0] * n + pairs[:, 1])
    return np.stack((codes // n, codes % n), axis=1)


def test_cross_candidate_pairs_equal_the_old_formula() -> None:
    rng = np.random.default_rng(3)
    n = 6_000
    # Few distinct values: many buckets shared, inside each set and across.
    sig = rng.integers(0, 3, (n, 16), dtype=np.uint32)
    usable = rng.random(n) > 0.05
    rows = rng.permutation(n)  # the documents are rows of a bigger array, shuffled
    for cross in (1, 700, 3_000, n - 1):
        want = _old_candidate_pairs(sig[rows], usable, 8, cross)
        got = candidate_pairs(sig, usable, 8, cross, sig_rows=rows)
        assert want.shape[0] > 100
        assert np.array_equal(got, want)
    want = _old_candidate_pairs(sig[rows], usable, 8, None)
    assert np.array_equal(candidate_pairs(sig, usable, 8, None, rows), want)


def test_subset_reads_the_signatures_in_place() -> None:
    records = _records(300, 1)
    feats = compute_features(records, CFG, True)
    rng = np.random.default_rng(1)
    idx = rng.permutation(300)[:200]
    sub = feats.subset(idx)
    assert sub.sig is feats.sig  # no copy
    inner = np.array([5, 0, 199, 42])
    again = sub.subset(inner)
    assert again.sig is feats.sig
    assert np.array_equal(again.signatures_of(np.arange(4)), feats.sig[idx[inner]])
    assert np.array_equal(again.origin, idx[inner])


def test_leaks_from_rows_in_place_equal_leaks_from_copies() -> None:
    records = _records(1_200, 2)
    feats = compute_features(records, CFG, True)
    rng = np.random.default_rng(2)
    order = rng.permutation(len(records))
    mine, theirs = np.sort(order[:300]), np.sort(order[300:])
    cfg = replace(CFG, leak_action="flag", against_key=CFG.key)
    a, b = [records[i] for i in mine], [records[i] for i in theirs]

    def leaks(fa: Features | None, fb: Features | None) -> list[tuple]:
        got = find_leaks(a, cfg, b, features=fa, against_features=fb)
        return [(lk.index, lk.method, lk.match_index, lk.similarity) for lk in got]

    in_place = leaks(feats.subset(mine), feats.subset(theirs))
    copies = leaks(_copied(feats, mine), _copied(feats, theirs))
    fresh = leaks(None, None)
    assert in_place == copies == fresh
    assert sum(1 for _, m, _, _ in fresh if m == "near") > 5


def _leak_check_peak(records: list[Record], sides: list[str], feats: Features) -> int:
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        found = split_mod._leakage(records, sides, None, CFG, feats)
        peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    assert found  # the check ran and found the planted near copies
    return peak


def test_the_split_leak_check_copies_no_signatures() -> None:
    n = 20_000
    records = _records(n, 4)
    feats = compute_features(records, CFG, True)
    rng = np.random.default_rng(4)
    sides = rng.choice(["train", "val", "test"], n, p=[0.8, 0.1, 0.1]).tolist()
    peak = _leak_check_peak(records, sides, feats)
    # The copies were 2 x 256 bytes a record (both sides' subsets, then their join); what
    # is left is the rows' indices, digests, lengths and lists of records (~150 bytes).
    assert peak < 300 * n, peak
