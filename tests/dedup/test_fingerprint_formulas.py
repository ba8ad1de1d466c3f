"""The fingerprint pass, rewritten for speed, against the formulas it replaced (3894a38).

``_fill`` now folds a chunk of texts at once and ``shingle_hashes``, ``signatures`` and
``_densify`` were rewritten; the reference functions below are the code before, verbatim in
what they compute. Random texts cover Unicode, case, punctuation runs, empty and one-word
texts, long words and long texts, under the default normaliser and others.
"""

from __future__ import annotations

import random
import tracemalloc
from typing import Any

import numpy as np
import pytest

from curate.dedup import DedupConfig, Normalizer, features, key_text, near
from curate.dedup.exact import digest
from curate.dedup.features import compute_features
from curate.dedup.near import CHUNK_BYTES, _densify, _mix64, shingle_hashes, signatures
from curate.records import Record

U64 = np.uint64
_P = np.array([0x100000001B3], dtype=U64)
_P_INV = np.array([pow(0x100000001B3, -1, 1 << 64)], dtype=U64)
_Q = np.array([0x9E3779B97F4A7C15], dtype=U64)
_MAX32 = np.uint32(0xFFFFFFFF)


def old_mix64(x: np.ndarray) -> np.ndarray:
    x = x ^ (x >> U64(30))
    x = x * U64(0xBF58476D1CE4E5B9)
    x = x ^ (x >> U64(27))
    x = x * U64(0x94D049BB133111EB)
    return x ^ (x >> U64(31))


def old_shingle_hashes(docs: list[bytes], n: int) -> tuple[np.ndarray, np.ndarray]:
    ndocs = len(docs)
    arr = np.frombuffer(b"\n".join(docs), dtype=np.uint8)
    if arr.size == 0:
        return np.zeros(0, U64), np.zeros(ndocs + 1, np.int64)
    pw = np.full(arr.size + 1, _P[0], dtype=U64)
    ipw = np.full(arr.size + 1, _P_INV[0], dtype=U64)
    pw[0] = ipw[0] = 1
    pw, ipw = np.cumprod(pw), np.cumprod(ipw)
    sep = (arr == 32) | (arr == 10)
    word = ~sep
    starts = np.flatnonzero(word & np.concatenate(([True], sep[:-1])))
    ends = np.flatnonzero(word & np.concatenate((sep[1:], [True]))) + 1
    prefix = np.zeros(arr.size + 1, dtype=U64)
    np.cumsum(arr.astype(U64) * pw[: arr.size], out=prefix[1:])
    lengths = (ends - starts).astype(U64)
    wh = old_mix64((prefix[ends] - prefix[starts]) * ipw[starts] + lengths * _Q)
    doc_of_word = np.searchsorted(np.flatnonzero(arr == 10), starts)
    counts = np.bincount(doc_of_word, minlength=ndocs)
    nw = wh.size
    if nw >= n:
        idx = np.arange(nw - n + 1)
        idx = idx[doc_of_word[idx] == doc_of_word[idx + n - 1]]
        acc = wh[idx].copy()
        for k in range(1, n):
            acc = acc * _Q + wh[idx + k]
        sh, sh_doc = old_mix64(acc), doc_of_word[idx]
    else:
        sh, sh_doc = np.zeros(0, U64), np.zeros(0, np.int64)
    short = np.flatnonzero((counts > 0) & (counts < n))
    if short.size:
        first = np.concatenate(([0], np.cumsum(counts)))
        extra = np.empty(short.size, dtype=U64)
        for t, d in enumerate(short):
            part = wh[first[d] : first[d + 1]]
            acc = part[:1].copy()
            for k in range(1, part.size):
                acc = acc * _Q + part[k : k + 1]
            extra[t] = old_mix64(acc)[0]
        sh = np.concatenate((sh, extra))
        sh_doc = np.concatenate((sh_doc, short))
        order = np.argsort(sh_doc, kind="stable")
        sh, sh_doc = sh[order], sh_doc[order]
    offsets = np.zeros(ndocs + 1, dtype=np.int64)
    np.cumsum(np.bincount(sh_doc, minlength=ndocs), out=offsets[1:])
    return sh, offsets


