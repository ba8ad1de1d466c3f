"""Per-record fingerprints for exact and near dedup, computed in one pass over the key texts.

Each record's key text is built once, normalised once, and gives its exact digest, its length
(for the keep policy) and its MinHash signature. Later methods, the ``--against`` leakage
check, the audit's duplicate share and the split's leakage check take rows of these arrays
instead of rebuilding the texts (``Features.subset``); the signatures are the same as a fresh
pass would compute, so the results are too.

Memory: 16 + 8 + 1 bytes per record, plus ``num_perm * 4`` bytes (256 by default) when near
dedup runs.

Parallel: with ``workers(n)`` (``curate run``'s ``run.workers``) the pass runs in ``n``
processes over ordered chunks of records. Each record's fingerprints depend on that record
alone (its text, the settings), so the rows are the same whatever the worker count. The
workers are ``curate.workers``' (from a fork server; a worker that dies leaves its chunks to
this process). Records travel as orjson, a chunk at a time, and each chunk's rows come back
pickled.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from curate.dedup.exact import digest
from curate.dedup.near import (
    CHUNK_BYTES,
    doc_shingles,
    doc_word_counts,
    shingle_hashes,
    signatures,
    word_bounds,
    word_hashes,
)
from curate.dedup.normalize import key_text
from curate.progress import Progress
from curate.records import Record
from curate.workers import IN_FLIGHT, available_cpus, can_start, ordered_map, process_pool


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
        sig: uint32 MinHash signatures (``num_perm`` columns), or None when near dedup is
            off. Row ``i``'s is ``sig[sig_rows[i]]`` (``signature_rows``): a subset reads
            the rows of the array it was taken from in place.
        usable: records with at least one shingle (None with ``sig``).
        blank: records whose key text is empty or whitespace (nothing there to leak).
        verified: ``(pairs, jaccard)``, near dedup's verified candidates: pairs ``i < j``
            of ``origin`` rows (``(m, 2)``) and their true Jaccard, which depends only on
            the two key texts and these settings. Later near passes over some of these
            records (the audit's duplicate share, the split's leakage check) take the
            Jaccard of each pair found here instead of shingling the two texts again
            (``verified_between``). None until near dedup ran. Shared by every subset.
        origin: row ``i`` is row ``origin[i]`` of the fingerprints ``verified`` numbers
            (None: the same rows).
        sig_rows: row ``i``'s signature is ``sig[sig_rows[i]]`` (None: ``sig[i]``).
    """

    settings: tuple
    digests: np.ndarray
    lengths: np.ndarray
    sig: np.ndarray | None = None
    usable: np.ndarray | None = None
    blank: np.ndarray | None = None
    verified: tuple[np.ndarray, np.ndarray] | None = None
    origin: np.ndarray | None = None
    sig_rows: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.lengths.shape[0])

    def subset(self, idx: Sequence[int] | np.ndarray) -> Features:
        """The rows ``idx`` (in that order): the fingerprints of a sub-list of the records.

        The signatures are not copied (256 bytes a record by default: both sides of the
        split's leakage check took 0.26 GB at 1M rows): the subset reads this one's rows.
        """
        idx = np.asarray(idx, dtype=np.int64)
        return Features(
            self.settings,
            self.digests[idx],
            self.lengths[idx],
            self.sig,
            None if self.usable is None else self.usable[idx],
            None if self.blank is None else self.blank[idx],
            self.verified,
            self.origin_of(idx),
            None if self.sig is None else self.signature_rows(idx),
        )

    def signature_rows(self, idx: np.ndarray) -> np.ndarray:
        """The rows of ``sig`` that hold the signatures of rows ``idx``."""
        return idx if self.sig_rows is None else self.sig_rows[idx]

    def signatures_of(self, idx: np.ndarray) -> np.ndarray:
        """The signatures of rows ``idx``, ``(len(idx), num_perm)`` (a copy)."""
        assert self.sig is not None
        return self.sig[self.signature_rows(idx)]

    def origin_of(self, idx: np.ndarray) -> np.ndarray:
        """The ``origin`` rows of rows ``idx``."""
        return idx if self.origin is None else self.origin[idx]

    def keep_verified(self, rows: np.ndarray, pairs: np.ndarray, jaccard: np.ndarray) -> None:
        """Record a near pass's verified pairs (of rows ``rows``), unless some already are."""
        if self.verified is None:
            self.verified = (self.origin_of(rows)[pairs], jaccard)

    def fits(self, config: Any, n: int, need_sig: bool) -> bool:
        """Whether these fingerprints are the ones ``config`` would compute for ``n`` records."""
        return (
            len(self) == n
            and self.settings == settings_of(config)
            and (self.sig is not None or not need_sig)
        )


