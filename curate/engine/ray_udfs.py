"""The dedup functions that run on Ray workers: exact, near (MinHash) and semantic."""

from __future__ import annotations

from typing import Any

import numpy as np

from curate.engine.ray_rows import BORDER, IDX_MASK, _records
from curate.records import Record

# -- dedup helpers ---------------------------------------------------------------------------


def _digest_part(batch: dict[str, np.ndarray], *, parts: int) -> dict:
    part = np.array([int(d[:12], 16) % parts for d in batch["digest"].tolist()], dtype=np.int64)
    return {**batch, "part": part}


def _exact_part(group: dict[str, np.ndarray]) -> dict:
    """Within one shuffle partition: every row whose digest has a lower-ranked row."""
    digests = group["digest"].astype(str)
    order = np.lexsort((group["rank"], digests))  # by digest, then keep rank
    d, rank, idx = digests[order], group["rank"][order], group["idx"][order]
    first = np.ones(len(d), dtype=bool)
    first[1:] = d[1:] != d[:-1]
    run_start = np.maximum.accumulate(np.where(first, np.arange(len(d)), 0))
    keeper = rank[run_start] & IDX_MASK
    removed = ~first
    return {"idx": idx[removed].astype(np.int64), "keep": keeper[removed].astype(np.int64)}


def _words(records: list[Record], config: Any) -> list[bytes]:
    from curate.dedup.normalize import key_text
    from curate.reader import chat_view

    norm = config.normalizer
    return [norm.words(key_text(chat_view(r), config.key)) for r in records]


def _band_keys(batch: dict[str, np.ndarray], config: Any) -> tuple[np.ndarray, np.ndarray]:
    """Each row's LSH band keys (rows x bands, uint64) and whether it has any shingle."""
    from curate.dedup.near import _Q, U64, _mix64, shingle_hashes, signatures

    hashes, offsets = shingle_hashes(_words(_records(batch), config), config.shingle_size)
    sig = signatures(hashes, offsets, config.num_perm, config.seed)
    usable = np.diff(offsets) > 0
    rows = config.num_perm // config.bands
    keys = np.zeros((len(usable), config.bands), dtype=U64)
    for b in range(config.bands):
        key = sig[:, b * rows].astype(U64)
        for r in range(1, rows):
            key = key * _Q + sig[:, b * rows + r].astype(U64)
        keys[:, b] = _mix64(key + U64(b))
    return usable, keys


def _explode(ids: np.ndarray, keys: np.ndarray, parts: int, orig: np.ndarray | None = None) -> dict:
    """One row per (row, band): the shuffle's input (``_bucket_pairs`` groups by ``part``);
    with ``orig`` (the split's leakage check) each row's id in the run's rows rides along."""
    from curate.dedup.near import U64

    nb = keys.shape[1] if keys.ndim == 2 else 0
    bkey = np.ascontiguousarray(keys.T).reshape(-1) if nb else np.zeros(0, U64)
    out = {
        "band": np.repeat(np.arange(nb, dtype=np.int64), ids.size),
        "bkey": bkey,
        "idx": np.tile(ids, nb),
        "part": (bkey % U64(parts)).astype(np.int64),
    }
    if orig is not None:
        out["orig"] = np.tile(np.asarray(orig, dtype=np.int64), nb)
    return out


def _orig(batch: dict[str, np.ndarray], m: np.ndarray) -> np.ndarray | None:
    return batch["orig"][m] if "orig" in batch else None


def _band_rows(batch: dict[str, np.ndarray], *, config: Any, parts: int) -> dict:
    usable, keys = _band_keys(batch, config)
    return _explode(batch["idx"][usable], keys[usable], parts, _orig(batch, usable))


def _with_bands(batch: dict[str, np.ndarray], *, config: Any) -> dict:
    """The rows with their band keys as columns (``bk``, ``bok``), carried along so the
    split's leakage check bands the kept rows without hashing them again."""
    usable, keys = _band_keys(batch, config)
    return {**batch, "bk": keys, "bok": usable}


