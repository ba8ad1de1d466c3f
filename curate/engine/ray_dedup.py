"""The exact, near and semantic dedup of the Ray engine (``RayDedup``); see ``ray_stages``."""

from __future__ import annotations

import logging
import os
import pickle
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from curate.dedup.cluster import keep_walk
from curate.dedup.engine import CENTRE_MIN_ROWS
from curate.dedup.semantic import faiss_threads
from curate.engine.ray_rows import (
    BATCH,
    PARTITION_ROWS,
    _add_idx,
    _collect,
    _front_shard,
    _log,
    _only,
    block_count,
    row_ids,
)
from curate.engine.ray_udfs import (
    _assign,
    _band_rows,
    _block_hashes,
    _block_sets,
    _block_span,
    _bucket_pairs,
    _carried_bands,
    _components,
    _digest_part,
    _Embed,
    _exact_part,
    _pair_jaccard,
    _pair_pieces,
    _pair_requests,
    _search_partition,
    _seen_rows,
    _unit_centered,
    _unseen_count,
    _vec_sum,
    _with_bands,
)
from curate.errors import ConfigError, InputError
from curate.records import ReadStats, Record

if TYPE_CHECKING:
    from curate.engine.ray_stages import _Written


@dataclass(slots=True)
class Prepared:
    """What the Ray engine hands back to ``curate run``: the records that survived dedup."""

    # A list, ``ray_split.Rows`` (left on the workers), or for ``curate dedup`` only the
    # count of the records the workers wrote (``ray_stages._Written``).
    kept: Sequence[Record] | _Written
    embeddings: np.ndarray | None
    dres: Any
    read_stats: ReadStats
    converter: Any
    refs: dict[int, tuple[str, int]]  # cluster member -> (record id, line), for --clusters
    areport: Any = None  # curate run: the audit of ``kept``, merged from the workers
    sres: Any = None  # curate run: the split drawn and written on the workers (ray_split)


# -- the driver side -------------------------------------------------------------------------


@dataclass(slots=True)
class _Removed:
    """Rows one method removed, as arrays in row-id order: each removed row's id, its
    keeper's id and its similarity to the keeper (24 bytes a removed row; as dicts these
    were ~0.2 KB each on the driver)."""

    method: str
    ids: np.ndarray
    keep: np.ndarray
    sim: np.ndarray

    @classmethod
    def of(cls, method: str, ids: Any, keep: Any, sim: Any) -> _Removed:
        """From parallel sequences in any order (a removed row appears once)."""
        ids = np.asarray(ids, dtype=np.int64)
        order = np.argsort(ids, kind="stable")
        return cls(
            method,
            ids[order],
            np.asarray(keep, dtype=np.int64)[order],
            np.asarray(sim, dtype=np.float64)[order],
        )

    @classmethod
    def none(cls, method: str) -> _Removed:
        return cls.of(method, [], [], [])

    def __len__(self) -> int:
        return int(self.ids.size)

    def clusters(self) -> int:
        """How many keepers (one per cluster)."""
        return int(np.unique(self.keep).size)


