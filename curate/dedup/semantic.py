"""Semantic duplicates: nearest neighbours of L2-normalised embeddings in a faiss index.

Up to ``FLAT_LIMIT`` vectors the search is exact (``IndexFlatIP``). Above it, the vectors are
projected to ``SEARCH_DIMS`` dimensions (PCA on a seeded sample) and searched in an
inverted-file index (``IndexIVFFlat``, sqrt(n) lists trained with a fixed seed,
``NPROBE`` lists probed), so time and memory stay near linear; every candidate's cosine is
then recomputed on the full vectors, so the threshold always applies to the true cosine.
Measured on 100k rows (docs/dedup.md): this finds slightly more planted duplicates than an
IVF index on the full 256 dimensions, in a third of the time. The index's search itself
(each query scanning its ``NPROBE`` lists one vector at a time) is replaced by one matrix
product per list over every query that probes it (``_scan_lists``): the same pairs and
"full" flags, bit for bit, at about a third of the CPU (docs/dedup.md, "Fifth pass"); with
``explain`` (no floor: every query's k best at any score) each query gets its own floor from
its first lists (``_first_list_floors``), about half of faiss's CPU ("Eleventh pass"), while
``k + 1 <= SCAN_RANKS_MAX`` (faiss's own search past it: the floors rank ``k + 1`` products a
list and the candidates grow with ``k``).

Threads: the work here is many small BLAS calls (a 256x256 ``eigh``, chunked matrix products)
and a chunked faiss search. With their default thread pools (OpenBLAS and OpenMP, one thread
per core) on a busy 2-core machine, the pools spin against each other and against other
processes: the ``eigh`` ran 100x slower, the whole search ~1.9x slower than with one thread,
for byte-identical results. So the semantic stage runs with ``CURATE_THREADS`` threads (default
1) in every pool (``threadpoolctl``); raise it on a machine with idle cores to go faster.
The list scan alone spreads its lists over ``CURATE_SCAN_THREADS`` plain threads (default 2),
each with one BLAS thread (``_in_threads``): nothing spins, and its products' last bits are
not part of the result, so the thread count changes only the wall time.
"""

from __future__ import annotations

import functools
import hashlib
import os
import sys
import threading
import zipfile
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from curate.dedup.near import sorted_unique_in_place
from curate.embed import unit_rows_in_place
from curate.progress import Progress
from curate.workers import env_threads

FLAT_LIMIT = 8_000
SEARCH_DIMS = 64
NPROBE = 8
PCA_SAMPLE = 25_000
SEARCH_CHUNK = 4096
# Queries ``explain``'s list scan takes at a time (``_scan_codes``) while ``k + 1 <=
# SCAN_CHUNK_RANKS``: whole search chunks, ~50 MB of candidates and probes at the default 10
# neighbours. More neighbours take fewer queries at a time (``_scan_chunk``: queries x
# (k + 1) at most ``SCAN_QUERY_CHUNK x SCAN_CHUNK_RANKS``); 24, not 12, because smaller
# chunks cost CPU (100k rows, 62 neighbours: 3.4-3.5 CPU s in chunks of 4,096, 2.5 in 12,288).
SCAN_QUERY_CHUNK = 8 * SEARCH_CHUNK
SCAN_CHUNK_RANKS = 24
# ``explain``'s list scan is taken while ``k + 1 <= SCAN_RANKS_MAX`` (up to 62 neighbours),
# faiss's own search past it: each query's floor ranks ``k + 1`` products in each of
# ``FLOOR_LISTS`` lists and its candidates grow with ``k``, so its gain shrinks (100k rows,
# CPU s scan / faiss: 1.2 / 2.5 at 10 neighbours, 1.8-2.2 / 3.6-3.8 at 32, 2.5-2.7 /
# 3.3-4.4 at 62) while its memory reaches faiss's (traced 98 / 95 MB at 62) and passes it
# (328 / 118 MB at 500 neighbours on 9,000 rows). docs/dedup.md, "Eleventh pass, bounded".
SCAN_RANKS_MAX = 64
DOT_CHUNK = 32_768
# Pairs ``_dots`` gathers at a time: ~3x 8 MB in flight (a row's dot product does not depend
# on how many rows are computed beside it, so the chunk size changes no bit).
PAIR_CHUNK = 8_192
# Columns of a score block ``best_matches`` reduces at a time (its argmax's copy: 32k x 128
# float32, 16 MB).
ARGMAX_COLUMNS = 128
ROW_CHUNK = 8_192  # rows a ``Rows`` makes at a time (8 MB of 256-dim float32, ~3x that in flight)
SCAN_MARGIN = 1e-3  # see _scan_lists
# Probed lists whose best rows set each query's floor in a scan without one (``explain``).
FLOOR_LISTS = 3
SCAN_BLOCK = 4_194_304  # products per block in _scan_lists (16 MB of float32)
# Candidates _scan_lists gathers before giving the search back to faiss (~0.3 GB of them): a
# low threshold puts hundreds of rows of each probed list over the floor, where faiss keeps
# only k per query.
SCAN_CANDIDATES_MAX = 16_000_000
NEIGHBOUR_CACHE_MIN = 2_000  # below this the search takes well under a second: not cached
NEIGHBOUR_CACHE_FILES = 8  # searches kept in the cache folder (most recent)