def _carried_bands(batch: dict[str, np.ndarray], *, parts: int) -> dict:
    ok = np.asarray(batch["bok"], dtype=bool)
    keys = np.asarray(batch["bk"]).reshape(len(ok), -1)
    return _explode(batch["idx"][ok], keys[ok], parts, _orig(batch, ok))


def _bucket_pairs(group: dict[str, np.ndarray], *, across: int | None = None) -> dict:
    """Candidate pairs inside one shuffle partition: the local ``candidate_pairs`` rule.

    ``across`` (the split's leakage check, whose ``idx`` is a row's place in side ``a``
    then side ``b``): only the pairs with one row on each side (places below ``across``
    are side ``a``), named by their ``orig`` ids, the ids ``RayDedup._verify_refs`` reads
    the rows by; so they go on to be verified without passing through the driver."""
    from curate.dedup.near import BUCKET_WINDOW

    found = []
    for b in np.unique(group["band"]).tolist():
        m = group["band"] == b
        keys, ids = group["bkey"][m], group["idx"][m]
        order = np.lexsort((ids, keys))  # by key, ties by input order (a stable argsort)
        ks, ii = keys[order], ids[order]
        oo = group["orig"][m][order] if across is not None else ii
        for d in range(1, BUCKET_WINDOW + 1):
            same = np.flatnonzero(ks[:-d] == ks[d:])
            if same.size == 0:
                break
            if across is not None:
                # ids ascend within a key, so the first of a pair is the side-a one
                same = same[(ii[same] < across) & (ii[same + d] >= across)]
            found.append(np.stack((oo[same], oo[same + d]), axis=1))
    pairs = np.concatenate(found) if found else np.zeros((0, 2), np.int64)
    # A near copy shares most of its bands with its twin: the same pair is found once per
    # shared band. Send each pair once per bucket partition (the verification's partitions
    # unique across them, ``_pair_requests``), so the pairs shuffled are not ~bands times
    # the candidates.
    pairs = np.unique(pairs.astype(np.int64), axis=0)
    return {"i": pairs[:, 0], "j": pairs[:, 1]}


# -- near verification: a shuffle join in Ray tasks (nothing per pair on the driver) ---------
#
# The candidate pairs stay in the object store: (A) each block of pairs is split by the
# pair's partition ``i % P``; (B) each partition uniques its pairs and asks each block of
# rows (by the block's idx span) for the rows it needs; (C) each block of rows computes, on
# its node, the shingle sets of the rows asked for, and a task per group of blocks sends them
# to the partitions asking; (D) each partition computes
# the true Jaccard of its pairs. Only what (D) returns comes to the driver: the pairs at or
# above the threshold (the duplicate edges, sized by duplicates) and a count.


def _many(items: list[Any]) -> Any:
    # A task with ``num_returns=1`` returns its value itself, not a 1-tuple.
    return items[0] if len(items) == 1 else tuple(items)


def _pair_pieces(block: Any, parts: int) -> Any:
    """(A) One block of candidate pairs, cut into its partitions' pieces (``k x 2`` int64)."""
    if isinstance(block, np.ndarray):
        i, j = block[:, 0], block[:, 1]
    elif "i" not in block.column_names:  # an empty block of a shuffle
        i = j = np.zeros(0, np.int64)
    else:
        i = block.column("i").to_numpy().astype(np.int64)
        j = block.column("j").to_numpy().astype(np.int64)
    p = i % parts
    return _many([np.stack((i[p == k], j[p == k]), axis=1) for k in range(parts)])


def _block_span(block: Any) -> tuple[int, int]:
    if "idx" not in block.column_names:
        return (1, 0)
    idx = block.column("idx").to_numpy()
    return (int(idx.min()), int(idx.max())) if idx.size else (1, 0)


