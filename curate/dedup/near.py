"""Near duplicates: MinHash signatures + LSH banding, every candidate verified by true Jaccard.

Our own vectorised numpy implementation, measured against datasketch in ``bench/dedup.py``:

* words are hashed without creating a Python object per word: a polynomial prefix hash over the
  bytes of a whole chunk of documents (uint64 arithmetic wraps, so the hash is exact mod 2^64),
  then a splitmix64 finaliser;
* shingles (``n`` consecutive words) combine word hashes with another polynomial;
* the signature is one-permutation MinHash (OPH): each shingle hash picks a bin and the bin
  keeps its minimum (``np.minimum.at``), empty bins are filled from the next non-empty bin
  ("densification", Shrivastava & Li 2014). One hash per shingle instead of ``num_perm``;
* LSH: each band's row values are folded into one key; records with equal keys in any band
  become candidate pairs, and each candidate is checked on the real shingle sets, so the
  estimate never removes anything by itself.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from curate.progress import Progress

U64 = np.uint64
_P = np.array([0x100000001B3], dtype=U64)  # odd multiplier for the byte polynomial
_P_INV = np.array([pow(0x100000001B3, -1, 1 << 64)], dtype=U64)
_Q = np.array([0x9E3779B97F4A7C15], dtype=U64)  # odd multiplier for combining words
_MAX32 = np.uint32(0xFFFFFFFF)
CHUNK_BYTES = 1 << 19  # text per chunk: temporaries stay ~ 8 x this
_POW_CACHE_MAX = 4 * CHUNK_BYTES  # powers kept between calls (16 bytes each)
BUCKET_WINDOW = 64  # pairs are formed with at most this many following members of a bucket

_pow_cache: dict[str, np.ndarray] = {}


def _powers(n: int) -> tuple[np.ndarray, np.ndarray]:
    """P**k and P**-k (mod 2**64) for k < n, grown by doubling and cached up to
    ``_POW_CACHE_MAX`` entries; a longer request (one huge text) is computed for that call
    only, so it does not hold ``16 * n`` bytes for the rest of the process."""
    have = _pow_cache.get("pw")
    if have is not None and len(have) >= n:
        return have, _pow_cache["ipw"]
    size = max(n, min(2 * len(have), _POW_CACHE_MAX) if have is not None else 1 << 16)
    pw = np.empty(size, dtype=U64)
    pw[0] = 1
    pw[1:] = _P[0]
    np.cumprod(pw, out=pw)
    ipw = np.empty(size, dtype=U64)
    ipw[0] = 1
    ipw[1:] = _P_INV[0]
    np.cumprod(ipw, out=ipw)
    if size <= _POW_CACHE_MAX:
        _pow_cache["pw"], _pow_cache["ipw"] = pw, ipw
    return pw, ipw


def _mix64_into(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser, in place (``x``, uint64, is overwritten and returned): spreads
    every input bit over the whole word, without the eight temporaries of the plain
    expression, which cost as much as its arithmetic on big arrays."""
    t = np.empty_like(x)
    for shift, mult in ((30, 0xBF58476D1CE4E5B9), (27, 0x94D049BB133111EB)):
        np.right_shift(x, U64(shift), out=t)
        np.bitwise_xor(x, t, out=x)
        np.multiply(x, U64(mult), out=x)
    np.right_shift(x, U64(31), out=t)
    np.bitwise_xor(x, t, out=x)
    return x


def _mix64(x: np.ndarray) -> np.ndarray:
    """``_mix64_into`` on a copy: ``x`` is left as it is."""
    return _mix64_into(x.copy())