class RayDedup:
    """Runs front + dedup for one input on a connected Ray; see the module docstring."""

    def __init__(self, ray: Any, config: Any, work: Path | None) -> None:
        import ray.data

        self.ray = ray
        self.config = config
        self.work = work
        # Ray Data logs every finished dataset (and its own settings) on stderr; curate
        # prints its own progress lines, and errors reach the user as one line.
        logging.getLogger("ray.data").setLevel(logging.ERROR)
        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = False
        ctx.print_on_execution_start = False
        # Task-based sort shuffles: no long-lived aggregator actors to start per operation.
        ctx.shuffle_strategy = ray.data.context.ShuffleStrategy.SORT_SHUFFLE_PULL_BASED
        cpus = int(ray.cluster_resources().get("CPU", 1))
        self.parts = max(2, 2 * cpus)
        self.gpus = int(ray.cluster_resources().get("GPU", 0))
        self.slot_rejected = 0
        # near: whole connected components removed, one kept (the audit's duplicate share,
        # as local ``find_duplicates(whole_components=True)``); else ``keep_walk``.
        self.whole_components = False
        self.unseen = 0  # rows the semantic step left out: the model cannot see their text
        self.too_few_to_centre = 0
        # The semantic step's (mean, k-means centroids), for the split's leakage check
        # (``ray_leaks``); None until it has centred and partitioned the rows.
        self.partitioning: tuple[Any, np.ndarray] | None = None
        self.mode = "run"
        self.keep_bands = False
        self.bands: Any = None
        self.carry_bands = False  # near: add the band keys to the rows (see ``near``)
        self.banded: Any = None

    # front -----------------------------------------------------------------------------

    def front(
        self, paths: list[str], mode: str = "run", primed: tuple | None = None
    ) -> tuple[Any, list[tuple]]:
        self.mode = mode
        import ray.data

        for sub in ("rejects", "stats"):
            (self.work / sub).mkdir(parents=True, exist_ok=True)
        items = [{"shard": i, "path": p} for i, p in enumerate(paths)]
        ds = ray.data.from_items(items, override_num_blocks=len(items))
        shards = ds.map_batches(
            _front_shard,
            batch_size=1,
            fn_kwargs={
                "work": str(self.work),
                "config": self.config,
                "cwd": os.getcwd(),
                "mode": mode,
                "primed": primed,
            },
        ).materialize()
        summaries = [
            pickle.loads((self.work / "stats" / f"{i:08d}.pkl").read_bytes())
            for i in range(len(paths))
        ]
        for s in summaries:
            if s[0] == "error":  # the first bad shard, in shard order
                raise (ConfigError if s[1] == "ConfigError" else InputError)(s[2])
        counts = np.array([s[4] for s in summaries], dtype=np.int64)
        offsets = np.concatenate(([0], np.cumsum(counts)[:-1])).astype(np.int64)
        base = shards.map_batches(
            _add_idx,
            batch_format="numpy",
            fn_kwargs={"offsets": offsets, "keep": self.config.dedup.keep},
        )
        # Few big shards: their blocks are split so every CPU (and embedding actor) has work;
        # many small ones are put together (``block_count``), in order.
        blocks = block_count(shards.num_blocks(), shards.size_bytes(), self.parts)
        if blocks != shards.num_blocks() and int(counts.sum()) > 0:
            base = base.repartition(blocks)
        return base.materialize(), summaries

    # exact -----------------------------------------------------------------------------

    def exact(self, ds: Any) -> _Removed:
        """One shuffle: rows with the same digest meet in one partition, which keeps the
        lowest rank (the keep policy) of each digest and names the others' keeper."""
        found = (
            ds.select_columns(["digest", "rank", "idx"])
            .map_batches(_digest_part, batch_format="numpy", fn_kwargs={"parts": self.parts})
            .groupby("part", num_partitions=self.parts)
            .map_groups(_exact_part, batch_format="numpy")
        )
        rem = _collect(found, ["idx", "keep"])
        return _Removed.of("exact", rem["idx"], rem["keep"], np.ones(rem["idx"].size))

    # near ------------------------------------------------------------------------------

    def near(self, ds: Any, band_rows: Any = None) -> _Removed:
        """``band_rows``: the rows' LSH band keys when already computed (the run's, reused
        by the audit's duplicate share); else computed here (and kept in ``self.bands``
        when ``self.keep_bands``)."""
        cfg = self.config.dedup
        if band_rows is None and self.carry_bands:
            # The rows keep their band keys as columns (``self.banded``, the caller's next
            # ``alive``): the split's leakage check reuses them instead of hashing again.
            ds = self.banded = ds.map_batches(
                _with_bands, batch_format="numpy", batch_size=BATCH, fn_kwargs={"config": cfg}
            ).materialize()
            band_rows = ds.select_columns(["idx", "bk", "bok"]).map_batches(
                _carried_bands, batch_format="numpy", fn_kwargs={"parts": self.parts}
            )
            if self.keep_bands:
                band_rows = self.bands = band_rows.materialize()
        if band_rows is None:
            band_rows = ds.map_batches(
                _band_rows,
                batch_format="numpy",
                batch_size=BATCH,
                fn_kwargs={"config": cfg, "parts": self.parts},
            )
            if self.keep_bands:
                band_rows = self.bands = band_rows.materialize()
        cand = band_rows.groupby("part", num_partitions=self.parts).map_groups(
            _bucket_pairs, batch_format="numpy"
        )
        # The candidate pairs stay on the workers (uniqued, routed and verified there); only
        # the duplicate edges come back, sized by duplicates, not by candidates or rows.
        pair_refs = cand.to_arrow_refs()
        del cand  # its plan caches the blocks: _verify_refs frees each once it is consumed
        got = self._verify_refs(ds, pair_refs, cfg.near_threshold)
        _log(f"near: {got['n']} candidate pairs verified, {got['i'].size} at or above")
        if got["i"].size == 0:
            return _Removed.none("near")
        if not self.whole_components:
            lengths = lambda ids: self._lengths(ds, ids, cfg.keep)  # noqa: E731
            # Kept rows with a removed neighbour in common, verified on the workers.
            check = lambda a, b: self._verify(ds, np.stack((a, b), axis=1))  # noqa: E731
            ms, ks, sim = keep_walk(
                got["i"], got["j"], got["jac"], cfg.keep, lengths, check, cfg.near_threshold
            )
            return _Removed.of("near", ms, ks, sim)
        members, first = _components(got["i"], got["j"])
        if not members.size:
            return _Removed.none("near")
        ms, ks = _keepers(members, first, self._lengths(ds, members, cfg.keep), cfg.keep)
        del members, first
        # Each removed row's similarity to its keeper: looked up among the edges (sorted
        # codes, no per-pair dict); pairs not among them (a keeper reached through the
        # component) are verified now.
        lo, hi = np.minimum(ms, ks), np.maximum(ms, ks)
        width = int(max(got["i"].max(), got["j"].max(), hi.max())) + 1
        codes = got["i"] * width + got["j"]
        order = np.argsort(codes)
        known, jac = codes[order], got["jac"][order]
        del codes, order, got
        want = lo * width + hi
        at = np.minimum(np.searchsorted(known, want), known.size - 1)
        hit = known[at] == want
        sims = np.where(hit, jac[at], np.nan)
        if not hit.all():
            extra, inv = np.unique(want[~hit], return_inverse=True)
            found = self._verify(ds, np.stack((extra // width, extra % width), axis=1))
            sims[~hit] = found[inv]
        # Python's round (decimal, as the local engine rounds), not numpy's.
        return _Removed.of("near", ms, ks, [round(x, 6) for x in sims.tolist()])

    def _verify(self, ds: Any, pairs: np.ndarray) -> np.ndarray:
        """True Jaccard of the given pairs, in their order, computed on the workers; for
        pair lists sized by duplicates: the near pass's removed rows and keepers that are
        not among its edges (its own candidates, and the split's leakage check, go through
        ``_verify_refs`` without coming here). Each pair is verified and looked up as
        given, in either order (``i > j`` too)."""
        pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
        if pairs.shape[0] == 0:
            return np.zeros(0, dtype=np.float64)
        got = self._verify_refs(ds, [self.ray.put(pairs)], None)
        n = int(pairs.max()) + 1
        codes = got["i"] * n + got["j"]
        order = np.argsort(codes, kind="stable")
        at = order[np.searchsorted(codes, pairs[:, 0] * n + pairs[:, 1], sorter=order)]
        return np.asarray(got["jac"], dtype=np.float64)[at]

    def _verify_refs(self, ds: Any, pair_refs: list, threshold: float | None) -> dict:
        """True Jaccard of the candidate pairs in ``pair_refs`` (blocks of ``i``, ``j`` in
        the object store) over the rows of ``ds`` (materialized), as Ray tasks: a shuffle
        join (see ``ray_udfs``) whose pairs never pass through the driver. Returns the pairs
        at or above ``threshold`` (all with None) with their Jaccard, and ``n`` verified.

        The driver holds object refs only: blocks of pairs x partitions, partitions x
        groups of row blocks (at most P groups). It drops each step's refs as soon as the
        next step's tasks are submitted (``pair_refs`` is emptied), so the candidate pairs
        are in the object store about once (a pending task keeps its arguments alive), not
        once per step until the end.
        """
        ray, p = self.ray, self.parts
        rows = ds.to_arrow_refs()  # zero-copy: the materialized blocks themselves
        if not rows or not pair_refs:
            z = np.zeros(0, dtype=np.int64)
            return {"i": z, "j": z, "jac": np.zeros(0), "n": 0}
        spans = np.array(ray.get([self._task(_block_span).remote(r) for r in rows]), np.int64)
        # Blocks of rows in at most P groups of neighbouring row ids: P x P routed pieces,
        # not P x blocks (a big cluster has many more blocks than partitions).
        groups = np.array_split(np.argsort(spans[:, 0], kind="stable"), min(len(rows), p))
        gspans = np.array([_group_span(spans[g]) for g in groups], dtype=np.int64)
        split = self._task(_pair_pieces, p)
        pieces = [split.remote(r, p) for r in pair_refs]
        pair_refs.clear()
        if p == 1:
            pieces = [[x] for x in pieces]
        ask = self._task(_pair_requests, 1 + len(groups))
        asked = [ask.remote(gspans, *[pc[k] for pc in pieces]) for k in range(p)]
        del pieces
        # The shingle sets are computed where each row block lives (_block_hashes), so only
        # the sets cross nodes, not the rows; a task per group cuts them per partition.
        hashes_of = self._task(_block_hashes)
        sets_of = self._task(_block_sets, p)
        sent = []
        for x, g in enumerate(groups):
            asks = [a[1 + x] for a in asked]
            hashed = [hashes_of.remote(self.config.dedup, rows[t], *asks) for t in g.tolist()]
            sent.append(sets_of.remote(len(g), *hashed, *asks))
        heads = [a[0] for a in asked]  # each partition's uniqued pairs
        del asked, asks, hashed
        if p == 1:
            sent = [[x] for x in sent]
        jac = self._task(_pair_jaccard)
        futures = [jac.remote(heads[k], threshold, *[s[k] for s in sent]) for k in range(p)]
        del heads, sent
        done = ray.get(futures)
        del futures
        return {
            "i": np.concatenate([d["i"] for d in done]).astype(np.int64),
            "j": np.concatenate([d["j"] for d in done]).astype(np.int64),
            "jac": np.concatenate([d["jac"] for d in done]).astype(np.float64),
            "n": sum(d["n"] for d in done),
        }

    def _task(self, fn: Any, returns: int = 1) -> Any:
        # Plain Ray tasks (retried when a node dies, objects rebuilt from lineage, as Ray
        # Data's own); ``num_returns`` > 1 lets each piece go to its consumer directly.
        return self.ray.remote(fn).options(num_returns=returns, max_retries=3)

    def _lengths(self, ds: Any, ids: np.ndarray, policy: str) -> np.ndarray:
        """The key text's length of each row of ``ids``, in their order (0 for a row not
        found; zeros without asking the workers for the ``first`` policy, which ignores
        them)."""
        if policy == "first":
            return np.zeros(ids.size, dtype=np.int64)
        got = _collect(
            ds.select_columns(["idx", "klen"]).map_batches(
                _only, batch_format="numpy", fn_kwargs={"ids": row_ids(np.sort(ids), self.work)}
            ),
            ["idx", "klen"],
        )
        return _lookup(got["idx"], got["klen"], ids)

    # semantic --------------------------------------------------------------------------

    def embed(self, ds: Any) -> Any:
        from ray.data import ActorPoolStrategy

        cfg = self.config.dedup
        cpus = int(self.ray.cluster_resources().get("CPU", 1))
        size = max(1, min(self.gpus or min(cpus, 4), ds.num_blocks()))
        return ds.map_batches(
            _Embed,
            batch_format="numpy",
            batch_size=256,
            compute=ActorPoolStrategy(size=size),
            fn_constructor_kwargs={
                "model": cfg.model,
                "side": cfg.key,
                "cache_dir": cfg.cache_dir,
                "key_text": self.mode == "read",
                "gpu": bool(self.gpus),
            },
            num_gpus=1 if self.gpus else 0,
        ).materialize()

    def semantic(self, ds: Any, n: int) -> _Removed:
        cfg = self.config.dedup
        _, center = cfg.semantic_settings()
        # As the local engine: rows whose text the model cannot see are left out (their
        # vectors neither in the centre nor in a pair).
        counts = ds.select_columns(["unseen"]).map_batches(_unseen_count, batch_format="numpy")
        got = _collect(counts, ["n"])
        self.unseen = int(got["n"].sum())
        if self.unseen:
            ds = ds.map_batches(_seen_rows, batch_format="numpy")
            n -= self.unseen
        if center and n < CENTRE_MIN_ROWS:  # as the local engine (its comment)
            self.too_few_to_centre = n
            return _Removed.none("semantic")
        mean = self._centre(ds) if center else None
        k = max(1, -(-n // PARTITION_ROWS))
        centroids = np.zeros((1, 1), np.float32)
        if k > 1:
            centroids = self._kmeans(ds, k, n, mean)
        self.partitioning = (mean, centroids)
        parted = ds.map_batches(
            _assign, batch_format="numpy", fn_kwargs={"centroids": centroids, "mean": mean}
        )
        found = parted.groupby("part", num_partitions=self.parts).map_groups(
            _search_partition, batch_format="numpy", fn_kwargs={"config": cfg, "mean": mean}
        )
        got = _collect(found, ["i", "j", "cos"])
        if got["i"].size == 0:
            return _Removed.none("semantic")
        # A pair seen in two partitions (a boundary row) is one edge.
        width = int(max(got["i"].max(), got["j"].max())) + 1
        codes, first = np.unique(got["i"] * width + got["j"], return_index=True)
        cos = got["cos"][first]
        self.slot_rejected += int((cos < 0).sum())
        codes = codes[cos >= 0]
        i, j = codes // width, codes % width
        members = np.unique(np.concatenate((i, j)))
        # Each edge's similarity as the local engine computes it (float32 dot of the
        # centred vectors): the members' vectors, sized by duplicates, come to the driver.
        got_v = _collect(
            ds.select_columns(["idx", "vec"]).map_batches(
                _only, batch_format="numpy", fn_kwargs={"ids": members}
            ),
            ["idx", "vec"],
        )
        vec = _unit_centered(np.asarray(got_v["vec"], dtype=np.float32), mean)
        # Each member's row in ``vec`` (the members, in the order they came back).
        row_of = {x: k for k, x in enumerate(got_v["idx"].tolist())}

        def cosines(a: list[int], b: list[int]) -> np.ndarray:
            return np.array(
                [
                    float(min(1.0, float(np.dot(vec[row_of[x]], vec[row_of[y]]))))
                    for x, y in zip(a, b, strict=True)
                ],
                dtype=np.float64,
            )

        def check(a: np.ndarray, b: np.ndarray) -> np.ndarray:
            # Kept rows with a removed neighbour in common: their cosine, and the slot guard
            # on the pairs over the threshold (their records, sized by duplicates, come here).
            got = cosines(a.tolist(), b.tolist())
            over = got >= threshold
            if cfg.slot_guard and over.any():
                ok = _same_slots(ds, a[over], b[over], cfg.key)
                got[np.flatnonzero(over)[~ok]] = -1.0
            return got

        threshold, _ = cfg.semantic_settings()
        sim = cosines(i.tolist(), j.tolist())
        lengths = lambda ids: self._lengths(ds, ids, cfg.keep)  # noqa: E731
        ms, ks, got_sim = keep_walk(i, j, sim, cfg.keep, lengths, check, threshold)
        return _Removed.of("semantic", ms, ks, got_sim)

    def _centre(self, ds: Any) -> np.ndarray:
        """The mean vector, its partial sums added in row order (``_vec_sum``)."""
        sums = _collect(
            ds.select_columns(["idx", "vec"]).map_batches(_vec_sum, batch_format="numpy"),
            ["sum", "n", "first"],
        )
        part = sums["sum"].reshape(-1, sums["sum"].shape[-1])[
            np.argsort(sums["first"], kind="stable")
        ]
        total = np.zeros(part.shape[-1], dtype=np.float64)
        for row in part:  # one at a time, in row order: the same bits in every run
            total += row
        return (total / max(1, int(sums["n"].sum()))).astype(np.float32)

    def _kmeans(self, ds: Any, k: int, n: int, mean: Any) -> np.ndarray:
        """Centroids from a seeded sample (at most 64 rows per centroid) on the driver."""
        want = min(n, 64 * k)
        frac = want / max(n, 1)
        cut = int(frac * (1 << 32))

        def pick(batch: dict[str, np.ndarray]) -> dict:
            h = (batch["idx"].astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(32)
            m = h < np.uint64(cut)
            return {"idx": batch["idx"][m], "vec": batch["vec"][m]}

        got = _collect(
            ds.select_columns(["idx", "vec"]).map_batches(pick, batch_format="numpy"),
            ["idx", "vec"],
        )
        # In row order: the tasks finish in any order, and faiss's k-means depends on it.
        sample = got["vec"][np.argsort(got["idx"], kind="stable")]
        sample = np.asarray(sample, dtype=np.float32).reshape(-1, sample.shape[-1])
        sample = _unit_centered(sample, mean)
        k = min(k, max(1, sample.shape[0] // 4))
        # faiss's k-means depends on its thread count: limited as the local search is, so the
        # driver's CPU count does not move the partitions.
        with faiss_threads() as faiss:
            seed = self.config.dedup.seed
            km = faiss.Kmeans(sample.shape[1], k, niter=20, seed=seed, spherical=True)
            km.train(np.ascontiguousarray(sample))
        return km.centroids.astype(np.float32)


def _group_span(spans: np.ndarray) -> tuple[int, int]:
    """The row-id span of a group of blocks (``(1, 0)``: no rows)."""
    full = spans[spans[:, 0] <= spans[:, 1]]
    return (int(full[:, 0].min()), int(full[:, 1].max())) if full.size else (1, 0)


def _lookup(keys: np.ndarray, values: np.ndarray, want: np.ndarray) -> np.ndarray:
    """``values`` at ``keys`` (unique, any order) for each of ``want``; 0 where absent."""
    keys, values = np.asarray(keys, dtype=np.int64), np.asarray(values, dtype=np.int64)
    out = np.zeros(np.asarray(want).size, dtype=np.int64)
    if keys.size:
        order = np.argsort(keys, kind="stable")
        at = np.minimum(np.searchsorted(keys, want, sorter=order), keys.size - 1)
        hit = keys[order[at]] == want
        out[hit] = values[order[at[hit]]]
    return out


def _keepers(
    members: np.ndarray, first: np.ndarray, lengths: np.ndarray, policy: str
) -> tuple[np.ndarray, np.ndarray]:
    """Each component's keeper by the keep policy, as ``choose_keep`` decides it (the
    first member; or the longest / shortest of ``lengths``, ties to the earliest), over
    ``_components``' arrays (``lengths``: each member's, beside it): (removed row ids,
    their keepers), in component order, members in row order."""
    members, first = np.asarray(members, np.int64), np.asarray(first, np.int64)
    if policy == "first" or not members.size:
        keeper = first
    else:
        sign = -1 if policy == "longest" else 1
        rank = sign * np.asarray(lengths, dtype=np.int64)
        # Members are grouped by ``first`` (sorted); inside each group the best
        # (rank, row) comes first.
        best = np.lexsort((members, rank, first))
        starts = np.flatnonzero(np.r_[True, first[1:] != first[:-1]])
        sizes = np.diff(np.r_[starts, first.size])
        keeper = np.repeat(members[best[starts]], sizes)
    removed = members != keeper
    return members[removed], keeper[removed]


def _same_slots(ds: Any, a: np.ndarray, b: np.ndarray, key: str) -> np.ndarray:
    """Whether each pair of rows ``a[k]``, ``b[k]`` passes the slot guard, as
    ``ray_udfs._search_partition`` decides it (their records come to the driver)."""
    from curate.dedup.normalize import key_text
    from curate.dedup.slots import Slots, different_slots
    from curate.engine.ray_rows import _records
    from curate.reader import chat_view

    cols = ["idx", "source", "line", "data", "text_line"]
    ids = np.unique(np.concatenate((a, b)))
    got = _collect(
        ds.select_columns(cols).map_batches(_only, batch_format="numpy", fn_kwargs={"ids": ids}),
        cols,
    )
    slots = {
        int(i): Slots(key_text(chat_view(r), key))
        for i, r in zip(got["idx"].tolist(), _records(got), strict=True)
    }
    pairs = zip(a.tolist(), b.tolist(), strict=True)
    return np.array([not different_slots(slots[x], slots[y]) for x, y in pairs], dtype=bool)


def _refs(ds: Any, ids: np.ndarray) -> dict[int, tuple[str, int]]:
    """(record id, line) of the given rows: what the dedup rejects and clusters name."""
    got = _collect(
        ds.select_columns(["idx", "rid", "line"]).map_batches(
            _only, batch_format="numpy", fn_kwargs={"ids": ids}
        ),
        ["idx", "rid", "line"],
    )
    return {
        int(i): (str(r), int(n))
        for i, r, n in zip(
            got["idx"].tolist(), got["rid"].tolist(), got["line"].tolist(), strict=True
        )
    }
