"""The data-flow contract every stage keeps: records in, kept + dropped (with reasons) out.

A stage never mutates a record; it keeps it, replaces it with a new ``Record`` (conversion),
or drops it with a stable snake_case ``reason`` code and a human ``detail``. The invariant
``len(kept) + len(dropped) == n_in`` holds for every stage and is tested.
"""

from __future__ import annotations

import sys
import weakref
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from curate.heap import release_free_heap
from curate.records import BadLine, Record


@dataclass(frozen=True, slots=True)
class Dropped:
    """A record a stage removed, and why.

    Attributes:
        record: the record as the stage received it.
        stage: the stage that dropped it (``validate``, ``dedup``, ...).
        reason: stable snake_case code (``schema_violation``, ``exact_duplicate``, ...).
        detail: free text for people (``duplicate_of=sample.jsonl:12 cosine=0.97``).
        extra: machine-readable details (``duplicate_of``, ``similarity``, ``errors``...).
    """

    record: Record
    stage: str
    reason: str
    detail: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def to_reject(self) -> dict[str, Any]:
        """The JSON object written to a rejects file for this record."""
        out: dict[str, Any] = {
            "source": self.record.source,
            "line": self.record.line,
            "stage": self.stage,
            "reason": self.reason,
            "detail": self.detail,
        }
        out.update(self.extra)
        out["record"] = self.record.data
        return out


@dataclass(slots=True)
class StageResult:
    """What a whole-set stage returns: kept records in input order, dropped ones, stats."""

    kept: list[Record]
    dropped: list[Dropped]
    stats: dict[str, Any] = field(default_factory=dict)

    @property
    def n_in(self) -> int:
        return len(self.kept) + len(self.dropped)

    def reasons(self) -> Counter[str]:
        return Counter(d.reason for d in self.dropped)


def unreadable(
    bad: BadLine, reason: str | None = None, extra: dict[str, Any] | None = None
) -> Dropped:
    """A reader's bad line as a drop of the ``read`` stage; the raw line travels along."""
    return Dropped(
        Record(bad.source, bad.line, None),
        "read",
        reason or bad.reason,
        bad.message,
        {"raw": bad.raw} if extra is None else extra,
    )


Decision = Record | Dropped
"""A streaming step's answer for one record: the (possibly new) record to keep, or a drop."""


def stream(
    step: Callable[[Record], Decision],
    records: Iterable[Record],
    on_drop: Callable[[Dropped], None],
) -> Iterator[Record]:
    """Run a per-record step lazily: yield kept records, hand drops to ``on_drop``.

    Memory stays flat in the input size, which validate/convert/exact-dedup rely on.
    """
    for record in records:
        decision = step(record)
        if isinstance(decision, Dropped):
            on_drop(decision)
        else:
            yield decision


def collect(step: Callable[[Record], Decision], records: Iterable[Record]) -> StageResult:
    """Run a per-record step over all records and gather a ``StageResult``."""
    dropped: list[Dropped] = []
    kept = list(stream(step, records, dropped.append))
    return StageResult(
        kept=kept, dropped=dropped, stats={"reasons": dict(Counter(d.reason for d in dropped))}
    )


@dataclass(slots=True)
class Batch:
    """A whole set in memory: records, their batch index, and what travels with them.

    ``index[i]`` is record ``i``'s position in the batch the run first built (its "batch
    index"): it survives ``select``, so a later stage's drop or finding names a record
    without a (source, line) look-up, whichever source it came from. ``vectors`` (embeddings)
    and ``features`` (dedup fingerprints, ``curate.dedup.Features``) have one row per record
    and are sliced together with the records, never realigned. ``semantic`` (dedup's
    ``curate.dedup.semantic.SemanticCheck``: which records its neighbour search left
    unsettled) too, so the split's leakage check searches only those.
    """

    records: list[Record]
    index: np.ndarray
    vectors: np.ndarray | None = None
    features: Any = None
    semantic: Any = None

    @classmethod
    def of(
        cls, records: Sequence[Record], vectors: np.ndarray | None = None, features: Any = None
    ) -> Batch:
        """A fresh batch: record ``i`` gets batch index ``i``."""
        records = list(records)
        return cls(records, np.arange(len(records), dtype=np.int64), vectors, features)

    def __len__(self) -> int:
        return len(self.records)

    def __post_init__(self) -> None:
        n = len(self.records)
        for name, rows in (
            ("vectors", self.vectors),
            ("features", self.features),
            ("semantic", self.semantic),
        ):
            if rows is not None and len(rows) != n:
                raise ValueError(f"Batch: {len(rows)} rows of {name} for {n} records")

    def select(self, rows: Sequence[int] | np.ndarray) -> Batch:
        """The records at positions ``rows`` (in that order), with their vectors and features."""
        rows = np.asarray(rows, dtype=np.int64)
        return Batch(
            [self.records[i] for i in rows.tolist()],
            self.index[rows],
            None if self.vectors is None else self.vectors[rows],
            None if self.features is None else self.features.subset(rows),
            None if self.semantic is None else self.semantic.subset(rows),
        )

    def keep(self, rows: Sequence[int] | np.ndarray) -> None:
        """Narrow this batch in place to ``rows`` (``select`` without a second batch): the
        loop's way, so no caller's reference keeps the removed rows alive. The vectors are
        narrowed in their own memory when nothing else holds them (``narrow_rows``)."""
        rows = np.asarray(rows, dtype=np.int64)
        vectors, self.vectors = self.vectors, None
        new = self.select(rows)
        self.records, self.index = new.records, new.index
        self.features, self.semantic = new.features, new.semantic
        if vectors is not None:
            self.vectors = narrow_rows(vectors, rows, holders=1)


