"""Duplicate clusters: union-find over verified pairs, and which member survives."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class Cluster:
    """A group of records that are duplicates of each other by one method.

    Attributes:
        method: ``exact``, ``near`` or ``semantic``.
        members: indices into the records given to ``find_duplicates``/``dedup``, ascending.
        keep: the member that survives (by the keep policy).
        similarity: per member, its similarity to ``keep`` (1.0 for ``keep`` itself): Jaccard
            for near, cosine for semantic. A member linked through a chain (a~b~c) can be
            below the threshold against ``keep``; it is still above it against a neighbour.
    """

    method: str
    members: tuple[int, ...]
    keep: int
    similarity: tuple[float, ...]

    @property
    def removed(self) -> tuple[int, ...]:
        return tuple(m for m in self.members if m != self.keep)

    def similarity_of(self, member: int) -> float:
        return self.similarity[self.members.index(member)]


class UnionFind:
    """Disjoint sets over ``0..n-1`` with path halving; the root of a set is its smallest index
    (stable). The one union-find of curate: dedup clusters and the split's groups."""

    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, x: int) -> int:
        parent = self.parent
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def union(self, a: int, b: int) -> bool:
        """Join the sets of ``a`` and ``b``; False when they were one set already."""
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
        parent = self.parent
        find = self.find
        # A root is its own parent: no call for it (most records of a split are their own
        # group; ``find`` on each cost ~0.5 s per 100k records).
        for i, p in enumerate(parent):
            root = i if p == i else find(i)
            got = out.get(root)
            if got is None:
                out[root] = [i]
            else:
                got.append(i)
        return out


def components(n: int, pairs: np.ndarray) -> list[list[int]]:
    """Connected components of size >= 2, each sorted, ordered by their first member."""
    uf = UnionFind(n)
    for a, b in pairs.tolist():
        uf.union(a, b)
    groups: dict[int, list[int]] = {}
    for a in np.unique(pairs).tolist():
        groups.setdefault(uf.find(a), []).append(a)
    return [sorted(g) for _, g in sorted(groups.items())]


def choose_keep(members: Sequence[int], lengths: Sequence[int] | np.ndarray, policy: str) -> int:
    """The surviving member: first, longest or shortest; ties go to the earliest member."""
    if policy == "first":
        return min(members)
    sign = -1 if policy == "longest" else 1
    return min(members, key=lambda m: (sign * int(lengths[m]), m))


def build_clusters(
    method: str,
    groups: list[list[int]],
    lengths: Sequence[int] | np.ndarray,
    policy: str,
    similarity: Callable[[int, int], float],
) -> list[Cluster]:
    """Turn groups of record indices into ``Cluster`` objects with a keeper and similarities."""
    out = []
    for members in groups:
        keep = choose_keep(members, lengths, policy)
        sims = tuple(1.0 if m == keep else round(similarity(m, keep), 6) for m in members)
        out.append(Cluster(method, tuple(members), keep, sims))
    return out


def group_ids(clusters: Sequence[Cluster], n: int) -> np.ndarray:
    """One group id per record, merging clusters of all methods (for group-aware splits).

    Records in no cluster get their own group. Ids are the smallest member index of the group,
    so they are stable for a given input.
    """
    uf = UnionFind(n)
    for c in clusters:
        for m in c.members[1:]:
            uf.union(c.members[0], m)
    return np.array([uf.find(i) for i in range(n)], dtype=np.int64)
