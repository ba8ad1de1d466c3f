"""Exact duplicates: a 128-bit hash of the normalised key text.

``ExactDedup`` is a streaming step (``curate.stage.stream``/``collect``): it holds one hash
(and the id of the first record with it) per distinct text, never the records, so it runs on
inputs far larger than memory. The whole-set engine uses ``digest`` directly.
"""

from __future__ import annotations

import hashlib

from curate.chat import Side
from curate.dedup.config import REASONS
from curate.dedup.normalize import Normalizer, key_text
from curate.records import Record
from curate.stage import Decision, Dropped

STAGE = "dedup"


def digest(normalized: bytes) -> bytes:
    """16-byte BLAKE2b of normalised text: collisions are negligible even at 10^12 records."""
    return hashlib.blake2b(normalized, digest_size=16).digest()


class ExactDedup:
    """Streaming exact dedup: keep the first record of each normalised text.

    Only the ``first`` keep policy can stream (``longest``/``shortest`` need the whole
    group); use ``curate.dedup.dedup`` for those.

    Example:
        step = ExactDedup(key="prompt")
        dropped = []
        for record in stream(step, records, dropped.append):
            ...
    """

    def __init__(
        self,
        key: Side = "conversation",
        normalizer: Normalizer | None = None,
        seen: dict[bytes, str] | None = None,
    ) -> None:
        self.key = key
        self.normalizer = normalizer or Normalizer()
        # digest -> id of the first record with that text (shared when seeding from another
        # file, e.g. to drop records of a train file that already appear in a test file).
        self.seen: dict[bytes, str] = {} if seen is None else seen
        self.n_in = 0
        self.n_dropped = 0

    def __call__(self, record: Record) -> Decision:
        self.n_in += 1
        h = digest(self.normalizer.to_bytes(key_text(record, self.key)))
        first = self.seen.get(h)
        if first is None:
            self.seen[h] = record.id
            return record
        self.n_dropped += 1
        return Dropped(
            record,
            STAGE,
            REASONS["exact"],
            f"duplicate_of={first} similarity=1.0",
            {"duplicate_of": first, "similarity": 1.0, "method": "exact"},
        )
