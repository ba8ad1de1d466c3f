"""Semantic duplicates: nearest neighbours of L2-normalised embeddings in a faiss index.

Up to ``FLAT_LIMIT`` vectors the search is exact (``IndexFlatIP``). Above it, the vectors are
projected to ``SEARCH_DIMS`` dimensions (PCA on a seeded sample) and searched in an
inverted-file index (``IndexIVFFlat``, sqrt(n) lists trained with a fixed seed,
``NPROBE`` lists probed), so time and memory stay near linear; every candidate's cosine is
then recomputed on the full vectors, so the threshold always applies to the true cosine.
Measured on 100k rows (docs/dedup.md): this finds slightly more planted duplicates than an
IVF index on the full 256 dimensions, in a third of the time.

Threads: the work here is many small BLAS calls (a 256x256 ``eigh``, chunked matrix products)
and a chunked faiss search. With their default thread pools (OpenBLAS and OpenMP, one thread
per core) on a busy 2-core machine, the pools spin against each other and against other
processes: the ``eigh`` ran 100x slower, the whole search ~1.9x slower than with one thread,
for byte-identical results. So the semantic stage runs with ``CURATE_THREADS`` threads (default
1) in every pool (``threadpoolctl``); raise it on a machine with idle cores to go faster.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from curate.dedup.near import sorted_unique
from curate.progress import Progress

FLAT_LIMIT = 8_000
SEARCH_DIMS = 64
NPROBE = 8
PCA_SAMPLE = 25_000
SEARCH_CHUNK = 4096
DOT_CHUNK = 32_768
NEIGHBOUR_CACHE_MIN = 2_000  # below this the search takes well under a second: not cached
NEIGHBOUR_CACHE_FILES = 8  # searches kept in the cache folder (most recent)


@contextmanager
def work_threads() -> Iterator[None]:
    """BLAS and OpenMP pools limited to ``$CURATE_THREADS`` (default 1), see the module doc."""
    from threadpoolctl import threadpool_limits

    try:
        n = max(1, int(os.environ.get("CURATE_THREADS", "1")))
    except ValueError:
        n = 1
    with threadpool_limits(limits=n):
        yield


def _unit(a: np.ndarray) -> np.ndarray:
    return a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), np.float32(1e-12))


def _project(base: np.ndarray, queries: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """PCA of ``base`` to SEARCH_DIMS dimensions, applied to both sets, rows re-normalised."""
    rng = np.random.default_rng(seed)
    sample = base[np.sort(rng.choice(base.shape[0], min(base.shape[0], PCA_SAMPLE), False))]
    mean = sample.mean(axis=0)
    centred = (sample - mean).astype(np.float64)
    _, vecs = np.linalg.eigh(centred.T @ centred)
    proj = np.ascontiguousarray(vecs[:, ::-1][:, :SEARCH_DIMS], dtype=np.float32)
    out_b = _unit((base - mean) @ proj)
    out_q = out_b if queries is base else _unit((queries - mean) @ proj)
    return np.ascontiguousarray(out_b), np.ascontiguousarray(out_q)


def _index(base: np.ndarray, seed: int):  # noqa: ANN202 - a faiss index
    import faiss

    n, d = base.shape
    if n <= FLAT_LIMIT:
        index = faiss.IndexFlatIP(d)
    else:
        nlist = int(np.sqrt(n))
        quantizer = faiss.IndexFlatIP(d)
        index = faiss.IndexIVFFlat(quantizer, d, nlist, faiss.METRIC_INNER_PRODUCT)
        rng = np.random.default_rng(seed)
        sample = base[np.sort(rng.choice(n, size=min(n, 32 * nlist), replace=False))]
        index.cp.seed = seed
        index.cp.niter = 8
        index.cp.min_points_per_centroid = 16  # 32 per list is plenty; faiss warns below 39
        index.train(sample)
        index.nprobe = NPROBE
    index.add(base)
    return index


@dataclass(frozen=True, slots=True)
class Search:
    """What one neighbour search found.

    ``full[i]`` is True when row ``i``'s neighbour list was cut off by ``neighbours``: its
    last neighbour still scored at least ``full_floor`` (default ``min_score``; any score
    when both are None), so records beyond the list may score above it too. A row whose list
    is not full saw every candidate the index proposes at that floor or above.
    """

    pairs: np.ndarray
    sims: np.ndarray
    similarity: Callable[[int, int], float]
    full: np.ndarray


def semantic_search(
    vecs: np.ndarray,
    *,
    neighbours: int,
    seed: int = 0,
    against: np.ndarray | None = None,
    min_score: float | None = None,
    progress: bool = False,
    cache_dir: str | os.PathLike[str] | None = None,
    full_floor: float | None = None,
) -> Search:
    """Nearest-neighbour pairs and their cosine similarity.

    Args:
        vecs: ``(n, d)`` float32, L2-normalised.
        neighbours: neighbours looked up per vector.
        against: when given, each row of ``vecs`` is matched to rows of ``against`` instead
            (leakage); returned pairs are ``(i in vecs, j in against)``.
        min_score: drop candidates whose index score is below this before the exact
            cosines are computed (saves most of the work; leave None to see every candidate,
            e.g. for explanations).
        cache_dir: when given, the pairs are kept under ``cache_dir/neighbours`` keyed by a
            hash of the vectors and every setting, so a rerun on the same vectors skips the
            index (the search is deterministic: same vectors, same pairs).
        full_floor: the index score above which a row's last neighbour marks its list as
            cut off (``Search.full``); default ``min_score``.

    Returns:
        A ``Search``: ``pairs`` (within one set ``i < j``, unique), their ``sims`` and a
        ``similarity(i, j)`` function, and per row of ``vecs`` whether its list was ``full``.
        The cosine is always recomputed on the full vectors: the index only proposes.
    """
    vecs = np.ascontiguousarray(vecs, dtype=np.float32)
    if against is not None:
        against = np.ascontiguousarray(against, dtype=np.float32)
    base = vecs if against is None else against
    path = None
    if cache_dir is not None and vecs.shape[0] >= NEIGHBOUR_CACHE_MIN:
        settings = (neighbours, seed, min_score, full_floor)
        path = _neighbour_file(cache_dir, vecs, against, settings)
        got = _read_pairs(path)
        if got is not None and len(got[2]) == vecs.shape[0]:
            return Search(got[0], got[1], _cosine(vecs, base), got[2])
    with work_threads():
        floor = min_score if full_floor is None else full_floor
        pairs, sims, full = _semantic_pairs(
            vecs, neighbours, seed, against, min_score, progress, floor
        )
    if path is not None:
        _write_pairs(path, pairs, sims, full)
    return Search(pairs, sims, _cosine(vecs, base), full)


def _neighbour_file(
    root: str | os.PathLike[str], vecs: np.ndarray, against: np.ndarray | None, settings: tuple
) -> Path:
    h = hashlib.blake2b(digest_size=16)
    h.update(repr((settings, FLAT_LIMIT, SEARCH_DIMS, NPROBE, PCA_SAMPLE, vecs.shape)).encode())
    h.update(memoryview(vecs).cast("B"))
    if against is not None:
        h.update(repr(against.shape).encode())
        h.update(memoryview(against).cast("B"))
    return Path(root) / "neighbours" / f"{h.hexdigest()}.npz"


def _read_pairs(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    try:
        with np.load(path) as z:
            # A file of an older version has no "full" flags: searched again (KeyError).
            return z["pairs"], z["sims"], z["full"]
    except (OSError, ValueError, KeyError, EOFError):
        return None  # absent, or removed by a concurrent cleanup


def _write_pairs(path: Path, pairs: np.ndarray, sims: np.ndarray, full: np.ndarray) -> None:
    from curate.records import atomic_writer

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_writer(path, "wb") as fh:
            np.savez(fh, pairs=pairs, sims=sims, full=full)
        # Only the most recent searches are worth keeping (one per input and setting).
        old = sorted(path.parent.glob("*.npz"), key=lambda f: f.stat().st_mtime)
        for f in old[:-NEIGHBOUR_CACHE_FILES]:
            f.unlink(missing_ok=True)
    except OSError:
        pass  # a read-only or full cache folder only costs the next run its search


def _semantic_pairs(
    vecs: np.ndarray,
    neighbours: int,
    seed: int,
    against: np.ndarray | None,
    min_score: float | None,
    progress: bool,
    floor: float | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    vecs = np.ascontiguousarray(vecs, dtype=np.float32)
    base = vecs if against is None else np.ascontiguousarray(against, dtype=np.float32)
    n = vecs.shape[0]
    full = np.zeros(n, dtype=bool)
    if n == 0 or base.shape[0] == 0 or (against is None and n < 2):
        return np.zeros((0, 2), np.int64), np.zeros(0), full
    search_base, search_q = base, vecs
    if base.shape[0] > FLAT_LIMIT and base.shape[1] > SEARCH_DIMS:
        search_base, search_q = _project(base, vecs, seed)
    index = _index(search_base, seed)
    k = min(base.shape[0], neighbours + (1 if against is None else 0))
    found_i, found_j = [], []
    with Progress("semantic: search", n, progress) as bar:
        for lo in range(0, n, SEARCH_CHUNK):
            scores, idx = index.search(search_q[lo : lo + SEARCH_CHUNK], k)
            last_ok = idx[:, -1] >= 0
            if floor is not None:
                last_ok &= scores[:, -1] >= floor
            full[lo : lo + len(idx)] = last_ok
            rows = np.repeat(np.arange(lo, lo + len(idx)), k)
            cols = idx.ravel()
            ok = cols >= 0
            if min_score is not None:
                ok &= scores.ravel() >= min_score
            if against is None:
                ok &= cols != rows
            found_i.append(rows[ok])
            found_j.append(cols[ok])
            bar.advance(len(idx))
    i = np.concatenate(found_i)
    j = np.concatenate(found_j)
    if against is None:
        lo_, hi_ = np.minimum(i, j), np.maximum(i, j)
        codes = sorted_unique(lo_ * n + hi_)
        pairs = np.stack((codes // n, codes % n), axis=1)
    else:
        pairs = np.stack((i, j), axis=1)
    s = np.minimum(_dots(vecs, base, pairs), 1.0)
    return pairs, s.astype(np.float64), full


def _dots(a: np.ndarray, b: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """``a[i] . b[j]`` for each pair, in chunks (a gather of all pairs at once would need
    pairs x dim floats twice over)."""
    out = np.empty(pairs.shape[0], dtype=np.float64)
    for lo in range(0, pairs.shape[0], DOT_CHUNK):
        p = pairs[lo : lo + DOT_CHUNK]
        out[lo : lo + len(p)] = np.einsum("ij,ij->i", a[p[:, 0]], b[p[:, 1]])
    return out


def centered(*arrays: np.ndarray) -> list[np.ndarray]:
    """Subtract the mean vector of all rows together, then L2-normalise again.

    Static (averaged word vector) embeddings share a large common direction, so raw cosines
    of unrelated texts are high; removing it spreads them out (see docs/dedup.md).
    """
    mean = centre_of(*arrays)
    if mean is None:
        return list(arrays)
    return [centered_on(a, mean) for a in arrays]


def centre_of(*arrays: np.ndarray) -> np.ndarray | None:
    """The mean vector ``centered`` subtracts (None when there are no rows)."""
    rows = [a for a in arrays if a.size]
    if not rows:
        return None
    with work_threads():
        return np.concatenate(rows).mean(axis=0, dtype=np.float64).astype(np.float32)


def centered_on(a: np.ndarray, mean: np.ndarray, *, in_place: bool = False) -> np.ndarray:
    """``a`` minus a given mean vector, rows L2-normalised again (``centered``'s second half).

    ``in_place``: overwrite ``a`` (a float32 copy the caller owns) instead of allocating two
    more arrays of its size: at 1M rows each is ~1 GB. The same operations, the same bits.
    """
    with work_threads():
        if in_place:
            a -= mean
            c = a
        else:
            c = a - mean
        c /= np.maximum(np.linalg.norm(c, axis=1, keepdims=True), np.float32(1e-12))
        return c


def best_matches(
    queries: np.ndarray, base: np.ndarray, min_score: float, mean: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Exact search: for each query row, its most similar ``base`` row when their cosine is
    at least ``min_score``, as ``(pairs (query, base), cosines)``. Brute force in chunks of
    ``base``: for a few queries against many rows this is cheaper than building an index,
    and it misses nothing an index could miss. ``mean``: ``base`` is centred on it chunk by
    chunk (``centered_on``), so no centred copy of the whole of ``base`` is made."""
    q = np.ascontiguousarray(queries, dtype=np.float32)
    best = np.full(q.shape[0], -np.inf, dtype=np.float32)
    arg = np.full(q.shape[0], -1, dtype=np.int64)

    def rows(b: np.ndarray) -> np.ndarray:
        return b if mean is None else centered_on(b, mean)

    if q.shape[0] and base.shape[0]:
        with work_threads():
            for lo in range(0, base.shape[0], DOT_CHUNK):
                scores = rows(base[lo : lo + DOT_CHUNK]) @ q.T
                top = scores.argmax(axis=0)
                val = scores[top, np.arange(q.shape[0])]
                better = val > best
                best[better], arg[better] = val[better], top[better] + lo
    hit = np.flatnonzero(arg >= 0)
    pairs = np.stack((hit, arg[hit]), axis=1) if hit.size else np.zeros((0, 2), np.int64)
    sims = np.zeros(0)
    if hit.size:
        matched = rows(base[arg[hit]])
        sims = np.minimum(np.einsum("ij,ij->i", q[hit], matched).astype(np.float64), 1.0)
    ok = sims >= min_score
    return pairs[ok], sims[ok]


@dataclass(frozen=True, slots=True)
class SemanticCheck:
    """What dedup's semantic search leaves for a later duplicate check of the records it kept
    (the split's leakage check in ``curate run``): one flag per record, and the mean vector
    dedup centred on.

    Dedup searched every record still alive at its semantic step and joined every pair over
    the threshold that the slot guard let through, keeping one record per cluster. So two
    records it kept are no semantic duplicates of each other unless one's neighbour list
    was ``full`` (cut off at ``neighbours`` with candidates left) or it was never searched:
    only those (``recheck``) need a new search, the rest are settled. Valid only for the
    records dedup kept and for the same model, key, threshold, centring and slot guard
    (``fits``).
    """

    settings: tuple[Any, ...]
    recheck: np.ndarray
    mean: np.ndarray | None

    def __len__(self) -> int:
        return len(self.recheck)

    def subset(self, idx: Sequence[int] | np.ndarray) -> SemanticCheck:
        """The flags of rows ``idx`` (in that order)."""
        return SemanticCheck(
            self.settings, self.recheck[np.asarray(idx, dtype=np.int64)], self.mean
        )

    def fits(self, config: Any, n: int) -> bool:
        """Whether these flags answer a check of ``n`` records under ``config``."""
        return len(self) == n and self.settings == check_settings(config)


def check_settings(config: Any) -> tuple[Any, ...]:
    """The settings a ``SemanticCheck`` depends on: what decides "semantic duplicate"."""
    return (config.model, config.key, config.semantic_settings(), config.slot_guard)


def _cosine(a: np.ndarray, b: np.ndarray) -> Callable[[int, int], float]:
    def similarity(i: int, j: int) -> float:
        return float(min(1.0, float(np.dot(a[i], b[j]))))

    return similarity
