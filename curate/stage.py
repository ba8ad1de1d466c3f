"""The data-flow contract every stage keeps: records in, kept + dropped (with reasons) out.

A stage never mutates a record; it keeps it, replaces it with a new ``Record`` (conversion),
or drops it with a stable snake_case ``reason`` code and a human ``detail``. The invariant
``len(kept) + len(dropped) == n_in`` holds for every stage and is tested.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

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
