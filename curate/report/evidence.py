"""The records behind a report: which ones each finding names, and where each one went.

A report page cannot hold a million records, so every list is capped (``MAX_PER_FINDING``) and
says how many it shows of how many; the JSON report and the rejects file keep them all.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any

import numpy as np

from curate.records import Record
from curate.report.records import RecordView, first_user

MAX_PER_FINDING = 50
MAX_REASONS_SHOWN = 3


@dataclass(slots=True)
class Place:
    """Where a kept record ended up: its split side and its stratum (empty when unknown)."""

    split: str = ""
    stratum: str = ""


@dataclass(slots=True)
class Evidence:
    """Record views per finding code, plus what the rest of the page needs to look records up.

    Attributes:
        findings: code -> (views shown, total records with that code).
        cap: the per-code cap used.
    """

    findings: dict[str, tuple[list[RecordView], int]] = field(default_factory=dict)
    cap: int = MAX_PER_FINDING


def language_of(data: Any, seed: int = 0) -> str:
    """The language of a record's first user turn (langdetect, seeded), ``""`` when unsure."""
    from curate.language import detect_language

    text = first_user(data)
    if not text.strip():
        return ""
    code = detect_language(text[:400], seed=seed)
    return "" if code == "unknown" else code


def collect_findings(
    findings: Iterable[Any],
    records: Sequence[Record],
    place: Callable[[Record], Place] | None = None,
    seed: int = 0,
    cap: int = MAX_PER_FINDING,
) -> Evidence:
    """The first ``cap`` records of each finding code, with the reasons they were flagged.

    Args:
        findings: the audit's ``Finding`` objects (``code``, ``message``, ``lines``).
        records: the records the audit read (``Record.line`` is what findings name).
        place: where a record went (split, stratum); None leaves those filters empty.
        seed: langdetect seed.
        cap: records listed per code.
    """
    if not isinstance(findings, Sequence):  # read twice; a Sequence may live in a file
        findings = list(findings)
    lines_of: dict[str, list[int]] = {}
    totals: dict[str, set[int]] = {}
    for f in findings:
        shown = lines_of.setdefault(f.code, [])
        seen = totals.setdefault(f.code, set())
        for ln in f.lines:
            if ln not in seen:
                seen.add(ln)
                if len(shown) < cap:
                    shown.append(ln)
    listed = {code: set(lines) for code, lines in lines_of.items()}
    reasons: dict[tuple[str, int], list[str]] = {}
    for f in findings:
        for ln in f.lines:
            if ln in listed[f.code]:
                said = reasons.setdefault((f.code, ln), [])
                if len(said) < MAX_REASONS_SHOWN and f.message not in said:
                    said.append(f.message)
    wanted = {ln for lines in lines_of.values() for ln in lines}
    by_line: dict[int, Record] = {}
    if hasattr(records, "by_lines"):  # rows left on a cluster: fetch only the listed ones
        by_line = records.by_lines(wanted)
    else:
        for r in records:
            if r.line in wanted and r.line not in by_line:
                by_line[r.line] = r
    owner = getattr(place, "__self__", None)
    if hasattr(owner, "prefetch"):  # a Placement that looks rows up in one batch
        owner.prefetch(by_line.values())
    codes_of: dict[int, list[str]] = {}
    for code, lines in lines_of.items():
        for ln in lines:
            codes_of.setdefault(ln, []).append(code)
    langs: dict[int, str] = {}
    out = Evidence(cap=cap)
    for code, lines in lines_of.items():
        views = []
        for ln in lines:
            r = by_line.get(ln)
            if ln not in langs:
                langs[ln] = language_of(r.data, seed) if r is not None else ""
            where = place(r) if (place and r is not None) else Place()
            views.append(
                RecordView(
                    source=r.source if r is not None else "",
                    line=ln,
                    data=r.data if r is not None else None,
                    reason="; ".join(reasons.get((code, ln), [])),
                    finding=codes_of[ln],
                    lang=langs[ln],
                    stratum=where.stratum,
                    split=where.split,
                )
            )
        out.findings[code] = (views, len(totals[code]))
    return out


_LINE, _SOURCE = attrgetter("line"), attrgetter("source")