def word_bounds(word: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Starts and (exclusive) ends of the runs of True in ``word``: one pass for both."""
    padded = np.zeros(word.size + 2, dtype=np.int8)
    padded[1:-1] = word
    edges = np.flatnonzero(padded[1:] != padded[:-1])
    return edges[0::2], edges[1::2]


def word_hashes(arr: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """The 64-bit hash of each word ``arr[starts[i]:ends[i]]`` (uint8 bytes).

    A polynomial over the word's bytes, scaled back to the word's first byte (``P`` is odd,
    so ``P**-s`` exists mod 2**64): the hash does not depend on where the word lies.
    """
    pw, ipw = _powers(arr.size + 1)
    prefix = np.empty(arr.size + 1, dtype=U64)
    prefix[0] = 0
    # The bytes widen inside the ufunc's buffer: no uint64 copy of the text.
    np.multiply(arr, pw[: arr.size], out=prefix[1:])
    np.cumsum(prefix[1:], out=prefix[1:])
    wh = prefix[ends]
    wh -= prefix[starts]
    wh *= ipw[starts]
    lengths = (ends - starts).astype(U64)
    lengths *= _Q
    wh += lengths
    return _mix64_into(wh)


def doc_shingles(wh: np.ndarray, counts: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``shingle_hashes``' result from the word hashes ``wh`` of consecutive documents,
    document ``d`` having ``counts[d]`` words."""
    ndocs = counts.size
    nw = wh.size
    first = np.zeros(ndocs + 1, dtype=np.int64)
    np.cumsum(counts, out=first[1:])
    regular = np.maximum(counts - (n - 1), 0)
    short = np.flatnonzero((counts > 0) & (counts < n))
    per_doc = regular if short.size == 0 else regular + ((counts > 0) & (counts < n))
    offsets = np.zeros(ndocs + 1, dtype=np.int64)
    np.cumsum(per_doc, out=offsets[1:])
    if nw >= n:
        # Every window of n words, then those that cross into the next document dropped:
        # slices instead of index arrays (no gathers).
        m = nw - n + 1
        acc = wh[:m].copy()
        for k in range(1, n):
            acc *= _Q
            acc += wh[k : k + m]
        if ndocs > 1:
            valid = np.ones(m, dtype=bool)
            cuts = first[1:-1]
            for k in range(1, n):
                at = cuts - k
                valid[at[(at >= 0) & (at < m)]] = False
            acc = acc[valid]
        sh = _mix64_into(acc)
    else:
        sh = np.zeros(0, U64)
    if short.size:
        # Rare: documents shorter than one shingle get one shingle of all their words.
        lo, cnt = first[short], counts[short]
        extra = wh[lo].copy()
        for k in range(1, n - 1):
            more = cnt > k
            extra[more] = extra[more] * _Q + wh[lo[more] + k]
        out = np.empty(int(offsets[-1]), dtype=U64)
        slot = np.ones(out.size, dtype=bool)
        slot[offsets[short]] = False
        out[slot] = sh
        out[offsets[short]] = _mix64_into(extra)
        sh = out
    return sh, offsets


def doc_word_counts(starts: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """Words per document, document ``d`` being bytes ``bounds[d]:bounds[d+1]`` (no word
    crosses a bound)."""
    return np.diff(np.searchsorted(starts, bounds))


def shingle_hashes(docs: Sequence[bytes], n: int) -> tuple[np.ndarray, np.ndarray]:
    """64-bit hashes of the ``n``-word shingles of each normalised document.

    Words are separated by spaces. A document with fewer than ``n`` words (but at least one)
    has one shingle of all its words; an empty document has none.

    Returns:
        ``(hashes, offsets)``: document ``d``'s hashes are ``hashes[offsets[d]:offsets[d+1]]``
        (not de-duplicated).
    """
    ndocs = len(docs)
    buf = b"\n".join(docs)
    arr = np.frombuffer(buf, dtype=np.uint8)
    if arr.size == 0:
        return np.zeros(0, U64), np.zeros(ndocs + 1, np.int64)
    starts, ends = word_bounds((arr != 32) & (arr != 10))
    bounds = np.zeros(ndocs + 1, dtype=np.int64)
    np.cumsum(np.fromiter(map(len, docs), np.int64, ndocs) + 1, out=bounds[1:])
    counts = doc_word_counts(starts, bounds)
    return doc_shingles(word_hashes(arr, starts, ends), counts, n)


def sorted_unique(a: np.ndarray) -> np.ndarray:
    """``np.unique(a)`` of a 1-d array, by one sort: numpy 2's ``np.unique`` hashes first and
    then sorts the distinct values, 2-5x slower on the mostly distinct hashes and pair codes
    dedup feeds it (measured on numpy 2.4)."""
    # np.sort(a, axis=None)'s own steps: a flattened copy, sorted in place.
    return sorted_unique_in_place(np.asanyarray(a).flatten())


def sorted_unique_in_place(a: np.ndarray) -> np.ndarray:
    """``sorted_unique(a)`` of a 1-d array the caller owns, sorted in place: no sorted copy
    beside it (the semantic search's pair codes, 8 bytes a candidate)."""
    a.sort()
    if a.size < 2:
        return a
    keep = np.empty(a.size, dtype=bool)
    keep[0] = True
    np.not_equal(a[1:], a[:-1], out=keep[1:])
    return a[keep]


def _salt(seed: int) -> np.ndarray:
    value = (seed * 0x632BE59BD9B4E019 + 0x1234567) % (1 << 64)  # any int seed, 64 bits
    return _mix64(np.array([value], dtype=U64))


def signatures(hashes: np.ndarray, offsets: np.ndarray, num_perm: int, seed: int = 0) -> np.ndarray:
    """One-permutation MinHash signatures, shape ``(ndocs, num_perm)``, uint32.

    A document without shingles gets an all-``0xFFFFFFFF`` row (callers skip it).
    """
    ndocs = offsets.size - 1
    sig = np.full(ndocs * num_perm, _MAX32, dtype=np.uint32)
    if hashes.size:
        x = hashes ^ _salt(seed)
        _mix64_into(x)
        # "fast range": the high 32 bits pick the bin uniformly, the low 32 bits are the value.
        at = x >> U64(32)
        at *= U64(num_perm)
        at >>= U64(32)
        flat = at.view(np.int64)  # bins < num_perm: the same values as int64
        flat += np.repeat(
            np.arange(0, ndocs * num_perm, num_perm, dtype=np.int64), np.diff(offsets)
        )
        np.minimum.at(sig, flat, x.astype(np.uint32))  # the low 32 bits
    sig = sig.reshape(ndocs, num_perm)
    return _densify(sig, offsets)


def _densify(sig: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Fill each empty bin from the next non-empty bin to its right (circularly).

    The copied value is perturbed by the distance so two documents only agree on a filled
    bin when they agree on its source and on the gap, as in Shrivastava & Li (2014).
    """
    empty = sig == _MAX32
    has = np.diff(offsets) > 0
    rows = np.flatnonzero(empty.any(axis=1) & has)
    if rows.size == 0:
        return sig
    k = sig.shape[1]
    full = empty[rows].all(axis=1)
    if full.any():
        # Shingles whose values were all 0xFFFFFFFF (odds ~2**-32 each): no bin to copy
        # from; such a row gets the values the doubled-row scan gave it (source: bin 0).
        dist = (4 * k - np.arange(k)).astype(np.uint32)
        sig[rows[full]] = _MAX32 ^ (dist * np.uint32(0x9E3779B1))
        rows = rows[~full]
        if rows.size == 0:
            return sig
    sub = sig[rows].ravel()
    sub_empty = empty[rows].ravel()
    # On the rows laid end to end: the next non-empty bin at or after each bin, by one
    # running minimum from the right. A bin past its row's last non-empty one wraps around
    # to the row's first non-empty one, ``k`` bins further on.
    size = sub.size
    itype = np.int32 if size + 2 * k < 2**31 else np.int64
    pos = np.arange(size, dtype=itype)
    nxt = np.where(sub_empty, itype(np.iinfo(itype).max), pos)
    np.minimum.accumulate(nxt[::-1], out=nxt[::-1])
    row_end = (pos // k + 1) * k
    wrap = nxt >= row_end
    # A row's first non-empty bin is the next one from the row's start.
    first = np.repeat(nxt[::k], k)
    src = np.where(wrap, first, nxt)
    dist = src - pos
    dist[wrap] += k
    filled = sub[src] ^ (dist.astype(np.uint32) * np.uint32(0x9E3779B1))
    sig[rows] = np.where(sub_empty, filled, sub).reshape(rows.size, k)
    return sig


def stable_argsort(key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.argsort(key, kind="stable")`` and ``key`` in that order, by numpy's default
    sort (SIMD on this hardware, ~6x faster than the stable one on 64-bit keys), then
    the runs of equal keys put back in index order: only records that share a band
    (the candidates, a few percent) are sorted again."""
    order = np.argsort(key)
    ks = key[order]
    tie = np.flatnonzero(ks[1:] == ks[:-1])
    if tie.size:
        in_run = np.zeros(key.size, dtype=bool)
        in_run[tie] = True
        in_run[tie + 1] = True
        at = np.flatnonzero(in_run)
        # Within a run every key is equal: sorting by (key, index) only reorders runs.
        sub = order[at]
        order[at] = sub[np.lexsort((sub, ks[at]))]
    return order, ks


def candidate_pairs(
    sig: np.ndarray,
    usable: np.ndarray,
    bands: int,
    cross: int | None = None,
    sig_rows: np.ndarray | None = None,
) -> np.ndarray:
    """Pairs ``(i, j)``, ``i < j``, that share at least one LSH band, shape ``(m, 2)``.

    Args:
        sig: signatures from ``signatures``.
        usable: boolean mask of the documents that take part (those with shingles).
        bands: number of bands; ``sig.shape[1] / bands`` rows each.
        cross: when given, only pairs with ``i < cross <= j`` (leakage between two sets).
        sig_rows: document ``i``'s signature is ``sig[sig_rows[i]]`` (default: ``sig[i]``),
            so a caller with the signatures of a superset passes them without a copy.
    """
    ids = np.flatnonzero(usable)
    if ids.size < 2:
        return np.zeros((0, 2), dtype=np.int64)
    rows = sig.shape[1] // bands
    # One band at a time: a copy of the used rows would cost num_perm * 4 bytes per
    # document at the peak of the run.
    at = ids if sig_rows is None else np.asarray(sig_rows)[ids]
    found: list[np.ndarray] = []
    for b in range(bands):
        # The band's columns gathered at once (``rows * 4`` bytes a document): one
        # gather per column took ~4x longer.
        band = sig[at, b * rows : (b + 1) * rows]
        key = band[:, 0].astype(U64)
        for r in range(1, rows):
            key = key * _Q + band[:, r].astype(U64)
        key = _mix64_into(key + U64(b))
        order, ks = stable_argsort(key)
        for d in range(1, BUCKET_WINDOW + 1):
            same = np.flatnonzero(ks[:-d] == ks[d:])
            if same.size == 0:
                break
            first, second = ids[order[same]], ids[order[same + d]]
            if cross is not None:
                # Dropped a band at a time: the pairs inside one set (most of them in the
                # split's leakage check) never pile up in ``found``.
                across = (np.minimum(first, second) < cross) & (np.maximum(first, second) >= cross)
                first, second = first[across], second[across]
            found.append(np.stack((first, second), axis=1))
    if not found:
        return np.zeros((0, 2), dtype=np.int64)
    pairs = np.sort(np.concatenate(found), axis=1)
    n = int(usable.shape[0])
    codes = sorted_unique(pairs[:, 0] * n + pairs[:, 1])
    return np.stack((codes // n, codes % n), axis=1)


def jaccard_of(a: np.ndarray, b: np.ndarray) -> float:
    """Jaccard similarity of two sorted unique hash arrays (two empty sets: 1.0)."""
    na, nb = a.size, b.size
    if na == 0 or nb == 0:
        return 1.0 if na == nb else 0.0
    if na > nb:
        a, b = b, a
    # Each value of the smaller set looked up in the larger one: the same count as
    # ``np.intersect1d`` without its concatenate-and-sort (~25% less per verified pair).
    pos = np.searchsorted(b, a)
    pos[pos == b.size] = 0
    inter = int(np.count_nonzero(b[pos] == a))
    return inter / (na + nb - inter)


def _known(
    verified: tuple[np.ndarray, np.ndarray] | None, n_docs: int
) -> tuple[np.ndarray, np.ndarray]:
    """``verified`` as sorted pair codes ``i * n_docs + j`` and their Jaccards."""
    if verified is None or not verified[0].size:
        return np.zeros(0, np.int64), np.zeros(0, np.float64)
    pairs, jaccard = verified
    codes = pairs[:, 0] * n_docs + pairs[:, 1]
    order = np.argsort(codes)
    return codes[order], jaccard[order]


def _signatures_of(
    docs_of: Callable[[np.ndarray], list[bytes]],
    n_docs: int,
    shingle_size: int,
    num_perm: int,
    seed: int,
    progress: bool,
) -> tuple[np.ndarray, np.ndarray]:
    sig = np.empty((n_docs, num_perm), dtype=np.uint32)
    usable = np.zeros(n_docs, dtype=bool)
    with Progress("near: minhash", n_docs, progress) as bar:
        start, docs, size = 0, [], 0

        def flush() -> None:
            nonlocal start, docs, size
            stop = start + len(docs)
            hashes, offsets = shingle_hashes(docs, shingle_size)
            sig[start:stop] = signatures(hashes, offsets, num_perm, seed)
            usable[start:stop] = np.diff(offsets) > 0
            bar.advance(stop - start)
            start, docs, size = stop, [], 0

        for lo in range(0, n_docs, 256):
            # Chunks hold about CHUNK_BYTES of text so the temporary arrays stay small: a
            # chunk ends at the document that reaches it, whatever the block's length.
            for doc in docs_of(np.arange(lo, min(n_docs, lo + 256))):
                docs.append(doc)
                size += len(doc)
                if size >= CHUNK_BYTES:
                    flush()
        if docs:
            flush()
    return sig, usable


def near_pairs(
    docs_of: Callable[[np.ndarray], list[bytes]],
    n_docs: int,
    *,
    shingle_size: int,
    num_perm: int,
    bands: int,
    seed: int,
    cross: int | None = None,
    progress: bool = False,
    sig: np.ndarray | None = None,
    usable: np.ndarray | None = None,
    sig_rows: np.ndarray | None = None,
    shingles_of: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]] | None = None,
    verified: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray, Callable[[int, int], float]]:
    """Verified candidate pairs among ``n_docs`` documents, with their true Jaccard.

    Args:
        docs_of: returns the normalised bytes of the given document indices (called in
            chunks, so the texts never all live in memory at once).
        cross: see ``candidate_pairs``.
        sig, usable: the documents' signatures and usable mask when already computed
            (``curate.dedup.features``); only the candidates' texts are read then.
        sig_rows: document ``i``'s signature is ``sig[sig_rows[i]]`` (no copy of the rows).
        shingles_of: ``shingle_hashes`` of the given documents, made another way (from the
            key texts, folded in bulk: ``curate.dedup.features.text_shingles``); the
            candidates are verified on these instead of on ``docs_of``'s bytes.
        verified: ``(pairs, jaccard)``, pairs ``i < j`` of documents whose Jaccard is known
            (an earlier pass over these documents:
            ``curate.dedup.features.verified_between``); their texts are not read again.

    Returns:
        ``(pairs, jaccard, similarity)``: every candidate pair (below threshold ones too,
        for explanations), its Jaccard, and a function giving the Jaccard of any two docs.
    """
    if sig is None or usable is None:
        sig, usable = _signatures_of(docs_of, n_docs, shingle_size, num_perm, seed, progress)
        sig_rows = None
    pairs = candidate_pairs(sig, usable, bands, cross, sig_rows)
    del sig
    sets: dict[int, np.ndarray] = {}

    def shingled(docs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if shingles_of is not None:
            return shingles_of(docs)
        return shingle_hashes(docs_of(docs), shingle_size)

    def shingle_set(i: int) -> np.ndarray:
        got = sets.get(i)
        if got is None:
            h, _ = shingled(np.array([i]))
            got = sets[i] = sorted_unique(h)
        return got

    known_codes, known_jac = _known(verified, n_docs)
    todo = np.ones(pairs.shape[0], dtype=bool)
    jac = np.empty(pairs.shape[0], dtype=np.float64)
    if known_codes.size and pairs.size:
        codes = pairs[:, 0] * n_docs + pairs[:, 1]
        at = np.minimum(np.searchsorted(known_codes, codes), known_codes.size - 1)
        hit = known_codes[at] == codes
        jac[hit] = known_jac[at[hit]]
        todo = ~hit
    rest = pairs[todo]
    involved = sorted_unique(rest)
    with Progress("near: verify", int(involved.size), progress) as bar:
        for lo in range(0, involved.size, 512):
            chunk = involved[lo : lo + 512]
            hashes, offsets = shingled(chunk)
            for t, i in enumerate(chunk.tolist()):
                sets[i] = sorted_unique(hashes[offsets[t] : offsets[t + 1]])
            bar.advance(chunk.size)
    jac[todo] = [jaccard_of(sets[i], sets[j]) for i, j in rest.tolist()]

    def similarity(i: int, j: int) -> float:
        if known_codes.size:
            code = min(i, j) * n_docs + max(i, j)
            k = min(int(np.searchsorted(known_codes, code)), known_codes.size - 1)
            if known_codes[k] == code:
                return float(known_jac[k])
        return jaccard_of(shingle_set(i), shingle_set(j))

    return pairs, jac, similarity