def verified_between(
    features: Sequence[Features], rows: Sequence[np.ndarray]
) -> tuple[np.ndarray, np.ndarray] | None:
    """The known Jaccards among the documents ``features[0]``'s rows ``rows[0]``, then
    ``features[1]``'s rows ``rows[1]``, ...: ``(pairs, jaccard)``, pairs ``i < j`` by those
    documents' positions (``curate.dedup.near.near_pairs``' ``verified``). None when none
    are known, or the fingerprints do not share one table (made by different runs)."""
    table = features[0].verified
    if table is None or any(f.verified is not table for f in features):
        return None
    pairs, jaccard = table
    origin = np.concatenate([f.origin_of(r) for f, r in zip(features, rows, strict=True)])
    if not pairs.size or not origin.size:
        return None
    at = np.full(max(int(pairs.max()), int(origin.max())) + 1, -1, dtype=np.int64)
    at[origin] = np.arange(origin.size, dtype=np.int64)
    a, b = at[pairs[:, 0]], at[pairs[:, 1]]
    both = (a >= 0) & (b >= 0)
    a, b = a[both], b[both]
    return np.stack((np.minimum(a, b), np.maximum(a, b)), axis=1), jaccard[both]


_WORKERS = 1  # processes for compute_features; set with ``workers(n)``
PARALLEL_MIN = 20_000  # below this many records forking costs more than it saves
PARALLEL_CHUNK = 2_000  # records per task: small pickles, many tasks to balance the workers


@contextlib.contextmanager
def workers(n: int) -> Iterator[None]:
    """``compute_features`` runs in ``n`` processes inside the block (0: every available CPU,
    1: in this process, as outside any block)."""
    global _WORKERS
    before = _WORKERS
    _WORKERS = available_cpus() if n <= 0 else n
    try:
        yield
    finally:
        _WORKERS = before


