"""The split's multi-record groups on the Ray workers (``curate.engine.ray_split``).

Local ``curate.split`` keeps rows asking the same exact prompt on one side (a group; the
default ``leakage_key``), and joins the two rows of each leak its check finds, drawing
again. Groups are few next to the rows (sized by what is found), so the driver holds one
``Group`` each; every other row is a singleton, which the driver never sees:

* the workers find the repeated prompt digests (16 bytes, a shuffle by digest) and count
  each group's rows per label (``_repeats``, ``_member_labels``);
* the driver joins them with the leaks' rows (``merged_groups``), forms the strata as
  ``allocate`` does (``form_strata``: a group's stratum is its most common label, ties by
  the label met first);
* ``allocate`` walks a stratum's groups in order key order and takes each that fits
  (``_take``). The singletons between two groups of a stratum (in that order) are counted
  on the workers (``_gap_counts``); ``draw_stratum`` replays ``_take`` over those counts
  and the groups, which gives each group's side and how many of the stratum's singletons
  (the first ones in order) go to test, then to val: the singletons' cuts, found as before.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from curate.engine.ray_rows import SIDES
from curate.split.allocate import (
    POOLED,
    TEST,
    TRAIN,
    VAL,
    min_records,
    order_keys,
    pooled_labels,
    round_half_up,
)

TRAIN_CODE, VAL_CODE, TEST_CODE = (SIDES.index(x) for x in (TRAIN, VAL, TEST))


@dataclass(slots=True)
class Group:
    """One multi-record group on the driver: its root (smallest position), its size and,
    per label, ``[rows, first position]``."""

    root: int
    size: int
    labels: dict[str, list[int]] = field(default_factory=dict)

    def label(self) -> str:
        """``Counter(labels of the members).most_common(1)``: most rows, ties the label met
        first in position order."""
        return max(self.labels.items(), key=lambda kv: (kv[1][0], -kv[1][1]))[0]

    def add(self, other: Group) -> None:
        self.root = min(self.root, other.root)
        self.size += other.size
        for label, (k, first) in other.labels.items():
            got = self.labels.setdefault(label, [0, first])
            got[0] += k
            got[1] = min(got[1], first)


def merged_groups(
    digest_groups: Sequence[Group],
    leak_rows: dict[int, tuple[str, int]],
    pairs: Sequence[tuple[int, int]],
) -> tuple[list[Group], dict[int, int], dict[int, int]]:
    """The groups once the leaking pairs are joined (as ``uf.union(i, j)`` locally).

    Args:
        digest_groups: the rows sharing a prompt, one group per repeated digest.
        leak_rows: position -> (label, index of its digest group or -1) of each row of
            ``pairs``.
        pairs: positions of the rows of each leak.

    Returns:
        ``(groups, of_digest, of_pos)``: the groups ordered by root; the group of each
        digest group (by its index), and of each leaking row in no digest group.
    """
    from curate.dedup.cluster import UnionFind

    nodes = [
        Group(g.root, g.size, {k: list(v) for k, v in g.labels.items()}) for g in digest_groups
    ]
    node_of: dict[int, int] = {}
    for pos, (label, d) in sorted(leak_rows.items()):
        if d >= 0:
            node_of[pos] = d
        else:
            node_of[pos] = len(nodes)
            nodes.append(Group(pos, 1, {label: [1, pos]}))
    uf = UnionFind(len(nodes))
    for i, j in pairs:
        uf.union(node_of[i], node_of[j])
    comps = sorted(uf.groups().values(), key=lambda c: min(nodes[x].root for x in c))
    groups: list[Group] = []
    comp_of_node: dict[int, int] = {}
    for members in comps:
        merged = nodes[members[0]]
        for x in members[1:]:
            merged.add(nodes[x])
        if merged.size < 2:
            continue  # a lone row (a leak joins two rows of different groups: never here)
        for x in members:
            comp_of_node[x] = len(groups)
        groups.append(merged)
    of_digest = {d: comp_of_node[d] for d in range(len(digest_groups))}
    of_pos = {p: comp_of_node[x] for p, x in node_of.items() if x >= len(digest_groups)}
    return groups, of_digest, of_pos


def form_strata(
    single_labels: Counter[str], groups: Sequence[Group], min_stratum: int
) -> tuple[list[str], list[str], dict[str, int], np.ndarray]:
    """Strata as ``allocate`` forms them from singletons (their own label) and groups (their
    ``label()``), small ones pooled. Returns the names (sorted: stratum ids), the labels
    pooled, the stratum id of each singleton label and the stratum id of each group."""
    records: dict[str, int] = {}
    for label, k in single_labels.items():
        if k:
            records[label] = records.get(label, 0) + k
    glabels = [g.label() for g in groups]
    for g, label in zip(groups, glabels, strict=True):
        records[label] = records.get(label, 0) + g.size
    strata: dict[str, list[str]] = {x: [x] for x in records}
    pooled = pooled_labels(records, min_stratum)
    for k in pooled:
        strata.setdefault(POOLED, []).extend(strata.pop(k))
    names = sorted(strata)
    sid_of = {x: sid for sid, name in enumerate(names) for x in strata[name]}
    gsid = np.array([sid_of[x] for x in glabels], dtype=np.int64)
    return names, pooled, sid_of, gsid


def bounds_of(groups: Sequence[Group], gsid: np.ndarray, seed: int) -> dict[int, tuple]:
    """Per stratum id, its groups in ``allocate``'s visiting order: ``(keys, roots, index)``
    sorted by (order key, root)."""
    out: dict[int, tuple] = {}
    if not groups:
        return out
    roots = np.array([g.root for g in groups], dtype=np.int64)
    keys = np.array(order_keys(seed, roots.tolist()), dtype=np.uint64)
    for sid in np.unique(gsid).tolist():
        idx = np.flatnonzero(gsid == sid)
        order = idx[np.lexsort((roots[idx], keys[idx]))]
        out[sid] = (keys[order], roots[order], order)
    return out


def gaps_below(
    okey: np.ndarray, pos: np.ndarray, keys: np.ndarray, roots: np.ndarray
) -> np.ndarray:
    """For each singleton (``okey``, ``pos``), how many groups (``keys``, ``roots``, sorted
    by key then root) come before it in the visiting order: the gap it sits in."""
    lo = np.searchsorted(keys, okey, side="left")
    hi = np.searchsorted(keys, okey, side="right")
    for t in np.flatnonzero(hi > lo).tolist():  # a key shared: ties go by position
        lo[t] += int(np.count_nonzero(roots[lo[t] : hi[t]] < pos[t]))
    return lo.astype(np.int64)


def _walk(need: int, gaps: Sequence[int], sizes: Sequence[int], side: list[int]) -> tuple:
    """``allocate._take`` over singletons counted per gap and the free groups between them
    (``side`` 0): how many singletons it takes (the first ones) and which groups."""
    taken: list[int] = []
    singles = 0
    for k, gap in enumerate(gaps):
        got = min(gap, need)
        singles += got
        need -= got
        if k < len(sizes) and side[k] == TRAIN_CODE and sizes[k] <= need:
            taken.append(k)
            need -= sizes[k]
    if need > 0:
        # Every singleton is taken by now (one fits while need > 0): the rest are groups.
        rest = [k for k in range(len(sizes)) if side[k] == TRAIN_CODE and k not in taken]
        if rest:
            best = min(rest, key=sizes.__getitem__)
            if sizes[best] - need < need:
                taken.append(best)
    return singles, taken


def _without_first(gaps: Sequence[int], k: int) -> list[int]:
    out = []
    for gap in gaps:
        drop = min(gap, k)
        out.append(gap - drop)
        k -= drop
    return out


def draw_stratum(
    n: int, gaps: Sequence[int], sizes: Sequence[int], test_size: float, val_size: float
) -> tuple[str, int, int, list[int]]:
    """One stratum of ``allocate``: ``n`` records, ``sizes`` of its groups in visiting order
    and ``gaps`` (one more) the singletons before each group and after the last.

    Returns ``(status, test singletons, val singletons, side code of each group)``; the
    singletons taken are the first in order (test), then the next (val)."""
    side = [TRAIN_CODE] * len(sizes)
    if n < min_records(test_size):
        return "too_small", 0, 0, side
    t, taken = _walk(round_half_up(n * test_size), gaps, sizes, side)
    for k in taken:
        side[k] = TEST_CODE
    v, status = 0, "split"
    if val_size > 0:
        if n < min_records(val_size):
            status = "val_too_small"
        else:
            v, taken = _walk(round_half_up(n * val_size), _without_first(gaps, t), sizes, side)
            for k in taken:
                side[k] = VAL_CODE
    return status, t, v, side


# -- on the workers --------------------------------------------------------------------


def _prompt_keys(batch: dict[str, np.ndarray], *, parts: int) -> dict[str, np.ndarray]:
    """The rows having a prompt: its digest (two halves), position and shuffle partition."""
    m = batch["hasp"]
    h1 = batch["ph1"][m]
    return {
        "part": (h1 % np.uint64(parts)).astype(np.int64),
        "ph1": h1,
        "ph2": batch["ph2"][m],
        "pos": batch["pos"][m],
    }


def _repeats(group: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """One partition of the prompt digests: each digest held by more than one row, with its
    rows and first position."""
    h1, h2, pos = group["ph1"], group["ph2"], group["pos"]
    order = np.lexsort((pos, h2, h1))
    h1, h2, pos = h1[order], h2[order], pos[order]
    new = np.ones(h1.size, dtype=bool)
    new[1:] = (h1[1:] != h1[:-1]) | (h2[1:] != h2[:-1])
    starts = np.flatnonzero(new)
    sizes = np.diff(np.append(starts, h1.size))
    keep = sizes > 1
    s = starts[keep]
    return {"ph1": h1[s], "ph2": h2[s], "n": sizes[keep].astype(np.int64), "first": pos[s]}


def group_of(batch: dict[str, np.ndarray], tables: dict[str, Any]) -> np.ndarray:
    """Each row's group (-1: a singleton): by its prompt digest, else by its position."""
    n = batch["pos"].size
    grp = np.full(n, -1, dtype=np.int64)
    dig, by_pos = tables["digest"], tables["pos"]
    if dig:
        got = [
            dig.get((a, b), -1)
            for a, b in zip(batch["ph1"].tolist(), batch["ph2"].tolist(), strict=True)
        ]
        grp = np.where(batch["hasp"], np.array(got, dtype=np.int64), -1)
    if by_pos:
        for t in np.flatnonzero(np.isin(batch["pos"], list(by_pos))).tolist():
            grp[t] = by_pos[int(batch["pos"][t])]
    return grp


