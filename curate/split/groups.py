"""Groups that must land on one side of the split: duplicate clusters and ``--group`` values.

Union-find over record indices: two records sharing a ``--group`` field value, or sitting in
one exact / near / semantic duplicate cluster, end up with the same root, so the allocator
moves them together.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from curate.records import Record
from curate.split.strata import MISSING, field_value, require_field


class UnionFind:
    """Disjoint sets over ``0..n-1``; the root of a set is its smallest index (stable)."""

    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        parent = self.parent
        root = i
        while parent[root] != root:
            root = parent[root]
        while parent[i] != root:  # path compression
            parent[i], i = root, parent[i]
        return root

    def union(self, a: int, b: int) -> bool:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return False
        if rb < ra:
            ra, rb = rb, ra
        self.parent[rb] = ra
        return True

    def union_all(self, members: Iterable[int]) -> None:
        it = iter(members)
        first = next(it, None)
        if first is None:
            return
        for m in it:
            self.union(first, m)

    def groups(self) -> dict[int, list[int]]:
        """root -> member indices, ascending."""
        out: dict[int, list[int]] = {}
        for i in range(len(self.parent)):
            out.setdefault(self.find(i), []).append(i)
        return out


def union_field(uf: UnionFind, records: Sequence[Record], path: str) -> int:
    """Join records with the same value at ``path``; returns how many joins happened."""
    first: dict[str, int] = {}
    joins = 0
    values = [field_value(r.data, path) for r in records]
    require_field(records, path, values, "group")
    for i, value in enumerate(values):
        if value == MISSING:
            continue  # no id: the record is its own group
        if value in first:
            joins += uf.union(first[value], i)
        else:
            first[value] = i
    return joins
