"""Groups that must land on one side of the split: duplicate clusters and ``--group`` values.

Union-find over record indices: two records sharing a ``--group`` field value, or sitting in
one exact / near / semantic duplicate cluster, end up with the same root, so the allocator
moves them together.
"""

from __future__ import annotations

from collections.abc import Sequence

from curate.dedup.cluster import UnionFind
from curate.records import Record
from curate.split.strata import MISSING, record_field, require_field

__all__ = ["UnionFind", "union_field"]


def union_field(uf: UnionFind, records: Sequence[Record], path: str) -> int:
    """Join records with the same value at ``path``; returns how many joins happened."""
    first: dict[str, int] = {}
    joins = 0
    values = [record_field(r, path) for r in records]
    require_field(records, path, values, "group")
    for i, value in enumerate(values):
        if value == MISSING:
            continue  # no id: the record is its own group
        if value in first:
            joins += uf.union(first[value], i)
        else:
            first[value] = i
    return joins
