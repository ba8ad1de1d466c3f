"""``curate run --engine ray``: the split's semantic leakage check, on the workers.

Local ``curate run`` checks the split with dedup's ``SemanticCheck`` (``Engine._recheck``):
dedup searched every kept row exactly, so two kept rows are a semantic pair only where a
neighbour list was cut off; those rows are searched again, each for its best match on the
other side, centred on dedup's mean. Ray's semantic dedup searched exactly inside k-means
partitions (SemDeDup, ``RayDedup.semantic``), so kept rows of one partition are settled the
same way. Here the rows of both sides are put in dedup's partitions again (its centroids and
mean, ``RayDedup.partitioning``) and, inside each, every row of side ``a`` looks up its best
match on side ``b`` and every row of ``b`` its best on ``a`` (local's two ``best_matches``
calls; a row whose list was not cut off has no valid pair, so querying every row finds what
querying the cut-off ones finds). Each pair's cosine is recomputed as local does (float32
einsum of the centred unit rows, capped at 1), then the threshold, the unseen texts, the slot
guard and the best match per side-``a`` row are applied on the workers: only the leaks come
to the driver.

Up to ``PARTITION_ROWS`` kept rows dedup used one partition, and this is local's check. Above,
a row's best match is looked up in its partitions only (one or two), as dedup's search was.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np

from curate.engine.ray_rows import _collect, _log


@dataclass(frozen=True)
class SemanticLeaks:
    """Side-``a`` rows with a semantic duplicate on side ``b``: positions in the split's
    input (``pos_a``, ascending; ``pos_b`` the match) and their cosine."""

    pos_a: np.ndarray
    pos_b: np.ndarray
    cos: np.ndarray

    def __len__(self) -> int:
        return int(self.pos_a.size)

    def pairs(self) -> list[tuple[int, int]]:
        return list(zip(self.pos_a.tolist(), self.pos_b.tolist(), strict=True))


def _pair_rows(
    batch: dict[str, np.ndarray], *, a: int, b: int, centroids: np.ndarray, mean: Any
) -> dict[str, np.ndarray]:
    """The rows of sides ``a`` and ``b`` with a key text, in dedup's partitions
    (``ray_udfs._assign``: a boundary row in its two nearest)."""
    from curate.engine.ray_udfs import _assign

    side = batch["side"]
    m = np.asarray(batch["nonempty"], dtype=bool) & ((side == a) | (side == b))
    cols = ("pos", "side", "vec", "unseen", "source", "line", "text_line", "data")
    rows = {c: batch[c][m] for c in cols}
    rows["idx"] = rows["pos"]  # what ``_assign`` counts rows by
    return _assign(rows, centroids=centroids, mean=mean)


def _cross_leaks(group: dict[str, np.ndarray], *, config: Any, mean: Any, a: int, b: int) -> dict:
    """One partition's leaks: each side's rows' best match on the other side, then the
    threshold, the unseen texts, the slot guard, as ``Engine._matches`` applies them. Rows
    ``(pos_a, pos_b, cos, rank)``: ``rank`` orders ties as local's list of pairs does (side
    ``a``'s queries first, then ``b``'s by position)."""
    from curate.dedup.normalize import key_text
    from curate.dedup.semantic import _column_argmax, centered_on
    from curate.dedup.slots import Slots, texts_differ
    from curate.engine.ray_rows import _records

    empty = {
        "pos_a": np.zeros(0, np.int64),
        "pos_b": np.zeros(0, np.int64),
        "cos": np.zeros(0, np.float64),
        "rank": np.zeros(0, np.int64),
    }
    if "pos" not in group or not len(group["pos"]):
        return empty
    order = np.argsort(group["pos"], kind="stable")
    group = {k: v[order] for k, v in group.items()}
    ia = np.flatnonzero(group["side"] == a)
    ib = np.flatnonzero(group["side"] == b)
    if not ia.size or not ib.size:
        return empty
    vecs = np.array(group["vec"], dtype=np.float32)  # a copy, centred in place
    vecs = vecs.reshape(len(order), -1)
    if mean is not None:
        vecs = centered_on(vecs, mean, in_place=True)
    va, vb = vecs[ia], vecs[ib]
    threshold, _ = config.semantic_settings()
    # Local's two searches (``best_matches``: each column's best row, the first on ties):
    # a's rows against b, then b's rows against a.
    qa = np.arange(ia.size)
    best_b = _column_argmax(vb @ va.T)
    qb = np.arange(ib.size)
    best_a = _column_argmax(va @ vb.T)
    ka = np.concatenate((qa, best_a))
    kb = np.concatenate((best_b, qb))
    # The cosine as ``best_matches`` computes it: the query row first.
    cos = np.concatenate(
        (
            np.einsum("ij,ij->i", va, vb[best_b]),
            np.einsum("ij,ij->i", vb, va[best_a]),
        )
    ).astype(np.float64)
    cos = np.minimum(cos, 1.0)
    pos = group["pos"].astype(np.int64)
    rank = np.concatenate((np.zeros(qa.size, np.int64), 1 + pos[ib]))  # b's queries in order
    ok = cos >= threshold
    unseen = np.asarray(group["unseen"], dtype=bool)
    ok &= ~unseen[ia[ka]] & ~unseen[ib[kb]]
    if config.slot_guard and ok.any():
        # Only the rows of pairs over the threshold are parsed (sized by leaks).
        @functools.cache
        def text(k: int) -> str:
            one = {c: group[c][k : k + 1] for c in ("source", "line", "text_line", "data")}
            return key_text(_records({"idx": group["pos"][k : k + 1], **one})[0], config.key)

        parse = functools.cache(Slots)  # one parse per distinct text

        for t in np.flatnonzero(ok).tolist():
            ok[t] = not texts_differ(text(int(ia[ka[t]])), text(int(ib[kb[t]])), parse)
    return {
        "pos_a": pos[ia[ka[ok]]],
        "pos_b": pos[ib[kb[ok]]],
        "cos": cos[ok],
        "rank": rank[ok],
    }


def semantic_leaks(eng: Any, sided: Any, a: str, b: str) -> SemanticLeaks:
    """Side-``a`` rows of ``sided`` (the split's rows, with ``vec``, ``unseen`` and
    ``side``) whose best semantic match on side ``b`` is a duplicate by dedup's rule, found
    in dedup's partitions (``eng.partitioning``, set by its semantic step)."""
    from curate.engine.ray_rows import SIDES

    cfg = eng.config.dedup
    mean, centroids = eng.partitioning
    ca, cb = SIDES.index(a), SIDES.index(b)
    parted = sided.map_batches(
        _pair_rows,
        batch_format="numpy",
        fn_kwargs={"a": ca, "b": cb, "centroids": centroids, "mean": mean},
    )
    found = parted.groupby("part", num_partitions=eng.parts).map_groups(
        _cross_leaks,
        batch_format="numpy",
        fn_kwargs={"config": cfg, "mean": mean, "a": ca, "b": cb},
    )
    got = _collect(found, ["pos_a", "pos_b", "cos", "rank"])
    leaks = best_per_row(got)
    _log(f"semantic leak check {a}~{b}: {len(leaks)} at or above")
    return leaks


def best_per_row(got: dict[str, np.ndarray]) -> SemanticLeaks:
    """Each side-``a`` row's best pair (highest cosine; ties as local's list orders them,
    then the lower side-``b`` position): a boundary row's pairs from its two partitions."""
    pa = np.asarray(got["pos_a"], dtype=np.int64)
    pb = np.asarray(got["pos_b"], dtype=np.int64)
    cos = np.asarray(got["cos"], dtype=np.float64)
    rank = np.asarray(got["rank"], dtype=np.int64)
    if not pa.size:
        z = np.zeros(0, np.int64)
        return SemanticLeaks(z, z, np.zeros(0))
    order = np.lexsort((pb, rank, -cos, pa))
    first = np.r_[True, pa[order][1:] != pa[order][:-1]]
    pick = order[first]
    return SemanticLeaks(pa[pick], pb[pick], cos[pick])
