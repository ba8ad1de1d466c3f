"""Deduplication: exact (normalised hash), near (MinHash + LSH, verified Jaccard), semantic
(embeddings + faiss ANN), and leakage against other files.

Public API:
    DedupConfig                      settings (methods, key, thresholds, keep policy, model...)
    find_duplicates(records, config, embeddings=None) -> list[Cluster]   (nothing removed)
    dedup(records, config, against=None, embeddings=None) -> DedupResult
    ExactDedup(key, normalizer)      streaming exact step for ``curate.stage.stream``
    exact_dedup_stream(records, config, on_drop) -> Iterator[Record]
    group_ids(clusters, n) -> np.ndarray   one group id per record (for group-aware splits)
    Normalizer, key_text, Cluster, DedupResult, Leak, format_explain
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from curate.dedup.cluster import Cluster, group_ids
from curate.dedup.config import KEEP_POLICIES, KEYS, LEAKED, METHODS, REASONS, DedupConfig
from curate.dedup.engine import (
    DedupResult,
    DedupStage,
    Leak,
    dedup,
    find_duplicates,
    find_leaks,
)
from curate.dedup.exact import ExactDedup
from curate.dedup.explain import format_explain
from curate.dedup.features import Features
from curate.dedup.normalize import Normalizer, key_text
from curate.records import Record
from curate.stage import Dropped, stream


def exact_dedup_stream(
    records: Iterable[Record],
    config: DedupConfig | None = None,
    on_drop: Callable[[Dropped], None] = lambda d: None,
) -> Iterator[Record]:
    """Lazily yield the first record of each normalised key text; hand the rest to ``on_drop``.

    Memory: one 16-byte hash and one id per distinct text, whatever the input size.
    """
    config = config or DedupConfig(methods=("exact",))
    return stream(ExactDedup(config.key, config.normalizer), records, on_drop)


__all__ = [
    "KEEP_POLICIES",
    "KEYS",
    "LEAKED",
    "METHODS",
    "REASONS",
    "Cluster",
    "DedupConfig",
    "DedupResult",
    "DedupStage",
    "ExactDedup",
    "Leak",
    "Normalizer",
    "dedup",
    "exact_dedup_stream",
    "Features",
    "find_duplicates",
    "find_leaks",
    "format_explain",
    "group_ids",
    "key_text",
]