@contextmanager
def work_threads() -> Iterator[None]:
    """BLAS and OpenMP pools limited to ``$CURATE_THREADS`` (default 1), see the module doc."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=env_threads("CURATE_THREADS", 1)):
        yield


@contextmanager
def faiss_threads() -> Iterator[Any]:
    """faiss, with its OpenMP pool under ``work_threads``' limit. It is loaded before the
    limit is set: loaded inside it, the limit missed its pool, so a process's first search
    ran on every CPU and later ones on CURATE_THREADS, and faiss's results depend on its
    thread count (a machine's CPU count changed the pairs)."""
    import faiss

    with work_threads():
        yield faiss


class Rows:
    """Rows ``idx`` of ``array`` (all of them when None), centred on ``mean`` when given
    (``centered_on``), made a chunk at a time: how the semantic search reads its vectors.

    The run's embeddings reach the search this way without a copy of the rows still alive
    and a centred second one (~1 GB each at 1M rows). Centring and normalising work row by
    row (a row minus the mean, over its own norm), so every row comes out with the bits that
    the same operations on the whole array give it.
    """

    def __init__(
        self, array: np.ndarray, idx: np.ndarray | None = None, mean: np.ndarray | None = None
    ) -> None:
        self.array = array
        self.idx = None if idx is None else np.asarray(idx, dtype=np.int64)
        self.mean = mean

    @property
    def plain(self) -> bool:
        """The array itself: no selection, no centring."""
        return self.idx is None and self.mean is None

    @property
    def shape(self) -> tuple[int, int]:
        return (len(self), self.array.shape[1])

    def __len__(self) -> int:
        return self.array.shape[0] if self.idx is None else self.idx.size

    def subset(self, rows: np.ndarray | Sequence[int]) -> Rows:
        """Rows ``rows`` of this selection, still read in place."""
        rows = np.asarray(rows, dtype=np.int64)
        return Rows(self.array, rows if self.idx is None else self.idx[rows], self.mean)

    def take(self, rows: np.ndarray | Sequence[int]) -> np.ndarray:
        """Rows ``rows`` (positions in this selection): a new float32 array."""
        rows = np.asarray(rows, dtype=np.int64)
        out = np.asarray(self.array[rows if self.idx is None else self.idx[rows]], np.float32)
        if self.mean is not None:
            _centred_in_place(out, self.mean)
        return out

    def chunks(self, size: int = ROW_CHUNK) -> Iterator[tuple[int, np.ndarray]]:
        """``(first row, rows)`` in order, ``size`` rows at a time (views when ``plain``)."""
        for lo in range(0, len(self), size):
            hi = min(lo + size, len(self))
            yield lo, self.array[lo:hi] if self.plain else self.take(np.arange(lo, hi))

    def whole(self) -> np.ndarray:
        """Every row in one array (the array itself when ``plain``)."""
        if self.plain:
            return self.array
        out = np.empty(self.shape, dtype=np.float32)
        for lo, part in self.chunks():
            out[lo : lo + len(part)] = part
        return out

    def mean_of(self) -> np.ndarray | None:
        """``centre_of`` of these rows (before centring), summed a chunk at a time: float64
        sums of the rows in order, as numpy's ``mean(axis=0)`` of the whole adds them."""
        if len(self) == 0:
            return None
        raw = Rows(self.array, self.idx)
        total: np.ndarray | None = None
        # Row 0: the sums so far, carried as the first row (the same running sums); the
        # chunk's rows cast into the rows after it, in one buffer (no float64 copy of each
        # chunk and then a second one with the sums put in front).
        size = ROW_CHUNK
        buf = np.empty((min(size, len(self)) + 1, self.array.shape[1]), np.float64)
        for _, part in raw.chunks(size):
            end = len(part) + 1
            buf[1:end] = part
            if total is None:
                total = np.add.reduce(buf[1:end], axis=0)
            else:
                buf[0] = total
                total = np.add.reduce(buf[:end], axis=0)
        return (total / len(self)).astype(np.float32)  # type: ignore[operator]


def _as_rows(vecs: np.ndarray | Rows) -> Rows:
    if isinstance(vecs, Rows):
        return vecs
    return Rows(np.ascontiguousarray(vecs, dtype=np.float32))


def _project(
    base: np.ndarray | Rows, queries: np.ndarray | Rows, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """PCA of ``base`` to SEARCH_DIMS dimensions, applied to both sets, rows re-normalised."""
    one_set = queries is base
    base = _as_rows(base)
    queries = base if one_set else _as_rows(queries)
    rng = np.random.default_rng(seed)
    sample = base.take(np.sort(rng.choice(len(base), min(len(base), PCA_SAMPLE), False)))
    mean = sample.mean(axis=0)
    centred = (sample - mean).astype(np.float64)
    _, vecs = np.linalg.eigh(centred.T @ centred)
    proj = np.ascontiguousarray(vecs[:, ::-1][:, :SEARCH_DIMS], dtype=np.float32)
    del sample, centred  # ~76 MB, not kept through the projection
    out_b = _projected(base, mean, proj)
    out_q = out_b if queries is base else _projected(queries, mean, proj)
    return out_b, out_q


def _projected(rows: Rows, mean: np.ndarray, proj: np.ndarray) -> np.ndarray:
    """``unit((rows - mean) @ proj)``. The product stays one BLAS call over every row: split
    into other row counts, OpenBLAS gives some rows other last bits (it blocks rows in
    groups of its own), and the index's candidates could change. Its operand is filled a
    chunk at a time from ``rows`` (the subtraction is elementwise: the same bits). A large
    one is made in the memory of ``rows``' own array (``_lent``), so no second array of the
    vectors' size stands beside them (~1 GB at 1M rows); a small one gets its own array."""
    with _lent(rows) as operand:
        for lo, part in rows.chunks():
            np.subtract(part, mean, out=operand[lo : lo + len(part)])
        out = operand @ proj
        del operand
    # Normalised a chunk of rows at a time (a row's norm is its own: the same bits), so the
    # norm's squares are not a second array of the projected rows' size (~0.25 GB at 1M).
    for lo in range(0, len(out), ROW_CHUNK):
        unit_rows_in_place(out[lo : lo + ROW_CHUNK])
    return out


LEND_MIN_BYTES = 128 * 2**20  # operands below this get their own array (no file written)


@contextmanager
def _lent(rows: Rows) -> Iterator[np.ndarray]:
    """An empty ``rows.shape`` float32 array for ``_projected``'s operand: the first rows of
    ``rows.array`` itself when it is large, its bytes kept in a temporary file meanwhile and
    put back, bit for bit, on the way out (an error or Ctrl-C included).

    Filling row ``i`` of the operand overwrites row ``i`` of the array; ``rows`` reads row
    ``idx[i] >= i`` for it (ascending rows), so every row is read before it is overwritten.
    Anything else (a small operand, rows out of order, an array that is not float32
    C-contiguous, writeable and the owner of its memory, or a file that cannot be written)
    gets a new array. While lent, the array must not be read by another thread (the run
    reads its vectors in its main thread only; a read-only array, as Ray's object store
    gives, is never lent)."""
    a, idx = rows.array, rows.idx
    nbytes = len(rows) * a.shape[1] * 4 if a.ndim == 2 else 0
    usable = (
        nbytes >= LEND_MIN_BYTES
        and a.dtype == np.float32
        and a.flags.c_contiguous
        and a.flags.writeable
        # Its own memory only: never a view of another array or a caller's memory-mapped
        # file (a kill while lent would leave the operand in their file).
        and a.flags.owndata
        and not isinstance(a, np.memmap)
        and (idx is None or bool(np.all(idx[1:] > idx[:-1])))
    )
    spill = _spilled(a) if usable else None
    if spill is None:
        yield np.empty(rows.shape, dtype=np.float32)
        return
    with spill:
        yield a.reshape(-1)[: len(rows) * a.shape[1]].reshape(rows.shape)


@contextmanager
def _kept_aside(a: np.ndarray, fh: Any) -> Iterator[None]:
    """``a``'s bytes, already in ``fh``, written back into ``a`` on the way out."""
    try:
        yield
    finally:
        try:
            fh.seek(0)
            view = memoryview(a).cast("B")
            if fh.readinto(view) != len(view):
                raise OSError("semantic: the spilled vectors came back short")
        finally:
            fh.close()


def _spilled(a: np.ndarray) -> Any:
    """A context that keeps ``a``'s bytes in a temporary file (``$TMPDIR``) and puts them
    back on exit, or None when they cannot be written."""
    import tempfile

    try:
        fh = tempfile.TemporaryFile()
    except OSError:
        return None
    try:
        a.tofile(fh)
        fh.flush()
    except OSError:
        fh.close()
        return None  # a full disk: the operand gets its own array
    return _kept_aside(a, fh)


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
    vecs: np.ndarray | Rows,
    *,
    neighbours: int,
    seed: int = 0,
    against: np.ndarray | Rows | None = None,
    min_score: float | None = None,
    progress: bool = False,
    cache_dir: str | os.PathLike[str] | None = None,
    full_floor: float | None = None,
) -> Search:
    """Nearest-neighbour pairs and their cosine similarity.

    Args:
        vecs: ``(n, d)`` float32, L2-normalised; or ``Rows`` of a larger array, read a
            chunk at a time (no full copy of the selection is made).
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
    vecs = _as_rows(vecs)
    against = None if against is None else _as_rows(against)
    base = vecs if against is None else against
    path = None
    if cache_dir is not None and len(vecs) >= NEIGHBOUR_CACHE_MIN:
        settings = (neighbours, seed, min_score, full_floor)
        path = _neighbour_file(cache_dir, vecs, against, settings)
        got = _read_pairs(path)
        if got is not None and len(got[2]) == len(vecs):
            return Search(got[0], got[1], cosine_of(vecs, base), got[2])
    with faiss_threads():
        floor = min_score if full_floor is None else full_floor
        pairs, sims, full = _semantic_pairs(
            vecs, neighbours, seed, against, min_score, progress, floor
        )
    if path is not None:
        write_outcome(path, pairs=pairs, sims=sims, full=full)
    return Search(pairs, sims, cosine_of(vecs, base), full)


def _neighbour_file(
    root: str | os.PathLike[str], vecs: Rows, against: Rows | None, settings: tuple
) -> Path:
    # The digest of the rows' bytes in order, fed a chunk at a time (the same digest).
    h = _keyed(settings, vecs.shape)
    for _, part in vecs.chunks():
        h.update(memoryview(np.ascontiguousarray(part)).cast("B"))
    if against is not None:
        h.update(repr(against.shape).encode())
        for _, part in against.chunks():
            h.update(memoryview(np.ascontiguousarray(part)).cast("B"))
    return Path(root) / "neighbours" / f"{h.hexdigest()}.npz"


def _keyed(settings: tuple, size: Any) -> Any:
    """A digest started with everything besides the data that decides a cached result: the
    caller's settings, this module's constants, and the code and libraries that compute it
    (an upgrade must not return what older code found)."""
    h = hashlib.blake2b(digest_size=16)
    h.update(repr((settings, FLAT_LIMIT, SEARCH_DIMS, NPROBE, PCA_SAMPLE, size)).encode())
    h.update(_code_digest())
    return h


@functools.cache
def _code_digest() -> bytes:
    from importlib.metadata import PackageNotFoundError, version

    from curate import chat
    from curate.dedup import near, normalize, slots

    try:  # the distribution's version: importing faiss would cost a warm rerun ~0.4 s
        faiss_version = version("faiss-cpu")
    except PackageNotFoundError:
        faiss_version = "other"
    h = hashlib.blake2b(repr((faiss_version, np.__version__)).encode(), digest_size=16)
    for module in (sys.modules[__name__], near, slots, normalize, chat):
        h.update(Path(module.__file__).read_bytes())
    return h.digest()


def _read_pairs(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    got = read_outcome(path)
    if got is None or not {"pairs", "sims", "full"} <= got.keys():
        return None
    return got["pairs"], got["sims"], got["full"]


def _write_arrays(path: Path, arrays: dict[str, np.ndarray]) -> None:
    from curate.records import atomic_writer

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_writer(path, "wb") as fh:
            np.savez(fh, **arrays)
        # Only the most recent searches are worth keeping (one per input and setting).
        old = sorted(path.parent.glob("*.npz"), key=lambda f: f.stat().st_mtime)
        for f in old[:-NEIGHBOUR_CACHE_FILES]:
            f.unlink(missing_ok=True)
    except OSError:
        pass  # a read-only or full cache folder only costs the next run its search


def outcome_file(folder: str | os.PathLike[str], settings: tuple, records: Sequence[Any]) -> Path:
    """Where a semantic step's outcome on ``records`` is kept (``read_outcome``): a digest
    over every setting and the ordered JSON of the records themselves, so a rerun on the same
    input finds it without building a key text, embedding or searching anything. Any changed
    record, order or setting gives another file. ``folder`` is the model's embedding cache
    folder (one per model fingerprint)."""
    import orjson

    h = _keyed(settings, len(records))
    for r in records:
        b = r.packed if r.packed is not None else orjson.dumps(r.data)
        h.update(len(b).to_bytes(8, "little"))
        h.update(b)
    return Path(folder) / "semantic" / f"{h.hexdigest()}.npz"


def read_outcome(path: Path) -> dict[str, np.ndarray] | None:
    """The arrays ``write_outcome`` kept at ``path``, or None."""
    try:
        # Opened here: np.load leaves its own handle open when the file is not a zip.
        with open(path, "rb") as fh, np.load(fh) as z:
            return {k: z[k] for k in z.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile):
        return None  # absent, removed by a concurrent cleanup, or damaged: computed again


def write_outcome(path: Path, **arrays: np.ndarray) -> None:
    """Keep ``arrays`` at ``path`` (atomically; the most recent few files only)."""
    _write_arrays(path, arrays)


def _semantic_pairs(
    vecs: np.ndarray | Rows,
    neighbours: int,
    seed: int,
    against: np.ndarray | Rows | None,
    min_score: float | None,
    progress: bool,
    floor: float | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    vecs = _as_rows(vecs)
    base = vecs if against is None else _as_rows(against)
    n = len(vecs)
    full = np.zeros(n, dtype=bool)
    if n == 0 or len(base) == 0 or (against is None and n < 2):
        return np.zeros((0, 2), np.int64), np.zeros(0), full
    if len(base) > FLAT_LIMIT and base.shape[1] > SEARCH_DIMS:
        search_base, search_q = _project(base, vecs, seed)
    else:
        search_base = base.whole()
        search_q = search_base if against is None else vecs.whole()
    index = _index(search_base, seed)
    k = min(len(base), neighbours + (1 if against is None else 0))
    codes: np.ndarray | None = None
    with Progress("semantic: search", n, progress) as bar:
        # The list scan gives the index's own pairs where their order does not matter (one
        # set: sorted below; against: one neighbour per query) and every kept candidate
        # lies at the floor or above (``explain``'s search is scanned below).
        if (
            hasattr(index, "nprobe")
            and min_score is not None
            and floor is not None
            and floor <= min_score
            and (against is None or k == 1)
        ):
            search_base = None  # the index's lists hold the rows the scan reads
            scanned = _scan_lists(index, search_q, k, floor, full, bar)
        else:
            scanned = None
        if scanned is not None:
            # As on faiss's path: the projected rows (~0.25 KB a row) are done with, so they
            # are not kept through the candidates' codes.
            search_base = search_q = None
            i, j = _over(*scanned, min_score, against is None)
            del scanned
            if against is None:
                codes = _pair_codes(i, j, n)
                del i, j
            else:
                order = np.argsort(i, kind="stable")
                i, j = i[order], j[order]
        elif against is None:
            queries = _Queries(index, search_q)
            # The index's lists hold the rows: the projected array (~0.25 KB a row) goes.
            search_base = search_q = None
            found: list[np.ndarray] = []
            start = 0
            # ``explain`` (no floor) with few neighbours: the list scan, as far as it goes.
            if hasattr(index, "nprobe") and min_score is None and k + 1 <= SCAN_RANKS_MAX:
                start = _scan_codes(index, queries, k, floor, n, full, bar, found)
            codes = _faiss_codes(index, queries, k, floor, min_score, n, full, bar, found, start)
            del queries, found
        else:
            i, j = _faiss_search(index, search_q, k, floor, min_score, against, full, bar)
    # The index and the projected rows are done: freed before the pairs' cosines (~0.5 KB
    # a row; the candidate lists beside them took as much again).
    del index, search_base, search_q
    if codes is not None:
        pairs = _code_pairs(codes, n)
        del codes
    else:
        pairs = np.stack((i, j), axis=1)
        del i, j
    s = _dots(vecs, base, pairs)
    return pairs, np.minimum(s, 1.0, out=s), full


def _pair_codes(i: np.ndarray, j: np.ndarray, n: int) -> np.ndarray:
    """The distinct pairs ``{i, j}`` as sorted codes ``min * n + max`` (one array, sorted in
    place: ``sorted_unique(minimum(i, j) * n + maximum(i, j))``'s values)."""
    codes = np.minimum(i, j)
    codes *= n
    codes += np.maximum(i, j)
    return sorted_unique_in_place(codes)


def _code_pairs(codes: np.ndarray, n: int) -> np.ndarray:
    """The ``(m, 2)`` pairs ``(code // n, code % n)`` of ``_pair_codes``' codes, divided
    straight into the two columns of one array: no quotient and remainder arrays beside
    it (8 bytes a pair each) before they are stacked."""
    pairs = np.empty((codes.size, 2), dtype=codes.dtype)
    np.divmod(codes, n, out=(pairs[:, 0], pairs[:, 1]))
    return pairs


class _Queries:
    """The projected rows, for the index's search of its own rows: the array itself, or,
    for an inverted-file index, the rows read back from its lists in chunks (the same
    floats), so the projected array (~0.25 KB a row) is not kept beside the lists' copy."""

    def __init__(self, index: Any, array: np.ndarray) -> None:
        self.shape = array.shape
        self.array: np.ndarray | None = array
        self.index = index
        if hasattr(index, "make_direct_map"):
            index.make_direct_map(True)  # row -> (list, offset): 8 bytes a row
            self.array = None

    def __getitem__(self, rows: slice) -> np.ndarray:
        if self.array is not None:
            return self.array[rows]
        # The slice's own row numbers only: an arange over all n rows cut down to the chunk
        # would be O(n) per chunk (~2 GB written per search at 1M rows).
        keys = np.arange(*rows.indices(self.shape[0]), dtype=np.int64)
        return self.index.reconstruct_batch(keys)


def _faiss_codes(
    index: Any,
    queries: _Queries,
    k: int,
    floor: float | None,
    min_score: float | None,
    n: int,
    full: np.ndarray,
    bar: Progress,
    found: list[np.ndarray] | None = None,
    start: int = 0,
) -> np.ndarray:
    """``_faiss_search`` of one set's rows against themselves, as ``_pair_codes`` of the
    candidates: each chunk's distinct codes are kept (8 bytes a candidate, not the 16 of
    its two rows and the copies made of them), then made distinct over every chunk. The
    search starts at query ``start`` (a multiple of ``SEARCH_CHUNK``), ``found`` holding
    the codes of the queries before it (``_scan_codes``'s, the same by construction)."""
    found = [] if found is None else found
    for lo in range(start, queries.shape[0], SEARCH_CHUNK):
        part = queries[lo : lo + SEARCH_CHUNK]
        i, j = _search_chunk(index, part, lo, k, floor, min_score, True, full)
        found.append(_pair_codes(i, j, n))
        bar.advance(len(part))
    codes = np.concatenate(found) if found else np.zeros(0, np.int64)
    found.clear()
    return sorted_unique_in_place(codes)


def _scan_codes(
    index: Any,
    queries: _Queries,
    k: int,
    full_floor: float | None,
    n: int,
    full: np.ndarray,
    bar: Progress,
    found: list[np.ndarray],
) -> int:
    """``_faiss_codes``' chunks without a floor (``explain``: every query's ``k`` best at
    any score), by the list scan, ``_scan_chunk(k)`` queries at a time, appended to
    ``found``; returns the query where it stopped: all of them, or the first of a chunk
    that passed ``SCAN_CANDIDATES_MAX`` (faiss's search goes on from there). At the
    default 10 neighbours a chunk's candidates (~20 a query before the top ``k`` is taken,
    12 bytes each), rows and probes stay ~50 MB at any size of input (traced at 100k: 48
    MB; 87 MB with 65,536 queries, 133 MB with all of them, for ~10% less CPU); with more
    neighbours (up to ``SCAN_RANKS_MAX``) the chunk shrinks as ``k`` grows. The probed
    lists come from the quantizer calls faiss makes (chunks of ``SEARCH_CHUNK``)."""
    chunk = _scan_chunk(k)
    for lo in range(0, queries.shape[0], chunk):
        part = queries[lo : lo + chunk]
        got = _scan_lists(
            index, part, k, None, full[lo : lo + len(part)], bar, full_floor=full_floor
        )
        if got is None:
            return lo
        q, b, score = got
        q += lo
        found.append(_pair_codes(*_over(q, b, score, None, True), n))
        del got, q, b, score, part
    return queries.shape[0]


def _scan_chunk(k: int) -> int:
    """Queries ``_scan_codes`` takes at a time for ``k`` best each: ``SCAN_QUERY_CHUNK``
    while ``k + 1 <= SCAN_CHUNK_RANKS``, fewer past it (each query's floor ranks ``k + 1``
    products per list, and its candidates grow with ``k``), whole search chunks, at least
    one."""
    if k + 1 <= SCAN_CHUNK_RANKS:
        return SCAN_QUERY_CHUNK
    scaled = SCAN_QUERY_CHUNK * SCAN_CHUNK_RANKS // (k + 1)
    return max(SEARCH_CHUNK, scaled // SEARCH_CHUNK * SEARCH_CHUNK)


def _over(
    rows: np.ndarray, cols: np.ndarray, scores: np.ndarray, min_score: float | None, own: bool
) -> tuple[np.ndarray, np.ndarray]:
    """The candidates kept: found (col >= 0), at ``min_score`` or above, not the row itself."""
    ok = cols >= 0
    if min_score is not None:
        ok &= scores >= min_score
    if own:
        ok &= cols != rows
    return rows[ok], cols[ok]


def _faiss_search(
    index: Any,
    queries: np.ndarray,
    k: int,
    floor: float | None,
    min_score: float | None,
    against: np.ndarray | None,
    full: np.ndarray,
    bar: Progress,
) -> tuple[np.ndarray, np.ndarray]:
    """The index's own search, chunk by chunk: candidate ``(rows, cols)``; sets ``full``."""
    found_i, found_j = [], []
    for lo in range(0, queries.shape[0], SEARCH_CHUNK):
        part = queries[lo : lo + SEARCH_CHUNK]
        i, j = _search_chunk(index, part, lo, k, floor, min_score, against is None, full)
        found_i.append(i)
        found_j.append(j)
        bar.advance(len(part))
    return np.concatenate(found_i), np.concatenate(found_j)


def _search_chunk(
    index: Any,
    part: np.ndarray,
    lo: int,
    k: int,
    floor: float | None,
    min_score: float | None,
    own: bool,
    full: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """The index's search of query rows ``lo ..`` (``part``): candidate ``(rows, cols)``;
    sets their ``full`` flags."""
    scores, idx = index.search(part, k)
    last_ok = idx[:, -1] >= 0
    if floor is not None:
        last_ok &= scores[:, -1] >= floor
    full[lo : lo + len(idx)] = last_ok
    rows = np.repeat(np.arange(lo, lo + len(idx)), k)
    return _over(rows, idx.ravel(), scores.ravel(), min_score, own)


def _exact_ip(queries: np.ndarray, base: np.ndarray, qi: np.ndarray, bj: np.ndarray) -> np.ndarray:
    """``queries[qi] . base[bj]`` with faiss's own per-pair inner product: the very bits its
    inverted-list scan computes (checked pair by pair on 100k queries, docs/dedup.md)."""
    import faiss

    qi = np.ascontiguousarray(qi, dtype=np.int64)
    bj = np.ascontiguousarray(bj, dtype=np.int64)
    out = np.empty(qi.size, dtype=np.float32)
    if qi.size:
        faiss.pairwise_indexed_inner_product(
            queries.shape[1],
            qi.size,
            faiss.swig_ptr(queries),
            faiss.swig_ptr(qi),
            faiss.swig_ptr(base),
            faiss.swig_ptr(bj),
            faiss.swig_ptr(out),
        )
    return out


def _scan_lists(
    index: Any,
    queries: np.ndarray,
    k: int,
    floor: float | None,
    full: np.ndarray,
    bar: Progress,
    full_floor: float | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """What ``index.search(queries, k)`` keeps at ``floor`` or above, computed list by list
    (None past ``SCAN_CANDIDATES_MAX`` candidates: the caller searches these queries with
    faiss, and ``bar`` is set back to where it was).
    ``floor`` None: every query's ``k`` best at any score (``explain``), with each query's
    own floor from its first ``FLOOR_LISTS`` probed lists (``_first_list_floors``; take it
    for small ``k`` only, ``SCAN_RANKS_MAX``); ``full`` then marks a ``k``-th
    best at ``full_floor`` or above (any score when None), as ``_search_chunk`` does.

    faiss scans each query's ``nprobe`` inverted lists one vector at a time; here every
    list is scored against all the queries that probe it in one matrix product (BLAS), so
    the same work runs ~10x faster. The result is the index's own, exactly: the probed lists
    come from the same quantizer calls (same chunks), every candidate the product puts near
    or above ``floor`` is re-scored with faiss's per-pair inner product (the scan's bits),
    and a query whose list of ``k`` would be decided by a tie at its last place is searched
    by faiss itself on the same lists. Returns the candidates ``(rows, cols)`` at ``floor``
    or above that the index's top ``k`` holds and their scores; sets ``full`` (``k`` of them
    at ``floor``).
    """
    import faiss

    n = queries.shape[0]
    nprobe = index.nprobe
    quantizer = faiss.downcast_index(index.quantizer)
    probes = np.empty((n, nprobe), dtype=np.int64)
    coarse = np.empty((n, nprobe), dtype=np.float32)
    for lo in range(0, n, SEARCH_CHUNK):
        coarse[lo : lo + SEARCH_CHUNK], probes[lo : lo + SEARCH_CHUNK] = quantizer.search(
            queries[lo : lo + SEARCH_CHUNK], nprobe
        )
    order, starts = _probes_by_list(probes.ravel(), index.nlist)
    # The queries that probe each list, list by list (int32: 4 bytes per probe at 1M rows).
    query_of = (order // nprobe).astype(np.int32)
    del order
    invlists = index.invlists
    # Each query's floor: a scalar, or per query (``floor`` None); candidates are gathered
    # from the products at the floor less the margin, then kept on their exact score.
    floors: Any = floor
    if floor is None:
        floors = _first_list_floors(index, queries, probes, k)
    low = floors - np.float32(SCAN_MARGIN) if floor is None else floor - SCAN_MARGIN
    # Candidates gathered by every thread so far: a list is given up inside as soon as the
    # total passes the cap (a list of many copies of one text holds billions of them).
    seen, lock = [0], threading.Lock()
    # Candidates are held as int32 rows (12 bytes with their score, not 20) where they fit.
    id_type = np.int32 if index.ntotal < 2**31 else np.int64

    def scan(c: int) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
        """List ``c``'s candidates at the floor: (queries, members, exact scores)."""
        got_q: list[np.ndarray] = []
        got_b: list[np.ndarray] = []
        got_s: list[np.ndarray] = []
        qs = query_of[starts[c] : starts[c + 1]]
        size = invlists.list_size(c)
        if qs.size and size:
            ids = faiss.rev_swig_ptr(invlists.get_ids(c), size).astype(np.int64)
            stored = _list_rows(invlists, c, size, queries.shape[1])
            members = stored.T
            # Queries in slices, so an uneven list (k-means lists can be) stays ~16 MB.
            step_q = max(1, SCAN_BLOCK // size)
            for lo in range(0, qs.size, step_q):
                part = qs[lo : lo + step_q]
                # Float32 products differ from faiss's in the last bits only: the margin
                # keeps every candidate that could reach the floor for the exact re-score.
                lim = low if floor is not None else low[part, None]
                hit = queries[part] @ members >= lim
                # ``np.nonzero(hit)``'s rows and columns, in its order: a 2-D nonzero
                # costs ~8x a flat one and its division (measured on 2,500 x 320 blocks).
                r, col = np.divmod(np.flatnonzero(hit), size)
                del hit
                rq = part[r]
                # Re-scored on the list's own rows: the floats the index scans.
                score = _exact_ip(queries, stored, rq, col)
                keep = score >= (floor if floor is not None else floors[rq])
                got_q.append(rq[keep])
                got_b.append(ids[col[keep]].astype(id_type))
                got_s.append(score[keep])
                with lock:
                    seen[0] += col.size
                    if seen[0] > SCAN_CANDIDATES_MAX:
                        break
        return got_q, got_b, got_s

    cand_q: list[np.ndarray] = []
    cand_b: list[np.ndarray] = []
    cand_s: list[np.ndarray] = []
    done = gathered = 0
    # Lists in order, whichever thread scanned them: the same candidates in the same order.
    with closing(_in_threads(scan, index.nlist, scan_threads())) as lists:
        for c, (got_q, got_b, got_s) in enumerate(lists):
            cand_q += got_q
            cand_b += got_b
            cand_s += got_s
            gathered += sum(b.size for b in got_b)
            if gathered > SCAN_CANDIDATES_MAX or seen[0] > SCAN_CANDIDATES_MAX:
                bar.advance(-done)  # faiss's search counts these queries again
                return None
            step = (starts[c + 1] * n) // probes.size - done
            bar.advance(step)
            done += step
    bar.advance(n - done)
    # Each list of parts is let go as soon as it is joined: one copy of each at a time.
    q = np.concatenate(cand_q) if cand_q else np.zeros(0, np.int32)
    cand_q.clear()
    b = np.concatenate(cand_b) if cand_b else np.zeros(0, id_type)
    cand_b.clear()
    score = np.concatenate(cand_s) if cand_s else np.zeros(0, np.float32)
    cand_s.clear()
    # Per query, best first; the top k of each is the index's list at the floor.
    order = _best_first(q, score)
    q, b, score = q[order], b[order], score[order]
    count = np.bincount(q, minlength=n)
    first = np.concatenate(([0], np.cumsum(count)[:-1]))
    rank = np.arange(q.size) - first[q]
    full[:] = count >= k
    if floor is None and full_floor is not None:
        at = np.flatnonzero(full)
        full[at] = score[first[at] + k - 1] >= full_floor
    # A tie between the k-th and the (k+1)-th candidate: which one the index keeps depends
    # on its scan order, so those queries get the index's own search on the same lists.
    over = np.flatnonzero(count > k)
    tied = over[score[first[over] + k - 1] == score[first[over] + k]]
    inside = rank < k
    if tied.size:
        is_tied = np.zeros(n, dtype=bool)
        is_tied[tied] = True
        inside &= ~is_tied[q]
        ts, idx = index.search_preassigned(queries[tied], k, probes[tied], coarse[tied])
        tq, tb, ts = np.repeat(tied, k), idx.ravel(), ts.ravel()
        ok = tb >= 0
        if floor is not None:
            ok &= ts >= floor
        q = np.concatenate((q[inside].astype(np.int64), tq[ok]))
        b = np.concatenate((b[inside].astype(np.int64), tb[ok]))
        return q, b, np.concatenate((score[inside], ts[ok]))
    return q[inside].astype(np.int64), b[inside].astype(np.int64), score[inside]


def _probes_by_list(flat: np.ndarray, nlist: int) -> tuple[np.ndarray, np.ndarray]:
    """``flat``'s probes (list numbers; -1: none) grouped by list: their positions in
    ``flat``, list by list, in their order inside a list; and ``starts``, list ``c``'s being
    ``starts[c]:starts[c + 1]`` of them (the -1 probes come first, in no list)."""
    # List numbers held as int16 where they fit (under 32,768 lists: 1e9 rows): numpy's
    # stable sort of 16-bit keys is a radix sort, ~7x faster than its merge sort of int64,
    # and a stable sort of the same keys is one order.
    keys = flat.astype(np.int16) if nlist < 2**15 else flat
    order = np.argsort(keys, kind="stable")
    del keys
    per_list = np.bincount(flat[flat >= 0], minlength=nlist)
    starts = int((flat < 0).sum()) + np.concatenate(([0], np.cumsum(per_list)))
    return order, starts


def _best_first(q: np.ndarray, score: np.ndarray) -> np.ndarray:
    """The order of candidates by query, then by score, best first: ``np.lexsort((-score,
    q))`` but for the order of equal scores of one query (which no caller depends on: a tie
    at a query's k-th place is searched by faiss, the rest are kept or dropped together),
    as one sort of 64-bit keys (query, then the score's bits made to sort descending)."""
    bits = score.astype(np.float32).view(np.uint32)
    # A float's bits sort as the float when negative ones are flipped whole and positive
    # ones get their sign bit set; inverted, the best comes first.
    up = np.where(bits >> 31 == 1, ~bits, bits | np.uint32(1 << 31))
    key = q.astype(np.uint64) << np.uint64(32)
    key |= (~up).astype(np.uint64)
    return np.argsort(key)


def _list_rows(invlists: Any, c: int, size: int, dim: int) -> np.ndarray:
    """The rows of inverted list ``c`` as the index keeps them (an ``IndexIVFFlat`` stores
    each added row's floats as they are), a view: no gather of them from the added array."""
    import faiss

    return (
        faiss.rev_swig_ptr(invlists.get_codes(c), size * dim * 4)
        .view(np.float32)
        .reshape(size, dim)
    )


def _first_list_floors(index: Any, queries: np.ndarray, probes: np.ndarray, k: int) -> np.ndarray:
    """Per query, a score at or below its ``k + 1``-th best exact score in the index's
    search: the ``k + 1``-th best product over its first ``FLOOR_LISTS`` probed lists, less
    ``SCAN_MARGIN`` (the products differ from faiss's scores in the last bits only). The
    index's ``k`` best all score at least as high as the ``k``-th of any of the rows it
    scans, so the scan gathers them without ranking every row it scans. The tie test needs
    the ``k``-th only (a row tied with it scores as much, so is over the floor too); the
    ``k + 1``-th is a safety margin: one more row of room under the ``k``-th. -inf where
    those lists hold fewer than ``k + 1`` rows (every row scanned is gathered). Its
    ``n x FLOOR_LISTS (k + 1)`` products are why the scan is for small ``k`` only."""

    n, lists = queries.shape[0], min(FLOOR_LISTS, probes.shape[1])
    # Each query's k + 1 best products in each of its first lists (-inf past a list's end).
    best = np.full((n, lists * (k + 1)), -np.inf, dtype=np.float32)
    order, starts = _probes_by_list(probes[:, :lists].ravel(), index.nlist)
    invlists = index.invlists

    def rank(c: int) -> None:
        probe = order[starts[c] : starts[c + 1]]
        size = invlists.list_size(c)
        if not probe.size or not size:
            return
        members = _list_rows(invlists, c, size, queries.shape[1]).T
        top = min(size, k + 1)
        step_q = max(1, SCAN_BLOCK // size)
        for lo in range(0, probe.size, step_q):
            part = probe[lo : lo + step_q]
            qs, slot = part // lists, (part % lists) * (k + 1)
            scores = queries[qs] @ members
            if size > top:
                scores = np.partition(scores, size - top, axis=1)[:, size - top :]
            # Each (query, probe) writes its own cells only: the threads never share one.
            best[qs[:, None], slot[:, None] + np.arange(top)] = scores

    with closing(_in_threads(rank, index.nlist, scan_threads())) as done:
        for _ in done:
            pass
    cut = best.shape[1] - (k + 1)
    floors = np.partition(best, cut, axis=1)[:, cut]
    floors -= np.float32(SCAN_MARGIN)
    return floors


def scan_threads() -> int:
    """Threads the list scan (``_scan_lists``) spreads its lists over:
    ``$CURATE_SCAN_THREADS``, default 2, never more than the CPUs this process may use."""
    from curate.workers import available_cpus

    return min(env_threads("CURATE_SCAN_THREADS", 2), available_cpus())


def _in_threads(fn: Callable[[int], Any], count: int, threads: int) -> Iterator[Any]:
    """``fn(0) .. fn(count - 1)`` in order, computed by ``threads`` threads, each with
    one BLAS thread (no pool inside a pool), a few tasks sent ahead; leaving the loop
    early cancels what was not started.

    For the list scan: its work is BLAS products and numpy loops that release the GIL,
    a list at a time, with no spinning pool (OpenBLAS's and OpenMP's threads spin while
    they wait, which is why the rest of this module keeps to ``CURATE_THREADS``). The
    products' last bits are not part of the result (every candidate near the floor is
    re-scored by faiss), so the thread count changes nothing but the wall time.
    """
    if threads <= 1 or count <= 1:
        yield from map(fn, range(count))
        return
    from concurrent.futures import ThreadPoolExecutor

    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        pool = ThreadPoolExecutor(threads, thread_name_prefix="curate-scan")
        try:
            ahead = deque(pool.submit(fn, c) for c in range(min(count, 4 * threads)))
            for nxt in range(len(ahead), count + len(ahead)):
                got = ahead.popleft().result()
                if nxt < count:
                    ahead.append(pool.submit(fn, nxt))
                yield got
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


def _dots(a: Rows, b: Rows, pairs: np.ndarray) -> np.ndarray:
    """``a[i] . b[j]`` for each pair, in chunks (a gather of all pairs at once would need
    pairs x dim floats twice over).

    Each chunk's distinct rows are made once (``Rows.take``: gathered, centred and
    normalised), then repeated for the pairs: the pairs come sorted, so a chunk's first
    rows repeat (~10 pairs a row in ``explain``'s search); its second rows are spread over
    the set and mostly distinct (~8% less CPU at 100k). A row's bits do not depend on which
    rows are made beside it, nor a row's dot product on the rows beside it, so every score
    keeps its bits."""
    out = np.empty(pairs.shape[0], dtype=np.float64)
    for lo in range(0, pairs.shape[0], PAIR_CHUNK):
        p = pairs[lo : lo + PAIR_CHUNK]
        out[lo : lo + len(p)] = np.einsum("ij,ij->i", *_pair_rows(a, b, p))
    return out


def _pair_rows(a: Rows, b: Rows, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(a.take(p[:, 0]), b.take(p[:, 1]))``, each distinct row made once."""
    if a is b:  # one set: the rows of both sides made together
        rows, at = np.unique(p, return_inverse=True)
        made = a.take(rows)
        at = at.reshape(p.shape)
        return made[at[:, 0]], made[at[:, 1]]
    left, at_left = np.unique(p[:, 0], return_inverse=True)
    right, at_right = np.unique(p[:, 1], return_inverse=True)
    return a.take(left)[at_left.ravel()], b.take(right)[at_right.ravel()]


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
    # numpy's ``mean(axis=0, dtype=float64)`` of the rows together, bit for bit.
    return Rows(np.concatenate(rows) if len(rows) > 1 else rows[0]).mean_of()


def centered_on(a: np.ndarray, mean: np.ndarray, *, in_place: bool = False) -> np.ndarray:
    """``a`` minus a given mean vector, rows L2-normalised again (``centered``'s second half).

    ``in_place``: overwrite ``a`` (a float32 copy the caller owns) instead of allocating two
    more arrays of its size: at 1M rows each is ~1 GB. The same operations, the same bits.
    """
    with work_threads():
        return _centred_in_place(a, mean) if in_place else unit_rows_in_place(a - mean)


def _centred_in_place(a: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """``a`` (float32, the caller's own) minus ``mean``, rows normalised, in place:
    ``centered_on``'s work, also ``Rows.take``'s, without the thread limit (entered for
    each pair's two rows it would cost more than the work)."""
    a -= mean
    return unit_rows_in_place(a)


def _column_argmax(scores: np.ndarray, width: int = ARGMAX_COLUMNS) -> np.ndarray:
    """``scores.argmax(axis=0)``, ``width`` columns at a time: numpy reduces along the
    first axis of a C-ordered array through a transposed copy of all of it, a second
    score block (32k x queries) at the split's peak. The same maximum and first index."""
    top = np.empty(scores.shape[1], dtype=np.intp)
    for lo in range(0, scores.shape[1], width):
        top[lo : lo + width] = scores[:, lo : lo + width].argmax(axis=0)
    return top


def best_matches(
    queries: np.ndarray, base: np.ndarray | Rows, min_score: float, mean: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Exact search: for each query row, its most similar ``base`` row when their cosine is
    at least ``min_score``, as ``(pairs (query, base), cosines)``. Brute force in chunks of
    ``base``: for a few queries against many rows this is cheaper than building an index,
    and it misses nothing an index could miss. ``mean``: ``base`` is centred on it chunk by
    chunk (``centered_on``), so no centred copy of the whole of ``base`` is made; ``Rows``
    are read a chunk at a time too."""
    q = np.ascontiguousarray(queries, dtype=np.float32)
    base = base if isinstance(base, Rows) else Rows(np.asarray(base, dtype=np.float32))
    best = np.full(q.shape[0], -np.inf, dtype=np.float32)
    arg = np.full(q.shape[0], -1, dtype=np.int64)

    def rows(b: np.ndarray, own: bool) -> np.ndarray:
        # A chunk that is a copy (``Rows.take``) is centred in place: the same operations,
        # one chunk-sized array fewer.
        return b if mean is None else centered_on(b, mean, in_place=own)

    if q.shape[0] and len(base):
        with work_threads():
            for lo, part in base.chunks(DOT_CHUNK):
                scores = rows(part, not base.plain) @ q.T
                top = _column_argmax(scores)
                val = scores[top, np.arange(q.shape[0])]
                better = val > best
                best[better], arg[better] = val[better], top[better] + lo
                # Freed before the next chunk and its block are made: bound through the
                # next product, two score blocks (32k x queries each) were alive at once.
                del scores, part
    hit = np.flatnonzero(arg >= 0)
    pairs = np.stack((hit, arg[hit]), axis=1) if hit.size else np.zeros((0, 2), np.int64)
    sims = np.zeros(0)
    if hit.size:
        matched = rows(base.take(arg[hit]), True)
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


def cosine_of(a: np.ndarray | Rows, b: np.ndarray | Rows) -> Callable[[int, int], float]:
    """The cosine of row i of ``a`` and row j of ``b`` (unit rows), capped at 1. ``Rows``
    other than ``plain`` make the two rows on demand (the same bits)."""
    if isinstance(a, Rows) and isinstance(b, Rows) and a.plain and b.plain:
        a, b = a.array, b.array
    if isinstance(a, Rows) or isinstance(b, Rows):
        ra, rb = _as_rows(a), _as_rows(b)

        def from_rows(i: int, j: int) -> float:
            return float(min(1.0, float(np.dot(ra.take([i])[0], rb.take([j])[0]))))

        return from_rows

    def similarity(i: int, j: int) -> float:
        return float(min(1.0, float(np.dot(a[i], b[j]))))

    return similarity
