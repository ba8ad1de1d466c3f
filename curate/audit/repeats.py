"""A vectorised necessary condition for the repetition detector (``consistency``).

``repetition_reason`` flags an answer when a unit of 1-4 tokens repeats back to back, or when
a sentence occurs 3+ times. Both need *equal* tokens or sentences, so this module hashes every
token and every sentence of a whole batch of plain-ASCII answers at once (numpy, polynomial
hashes mod 2**64) and keeps only the answers where the hashes allow a loop or a thrice-repeated
sentence. Equal texts always hash equal, so no answer the detector would flag is left out; a
hash collision only sends an answer to the exact check. The exact detector then decides the
few candidates, so findings are the same as running it on every answer.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# ASCII punctuation -> space, the table ``repetition_reason`` cuts tokens with.
PUNCT_TO_SPACE_B = bytes.maketrans(b"!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~", b" " * 32)
_WS = b" \t\n\r\x0b\x0c"  # bytes.split() / bytes.strip() whitespace
_IS_WORD = bytes(0 if c in _WS else 1 for c in range(256))  # a table: 1 for token bytes
_IS_END = bytes(1 if c in b".!?\n" else 0 for c in range(256))  # where sentences end
# Whitespace to str.split()/strip() but not to bytes.split()/strip(): answers holding it take
# the detector's str path, so they are always candidates; so are answers holding the
# separator byte.
_ODD = b"\x1c\x1d\x1e\x1f\x00"
# Between answers: a token and a sentence of its own, so that neither a token nor a sentence
# spans two answers, and a marker that says where each answer starts.
_SEP = b"\n\x00\n"
_LOWER_B = bytes(range(256)).lower()  # ``bytes.lower()`` as a translate table
_SEP_TOKEN = (1 << 8) | 0x20  # the key of the separators' NUL token (no other token's: 0x20
# is a space, and only the separators hold a NUL here)
# Per byte, as ``repetition_reason`` cuts tokens: 0 for whitespace and punctuation (blanked
# to spaces), 2 for the odd bytes, 1 for the other token bytes.
_WORD_ODD = bytes(2 if c in _ODD else _IS_WORD[PUNCT_TO_SPACE_B[c]] for c in range(256))
CHUNK_BYTES = 1_000_000  # bounds the transient arrays (a few times this, in int64s)


def _keys(buf: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """A cheap key of each span: its length, first and last byte (equal spans, equal keys)."""
    return (
        (np.minimum(ends - starts, (1 << 24) - 1) << 16)
        | (buf[starts].astype(np.int64) << 8)
        | buf[ends - 1]
    )


def candidates(
    texts: Sequence[bytes], loops: Sequence[tuple[int, int]], min_sentence: int
) -> np.ndarray:
    """Which ASCII answers may repeat (bool per answer).

    Args:
        texts: the answers as ``repetition_reason`` reads them (code spans blanked), encoded.
        loops: (unit length in tokens, repeats in a row) as ``consistency._LOOPS``.
        min_sentence: the shortest sentence that counts.
    """
    out = np.zeros(len(texts), dtype=bool)
    start = 0
    while start < len(texts):
        size, stop = 0, start
        while stop < len(texts) and size < CHUNK_BYTES:
            size += len(texts[stop]) + len(_SEP)
            stop += 1
        out[start:stop] = _chunk(texts[start:stop], loops, min_sentence)
        start = stop
    return out


def _chunk(
    texts: Sequence[bytes], loops: Sequence[tuple[int, int]], min_sentence: int
) -> np.ndarray:
    if not texts:
        return np.zeros(0, dtype=bool)
    # Not lowered here: the token table folds case into its test, the keys' bytes are lowered
    # as they are gathered, and the sentences are lowered as their whitespace is deleted (three
    # passes over the text fewer than lowering, blanking punctuation and finding odd bytes
    # apart).
    joined = _SEP.join(texts)
    word_b = joined.translate(_WORD_ODD)
    if word_b.count(2) != len(texts) - 1:
        # Rare: answers holding odd bytes are candidates; the others are checked without them.
        odd = np.array([len(t.translate(None, _ODD)) != len(t) for t in texts], dtype=bool)
        rest = np.flatnonzero(~odd)
        odd[rest] = _chunk([texts[i] for i in rest], loops, min_sentence)
        return odd
    flag = np.zeros(len(texts), dtype=bool)
    sep_key = (1 << 16) | 0 << 8 | 0

    # Loops: toks[i] == toks[i + n] for n * (times - 1) positions in a row. (The separators'
    # NULs are 2 in ``word_b``, other token bytes 1: both change from the spaces around them.)
    word = np.frombuffer(b"\x00" + word_b + b"\x00", dtype=np.uint8)
    edges = np.flatnonzero(word[1:] != word[:-1])
    # A token's key: its length and first byte with bit 0x20 set (which lowers A-Z; equal
    # lowered tokens get equal keys; other bytes only share keys more often).
    starts = edges[0::2]
    key = ((edges[1::2] - starts) << 8) | (np.frombuffer(joined, dtype=np.uint8)[starts] | 0x20)
    seps = np.flatnonzero(key == _SEP_TOKEN)  # token index of each separator
    for n, times in loops:
        need = n * (times - 1)
        same = np.flatnonzero(key[:-n] == key[n:])
        if len(same) < need:
            continue
        # ``need`` consecutive positions: same[j + need - 1] - same[j] == need - 1.
        hit = same[: len(same) - need + 1][
            same[need - 1 :] - same[: len(same) - need + 1] == need - 1
        ]
        flag[np.searchsorted(seps, hit)] = True

    # Sentences: one that occurs 3+ times among the parts of ``min_sentence``+ characters,
    # compared without whitespace (the stripped part's whitespace inside is all it can
    # differ in); a part of 12+ characters keeps at least its first and last one.
    dense = joined.translate(_LOWER_B, _WS.replace(b"\n", b""))
    a = np.frombuffer(dense, dtype=np.uint8)
    ends = np.flatnonzero(np.frombuffer(dense.translate(_IS_END), dtype=bool))
    ss = np.concatenate(([0], ends + 1))
    se = np.concatenate((ends, [len(a)]))
    size = se - ss
    keep = size >= min(2, min_sentence)
    keep[size == 1] = a[ss[size == 1]] == 0  # the separators
    ss, se = ss[keep], se[keep]
    skey = _keys(a, ss, se)
    is_sep = skey == sep_key
    tid = np.cumsum(is_sep)
    grouped = np.sort((tid[~is_sep] << 40) | skey[~is_sep])
    thrice = np.flatnonzero(grouped[2:] == grouped[:-2])
    flag[grouped[thrice] >> 40] = True
    return flag