def _pair_requests(spans: np.ndarray, *pieces: np.ndarray) -> Any:
    """(B) One partition's unique pairs (sorted), then for each block of rows the sorted ids
    of its rows those pairs name."""
    got = [x for x in pieces if x.size]
    pairs = np.unique(np.concatenate(got), axis=0) if got else np.zeros((0, 2), np.int64)
    rows = np.unique(pairs)
    asks = [rows[(rows >= lo) & (rows <= hi)] for lo, hi in spans.tolist()]
    return _many([pairs, *asks])


def _block_hashes(config: Any, block: Any, *asks: np.ndarray) -> tuple:
    """(C1) Where one block of rows lives (the block is its big argument, so Ray runs the
    task on its node): the shingle sets of its rows that any partition asked for, as
    ``(ids, offsets, flat sorted unique hashes)``. Only these sets cross nodes, never the
    rows (their records, band keys or vectors)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from curate.dedup.near import shingle_hashes

    wanted = np.unique(np.concatenate(asks)) if asks else np.zeros(0, np.int64)
    empty = (np.zeros(0, np.int64), np.zeros(1, np.int64), np.zeros(0, np.uint64))
    if not wanted.size or "idx" not in block.column_names:
        return empty
    cols = ["idx", "source", "line", "text_line", "data"]
    tbl = block.select(cols).filter(pc.is_in(block.column("idx"), value_set=pa.array(wanted)))
    if tbl.num_rows == 0:
        return empty
    batch = {c: tbl.column(c).to_numpy(zero_copy_only=False) for c in cols}
    hashes, offsets = shingle_hashes(_words(_records(batch), config), config.shingle_size)
    chunks = [np.unique(hashes[offsets[t] : offsets[t + 1]]) for t in range(tbl.num_rows)]
    offs = np.zeros(len(chunks) + 1, np.int64)
    offs[1:] = np.cumsum([c.size for c in chunks])
    flat = np.concatenate(chunks).astype(np.uint64)
    return batch["idx"].astype(np.int64), offs, flat


def _block_sets(nblocks: int, *args: Any) -> Any:
    """(C2) A group of row blocks' shingle sets (``args``: the ``nblocks`` outputs of
    ``_block_hashes``, then one ask per partition), cut per partition: for each, ``(ids,
    offsets, flat sorted unique hashes)`` of the rows it asked for."""
    hashed, asks = args[:nblocks], args[nblocks:]
    sets: dict[int, np.ndarray] = {}
    for ids, offs, flat in hashed:
        for t, i in enumerate(ids.tolist()):
            sets[i] = flat[offs[t] : offs[t + 1]]
    out: list[Any] = []
    for ask in asks:
        mine = [i for i in ask.tolist() if i in sets]
        chunks = [sets[i] for i in mine]
        offs = np.zeros(len(mine) + 1, np.int64)
        offs[1:] = np.cumsum([c.size for c in chunks]) if chunks else []
        flat = np.concatenate(chunks) if chunks else np.zeros(0, np.uint64)
        out.append((np.array(mine, np.int64), offs, flat.astype(np.uint64)))
    return _many(out)


def _pair_jaccard(pairs: np.ndarray, threshold: float | None, *sets: tuple) -> dict:
    """(D) True Jaccard of one partition's pairs; with ``threshold`` only the pairs at or
    above it come back (``n``: how many were verified)."""
    from curate.dedup.near import jaccard_of

    of: dict[int, np.ndarray] = {}
    for ids, offs, flat in sets:
        for t, i in enumerate(ids.tolist()):
            of[i] = flat[offs[t] : offs[t + 1]]
    jac = np.array([jaccard_of(of[a], of[b]) for a, b in pairs.tolist()], dtype=np.float64)
    keep = jac >= threshold if threshold is not None else np.ones(jac.size, bool)
    return {"i": pairs[keep, 0], "j": pairs[keep, 1], "jac": jac[keep], "n": int(pairs.shape[0])}


def _components(i: np.ndarray, j: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Connected components (size >= 2) over the edges ``i[k]``--``j[k]``, as two arrays:
    every row in some component, sorted by (its component's first member, row), and that
    first member beside it (the component's id); the groups of a list of sorted member
    lists ordered by first member.

    A union-find in rounds over the arrays, on the rows in some edge (renumbered 0..m-1):
    each row's label starts as itself; every round hooks the larger label of each edge
    whose two labels differ to the smaller (``np.minimum.at``), then follows labels to
    their own label until none moves. A label is always a row of the same component no
    larger than the row, so once every edge's two rows share a label, it is the
    component's smallest row. 16 bytes a member are left, and transient arrays sized by
    the edges, not Python lists of the groups (a dict-based union-find was ~0.2 KB a
    member); numpy only: scipy's ``connected_components`` would do it, but importing it
    costs the driver ~32 MiB of resident memory.
    """
    i, j = np.asarray(i, dtype=np.int64), np.asarray(j, dtype=np.int64)
    nodes = np.unique(np.concatenate((i, j)))
    at = np.int32 if nodes.size < 2**31 else np.int64  # positions: 4 bytes an edge each
    a, b = np.searchsorted(nodes, i).astype(at), np.searchsorted(nodes, j).astype(at)
    label = np.arange(nodes.size, dtype=at)
    while True:
        la, lb = label[a], label[b]
        apart = la != lb
        if not apart.any():
            break
        la, lb = la[apart], lb[apart]
        np.minimum.at(label, np.maximum(la, lb), np.minimum(la, lb))
        while True:
            up = label[label]
            if np.array_equal(up, label):
                break
            label = up
    del a, b
    _, inverse, size = np.unique(label, return_inverse=True, return_counts=True)
    grouped = size[inverse] > 1
    del inverse
    first = nodes[label[grouped]]
    nodes = nodes[grouped]
    order = np.argsort(first, kind="stable")  # members stay sorted inside a component
    return nodes[order], first[order]


