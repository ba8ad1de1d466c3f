"""The dedup stage, seen from split: duplicate clusters to keep together, and leakage checks.

Thin adapters over ``curate.dedup`` (never a second dedup implementation): the same
thresholds that dedup uses decide what counts as "the same example" on both sides.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from curate.records import Record

if TYPE_CHECKING:
    from curate.dedup.semantic import Rows


def default_dedup_config(semantic: bool) -> Any:
    """The dedup stage's default config, with semantic matching switched on or off.

    Its own seed (MinHash permutations) stays at dedup's default: the split seed draws the
    split, it does not change what counts as a duplicate.
    """
    from curate.dedup import DedupConfig

    return with_semantic(DedupConfig(), semantic)


def with_semantic(config: Any, semantic: bool, seed: int | None = None) -> Any:
    """A copy of a DedupConfig whose ``methods`` include (or lack) ``semantic``."""
    import dataclasses

    methods = tuple(m for m in config.methods if m != "semantic")
    if semantic:
        methods = (*methods, "semantic")
    changes: dict[str, Any] = {"methods": methods}
    if seed is not None:
        changes["seed"] = seed
    return dataclasses.replace(config, **changes)


def leak_config(config: Any, key: str | None) -> Any:
    """``config`` comparing ``key`` (``split.leakage_key``; None: dedup's own key). On the
    prompt, a test record whose prompt is in train leaks whatever answer each side gives it,
    as ``curate dedup --against`` counts it."""
    import dataclasses

    return config if key is None or key == config.key else dataclasses.replace(config, key=key)


def duplicate_clusters(
    records: Sequence[Record],
    config: Any,
    embeddings: np.ndarray | None,
    features: Any = None,
) -> list[list[int]]:
    """Index lists of the exact / near / semantic duplicate clusters among ``records``."""
    from curate.dedup import find_duplicates

    # Whole components: a chain a~b~c stays on one side even where dedup would keep a and c.
    clusters = find_duplicates(
        list(records), config, embeddings=embeddings, features=features, whole_components=True
    )
    return [list(c.members) for c in clusters]


def clusters_and_check(
    records: Sequence[Record],
    config: Any,
    embeddings: np.ndarray | None,
    features: Any = None,
) -> tuple[list[list[int]], Any]:
    """``duplicate_clusters``, and the semantic search's ``SemanticCheck`` (None without the
    semantic method): the leakage rounds then search again only the records this search
    left unsettled, as ``curate run``'s split does with dedup's."""
    from curate.dedup.engine import Engine

    engine = Engine(list(records), config, embeddings, features=features)
    clusters = engine.clusters(np.ones(len(records), dtype=bool))
    return [list(c.members) for c in clusters], engine.semantic_check


def cross_duplicates(
    records: Sequence[Record],
    records_embeddings: np.ndarray | Rows | None,
    against: Sequence[Record],
    config: Any,
    against_embeddings: np.ndarray | Rows | None = None,
    features: Any = None,
    against_features: Any = None,
    semantic: Any = None,
    against_semantic: Any = None,
) -> list[tuple[int, str, int]]:
    """(position in ``records``, method, position in ``against`` of the match) for each
    record duplicating one in ``against``.

    Uses dedup's own leakage matcher (``curate.dedup.find_leaks``), given the vectors and
    fingerprints both sides already have (rows of the run's), so nothing is embedded or
    hashed again, and ``semantic`` / ``against_semantic`` (rows of dedup's ``SemanticCheck``
    for each side), so only the records dedup's search left unsettled are searched again.
    Without vectors, the ``against`` side's come from dedup's embedder, whose on-disk cache
    holds them when this run embedded the same texts.
    """
    import dataclasses

    from curate.dedup import find_leaks

    # ``config`` is already on the key to compare (``leak_config``): set it for both sides.
    flag = dataclasses.replace(
        config, leak_action="flag", explain=False, against_key=config.key, against=()
    )
    leaks = find_leaks(
        list(records),
        flag,
        list(against),
        embeddings=records_embeddings,
        against_embeddings=against_embeddings,
        features=features,
        against_features=against_features,
        semantic=semantic,
        against_semantic=against_semantic,
    )
    return [(lk.index, lk.method, lk.match_index) for lk in leaks]


def count_methods(found: Sequence[tuple[Any, str, Any]], methods: Sequence[str]) -> dict[str, int]:
    """Leaks per method, every checked method listed (zero included)."""
    counts = Counter(method for _, method, _ in found)
    return {m: counts.get(m, 0) for m in methods}
