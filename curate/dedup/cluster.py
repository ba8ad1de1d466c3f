"""Duplicate clusters: union-find over verified pairs, and which member survives."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from itertools import combinations

import numpy as np


@dataclass(frozen=True, slots=True)
class Cluster:
    """A kept record and the records removed as its duplicates by one method (``keep_walk``).

    Attributes:
        method: ``exact``, ``near`` or ``semantic``.
        members: indices into the records given to ``find_duplicates``/``dedup``, ascending.
        keep: the member that survives (by the keep policy).
        similarity: per member, its similarity to ``keep`` (1.0 for ``keep`` itself): Jaccard
            for near, cosine for semantic; at or above the threshold. With
            ``find_duplicates(whole_components=True)`` a cluster is a whole connected
            component instead, and a member linked through a chain (a~b~c) can be below the
            threshold against ``keep`` (still above it against a neighbour).
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


def keep_walk(
    i: np.ndarray,
    j: np.ndarray,
    sims: np.ndarray | Sequence[float],
    policy: str,
    lengths_of: Callable[[np.ndarray], np.ndarray],
    check: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
    threshold: float = 0.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Which records of duplicate edges ``i[k]``--``j[k]`` (similarity ``sims[k]``, every
    one at or above the threshold) are removed, and for what: (removed ids, the kept record
    each is removed as a duplicate of, that edge's similarity rounded to 6 places), sorted
    by removed id. The one rule of the local and Ray engines.

    Records are walked in keep order (``choose_keep``'s: first, longest or shortest, ties by
    position); a record with an edge to a record already kept is removed as a duplicate of
    the kept one it is most similar to (ties: earliest in the order), else it is kept. So
    every removed record is directly similar to its keeper, and a chain a~b~c whose ends
    are not similar keeps a and c (whole connected components would remove c too).

    The edges are what a search listed (the semantic search lists 10 neighbours a record), so
    two kept records can be similar without an edge: ``check(a, b)`` (their similarities;
    below ``threshold`` for a pair that is no duplicate, as the slot guard's) is asked about
    pairs of kept records with a removed neighbour in common, and the walk is redone with
    those at or above ``threshold`` until none is left.

    ``lengths_of(ids)``: the key text's length of each of ``ids`` (not asked for the
    ``first`` policy). Numpy over the edges; the loops run once per record with an edge to
    an earlier one, and per removed record with two kept neighbours.
    """
    i, j = np.asarray(i, dtype=np.int64), np.asarray(j, dtype=np.int64)
    raw = np.asarray(sims, dtype=np.float64)
    empty = np.zeros(0, dtype=np.int64)
    if not i.size:
        return empty, empty, np.zeros(0, dtype=np.float64)
    nodes = np.unique(np.concatenate((i, j)))
    if policy == "first":
        order = np.arange(nodes.size)
    else:
        sign = -1 if policy == "longest" else 1
        rank = sign * np.asarray(lengths_of(nodes), dtype=np.int64)
        order = np.lexsort((nodes, rank))
    pos = np.empty(nodes.size, dtype=np.int64)  # each node's place in the walk
    pos[order] = np.arange(nodes.size)
    walk = nodes[order]  # node id at each place
    a, b = pos[np.searchsorted(nodes, i)], pos[np.searchsorted(nodes, j)]
    pair = a != b
    a, b, raw = a[pair], b[pair], raw[pair]
    asked = set(zip(np.minimum(a, b).tolist(), np.maximum(a, b).tolist(), strict=True))
    sims_r = _rounded(raw)  # once: each round adds only its new edges' rounded figures
    keeper, sim = _walk(a, b, sims_r, nodes.size)
    while True:
        if check is None:
            break
        more = _kept_pairs(a, b, keeper)
        more = [p for p in more if p not in asked]
        if not more:
            break
        asked.update(more)
        x, y = np.array(more, dtype=np.int64).T
        got = np.asarray(check(walk[x], walk[y]), dtype=np.float64)
        hit = got >= threshold
        if not hit.any():
            break
        a, b, sims_r = np.r_[a, x[hit]], np.r_[b, y[hit]], np.r_[sims_r, _rounded(got[hit])]
        # The walk decides each place from the places before it only: the places before the
        # first one a new edge reaches (its later end; x < y) keep their outcome.
        keeper, sim = _walk(a, b, sims_r, nodes.size, (keeper, sim, int(y[hit].min())))
    gone = np.flatnonzero(keeper >= 0)
    removed, keep = walk[gone], walk[keeper[gone]]
    by_id = np.argsort(removed, kind="stable")
    return removed[by_id], keep[by_id], sim[gone][by_id]


def _rounded(raw: np.ndarray) -> np.ndarray:
    """Similarities rounded to 6 places with Python's round (decimal, as the clusters report
    them): ties of the reported figures break alike in both engines whatever the last bits of
    their float32 products."""
    return np.array([round(s, 6) for s in raw.tolist()], dtype=np.float64)


def _walk(
    a: np.ndarray,
    b: np.ndarray,
    sims: np.ndarray,
    n: int,
    prior: tuple[np.ndarray, np.ndarray, int] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """``keep_walk`` over places ``0..n-1`` (edges ``a``--``b``, similarities ``sims``
    rounded): each place's keeper (-1: kept) and the similarity to it. ``prior``: (keeper,
    sim, start) of an earlier walk whose edges reaching a place from ``start`` on are the only
    ones that changed: the places before ``start`` keep their outcome, the rest are walked."""
    later, earlier = np.maximum(a, b), np.minimum(a, b)
    # Each record's edges to earlier ones, the most similar first (ties: earliest).
    e = np.lexsort((earlier, -sims, later))
    later, earlier, sims = later[e], earlier[e], sims[e]
    starts = np.flatnonzero(np.r_[True, later[1:] != later[:-1]])
    ends = np.r_[starts[1:], later.size]
    if prior is None:
        keeper = np.full(n, -1, dtype=np.int64)
        sim = np.zeros(n, dtype=np.float64)
    else:
        keeper, sim, start = prior[0].copy(), prior[1].copy(), prior[2]
        keeper[start:], sim[start:] = -1, 0.0
        first = int(np.searchsorted(later[starts], start))
        starts, ends = starts[first:], ends[first:]
    kept = keeper < 0
    for p, lo, hi in zip(later[starts].tolist(), starts.tolist(), ends.tolist(), strict=True):
        ok = kept[earlier[lo:hi]]
        if ok.any():
            k = lo + int(ok.argmax())
            kept[p] = False
            keeper[p], sim[p] = earlier[k], sims[k]
    return keeper, sim


def _kept_pairs(a: np.ndarray, b: np.ndarray, keeper: np.ndarray) -> list[tuple[int, int]]:
    """Pairs (low, high) of kept places with a removed neighbour in common."""
    gone = keeper >= 0
    # Each edge from a removed place to a kept one, grouped by the removed place.
    r = np.r_[a[gone[a] & ~gone[b]], b[gone[b] & ~gone[a]]]
    k = np.r_[b[gone[a] & ~gone[b]], a[gone[b] & ~gone[a]]]
    order = np.lexsort((k, r))
    r, k = r[order], k[order]
    starts = np.flatnonzero(np.r_[True, r[1:] != r[:-1]])
    ends = np.r_[starts[1:], r.size]
    out: set[tuple[int, int]] = set()
    for lo, hi in zip(starts.tolist(), ends.tolist(), strict=True):
        if hi - lo > 1:
            out.update((x, y) for x, y in combinations(k[lo:hi].tolist(), 2) if x < y)
    return sorted(out)


def keeper_clusters(
    method: str, removed: np.ndarray, keep: np.ndarray, sims: np.ndarray
) -> list[Cluster]:
    """``keep_walk``'s outcome as clusters: each kept record with the records removed as its
    duplicates (members ascending), ordered by their first member."""
    by_keep: dict[int, list[tuple[int, float]]] = {}
    for m, k, s in zip(removed.tolist(), keep.tolist(), sims.tolist(), strict=True):
        by_keep.setdefault(k, []).append((m, s))
    out = []
    for k, got in by_keep.items():
        pairs = sorted([(k, 1.0), *got])
        members = tuple(m for m, _ in pairs)
        out.append(Cluster(method, members, k, tuple(s for _, s in pairs)))
    out.sort(key=lambda c: c.members[0])
    return out
