"""The streaming front of ``curate run``: read -> convert -> validate -> filter.

Validation checks the canonical chat form, so it runs right after conversion.

Each input line becomes a kept chat record or one rejects line (stage, reason, detail); the
counts are kept as they stream by, so the manifest can prove nothing was lost.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from curate.reader import read_chat
from curate.records import ReadStats, Record, dumps_line
from curate.stage import Dropped


@dataclass(slots=True)
class RejectSink:
    """Writes each dropped record to the rejects file as it happens and counts it."""

    fh: IO[bytes]
    by_stage: Counter[tuple[str, str]] = field(default_factory=Counter)

    def drop(self, dropped: Dropped) -> None:
        self.fh.write(dumps_line(dropped.to_reject()))
        self.by_stage[(dropped.stage, dropped.reason)] += 1

    @property
    def total(self) -> int:
        return sum(self.by_stage.values())

    def by_reason(self) -> dict[str, int]:
        out: Counter[str] = Counter()
        for (_stage, reason), n in self.by_stage.items():
            out[reason] += n
        return {k: out[k] for k in sorted(out)}

    def by_stage_reason(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for (stage, reason), n in sorted(self.by_stage.items()):
            out.setdefault(stage, {})[reason] = n
        return out


SHORT = 64  # top-level string fields up to this length are labels worth sharing


def compact(record: Record, _intern: Callable[[str], str] = sys.intern) -> Record:
    """Share repeated strings (roles, system prompts, labels) between records, in place.

    Value-preserving: each string is replaced by an equal interned one, so a million records
    with a handful of roles, system prompts and categories hold one copy of each instead of
    a million (about 15% of a chat record's memory). Only freshly parsed data, not yet seen by
    any other stage, is touched.
    """
    # Runs once per input record in the run's reading phase: ``sys.intern`` bound as a
    # default, and a message's content looked up only for the roles whose content is shared.
    data = record.data
    if type(data) is not dict:
        return record
    for key, value in data.items():
        if type(value) is str and len(value) <= SHORT:
            data[key] = _intern(value)
    msgs = data.get("messages")
    if type(msgs) is list:
        for m in msgs:
            if type(m) is dict:
                role = m.get("role")
                if type(role) is str:
                    role = m["role"] = _intern(role)
                    if role == "system" or role == "developer":
                        content = m.get("content")
                        if type(content) is str:
                            m["content"] = _intern(content)
    return record


def front(
    path: str,
    sink: RejectSink,
    *,
    fmt: str | None,
    validator: Any,
    fields: Any = None,
    filter_step: Callable[[Record], Record | Dropped] | None,
) -> tuple[Iterator[Record], ReadStats, Any]:
    """Kept canonical records, lazily; every other line goes to ``sink``.

    Bad lines and conversion drops are tallied by ``validator`` (a ``curate.validate.
    Validator``) too, so its stats match ``curate validate``'s. Returns the record iterator,
    the reader's counts and the ``Converter`` (its stats). ``filter_step`` None: no filter
    (``curate run`` passes none when no bound is set: one call less per record).
    """
    from curate.shards import open_input

    # Every bad line, unconvertible and invalid record goes to the sink (and the validator's
    # tallies); the reader yields valid chat records only.
    chat = read_chat(
        open_input(path),  # one file, or a folder / glob of shards
        fmt=fmt,
        fields=fields,
        validator=validator,
        on_bad="reject",
        on_drop=sink.drop,
    )

    if filter_step is None:
        return map(compact, chat), chat.stats, chat.converter

    def gen() -> Iterator[Record]:
        for record in chat:
            decision = filter_step(record)
            if isinstance(decision, Dropped):
                sink.drop(decision)
            else:
                yield compact(decision)

    return gen(), chat.stats, chat.converter