# ``sys.getrefcount`` counts every holder on CPython up to 3.13 with the GIL. From 3.14 the
# interpreter may borrow references (lower counts), and free-threaded builds count
# differently: there a shared array could pass for the caller's alone, so ``narrow_rows``
# copies instead.
_EXACT_REFCOUNTS = (
    sys.implementation.name == "cpython"
    and sys.version_info < (3, 14)
    and getattr(sys, "_is_gil_enabled", lambda: True)()
)
NARROW_CHUNK = 65_536  # rows moved at a time by ``narrow_rows`` (64 MB of 256-dim float32)


def narrow_rows(array: np.ndarray, rows: np.ndarray, holders: int = 0) -> np.ndarray:
    """``array[rows]``, made in ``array``'s own memory when that is safe: ``rows`` ascending
    and unique, and ``array`` a C-contiguous array of its own that nothing but the caller's
    ``holders`` references (besides this call's) hold. At 1M rows of embeddings a copy is
    ~1 GB beside the old array; here the rows move to the front (row ``i`` from ``rows[i] >=
    i``, so a row is overwritten only after it was read) and the array shrinks in place
    (``realloc``: the tail goes back to the system). Otherwise a copy, as before."""
    # References to ``array`` now: the caller's ``holders``, this frame's, getrefcount's.
    own = (
        _EXACT_REFCOUNTS
        and array.ndim >= 1
        and array.flags.owndata
        and array.flags.c_contiguous
        and array.flags.writeable
        and array.base is None
        and sys.getrefcount(array) <= holders + 2
        and weakref.getweakrefcount(array) == 0  # numpy will not resize such an array
    )
    if not own or (rows.size > 1 and not bool(np.all(rows[1:] > rows[:-1]))):
        return array[rows]
    if rows.size and (rows[0] < 0 or rows[-1] >= len(array)):
        raise IndexError(f"rows out of range for {len(array)} rows")
    n = int(rows.size)
    for lo in range(0, n, NARROW_CHUNK):
        part = rows[lo : lo + NARROW_CHUNK]
        if part[0] != lo or part[-1] != lo + len(part) - 1:  # rows already in place: no move
            array[lo : lo + len(part)] = array[part]  # the gather is made before the write
    array.resize((n, *array.shape[1:]), refcheck=False)
    return array


@dataclass(slots=True)
class BatchResult:
    """What a whole-set stage over a ``Batch`` returns.

    Attributes:
        kept: positions (into the stage's input batch, ascending) of the records kept.
        dropped: one ``Dropped`` per record removed, with its stable reason code.
        stats: the stage's figures for the report.
        output: what the stage made besides its decision (the ``AuditReport``, the
            ``SplitResult``, dedup's clusters...), for later stages and the command.
    """

    kept: np.ndarray
    dropped: list[Dropped] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)
    output: Any = None

    @classmethod
    def keep_all(cls, batch: Batch, output: Any = None, stats: Any = None) -> BatchResult:
        """The result of a stage that measures or annotates and keeps every record."""
        return cls(np.arange(len(batch), dtype=np.int64), [], stats or {}, output)


class BatchStage(Protocol):
    """A whole-set stage: decides over the batch; the loop applies what it decided.

    ``name`` is the stage's key in ``done``, the results of the stages before it (a later
    stage reads an earlier one's ``output`` there: the findings filter reads the audit's).
    Options come in through the constructor, so one stage class serves every command.
    """

    name: str

    def __call__(self, batch: Batch, done: Mapping[str, BatchResult]) -> BatchResult: ...


def run_stages(
    stages: Sequence[BatchStage],
    batch: Batch,
    on_drop: Callable[[Dropped], None],
) -> tuple[Batch, dict[str, BatchResult]]:
    """Run ``stages`` in order over ``batch``: the one loop every command's stage list uses.

    Each stage's drops go to ``on_drop`` (a rejects sink; the result keeps none), its kept
    positions narrow the batch in place (records, vectors and fingerprints together, so the
    removed rows are freed), and its result is kept under its name. An engine
    (``curate.engine``) takes over by running some stages elsewhere and handing the loop the
    batch they leave.

    Returns:
        The batch after the last stage, and each stage's ``BatchResult`` by name.

    Raises:
        RuntimeError: a stage's kept + dropped do not add up to its input (a bug).
    """
    done: dict[str, BatchResult] = {}
    for stage in stages:
        # What the last step freed among the records still held would otherwise stay
        # resident under this stage's own peak (a run's peak is a stage's, on top of them).
        release_free_heap()
        res = stage(batch, done)
        if len(res.kept) + len(res.dropped) != len(batch):
            raise RuntimeError(
                f"stage {stage.name}: {len(res.kept)} kept + {len(res.dropped)} dropped "
                f"!= {len(batch)} in"
            )
        for d in res.dropped:
            on_drop(d)
        res.dropped = []  # handed over; a million-row run must not hold them twice
        if len(res.kept) != len(batch):
            batch.keep(res.kept)
        done[stage.name] = res
    return batch, done
