"""The fingerprint pass, rewritten for speed, against the formulas it replaced (3894a38).

``_fill`` now folds a chunk of texts at once and ``shingle_hashes``, ``signatures`` and
``_densify`` were rewritten; the reference functions below are the code before, verbatim in
what they compute. Random texts cover Unicode, case, punctuation runs, empty and one-word
texts, long words and long texts, under the default normaliser and others.
"""

from __future__ import annotations

import random

import numpy as np
import pytest

from curate.dedup import DedupConfig, Normalizer, key_text
from curate.dedup.exact import digest
from curate.dedup.features import compute_features
from curate.dedup.near import _densify, shingle_hashes, signatures
from curate.records import Record

U64 = np.uint64
_P = np.array([0x100000001B3], dtype=U64)
_P_INV = np.array([pow(0x100000001B3, -1, 1 << 64)], dtype=U64)
_Q = np.array([0x9E3779B97F4A7C15], dtype=U64)
_MAX32 = np.uint32(0xFFFFFFFF)


def _mix64(x: np.ndarray) -> np.ndarray:
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
    wh = _mix64((prefix[ends] - prefix[starts]) * ipw[starts] + lengths * _Q)
    doc_of_word = np.searchsorted(np.flatnonzero(arr == 10), starts)
    counts = np.bincount(doc_of_word, minlength=ndocs)
    nw = wh.size
    if nw >= n:
        idx = np.arange(nw - n + 1)
        idx = idx[doc_of_word[idx] == doc_of_word[idx + n - 1]]
        acc = wh[idx].copy()
        for k in range(1, n):
            acc = acc * _Q + wh[idx + k]
        sh, sh_doc = _mix64(acc), doc_of_word[idx]
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
            extra[t] = _mix64(acc)[0]
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
        salt = _mix64(np.array([(seed * 0x632BE59BD9B4E019 + 0x1234567) % (1 << 64)], U64))
        x = _mix64(hashes ^ salt)
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
