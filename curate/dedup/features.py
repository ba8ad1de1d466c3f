"""Per-record fingerprints for exact and near dedup, computed in one pass over the key texts.

Each record's key text is built once, normalised once, and gives its exact digest, its length
(for the keep policy) and its MinHash signature. Later methods, the ``--against`` leakage
check, the audit's duplicate share and the split's leakage check take rows of these arrays
instead of rebuilding the texts (``Features.subset``); the signatures are the same as a fresh
pass would compute, so the results are too.

Memory: 16 + 8 bytes per record, plus ``num_perm * 4`` bytes (256 by default) when near
dedup runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from curate.dedup.exact import digest
from curate.dedup.near import CHUNK_BYTES, shingle_hashes, signatures
from curate.dedup.normalize import key_text
from curate.progress import Progress
from curate.records import Record


def settings_of(config: Any) -> tuple:
    """What the fingerprints depend on: two configs with equal settings share them."""
    return (config.key, config.normalizer, config.shingle_size, config.num_perm, config.seed)


@dataclass(slots=True)
class Features:
    """Fingerprints of a record list (row ``i`` is record ``i``).

    Attributes:
        settings: ``settings_of`` the config they were computed with.
        digests: ``(n, 16)`` uint8, BLAKE2b of the normalised key text (exact dedup).
        lengths: key text length in characters (``longest``/``shortest`` keep policies).
        sig: ``(n, num_perm)`` uint32 MinHash signatures, or None when near dedup is off.
        usable: records with at least one shingle (None with ``sig``).
    """

    settings: tuple
    digests: np.ndarray
    lengths: np.ndarray
    sig: np.ndarray | None = None
    usable: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.lengths.shape[0])

    def subset(self, idx: Sequence[int] | np.ndarray) -> Features:
        """The rows ``idx`` (in that order): the fingerprints of a sub-list of the records."""
        idx = np.asarray(idx, dtype=np.int64)
        return Features(
            self.settings,
            self.digests[idx],
            self.lengths[idx],
            None if self.sig is None else self.sig[idx],
            None if self.usable is None else self.usable[idx],
        )

    def fits(self, config: Any, n: int, need_sig: bool) -> bool:
        """Whether these fingerprints are the ones ``config`` would compute for ``n`` records."""
        return (
            len(self) == n
            and self.settings == settings_of(config)
            and (self.sig is not None or not need_sig)
        )


def compute_features(
    records: Sequence[Record], config: Any, with_sig: bool, progress: bool = False
) -> Features:
    """One pass over ``records``: key text -> normalised bytes -> digest, length, signature."""
    n = len(records)
    normalizer = config.normalizer
    folded = normalizer.whitespace or normalizer.punctuation
    lengths = np.empty(n, dtype=np.int64)
    digests: list[bytes] = []
    sig = np.empty((n, config.num_perm), dtype=np.uint32) if with_sig else None
    usable = np.zeros(n, dtype=bool) if with_sig else None
    docs: list[bytes] = []
    size = 0
    start = 0

    def flush(stop: int) -> None:
        nonlocal docs, size, start
        if with_sig and stop > start:
            hashes, offsets = shingle_hashes(docs, config.shingle_size)
            sig[start:stop] = signatures(hashes, offsets, config.num_perm, config.seed)
            usable[start:stop] = np.diff(offsets) > 0
        docs, size, start = [], 0, stop

    with Progress("dedup: hash", n, progress) as bar:
        for i, record in enumerate(records):
            raw = key_text(record, config.key)
            lengths[i] = len(raw)
            norm = normalizer.to_bytes(raw)
            digests.append(digest(norm))
            if with_sig:
                words = norm if folded else b" ".join(norm.split())
                docs.append(words)
                size += len(words)
                # Chunks of about CHUNK_BYTES of text keep the hashing temporaries small.
                if size >= CHUNK_BYTES:
                    flush(i + 1)
            if i % 4096 == 4095:
                bar.advance(4096)
        flush(n)
        bar.advance(n % 4096)
    arr = np.frombuffer(b"".join(digests), dtype=np.uint8).reshape(n, 16)
    return Features(settings_of(config), arr, lengths, sig, usable)


def exact_groups(digests: np.ndarray, idx: np.ndarray) -> list[list[int]]:
    """Groups (of ``idx`` values, ascending) sharing a digest, ordered by first member."""
    if idx.size < 2:
        return []
    keys = np.ascontiguousarray(digests[idx]).view(np.dtype((np.void, 16))).ravel()
    _, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
    inverse = inverse.ravel()
    dup = counts[inverse] > 1
    if not dup.any():
        return []
    pos = np.flatnonzero(dup)
    order = pos[np.argsort(inverse[pos], kind="stable")]
    bounds = np.flatnonzero(np.diff(inverse[order])) + 1
    groups = [idx[g].tolist() for g in np.split(order, bounds)]
    groups.sort(key=lambda g: g[0])
    return groups


def exact_matches(mine: np.ndarray, theirs: np.ndarray) -> np.ndarray:
    """For each row of ``mine``, the first row of ``theirs`` with the same digest, else -1."""
    out = np.full(mine.shape[0], -1, dtype=np.int64)
    if not mine.shape[0] or not theirs.shape[0]:
        return out
    void = np.dtype((np.void, 16))
    tk = np.ascontiguousarray(theirs).view(void).ravel()
    uniq, first = np.unique(tk, return_index=True)
    mk = np.ascontiguousarray(mine).view(void).ravel()
    pos = np.searchsorted(uniq, mk)
    pos_c = np.minimum(pos, uniq.size - 1)
    hit = (pos < uniq.size) & (uniq[pos_c] == mk)
    out[hit] = first[pos_c[hit]]
    return out
