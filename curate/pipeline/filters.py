"""Quality filters of ``curate run``: per-record length bounds, streaming.

A filter only decides; each drop carries a stable reason code:
``too_few_tokens``, ``too_many_tokens``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from curate.chat import messages_of
from curate.errors import ConfigError
from curate.records import Record
from curate.stage import Decision, Dropped

STAGE = "filter"


@dataclass(slots=True)
class FilterConfig:
    """The ``filter:`` section of a run config.

    Attributes:
        min_tokens: drop conversations shorter than this (tokens, estimate unless tokenizer).
        max_tokens: drop conversations longer than this (None: no bound), e.g. the training
            context length, since trainers truncate them silently.
        tokenizer: local HF tokenizer folder for exact counts through its chat template.
    """

    min_tokens: int = 0
    max_tokens: int | None = None
    tokenizer: str | None = None

    def __post_init__(self) -> None:
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