def _member_labels(batch: dict[str, np.ndarray], *, tables: dict[str, Any]) -> dict:
    """Per (digest group, label) of this block: ``[rows, first position]``, pickled."""
    import pickle

    grp = group_of(batch, tables)
    out: dict[tuple[int, str], list[int]] = {}
    for t in np.flatnonzero(grp >= 0).tolist():
        p = int(batch["pos"][t])
        got = out.setdefault((int(grp[t]), batch["label"][t]), [0, p])
        got[0] += 1
        got[1] = min(got[1], p)
    return {"state": np.array([pickle.dumps(out)], dtype=object)}


def _gap_counts(
    batch: dict[str, np.ndarray], *, sid_of: dict[str, int], tables: dict[str, Any], bounds: dict
) -> dict[str, np.ndarray]:
    """This block's singletons counted per (stratum, gap between its groups)."""
    single = group_of(batch, tables) < 0
    sid = np.array([sid_of[x] for x in batch["label"][single].tolist()], dtype=np.int64)
    okey, pos = batch["okey"][single], batch["pos"][single]
    gap = np.zeros(sid.size, dtype=np.int64)
    for s in np.unique(sid).tolist():
        if s in bounds:
            m = sid == s
            gap[m] = gaps_below(okey[m], pos[m], bounds[s][0], bounds[s][1])
    width = 1 + max((b[0].size for b in bounds.values()), default=0)
    code, count = np.unique(sid * width + gap, return_counts=True)
    return {"sid": code // width, "gap": code % width, "n": count.astype(np.int64)}