# -- semantic --------------------------------------------------------------------------------


class _Embed:
    """One embedding model per actor; adds a ``vec`` column (the dedup key text's vector,
    ``curate.dedup.normalize.key_text``, tools included: what the local engine embeds, for
    ``curate dedup`` and ``curate run`` alike) and an ``unseen`` one (the model cannot see most
    of the text: ``curate.embed.UNSEEN_SHARE``; left out of the semantic step).

    ``key_text``: the rows are as read (``curate dedup``: viewed as chat first); else they
    are canonical records already (``curate run``).
    """

    def __init__(
        self, model: str | None, side: str, cache_dir: Any, key_text: bool, gpu: bool = False
    ) -> None:
        from curate.embed import get_embedder

        # An actor given a GPU (num_gpus=1) sees it as cuda:0 (Ray sets CUDA_VISIBLE_DEVICES).
        self.embedder = get_embedder(model, cache_dir=cache_dir, device="cuda" if gpu else "cpu")
        self.side = side
        self.key_text = key_text

    def __call__(self, batch: dict[str, np.ndarray]) -> dict:
        from curate.dedup.normalize import key_text
        from curate.reader import chat_view

        view = chat_view if self.key_text else (lambda r: r)
        texts = [key_text(view(r), self.side) for r in _records(batch)]  # type: ignore[arg-type]
        if texts:
            vecs, unseen = self.embedder.encode_marked(texts)
        else:
            vecs, unseen = np.zeros((0, 1), np.float32), np.zeros(0, dtype=bool)
        return {**batch, "vec": np.asarray(vecs, dtype=np.float32), "unseen": unseen}


def _unseen_count(batch: dict[str, np.ndarray]) -> dict:
    return {"n": np.array([int(np.count_nonzero(batch["unseen"]))], dtype=np.int64)}