class Placement:
    """Where each kept record of a run went: split side and stratum, looked up by record.

    A record is identified by its source and line: a run may read several shards, and
    their line numbers repeat. Arrays, not a dict of records: a million-row run looks up a
    few hundred records for the page.
    """

    # A key packs the source's ordinal above the line number (lines stay below 2**40).
    _LINE_BITS = 40

    def __init__(
        self,
        splits: Mapping[str, Sequence[Record]],
        split_input: Sequence[Record] = (),
        strata: Sequence[Any] = (),
    ) -> None:
        self._sources: dict[str, int] = {}
        names = list(splits)
        # Rows left on a cluster (``curate.engine.ray_split.Rows``): no index of every kept
        # row; the records the page lists are placed in one batch (``prefetch``).
        self._lazy = split_input if hasattr(split_input, "places") else None
        self._names, self._snames = names, [s.stratum for s in strata]
        self._placed: dict[tuple[str, int], Place] = {}
        if self._lazy is not None:
            return
        keys = np.concatenate(
            [self._keys_of(recs) for recs in splits.values()] or [np.zeros(0, dtype=np.int64)]
        )
        sides = np.concatenate(
            [np.full(len(recs), k, dtype=np.int16) for k, recs in enumerate(splits.values())]
            or [np.zeros(0, dtype=np.int16)]
        )
        order = np.argsort(keys, kind="stable")
        self._keys, self._sides = keys[order], sides[order]
        by_member = np.full(len(split_input), -1, dtype=np.int32)
        for k, s in enumerate(strata):
            by_member[np.asarray(s.members, dtype=np.int64)] = k
        skeys = self._keys_of(split_input)
        sorder = np.argsort(skeys, kind="stable")
        self._skeys, self._stratum = skeys[sorder], by_member[sorder]

    def _key(self, record: Record) -> int:
        ordinal = self._sources.setdefault(record.source, len(self._sources))
        return (ordinal << self._LINE_BITS) | record.line

    def _keys_of(self, records: Sequence[Record]) -> np.ndarray:
        """``_key`` of each record. Records of one source (most runs) in two C-level passes,
        no call per record: every kept record is keyed twice per run."""
        lines = np.fromiter(map(_LINE, records), np.int64, count=len(records))
        sources = set(map(_SOURCE, records))
        if len(sources) != 1:
            return np.fromiter(map(self._key, records), np.int64, count=len(records))
        ordinal = self._sources.setdefault(sources.pop(), len(self._sources))
        return lines | (ordinal << self._LINE_BITS)

    def _lookup_key(self, record: Record) -> int:
        ordinal = self._sources.get(record.source)
        return -1 if ordinal is None else (ordinal << self._LINE_BITS) | record.line

    @staticmethod
    def _find(sorted_keys: np.ndarray, key: int) -> int:
        i = int(np.searchsorted(sorted_keys, key))
        return i if i < len(sorted_keys) and sorted_keys[i] == key else -1

    def prefetch(self, records: Iterable[Record]) -> None:
        """Place these records in one lookup (rows on a cluster); a no-op otherwise."""
        if self._lazy is None:
            return
        keys = {(r.source, r.line) for r in records} - set(self._placed)
        found = self._lazy.places(keys)
        for key in keys:
            name, sid = found.get(key, ("dropped", -1))
            stratum = self._snames[sid] if 0 <= sid < len(self._snames) else ""
            self._placed[key] = Place(split=name, stratum=stratum)

    def place(self, record: Record) -> Place:
        if self._lazy is not None:
            self.prefetch([record])
            return self._placed[(record.source, record.line)]
        key = self._lookup_key(record)
        i = self._find(self._keys, key)
        side = self._names[int(self._sides[i])] if i >= 0 else "dropped"
        j = self._find(self._skeys, key)
        k = int(self._stratum[j]) if j >= 0 else -1
        return Place(split=side, stratum=self._snames[k] if k >= 0 and self._snames[k] else "")

    def sides(self, records: Sequence[Record]) -> list[str]:
        """The split of each record (``""`` for records in no split)."""
        if self._lazy is not None:
            self.prefetch(records)
            return [
                "" if (p := self._placed[(r.source, r.line)].split) == "dropped" else p
                for r in records
            ]
        q = np.fromiter(map(self._lookup_key, records), np.int64, count=len(records))
        i = np.searchsorted(self._keys, q)
        i = np.minimum(i, max(len(self._keys) - 1, 0))
        hit = (self._keys[i] == q) if len(self._keys) else np.zeros(len(q), dtype=bool)
        return [self._names[int(self._sides[j])] if h else "" for j, h in zip(i, hit, strict=True)]
