"""Allocate whole groups to test / val / train, stratum by stratum, hitting exact shares.

Rules (documented in docs/split.md):
- A group belongs to the stratum most of its members are in (ties: its first record's).
- A stratum with fewer than ``ceil(1 / test_size)`` records cannot give test even one record
  in proportion; it goes wholly to train and is reported with status ``too_small``. Likewise
  a stratum too small for ``val_size`` gives val nothing (``val_too_small``).
- Otherwise test gets ``round(n * test_size)`` records: groups are visited in a seeded
  shuffle and taken while they fit, so singletons fill the last places and the count lands
  on the target (within one record whenever the stratum has enough small groups).
- When its groups are too large for that, the stratum is reported with status
  ``off_target`` (the counts and the target are both in the report), never silently.
- Before all that, strata with fewer than ``min_stratum`` records are pooled into one
  stratum, ``<other>`` (listed in its report's ``pooled``): 69 strata of 3 records would each
  go wholly to train, so test would miss its share by far; pooled, they give it their share.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

TRAIN, VAL, TEST = "train", "val", "test"
POOLED = "<other>"


@dataclass(slots=True)
class StratumReport:
    stratum: str
    records: int
    groups: int
    status: str = "split"
    counts: dict[str, int] = field(default_factory=dict)
    target: dict[str, float] = field(default_factory=dict)
    members: list[int] = field(default_factory=list, repr=False)
    pooled: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {
            "stratum": self.stratum,
            "records": self.records,
            "groups": self.groups,
            "status": self.status,
            **{side: self.counts.get(side, 0) for side in (TRAIN, VAL, TEST)},
            "target": {k: round(v, 3) for k, v in self.target.items()},
        }
        if self.pooled:
            out["pooled"] = self.pooled
        return out


def round_half_up(x: float) -> int:
    return math.floor(x + 0.5)


def min_records(share: float) -> int:
    """Smallest stratum that can give ``share`` of itself at least one record."""
    return math.ceil(1 / share - 1e-9) if share > 0 else 0


def _order_key(seed: int, root: int) -> bytes:
    # A seeded hash of the group's first record, not a permutation: merging two groups (the
    # leakage repair) moves only the merged group, the rest keep their places in the draw.
    return hashlib.blake2b(f"{seed}:{root}".encode(), digest_size=8).digest()


def order_keys(seed: int, roots: Sequence[int]) -> list[int]:
    """``_order_key`` of each root as an unsigned int (big-endian, so the ints sort as the
    byte strings do): what the Ray engine's workers compare (``curate.engine.ray_split``)."""
    return [int.from_bytes(_order_key(seed, int(r)), "big") for r in roots]


def _take(groups: list[list[int]], need: int) -> tuple[list[list[int]], list[list[int]]]:
    """Greedy pick of groups (in the given order) whose sizes add up to ``need``."""
    taken, rest = [], []
    for g in groups:
        if len(g) <= need:
            taken.append(g)
            need -= len(g)
        else:
            rest.append(g)
    if need > 0 and rest:
        # Nothing small enough left: overshoot with the smallest group if that is closer.
        best = min(rest, key=len)
        if len(best) - need < need:
            rest.remove(best)
            taken.append(best)
    return taken, rest


def allocate(
    labels: Sequence[str],
    groups: dict[int, list[int]],
    test_size: float,
    val_size: float,
    seed: int,
    min_stratum: int = 0,
) -> tuple[list[str], list[StratumReport]]:
    """Side (``train``/``val``/``test``) per record index, and a report per stratum.

    Strata with fewer than ``min_stratum`` records are pooled into ``<other>`` first.
    """
    by_stratum: dict[str, list[list[int]]] = {}
    for root in sorted(groups):
        members = groups[root]
        # Most groups are one record (a Counter each cost ~1 s per 100k records).
        if len(members) == 1:
            label = labels[members[0]]
        else:
            label = Counter(labels[i] for i in members).most_common(1)[0][0]
        by_stratum.setdefault(label, []).append(members)
    pooled = pooled_labels({k: sum(map(len, g)) for k, g in by_stratum.items()}, min_stratum)
    for k in pooled:
        by_stratum.setdefault(POOLED, []).extend(by_stratum.pop(k))
    if pooled:
        by_stratum[POOLED].sort(key=lambda g: g[0])

    sides = [TRAIN] * len(labels)
    reports = []
    for label in sorted(by_stratum):
        glist = by_stratum[label]
        n = sum(len(g) for g in glist)
        rep = StratumReport(label, n, len(glist), pooled=pooled if label == POOLED else [])
        rep.target = {TEST: n * test_size, VAL: n * val_size}
        remaining = sorted(glist, key=lambda g: _order_key(seed, g[0]))
        if n < min_records(test_size):
            rep.status = "too_small"
        else:
            test, remaining = _take(remaining, round_half_up(n * test_size))
            for g in test:
                for i in g:
                    sides[i] = TEST
            if val_size > 0:
                if n < min_records(val_size):
                    rep.status = "val_too_small"
                else:
                    val, remaining = _take(remaining, round_half_up(n * val_size))
                    for g in val:
                        for i in g:
                            sides[i] = VAL
        for g in glist:
            rep.members.extend(g)
            for i in g:
                rep.counts[sides[i]] = rep.counts.get(sides[i], 0) + 1
        mark_off_target(rep)
        reports.append(rep)
    return sides, reports


def pooled_labels(records: Mapping[str, int], min_stratum: int) -> list[str]:
    """The strata (by record count) pooled into ``<other>``, sorted: those under
    ``min_stratum``, when there are two or more of them (one small stratum alone gains
    nothing from pooling with itself) and more than one stratum in all."""
    if min_stratum <= 1 or len(records) <= 1:
        return []
    small = sorted(k for k, n in records.items() if n < min_stratum)
    return small if len(small) > 1 else []


def mark_off_target(rep: StratumReport) -> None:
    """Status ``off_target`` when whole groups could not land within one record of a share."""
    if rep.status == "split" and any(
        abs(rep.counts.get(side, 0) - rep.target[side]) > 1
        for side in (TEST, VAL)
        if rep.target[side] > 0
    ):
        rep.status = "off_target"


def share_report(
    sides: Sequence[str],
    test_size: float,
    val_size: float,
    tolerance: float,
    pooled: int,
) -> dict[str, object]:
    """Achieved share of each held-out side against its target, over the whole set.

    A side is ``off_target`` when its count misses ``n * share`` by more than one record and
    by more than ``tolerance * n`` records (strata pushed wholly to train, big groups).
    """
    return share_counts(Counter(sides), len(sides), test_size, val_size, tolerance, pooled)


def share_counts(
    counts: Mapping[str, int],
    n: int,
    test_size: float,
    val_size: float,
    tolerance: float,
    pooled: int,
) -> dict[str, object]:
    """``share_report`` from the count of records per side (``n`` in all): a split whose
    records are not in memory (the Ray engine's) reports the same figures."""
    out: dict[str, object] = {"records": n, "tolerance": tolerance, "pooled_strata": pooled}
    off = False
    for side, share in ((TEST, test_size), (VAL, val_size)):
        if share <= 0:
            continue
        got = counts.get(side, 0)
        miss = abs(got - n * share)
        side_off = n > 0 and miss > max(1.0, tolerance * n)
        off = off or side_off
        out[side] = {
            "target": share,
            "achieved": round(got / n, 4) if n else 0.0,
            "records": got,
            "target_records": round(n * share, 1),
            "off_target": side_off,
        }
    out["off_target"] = off
    return out
