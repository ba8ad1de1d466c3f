"""The semantic step's parts rewritten for CPU (issue 15, sem23) give the old formulas'
bits: on random data and on tie-heavy data (copied rows, a row in many pairs)."""

from __future__ import annotations

import numpy as np
import pytest

import curate.dedup.semantic as sem
from curate.embed import unit_rows_in_place


def _vectors(n: int, dim: int, seed: int, copies: bool) -> np.ndarray:
    rng = np.random.default_rng(seed)
    v = rng.standard_normal((n, dim)).astype(np.float32) + 1.5
    if copies:  # exact copies and rows that differ in one float only
        v[n // 2 :] = v[: n - n // 2]
        v[n // 3, 0] = np.nextafter(v[n // 3, 0], np.float32(9))
    return unit_rows_in_place(v)


def _old_dots(a: sem.Rows, b: sem.Rows, pairs: np.ndarray) -> np.ndarray:
    """``_dots`` before sem23: both rows of every pair made again for it."""
    out = np.empty(pairs.shape[0], dtype=np.float64)
    for lo in range(0, pairs.shape[0], sem.PAIR_CHUNK):
        p = pairs[lo : lo + sem.PAIR_CHUNK]
        out[lo : lo + len(p)] = np.einsum("ij,ij->i", a.take(p[:, 0]), b.take(p[:, 1]))
    return out


@pytest.mark.parametrize("copies", [False, True])
@pytest.mark.parametrize("against", [False, True])
def test_dots_of_distinct_rows_made_once_equal_rows_made_per_pair(
    monkeypatch, copies, against
) -> None:
    monkeypatch.setattr(sem, "PAIR_CHUNK", 1_000)  # many chunks, one uneven
    vecs = _vectors(3_000, 96, seed=4, copies=copies)
    rng = np.random.default_rng(5)
    idx = np.sort(rng.choice(len(vecs), 2_500, False))
    rows = sem.Rows(vecs, idx)
    rows.mean = rows.mean_of()
    # Sorted pairs as the search gives them (a row in ~10 pairs), and some in any order,
    # repeated, and of a row with itself.
    i = np.repeat(np.arange(1_200), 10)
    j = rng.integers(0, len(rows), i.size)
    pairs = np.concatenate(
        (np.stack((i, j), axis=1), rng.integers(0, len(rows), (777, 2)), [[5, 5], [7, 7]])
    )
    other = sem.Rows(vecs[::-1].copy(), None, rows.mean) if against else rows
    for a, b in ((rows, other), (sem.Rows(vecs), sem.Rows(vecs))):
        want = _old_dots(a, b, pairs)
        got = sem._dots(a, b, pairs)
        assert got.dtype == want.dtype and np.array_equal(got, want)
    assert len(np.unique(want)) > 1_000


def _old_mean_of(rows: sem.Rows) -> np.ndarray:
    """``Rows.mean_of`` before sem23: each chunk cast, the sums put in front by a copy."""
    raw = sem.Rows(rows.array, rows.idx)
    total = None
    for _, part in raw.chunks(sem.ROW_CHUNK):
        part64 = part.astype(np.float64)
        if total is not None:
            part64 = np.concatenate((total[None], part64))
        total = np.add.reduce(part64, axis=0)
    return (total / len(rows)).astype(np.float32)


@pytest.mark.parametrize("chunk", [1, 97, 1_000, 8_192])
def test_mean_of_in_one_buffer_equals_the_concatenated_sums(monkeypatch, chunk) -> None:
    monkeypatch.setattr(sem, "ROW_CHUNK", chunk)
    rng = np.random.default_rng(6)
    big = (rng.standard_normal((3_001, 48)) * 7 + 2).astype(np.float32)
    big[1_500:] = big[:1_501]  # copied rows
    big[:, 3] = -0.0  # a column of negative zeros keeps its sign
    for rows in (sem.Rows(big), sem.Rows(big, np.arange(0, 3_001, 3)), sem.Rows(big[:5])):
        got, want = rows.mean_of(), _old_mean_of(rows)
        assert np.array_equal(got.view(np.uint32), want.view(np.uint32))


def _old_probes_by_list(flat: np.ndarray, nlist: int) -> tuple[np.ndarray, np.ndarray]:
    """``_probes_by_list`` before sem23: a stable sort of the int64 list numbers."""
    order = np.argsort(flat, kind="stable")
    per_list = np.bincount(flat[flat >= 0], minlength=nlist)
    return order, int((flat < 0).sum()) + np.concatenate(([0], np.cumsum(per_list)))


@pytest.mark.parametrize("nlist", [1, 7, 1_000, 2**15 - 1, 2**15 + 5])
def test_probes_by_list_in_16_bits_keep_the_stable_order(nlist) -> None:
    rng = np.random.default_rng(nlist)
    flat = rng.integers(-1, nlist, 50_000)  # -1: no list; many ties in each list
    flat[:100] = nlist - 1
    for got, want in zip(
        sem._probes_by_list(flat, nlist), _old_probes_by_list(flat, nlist), strict=True
    ):
        assert np.array_equal(got, want)


RANK_PIECES = (
    "first second third fourth fifth sixth seventh eighth ninth tenth nth kth n-th k-th "
    "1st 2nd 3rd 4th 11th 102nd 7st x2nd 2x 12 th st - -- _ a x n k "
    "highest largest biggest greatest maximum max lowest smallest least minimum min fewest "
    "longest shortest oldest youngest newest latest earliest fastest slowest cheapest "
    "closest farthest furthest deepest tallest heaviest lightest most best top "
    "highestx xhighest maxi minimal leastwise the of salary"
).split()
RANK_GLUE = (" ", " ", " ", "-", " - ", "  ", "\t", "\n", "\x1c", "", "_", ".", ",", "(", "'", "é")


def test_rank_lookup_finds_what_the_rank_pattern_finds() -> None:
    """``_ascii_rank_matches`` (superlatives by ``str.find``, ordinals looked back for) gives
    ``_RANK_ASCII.findall``'s matches on generated text: ordinals with and without word
    boundaries, separators of every kind, superlatives inside longer words."""
    import random

    from curate.dedup import slots

    rng = random.Random(23)
    checked = with_ordinal = 0
    for _ in range(20_000):
        parts = []
        for _ in range(rng.randint(1, 14)):
            parts += [rng.choice(RANK_PIECES), rng.choice(RANK_GLUE)]
        lower = "".join(parts).lower()
        if not lower.isascii():
            continue
        words = frozenset(lower.translate(slots._NON_WORD_ASCII).split())
        want = sorted(slots._RANK_ASCII.findall(lower))
        got = sorted(slots._ascii_rank_matches(lower, words & slots._RANK_WORDS))
        assert got == want, lower
        checked += 1
        with_ordinal += any(o for o, _ in want)
    assert checked > 10_000 and with_ordinal > 1_000, (checked, with_ordinal)
