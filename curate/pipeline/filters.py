"""Quality filters of ``curate run``: per-record length bounds (streaming, before dedup) and
records flagged by chosen audit findings (after the audit, before the split).

A filter only decides; each drop carries a stable reason code: ``too_few_tokens``,
``too_many_tokens``, or the audit finding's own code (``template_placeholder``,
``repetition``, ...) with stage ``audit``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from curate.chat import messages_of
from curate.errors import ConfigError
from curate.records import Record
from curate.stage import Batch, BatchResult, Decision, Dropped

STAGE = "filter"


@dataclass(slots=True)
class FilterConfig:
    """The ``filter:`` section of a run config.

    Attributes:
        min_tokens: drop conversations shorter than this (tokens, estimate unless tokenizer).
        max_tokens: drop conversations longer than this (None: no bound), e.g. the training
            context length, since trainers truncate them silently.
        tokenizer: local HF tokenizer folder for exact counts through its chat template.
        drop_findings: audit finding codes whose records are dropped before the split
            (``template_placeholder``, ``repetition``, ``refusal``...); the audit report still
            describes the set before the drop.
    """

    min_tokens: int = 0
    max_tokens: int | None = None
    tokenizer: str | None = None
    drop_findings: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        from curate.audit import FINDING_CODES

        if isinstance(self.drop_findings, str):
            self.drop_findings = (self.drop_findings,)
        self.drop_findings = tuple(self.drop_findings)
        unknown = [c for c in self.drop_findings if c not in FINDING_CODES]
        if unknown:
            raise ConfigError(
                f"filter.drop_findings: unknown finding code {', '.join(map(repr, unknown))}; "
                f"choose from {', '.join(FINDING_CODES)}"
            )
        if self.min_tokens < 0 or (self.max_tokens is not None and self.max_tokens < 1):
            raise ConfigError("filter: min_tokens must be >= 0 and max_tokens >= 1")
        if self.max_tokens is not None and self.max_tokens < self.min_tokens:
            raise ConfigError(
                f"filter: max_tokens ({self.max_tokens}) is below min_tokens ({self.min_tokens})"
            )

    @property
    def active(self) -> bool:
        return self.min_tokens > 0 or self.max_tokens is not None


def make_filter(config: FilterConfig) -> Callable[[Record], Decision]:
    """A streaming step keeping records within the configured token bounds."""
    from curate.tokens import TokenCounter

    counter = TokenCounter(config.tokenizer)
    unit = "tokens" if counter.exact else "estimated tokens"

    def step(record: Record) -> Decision:
        if not config.active:
            return record
        n = counter.count_messages(messages_of(record.data))
        if n < config.min_tokens:
            return Dropped(
                record, STAGE, "too_few_tokens", f"{n} {unit} < {config.min_tokens}", {"tokens": n}
            )
        if config.max_tokens is not None and n > config.max_tokens:
            return Dropped(
                record, STAGE, "too_many_tokens", f"{n} {unit} > {config.max_tokens}", {"tokens": n}
            )
        return record

    return step


def drop_findings(batch: Batch, findings: Sequence[Any], codes: Sequence[str]) -> BatchResult:
    """Drop each record of ``batch`` that a finding with one of ``codes`` flags.

    ``findings`` are the audit's over this very batch: they name records by position
    (``Finding.rows``), so records from several sources (an HF dataset folder with splits,
    whose line numbers repeat) are told apart. A record flagged by several codes is dropped
    once, under the first code in ``codes``; the drop's stage is ``audit``, its reason the
    finding's code.
    """
    reason_of: dict[int, tuple[str, str]] = {}
    for code in codes:
        for f in findings:
            if f.code == code:
                for row in f.rows:
                    reason_of.setdefault(row, (code, f.message))
    keep = np.ones(len(batch), dtype=bool)
    dropped: list[Dropped] = []
    for row in sorted(reason_of):
        code, message = reason_of[row]
        keep[row] = False
        dropped.append(Dropped(batch.records[row], "audit", code, message))
    stats = {"reasons": dict(Counter(d.reason for d in dropped))}
    return BatchResult(np.flatnonzero(keep), dropped, stats)


class DropFindings:
    """``filter.drop_findings`` as a whole-set stage: reads the findings of the stage named
    ``audit`` before it (its ``output``, an ``AuditReport`` over this very batch)."""

    name = "drop_findings"

    def __init__(self, codes: Sequence[str], audit: str = "audit") -> None:
        self.codes = tuple(codes)
        self.audit = audit

    def __call__(self, batch: Batch, done: Any) -> BatchResult:
        return drop_findings(batch, done[self.audit].output.findings, self.codes)