def runs_parallel(n: int) -> bool:
    """Whether ``compute_features`` over ``n`` records runs in worker processes here (a
    caller may then do other work while it waits)."""
    return can_start(min(_WORKERS, n // PARALLEL_MIN))


def compute_features(
    records: Sequence[Record], config: Any, with_sig: bool, progress: bool = False
) -> Features:
    """One pass over ``records``: key text -> normalised bytes -> digest, length, signature."""
    n = len(records)
    out = _Rows(n, config.num_perm, with_sig)
    with Progress("dedup: hash", n, progress) as bar:
        if runs_parallel(n):
            _parallel(records, config, out, min(_WORKERS, n // PARALLEL_MIN), bar)
        else:
            _fill(records, 0, config, out, bar)
    return out.features(config)


class _Rows:
    """The output arrays; a worker fills a slice of its own and sends it back."""

    def __init__(self, n: int, num_perm: int, with_sig: bool) -> None:
        self.n, self.with_sig = n, with_sig
        self.digests = np.zeros((n, 16), np.uint8)
        self.lengths = np.zeros(n, np.int64)
        self.blank = np.zeros(n, np.bool_)
        self.sig = np.zeros((n, num_perm), np.uint32) if with_sig else None
        self.usable = np.zeros(n, np.bool_) if with_sig else None
        self.also: Any = None  # a ``StreamHasher`` worker's other result for the chunk

    def put(self, base: int, part: _Rows) -> None:
        """Copy ``part`` (rows ``base ..``) in."""
        stop = base + part.n
        for name in ("digests", "lengths", "blank", "sig", "usable"):
            mine = getattr(self, name)
            if mine is not None:
                mine[base:stop] = getattr(part, name)

    def features(self, config: Any) -> Features:
        return Features(
            settings_of(config), self.digests, self.lengths, self.sig, self.usable, self.blank
        )


def _fill(records: Sequence[Record], base: int, config: Any, out: _Rows, bar: Any) -> None:
    """Rows ``base ..`` of ``out`` from ``records`` (in this process)."""
    normalizer = config.normalizer
    if not normalizer.folds_in_bulk:
        _fill_each(records, base, config, out, bar)
        return
    key = config.key
    row, texts, size = base, [], 0
    it = iter(records)
    while block := list(itertools.islice(it, 256)):
        more = [key_text(r, key) for r in block]
        sizes = list(map(len, more))
        total = sum(sizes)
        # Chunks of about CHUNK_BYTES of text keep the hashing temporaries (and the cached
        # powers of ``word_hashes``) small: a chunk ends at the record whose text reaches
        # CHUNK_BYTES, so a block of long texts never makes one huge chunk. Blocks that
        # cannot reach it (short texts, the common case) go in whole.
        if size + total < CHUNK_BYTES:
            texts += more
            size += total
        else:
            for text, length in zip(more, sizes, strict=True):
                texts.append(text)
                size += length
                if size >= CHUNK_BYTES:
                    _fold_chunk(texts, normalizer, config, out, row)
                    row, texts, size = row + len(texts), [], 0
        if bar is not None:
            bar.advance(len(block))
    if texts:
        _fold_chunk(texts, normalizer, config, out, row)


def _fold_chunk(texts: list[str], normalizer: Any, config: Any, out: _Rows, row: int) -> None:
    """Rows ``row ..`` of ``out`` from a chunk of key texts, normalised all at once.

    ASCII texts are folded by one ``bytes.translate`` of the whole chunk
    (``Normalizer.fold_table``), others by ``to_bytes`` first. Word bounds found once then
    serve both the normalised texts (each word with one space before it but the first, for
    the digests) and the word hashes; no regex, no Python object per text or word.
    """
    ndocs = len(texts)
    stop = row + ndocs
    out.lengths[row:stop] = sizes = np.fromiter(map(len, texts), np.int64, ndocs)
    out.blank[row:stop] = [not t.strip() for t in texts]
    arr, keep, starts, ends, counts = _folded(texts, normalizer, sizes)
    # Normalised, the chunk's words are joined by single spaces: word j starts at
    # ``at[j]`` there, and a text runs from its first word's start to its last word's end.
    keep[starts[1:] - 1] = True
    text = arr[keep]
    at = np.zeros(starts.size + 1, dtype=np.int64)
    np.cumsum(ends - starts + 1, out=at[1:])
    first = np.zeros(ndocs + 1, dtype=np.int64)
    np.cumsum(counts, out=first[1:])
    lo = at[first[:-1]]
    hi = np.maximum(at[first[1:]] - 1, lo)  # a text without words: empty
    view = memoryview(text)
    found = [digest(view[a:b]) for a, b in zip(lo.tolist(), hi.tolist(), strict=True)]
    out.digests[row:stop] = np.frombuffer(b"".join(found), np.uint8).reshape(ndocs, 16)
    if out.with_sig:
        # A word hash does not depend on where the word lies: the folded buffer gives the
        # same hashes as the normalised texts would.
        wh = word_hashes(arr, starts, ends)
        hashes, offsets = doc_shingles(wh, counts, config.shingle_size)
        out.sig[row:stop] = signatures(hashes, offsets, config.num_perm, config.seed)
        out.usable[row:stop] = np.diff(offsets) > 0


def _folded(
    texts: Sequence[str], normalizer: Any, sizes: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Texts folded all at once (``_fold_chunk``): ``(arr, keep, starts, ends, counts)``,
    the folded bytes of the texts joined by spaces, which of them are not spaces, each
    word's bounds, and each text's word count. ``sizes``: the texts' lengths, when known."""
    ndocs = len(texts)
    joined = " ".join(texts)
    if joined.isascii():
        buf = joined.encode()
        if sizes is None:
            sizes = np.fromiter(map(len, texts), np.int64, ndocs)
    else:
        to_bytes = normalizer.to_bytes
        docs = [t.encode() if t.isascii() else to_bytes(t) for t in texts]
        sizes = np.fromiter(map(len, docs), np.int64, ndocs)
        buf = b" ".join(docs)
    del joined
    arr = np.frombuffer(buf.translate(normalizer.fold_table()), dtype=np.uint8)
    keep = arr != 32
    starts, ends = word_bounds(keep)
    bounds = np.zeros(ndocs + 1, dtype=np.int64)
    np.cumsum(sizes + 1, out=bounds[1:])
    return arr, keep, starts, ends, doc_word_counts(starts, bounds)


def text_shingles(
    texts: Sequence[str], normalizer: Any, shingle_size: int
) -> tuple[np.ndarray, np.ndarray]:
    """``shingle_hashes`` of the texts' normalised words (``(hashes, offsets)``), folded a
    chunk at a time as the fingerprint pass folds them when the normaliser allows it: near
    dedup's verification reads its candidates' shingles this way (normalising them one by
    one, with the normaliser's regular expressions, cost ~3x more)."""
    if not normalizer.folds_in_bulk:
        return shingle_hashes([normalizer.words(t) for t in texts], shingle_size)
    if not texts:
        return shingle_hashes([], shingle_size)
    arr, _keep, starts, ends, counts = _folded(texts, normalizer)
    return doc_shingles(word_hashes(arr, starts, ends), counts, shingle_size)


def _fill_each(records: Sequence[Record], base: int, config: Any, out: _Rows, bar: Any) -> None:
    """``_fill`` one text at a time (normalisers without punctuation folding)."""
    normalizer = config.normalizer
    with_sig = out.with_sig
    n = len(records)
    lengths: list[int] = []
    blank: list[bool] = []
    digests: list[bytes] = []
    docs: list[bytes] = []
    size = 0
    start = 0

    def flush(stop: int) -> None:
        nonlocal docs, size, start
        if with_sig and stop > start:
            hashes, offsets = shingle_hashes(docs, config.shingle_size)
            out.sig[base + start : base + stop] = signatures(
                hashes, offsets, config.num_perm, config.seed
            )
            out.usable[base + start : base + stop] = np.diff(offsets) > 0
        docs, size, start = [], 0, stop

    for i, record in enumerate(records):
        raw = key_text(record, config.key)
        lengths.append(len(raw))
        blank.append(not raw.strip())
        norm = normalizer.to_bytes(raw)
        digests.append(digest(norm))
        if with_sig:
            words = normalizer.words_of(norm)
            docs.append(words)
            size += len(words)
            # Chunks of about CHUNK_BYTES of text keep the hashing temporaries small.
            if size >= CHUNK_BYTES:
                flush(i + 1)
        if bar is not None and i % 4096 == 4095:
            bar.advance(4096)
    flush(n)
    if n:
        out.lengths[base : base + n] = lengths
        out.blank[base : base + n] = blank
        out.digests[base : base + n] = np.frombuffer(b"".join(digests), np.uint8).reshape(n, 16)
    if bar is not None:
        bar.advance(n % 4096)


_JOB: tuple[Any, bool, Any] | None = None  # (config, with_sig, also), set in each worker


def _start_worker(config: Any, with_sig: bool, also: Any = None) -> None:
    global _JOB
    _JOB = (config, with_sig, also)


def _work(task: tuple[int, list[Record] | bytes]) -> tuple[int, _Rows]:
    base, chunk = task
    assert _JOB is not None
    config, with_sig, also = _JOB
    records = _decode(chunk) if isinstance(chunk, bytes) else chunk
    part = _Rows(len(records), config.num_perm, with_sig)
    _fill(records, 0, config, part, None)
    if also is not None:
        fn, args = also
        part.also = fn(records, base, *args)
    return base, part


def _encode(chunk: Sequence[Record]) -> bytes | list[Record]:
    """A chunk for a worker: one orjson document (~9x cheaper to make than a pickle of the
    records, 2x cheaper to read), or the records themselves when their data is not plain
    JSON (orjson refuses it: a pickle then carries it exactly)."""
    try:
        # Dates (Parquet) are not passed through as text: the pickle keeps them dates.
        return orjson.dumps(
            [
                (
                    r.source,
                    r.line,
                    r.data if r.packed is None else orjson.Fragment(r.packed),
                    r.text_line,
                )
                for r in chunk
            ],
            option=orjson.OPT_PASSTHROUGH_DATETIME,
        )
    except (TypeError, orjson.JSONEncodeError):
        return list(chunk)


def _decode(blob: bytes) -> list[Record]:
    return [Record(s, line, data, t) for s, line, data, t in orjson.loads(blob)]


class StreamHasher:
    """``compute_features`` while the records are still being read (``curate run``).

    ``wrap`` passes the records through and sends each full chunk to the worker pool at
    once, so the hashing of the first records overlaps the reading of the rest instead of
    following it; ``features`` gathers the rows. Each row depends on its record alone, so
    they equal a later ``compute_features`` over the same list. Without ``early``, inputs
    shorter than ``PARALLEL_MIN`` never start a pool (``features`` returns None: dedup hashes
    them in this process as before); ``workers`` 1 never does.

    ``early``: for an input known to be large (by its size): the pool starts at the first
    chunk, in a thread, so the reading goes on while its workers wait for the fork server to
    boot; the chunks read meanwhile are sent once it is up.

    ``also``: ``(fn, args)``, another stage's per-chunk work done in the same task, on the
    same decoded records (``fn(chunk, base, *args)``, a module-level function): the
    standalone audit's conversation facts. ``features`` then leaves ``(base, result)`` for
    each chunk, in order, in ``self.also``.
    """

    def __init__(
        self,
        config: Any,
        with_sig: bool,
        also: tuple[Any, tuple] | None = None,
        early: bool = False,
    ) -> None:
        self.config, self.with_sig, self.job = config, with_sig, also
        self.early = early
        self.warming: Future | None = None  # ``early``: the pool being started in a thread
        self.starting: Any = None  # ... and that pool, shut down if it fails to start
        self.also: list[tuple[int, Any]] = []
        self.nproc = _WORKERS
        self.records: list[Record] = []
        self.pending: list[tuple[int, Any]] = []  # (base, AsyncResult), oldest first
        self.parts: list[tuple[int, _Rows]] = []
        self.sent = 0  # records handed to the pool
        self.pool: Any = None
        self.failed = False

    def wrap(self, records: Iterator[Record]) -> Iterator[Record]:
        """``records``, unchanged and in order; full chunks go to the workers as they pass."""
        parallel = can_start(self.nproc)
        chunk, mine = PARALLEL_CHUNK, self.records
        start_at = chunk if self.early else PARALLEL_MIN
        for record in records:
            mine.append(record)
            if parallel and len(mine) - self.sent >= chunk:
                if self.pool is None and self.warming is None and len(mine) >= start_at:
                    self._start()
                if self.pool is not None:
                    while len(mine) - self.sent >= chunk:
                        self._send(self.sent + chunk)
            yield record

    def _start(self) -> None:
        pool = process_pool(self.nproc, _start_worker, (self.config, self.with_sig, self.job))
        if not self.early:
            self.pool = pool
            return
        starter = ThreadPoolExecutor(1, thread_name_prefix="curate-pool-start")
        self.warming, self.starting = starter.submit(self._warm, pool), pool
        starter.shutdown(wait=False)

    def _warm(self, pool: Any) -> None:
        """(A thread's.) The first worker started, which waits for the fork server; then
        ``pool`` is the one chunks go to."""
        pool.submit(int).result()
        self.pool = pool

    def started(self) -> bool:
        """Whether the workers took chunks (or will: an early pool still starting is waited
        for; one that failed to start leaves the work to this process)."""
        if self.warming is not None:
            try:
                self.warming.result()
            except (BrokenProcessPool, OSError, RuntimeError):  # hashed in this process instead
                self.failed = True
                self.starting.shutdown(wait=False, cancel_futures=True)
            self.warming = self.starting = None
        return self.pool is not None

    def _send(self, stop: int) -> None:
        # A bounded queue: past IN_FLIGHT chunks per worker, wait for the oldest, so the
        # texts waiting for a worker never pile up faster than the workers hash them.
        while len(self.pending) >= IN_FLIGHT * self.nproc:
            self._collect_one()
        base = self.sent
        if not self.failed:
            task = (base, _encode(self.records[base:stop]))
            try:
                self.pending.append((base, self.pool.submit(_work, task)))
            except BrokenProcessPool:  # a worker died: dedup hashes in this process
                self.failed = True
        self.sent = stop

    def _collect_one(self) -> None:
        _base, res = self.pending.pop(0)
        try:
            self.parts.append(res.result())
        except Exception:
            # Dedup computes the rows again in this process and reports the error where a
            # run without workers would (the first failing record, in input order); so it
            # does when a worker died (BrokenProcessPool).
            self.failed = True

    def features(self, records: Sequence[Record]) -> Features | None:
        """The fingerprints of ``records`` (the list ``wrap`` passed through), or None."""
        if not self.started():
            self.close()
            return None
        try:
            if len(records) != len(self.records) or self.failed:
                return None
            while len(records) - self.sent > PARALLEL_CHUNK:  # read while an early pool started
                self._send(self.sent + PARALLEL_CHUNK)
            if self.sent < len(records):
                self._send(len(records))
            while self.pending:
                self._collect_one()
            if self.failed:
                return None
            out = _Rows(len(records), self.config.num_perm, self.with_sig)
            while self.parts:  # each part freed once copied: the rows are never held twice
                base, part = self.parts.pop()
                out.put(base, part)
                if self.job is not None:
                    self.also.append((base, part.also))
            self.also.reverse()
            return out.features(self.config)
        finally:
            self.close()

    def close(self) -> None:
        if self.warming is not None:
            self.started()  # a pool still starting is shut down once it is up
        if self.pool is not None:
            self.pool.shutdown(wait=False, cancel_futures=True)
            self.pool = None
        self.pending.clear()
        self.records = []


def map_chunks(
    fn: Any, records: Sequence[Record], args: tuple, stop: threading.Event | None = None
) -> Iterator[tuple[int, Any]]:
    """``(lo, fn(records[lo:lo + PARALLEL_CHUNK], lo, *args))`` for each chunk, in order,
    computed in the ``workers(n)`` processes (as ``compute_features``; the chunks travel as
    its own do). For other stages' per-record work (the audit's conversation facts); ``fn``
    must be a module-level function. ``stop``: see ``curate.workers.ordered_map``."""
    nproc = max(1, min(_WORKERS, len(records) // PARALLEL_MIN))
    tasks = ((fn, lo, chunk, args) for lo, chunk in _chunks(records))
    yield from ordered_map(_call, tasks, nproc, stop=stop)


def _chunks(records: Sequence[Record]) -> Iterator[tuple[int, bytes | list[Record]]]:
    for lo in range(0, len(records), PARALLEL_CHUNK):
        yield lo, _encode(records[lo : lo + PARALLEL_CHUNK])


def _call(task: tuple) -> tuple[int, Any]:
    fn, lo, chunk, args = task
    return lo, fn(_decode(chunk) if isinstance(chunk, bytes) else chunk, lo, *args)


def _parallel(records: Sequence[Record], config: Any, out: _Rows, nproc: int, bar: Any) -> None:
    # In order: an error (a record with no side to key on) is the one a serial pass would
    # raise first.
    job = (config, out.with_sig)
    for base, part in ordered_map(_work, _chunks(records), nproc, _start_worker, job):
        out.put(base, part)
        bar.advance(part.n)


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