def _seen_rows(batch: dict[str, np.ndarray]) -> dict:
    keep = ~np.asarray(batch["unseen"], dtype=bool)
    return {k: v[keep] for k, v in batch.items()}


def _vec_sum(batch: dict[str, np.ndarray]) -> dict:
    """The batch's vector sum and count, named by its first row id: the driver adds the
    partial sums in row order, as the tasks finish in any order (float sums are not
    associative: the centre, hence the pairs, would move from run to run)."""
    v = batch["vec"]
    first = int(batch["idx"].min()) if v.shape[0] else -1
    return {
        "sum": v.sum(axis=0, dtype=np.float64)[None, :],
        "n": np.array([v.shape[0]]),
        "first": np.array([first], dtype=np.int64),
    }


def _unit_centered(v: np.ndarray, mean: Any) -> np.ndarray:
    """``curate.dedup.semantic.centered`` with a given mean (the whole set's, summed apart)."""
    if mean is None:
        return v
    c = v - mean
    return c / np.maximum(np.linalg.norm(c, axis=1, keepdims=True), np.float32(1e-12))


def _assign(batch: dict[str, np.ndarray], *, centroids: np.ndarray, mean: Any) -> dict:
    """Each row's nearest k-means partition, plus its second one when nearly as close.

    A row near a boundary is searched in both partitions, so a duplicate pair split by the
    boundary is still found (each pair is verified on its own; the driver unions them).
    """
    n = len(batch["idx"])
    if centroids.shape[0] < 2:
        return {**batch, "part": np.zeros(n, dtype=np.int64)}
    sims = _unit_centered(np.asarray(batch["vec"], dtype=np.float32), mean) @ centroids.T
    top = np.argsort(-sims, axis=1)[:, :2]
    rows = np.arange(n)
    second = sims[rows, top[:, 0]] - sims[rows, top[:, 1]] < BORDER
    take = np.concatenate((rows, rows[second]))
    part = np.concatenate((top[:, 0], top[second, 1])).astype(np.int64)
    return {**{k: v[take] for k, v in batch.items()}, "part": part}


def _search_partition(group: dict[str, np.ndarray], *, config: Any, mean: Any) -> dict:
    """Exact neighbour search and the slot guard inside one partition: its verified edges.

    Edges come back as global ids ``(i < j)`` with their cosine; pairs the slot guard turned
    down come back with cosine -1 (the driver counts them once).
    """
    from curate.dedup.engine import SCORE_MARGIN
    from curate.dedup.normalize import key_text
    from curate.dedup.semantic import semantic_search
    from curate.dedup.slots import Slots, different_slots
    from curate.reader import chat_view

    order = np.argsort(group["idx"], kind="stable")
    group = {k: v[order] for k, v in group.items()}
    vecs = _unit_centered(np.asarray(group["vec"], dtype=np.float32), mean)
    threshold, _ = config.semantic_settings()
    found = semantic_search(
        vecs, neighbours=config.neighbours, seed=config.seed, min_score=threshold - SCORE_MARGIN
    )
    pairs, sims = found.pairs, found.sims
    ok = sims >= threshold
    pairs, sims = pairs[ok], sims[ok]
    if config.slot_guard and pairs.size:
        recs = _records(group)
        slots: dict[int, Slots] = {}

        def s(k: int) -> Slots:
            if k not in slots:
                slots[k] = Slots(key_text(chat_view(recs[k]), config.key))
            return slots[k]

        guard = np.array([not different_slots(s(a), s(b)) for a, b in pairs.tolist()], bool)
        sims = np.where(guard, sims, -1.0)
    ids = group["idx"]
    return {
        "i": ids[pairs[:, 0]].astype(np.int64) if pairs.size else np.zeros(0, np.int64),
        "j": ids[pairs[:, 1]].astype(np.int64) if pairs.size else np.zeros(0, np.int64),
        "cos": np.asarray(sims, dtype=np.float64),
    }
