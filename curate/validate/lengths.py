"""Token lengths per record, and their distribution in memory that does not grow with rows."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from curate.chat import message_text
from curate.tokens import PER_MESSAGE_OVERHEAD, TokenCounter, estimate_tokens


def estimate_messages(messages: Sequence[Any]) -> int:
    """Same number as ``TokenCounter().count_messages`` (the estimate), faster.

    The common message (ASCII string content, no tool calls) skips the regex for wide
    characters: ``str.isascii`` is O(1) in CPython and ASCII has none.
    """
    total = 0
    for m in messages:
        if type(m) is not dict:
            continue
        c = m.get("content")
        if type(c) is str and c.isascii() and "tool_calls" not in m:
            total += (len(c) + 3) // 4 + PER_MESSAGE_OVERHEAD
        else:
            total += estimate_tokens(message_text(m)) + PER_MESSAGE_OVERHEAD
    return total


class LengthStats:
    """Exact min / median / p95 / max over many rows, from a histogram of lengths.

    Memory grows with the number of *distinct* lengths (bounded by the longest record),
    not with the number of rows. Percentiles are nearest-rank: the smallest length that at
    least p% of rows do not exceed.
    """

    def __init__(self, counter: TokenCounter | None = None, max_tokens: int | None = None):
        self.counter = counter
        self.max_tokens = max_tokens
        # A length is over ``max_tokens`` when above this (none is without a bound).
        self.limit: float = math.inf if max_tokens is None else max_tokens
        self.hist: dict[int, int] = {}
        self.n = 0
        self.total = 0
        self.over = 0
        self.fallbacks = 0

    def measure(self, messages: Sequence[Mapping[str, Any]]) -> int:
        if self.counter is None:
            return estimate_messages(messages)
        from jinja2 import TemplateError

        try:
            return self.counter.count_messages(messages)
        except (TemplateError, ValueError, TypeError, KeyError):
            # A chat template that cannot render this conversation (tool calls it does not
            # know, say): count the record by estimate, and say how many were.
            self.fallbacks += 1
            return estimate_messages(messages)

    def add(self, n: int) -> bool:
        """Record one length; True when it is over ``max_tokens``."""
        self.hist[n] = self.hist.get(n, 0) + 1
        self.n += 1
        self.total += n
        if n > self.limit:
            self.over += 1
            return True
        return False

    def percentile(self, p: float) -> int | None:
        if not self.n:
            return None
        rank = max(1, -(-self.n * p // 100))  # ceil(n * p / 100)
        seen = 0
        for value in sorted(self.hist):
            seen += self.hist[value]
            if seen >= rank:
                return value
        return max(self.hist)

    def summary(self) -> dict[str, Any]:
        exact = self.counter is not None
        return {
            "method": self.counter.method if exact else "estimate",
            "exact": exact,
            "note": None
            if exact
            else "estimated (~4 characters per token); pass --tokenizer for exact counts",
            "counted": self.n,
            "min": min(self.hist) if self.hist else None,
            "median": self.percentile(50),
            "p95": self.percentile(95),
            "max": max(self.hist) if self.hist else None,
            "mean": round(self.total / self.n, 1) if self.n else None,
            "max_tokens": self.max_tokens,
            "over_max_tokens": self.over,
            "template_fallbacks": self.fallbacks,
        }