def old_densify(sig: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    empty = sig == _MAX32
    rows = np.flatnonzero(empty.any(axis=1) & (np.diff(offsets) > 0))
    if rows.size == 0:
        return sig
    k = sig.shape[1]
    sub, sub_empty = sig[rows], empty[rows]
    pos = np.where(sub_empty, 2 * k, np.arange(k))
    pos2 = np.concatenate((pos, pos + k), axis=1)
    pos2 = np.where(np.concatenate((sub_empty, sub_empty), axis=1), 4 * k, pos2)
    nxt = np.minimum.accumulate(pos2[:, ::-1], axis=1)[:, ::-1][:, :k]
    dist = (nxt - np.arange(k)).astype(np.uint32)
    filled = np.take_along_axis(sub, nxt % k, axis=1) ^ (dist * np.uint32(0x9E3779B1))
    sig[rows] = np.where(sub_empty, filled, sub)
    return sig


def old_signatures(hashes: np.ndarray, offsets: np.ndarray, num_perm: int, seed: int) -> np.ndarray:
    ndocs = offsets.size - 1
    sig = np.full(ndocs * num_perm, _MAX32, dtype=np.uint32)
    if hashes.size:
        salt = old_mix64(np.array([(seed * 0x632BE59BD9B4E019 + 0x1234567) % (1 << 64)], U64))
        x = old_mix64(hashes ^ salt)
        bins = ((x >> U64(32)) * U64(num_perm)) >> U64(32)
        doc = np.repeat(np.arange(ndocs, dtype=np.int64), np.diff(offsets))
        np.minimum.at(
            sig, doc * num_perm + bins.astype(np.int64), (x & U64(0xFFFFFFFF)).astype(np.uint32)
        )
    return old_densify(sig.reshape(ndocs, num_perm), offsets)


WORDS = ["a", "Bb", "the", "Straße", "ÉTÉ", "naïve", "x1_2", "ﬁne", "日本語", "ok", "x" * 40]
GLUE = [" ", "  ", ", ", "! ", "\t", "\n", " -- ", "...", "\u00a0", " (", ") "]


def _text(rng: random.Random) -> str:
    r = rng.random()
    if r < 0.05:
        return ""
    if r < 0.10:
        return rng.choice(["  ", "!!!", "\n", "-"])
    ascii_only = r < 0.6
    words = [w for w in WORDS if w.isascii()] if ascii_only else WORDS
    size = rng.choice([1, 2, 3, 4, 6, 30, 300])
    glue = rng.choices(GLUE[:9] if ascii_only else GLUE, k=size)
    return "".join(w + g for w, g in zip(rng.choices(words, k=size), glue, strict=True))[
        : rng.randint(1, 6 * size)
    ]


def _records(n: int, seed: int) -> list[Record]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        msgs = [{"role": "user", "content": _text(rng)}]
        if rng.random() < 0.7:
            msgs.append({"role": "assistant", "content": _text(rng)})
        data: dict = {"messages": msgs}
        if rng.random() < 0.05:
            data["tools"] = [{"type": "function", "function": {"name": "f", "parameters": {}}}]
        out.append(Record("t.jsonl", i + 1, data))
    return out


def test_shingles_and_signatures_match_the_formulas_before() -> None:
    rng = random.Random(3)
    for trial in range(60):
        docs = [Normalizer().to_bytes(_text(rng)) for _ in range(rng.randint(0, 30))]
        n = rng.choice([1, 2, 3, 5])
        old_h, old_o = old_shingle_hashes(docs, n)
        new_h, new_o = shingle_hashes(docs, n)
        assert np.array_equal(new_o, old_o)
        assert np.array_equal(new_h, old_h)
        for num_perm in (8, 64, 256):
            got = signatures(new_h, new_o, num_perm, trial)
            assert np.array_equal(got, old_signatures(old_h, old_o, num_perm, trial))


def test_densify_of_a_row_whose_values_are_all_the_empty_mark() -> None:
    # A document with shingles whose values are all 0xFFFFFFFF (odds ~2**-32) keeps the
    # values the old scan gave it.
    sig = np.full((3, 16), _MAX32, dtype=np.uint32)
    sig[1, 3] = 5
    offsets = np.array([0, 1, 2, 2])
    assert np.array_equal(_densify(sig.copy(), offsets), old_densify(sig.copy(), offsets))


NORMALIZERS = [
    Normalizer(),
    Normalizer(case=False),
    Normalizer(nfkc=False),
    Normalizer(punctuation=False),
    Normalizer(punctuation=False, whitespace=False),
]


@pytest.fixture(scope="module")
def records() -> list[Record]:
    return _records(300, seed=5)


@pytest.mark.parametrize("normalizer", NORMALIZERS, ids=lambda n: repr(n)[10:])
@pytest.mark.parametrize("key", ["conversation", "prompt"])
def test_features_match_the_per_record_formulas(
    records: list[Record], normalizer: Normalizer, key: str
) -> None:
    cfg = DedupConfig(methods=("exact", "near"), normalizer=normalizer, key=key, num_perm=64)
    _check_against_formulas(records, cfg, key, normalizer)


def _check_against_formulas(
    records: list[Record], cfg: DedupConfig, key: str, normalizer: Normalizer
) -> None:
    got = compute_features(records, cfg, True)
    texts = [key_text(r, key) for r in records]
    norms = [normalizer.to_bytes(t) for t in texts]
    folded = normalizer.whitespace or normalizer.punctuation
    docs = [b if folded else b" ".join(b.split()) for b in norms]
    hashes, offsets = old_shingle_hashes(docs, cfg.shingle_size)
    assert [bytes(d) for d in got.digests] == [digest(b) for b in norms]
    assert got.lengths.tolist() == [len(t) for t in texts]
    assert got.blank.tolist() == [not t.strip() for t in texts]
    assert got.sig is not None and got.usable is not None
    assert np.array_equal(got.sig, old_signatures(hashes, offsets, cfg.num_perm, cfg.seed))
    assert np.array_equal(got.usable, np.diff(offsets) > 0)
    # Exact dedup alone (no signatures) gives the same digests.
    alone = compute_features(records, cfg, False)
    assert np.array_equal(alone.digests, got.digests)


def test_mix64_is_the_finaliser_and_leaves_its_input() -> None:
    x = np.random.default_rng(1).integers(0, 2**64, 1000, dtype=np.uint64, endpoint=False)
    before = x.copy()
    assert np.array_equal(_mix64(x), old_mix64(x))
    assert np.array_equal(x, before)


LONG_AT = (10, 255, 300)  # where the texts over 600k characters are


def _long_records() -> list[Record]:
    """512 records, short texts but three over 600k characters: the chunk's text reaches
    CHUNK_BYTES at records 10 (inside a block of 256), 255 (a block's end) and 300."""
    rng = random.Random(9)
    recs = _records(512, seed=9)
    ascii_words = [w for w in WORDS if w.isascii()]
    for i in LONG_AT:
        text = " ".join(rng.choices(WORDS if i == 300 else ascii_words, k=90_000))
        assert len(text) > 600_000
        recs[i] = Record("t.jsonl", i + 1, {"messages": [{"role": "user", "content": text}]})
    return recs


def test_long_texts_end_their_chunk_and_match_the_formulas(monkeypatch) -> None:
    # Before, the size was checked after each block of 256 records: one chunk held a block's
    # long texts all together (hashing temporaries ~8x its size, and the powers kept).
    recs = _long_records()
    chunks: list[tuple[int, int]] = []
    fold = features._fold_chunk

    def spy(texts: list[str], *args: Any) -> None:
        chunks.append((args[-1], len(texts)))
        fold(texts, *args)

    monkeypatch.setattr(features, "_fold_chunk", spy)
    normalizer = Normalizer()
    cfg = DedupConfig(
        methods=("exact", "near"), normalizer=normalizer, key="conversation", num_perm=64
    )
    _check_against_formulas(recs, cfg, "conversation", normalizer)
    # Chunks end at the record whose text reaches CHUNK_BYTES (with signatures and without).
    assert chunks == [(0, 11), (11, 245), (256, 45), (301, 211)] * 2


def test_signatures_of_ends_a_chunk_at_chunk_bytes(monkeypatch) -> None:
    docs = [Normalizer().to_bytes(key_text(r, "conversation")) for r in _long_records()]
    sizes: list[int] = []
    real = near.shingle_hashes

    def spy(chunk: list[bytes], n: int) -> tuple[np.ndarray, np.ndarray]:
        sizes.append(len(chunk))
        return real(chunk, n)

    monkeypatch.setattr(near, "shingle_hashes", spy)
    sig, usable = near._signatures_of(
        lambda idx: [docs[i] for i in idx], len(docs), 5, 64, 3, False
    )
    assert sizes == [11, 245, 45, 211]
    hashes, offsets = old_shingle_hashes(docs, 5)
    assert np.array_equal(sig, old_signatures(hashes, offsets, 64, 3))
    assert np.array_equal(usable, np.diff(offsets) > 0)


def test_powers_past_the_cache_bound_are_not_kept() -> None:
    # One huge text once made the cache hold 16 bytes per byte of it for the process's life.
    cached, _ = near._powers(1000)
    n = near._POW_CACHE_MAX + 5
    pw, ipw = near._powers(n)
    assert pw.size >= n and int(pw[n - 1]) == pow(int(_P[0]), n - 1, 1 << 64)
    assert int(pw[n - 1]) * int(ipw[n - 1]) % (1 << 64) == 1
    assert np.array_equal(cached[:1000], pw[:1000])
    assert near._pow_cache["pw"] is cached


def test_long_records_keep_the_pass_small() -> None:
    # ~300 records of ~85 KB, exact + near: the traced peak was ~830 MB when a chunk held a
    # block of 256 of them (~22 MB of text), ~36 MB with chunks of CHUNK_BYTES.
    rng = random.Random(4)
    words = [w for w in WORDS if w.isascii()]
    recs = [
        Record(
            "t.jsonl",
            i + 1,
            {"messages": [{"role": "user", "content": " ".join(rng.choices(words, k=9_000))}]},
        )
        for i in range(300)
    ]
    assert sum(len(key_text(r, "conversation")) for r in recs[:256]) > 30 * CHUNK_BYTES
    cfg = DedupConfig(methods=("exact", "near"), num_perm=128)
    tracemalloc.start()
    try:
        got = compute_features(recs, cfg, True)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert got.sig is not None and got.usable is not None and bool(got.usable.all())
    assert peak < 200 * 2**20, f"traced peak {peak / 2**20:.0f} MB"


@pytest.mark.parametrize("normalizer", NORMALIZERS, ids=lambda n: repr(n)[10:])
def test_text_shingles_are_the_shingles_of_the_normalised_words(
    records: list[Record], normalizer: Normalizer
) -> None:
    """Near dedup verifies its candidates on ``text_shingles`` (texts folded in bulk) in
    place of ``shingle_hashes`` of each normalised text (``_Texts.words``, before): the
    same hashes in the same order, so the same Jaccards."""
    texts = [key_text(r, "conversation") for r in records]
    folded = normalizer.whitespace or normalizer.punctuation
    words = [normalizer.to_bytes(t) for t in texts]
    docs = [w if folded else b" ".join(w.split()) for w in words]
    for n in (1, 2, 5):
        for lo, hi in ((0, len(texts)), (0, 0), (7, 8), (40, 41), (100, 220)):
            got_h, got_o = features.text_shingles(texts[lo:hi], normalizer, n)
            want_h, want_o = old_shingle_hashes(docs[lo:hi], n)
            assert np.array_equal(got_o, want_o)
            assert np.array_equal(got_h, want_h)


def test_near_dedup_verifies_on_the_same_jaccards_as_before(records: list[Record]) -> None:
    """The engine's near pairs (verified on ``text_shingles``) against the verification on
    each candidate's normalised words, as ``near_pairs`` did without ``shingles_of``."""
    from curate.dedup.engine import Engine

    cfg = DedupConfig(methods=("exact", "near"), num_perm=64, bands=32)
    # Near copies: each text again with one word changed, so candidates abound.
    more = [
        Record(
            "t.jsonl",
            len(records) + i + 1,
            {"messages": [{"role": "user", "content": key_text(r, "prompt") + " extra"}]},
        )
        for i, r in enumerate(records)
    ]
    rows = records + more
    engine = Engine(rows, cfg)
    idx = np.arange(len(rows))
    feats = engine.features()
    kw = dict(shingle_size=cfg.shingle_size, num_perm=cfg.num_perm, bands=cfg.bands, seed=0)

    def docs_of(local: np.ndarray) -> list[bytes]:
        return [engine.texts.words(int(k)) for k in local.tolist()]

    pairs, sims, sim = near.near_pairs(
        docs_of,
        idx.size,
        sig=feats.sig,
        usable=feats.usable,
        shingles_of=lambda local: engine.texts.shingles(local.tolist(), cfg.shingle_size),
        **kw,
    )
    old_pairs, old_sims, old_sim = near.near_pairs(
        docs_of, idx.size, sig=feats.sig, usable=feats.usable, **kw
    )
    assert pairs.shape[0] > 50 and (sims >= 0.75).sum() > 10
    assert np.array_equal(pairs, old_pairs)
    assert sims.tolist() == old_sims.tolist()
    for a, b in pairs[:20].tolist():
        assert sim(a, b) == old_sim(a, b)
