"""``curate run`` / ``dedup`` stages on Ray Data, with the answers of the local engine.

The rows live in Ray's object store (spread over the nodes, spilled to disk when needed);
the driver holds only per-shard counters and lists whose size is the number of *duplicates*
(keepers, removed ids, candidate pairs), never the number of rows:

* **front**: one task per shard runs the local ``read -> convert -> validate -> filter``
  (``curate.pipeline.stages.front``) and writes that shard's rejects and counters to the work
  folder; the driver concatenates them in shard order, so ``rejects.jsonl`` is byte for byte
  what the local engine writes. Each kept row gets its global index (the position the local
  engine gives it) from the per-shard counts.
* **exact**: a hash aggregation (``groupby(digest)`` with ``count`` and ``min(rank)``, where
  the rank encodes the keep policy), so each duplicate text's keeper is found in one shuffle.
* **near**: MinHash signatures and LSH band keys in ``map_batches`` (the library's own
  ``curate.dedup.near`` code and seed), band buckets by a shuffle on the key, candidate pairs
  formed inside each bucket exactly as the local code does, then each pair verified on the
  workers (a join of the pairs with the rows' shingle sets) and connected components over
  the verified edges on the driver.
* **semantic**: an embedding actor pool (one model load per actor), k-means partitions of the
  vectors, exact search and clustering inside each partition (the SemDeDup recipe).
"""

from __future__ import annotations

import logging
import os
import pickle
import shutil
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from curate.engine.ray_rows import (
    BATCH,
    PARTITION_ROWS,
    WORK,
    _add_idx,
    _collect,
    _curate_error,
    _front_shard,
    _log,
    _only,
    _record,
    _records,
    _without,
)
from curate.engine.ray_udfs import (
    _assign,
    _band_rows,
    _bucket_pairs,
    _components,
    _digest_part,
    _Embed,
    _exact_part,
    _routed_sets,
    _search_partition,
    _unit_centered,
    _vec_sum,
    _verify_part,
)
from curate.errors import ConfigError, CurateError, InputError
from curate.records import ReadStats, Record


@dataclass(slots=True)
class Prepared:
    """What the Ray engine hands back to ``curate run``: the records that survived dedup."""

    kept: list[Record]
    embeddings: np.ndarray | None
    dres: Any
    read_stats: ReadStats
    converter: Any
    refs: dict[int, tuple[str, int]]  # cluster member -> (record id, line), for --clusters
    areport: Any = None  # curate run: the audit of ``kept``, merged from the workers


# -- the driver side -------------------------------------------------------------------------


@dataclass(slots=True)
class _Removed:
    """Rows one method removed: id -> (keeper id, similarity to the keeper)."""

    method: str
    keep: dict[int, int]
    sim: dict[int, float]


class RayDedup:
    """Runs front + dedup for one input on a connected Ray; see the module docstring."""

    def __init__(self, ray: Any, config: Any, work: Path) -> None:
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
        self.mode = "run"

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
        if shards.num_blocks() < self.parts and int(counts.sum()) > 0:
            # Few big shards: split their blocks so every CPU (and embedding actor) has work.
            base = base.repartition(self.parts)
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
        keep = dict(zip(rem["idx"].tolist(), rem["keep"].tolist(), strict=True))
        return _Removed("exact", keep, dict.fromkeys(keep, 1.0))

    # near ------------------------------------------------------------------------------

    def near(self, ds: Any) -> _Removed:
        cfg = self.config.dedup
        band_rows = ds.map_batches(
            _band_rows,
            batch_format="numpy",
            batch_size=BATCH,
            fn_kwargs={"config": cfg, "parts": self.parts},
        )
        cand = band_rows.groupby("part", num_partitions=self.parts).map_groups(
            _bucket_pairs, batch_format="numpy"
        )
        got = _collect(cand, ["i", "j"])
        if got["i"].size == 0:
            return _Removed("near", {}, {})
        # The candidate list (16 bytes a pair) is the one thing on the driver that grows
        # with the number of duplicates; its unique pairs go back to the workers.
        n = int(max(got["i"].max(), got["j"].max())) + 1
        codes = np.unique(got["i"] * n + got["j"])
        pairs = np.stack((codes // n, codes % n), axis=1)
        jac = self._verify(ds, pairs)
        edges = pairs[jac >= cfg.near_threshold]
        groups = _components(edges)
        if not groups:
            return _Removed("near", {}, {})
        members = np.array(sorted({m for g in groups for m in g}), dtype=np.int64)
        lengths = self._lengths(ds, members) if cfg.keep != "first" else {}
        from curate.dedup.cluster import choose_keep

        keep: dict[int, int] = {}
        for g in groups:
            k = choose_keep(g, _LenLookup(lengths), cfg.keep)
            for m in g:
                if m != k:
                    keep[m] = k
        known = {
            (int(a), int(b)): float(s)
            for (a, b), s in zip(pairs.tolist(), jac.tolist(), strict=True)
        }
        need = sorted({(min(m, k), max(m, k)) for m, k in keep.items()} - set(known))
        if need:
            extra = np.array(need, dtype=np.int64)
            known.update(
                {
                    (int(a), int(b)): float(s)
                    for (a, b), s in zip(
                        extra.tolist(), self._verify(ds, extra).tolist(), strict=True
                    )
                }
            )
        sim = {m: round(known[(min(m, k), max(m, k))], 6) for m, k in keep.items()}
        return _Removed("near", keep, sim)

    def _verify(self, ds: Any, pairs: np.ndarray) -> np.ndarray:
        """True Jaccard of each pair, computed on the workers.

        A hand-rolled shuffle join: each row in some pair sends its shingle set to the
        partitions (``i % P``) of its pairs; each partition verifies its own pairs.
        """
        route: dict[int, set[int]] = {}
        for a, b in pairs.tolist():
            part = a % self.parts
            route.setdefault(a, set()).add(part)
            route.setdefault(b, set()).add(part)
        routes = {i: sorted(p) for i, p in route.items()}
        sets = ds.map_batches(
            _routed_sets,
            batch_format="numpy",
            batch_size=BATCH,
            fn_kwargs={"config": self.config.dedup, "route": routes},
        )
        found = sets.groupby("part", num_partitions=self.parts).map_groups(
            _verify_part, batch_format="pyarrow", fn_kwargs={"pairs": pairs, "parts": self.parts}
        )
        got = _collect(found, ["i", "j", "jac"])
        n = int(pairs.max()) + 1
        order = {c: k for k, c in enumerate((got["i"] * n + got["j"]).tolist())}
        return np.array([got["jac"][order[a * n + b]] for a, b in pairs.tolist()], dtype=np.float64)

    def _lengths(self, ds: Any, ids: np.ndarray) -> dict[int, int]:
        got = _collect(
            ds.select_columns(["idx", "klen"]).map_batches(
                _only, batch_format="numpy", fn_kwargs={"ids": ids}
            ),
            ["idx", "klen"],
        )
        return dict(zip(got["idx"].tolist(), got["klen"].tolist(), strict=True))

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
        mean = None
        if center:
            sums = _collect(
                ds.select_columns(["vec"]).map_batches(_vec_sum, batch_format="numpy"), ["sum", "n"]
            )
            total = sums["sum"].reshape(-1, sums["sum"].shape[-1]).sum(axis=0)
            mean = (total / max(1, int(sums["n"].sum()))).astype(np.float32)
        k = max(1, -(-n // PARTITION_ROWS))
        centroids = np.zeros((1, 1), np.float32)
        if k > 1:
            centroids = self._kmeans(ds, k, n, mean)
        parted = ds.map_batches(
            _assign, batch_format="numpy", fn_kwargs={"centroids": centroids, "mean": mean}
        )
        found = parted.groupby("part", num_partitions=self.parts).map_groups(
            _search_partition, batch_format="numpy", fn_kwargs={"config": cfg, "mean": mean}
        )
        got = _collect(found, ["i", "j", "cos"])
        if got["i"].size == 0:
            return _Removed("semantic", {}, {})
        # A pair seen in two partitions (a boundary row) is one edge.
        width = int(max(got["i"].max(), got["j"].max())) + 1
        codes, first = np.unique(got["i"] * width + got["j"], return_index=True)
        cos = got["cos"][first]
        self.slot_rejected += int((cos < 0).sum())
        codes = codes[cos >= 0]
        edges = np.stack((codes // width, codes % width), axis=1)
        groups = _components(edges)
        members = np.array(sorted({m for g in groups for m in g}), dtype=np.int64)
        lengths = self._lengths(ds, members) if cfg.keep != "first" else {}
        from curate.dedup.cluster import choose_keep

        keep: dict[int, int] = {}
        for g in groups:
            k = choose_keep(g, _LenLookup(lengths), cfg.keep)
            keep.update({m: k for m in g if m != k})
        # Similarity to the keeper as the local engine computes it (float32 dot of the
        # centred vectors): the members' vectors, sized by duplicates, come to the driver.
        got_v = _collect(
            ds.select_columns(["idx", "vec"]).map_batches(
                _only, batch_format="numpy", fn_kwargs={"ids": members}
            ),
            ["idx", "vec"],
        )
        vec = _unit_centered(np.asarray(got_v["vec"], dtype=np.float32), mean)
        row = {i: t for t, i in enumerate(got_v["idx"].tolist())}
        sim = {
            m: round(float(min(1.0, float(np.dot(vec[row[m]], vec[row[k]])))), 6)
            for m, k in keep.items()
        }
        return _Removed("semantic", keep, sim)

    def _kmeans(self, ds: Any, k: int, n: int, mean: Any) -> np.ndarray:
        """Centroids from a seeded sample (at most 64 rows per centroid) on the driver."""
        import faiss

        want = min(n, 64 * k)
        frac = want / max(n, 1)
        cut = int(frac * (1 << 32))

        def pick(batch: dict[str, np.ndarray]) -> dict:
            h = (batch["idx"].astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(32)
            m = h < np.uint64(cut)
            return {"vec": batch["vec"][m]}

        sample = _collect(
            ds.select_columns(["idx", "vec"]).map_batches(pick, batch_format="numpy"), ["vec"]
        )["vec"]
        sample = np.asarray(sample, dtype=np.float32).reshape(-1, sample.shape[-1])
        sample = _unit_centered(sample, mean)
        k = min(k, max(1, sample.shape[0] // 4))
        km = faiss.Kmeans(sample.shape[1], k, niter=20, seed=self.config.dedup.seed, spherical=True)
        km.train(np.ascontiguousarray(sample))
        return km.centroids.astype(np.float32)


class _LenLookup:
    """``lengths[m]`` for ``choose_keep`` over a dict (only the members' lengths are known)."""

    def __init__(self, lengths: dict[int, int]) -> None:
        self.lengths = lengths

    def __getitem__(self, i: int) -> int:
        return self.lengths.get(i, 0)


def _rows(ds: Any, ids: np.ndarray) -> dict[int, dict[str, Any]]:
    got = _collect(
        ds.select_columns(["idx", "source", "line", "text_line", "data", "rid"]).map_batches(
            _only, batch_format="numpy", fn_kwargs={"ids": ids}
        ),
        ["idx", "source", "line", "text_line", "data", "rid"],
    )
    return {int(i): {k: got[k][t] for k in got} for t, i in enumerate(got["idx"].tolist())}


def _prime(paths: list[str], config: Any) -> tuple | None:
    """(format, detected_from, votes) as the local engine's ``Converter.prime`` decides them
    over the first records of the whole input (shards in order); None when the format is
    given, fields are mapped, or no early record has a known shape (then each shard decides
    from its first recognisable record)."""
    import itertools

    from curate.formats import SAMPLE, Converter
    from curate.records import RecordReader

    if config.convert.fmt is not None or config.convert.field_map() is not None:
        return None

    def head() -> Any:
        for p in paths:
            yield from RecordReader(p)

    conv = Converter()
    list(conv.prime(itertools.islice(head(), SAMPLE)))
    if conv.fmt is None:
        return None
    return conv.fmt, conv.detected_from, sorted(conv.votes.items())


def read_dedup(
    path: str, staging: Path, sink: Any, config: Any, validator: Any, mode: str = "run"
) -> Prepared:
    """``curate run``'s read -> convert -> validate -> filter -> dedup on Ray.

    ``mode="read"`` (``curate dedup``): no conversion, validation or filter; only the lines
    that do not parse are rejected before dedup.
    """
    from curate.engine import ray_session
    from curate.engine.shards import expand

    paths = expand(path)
    if "-" in paths:
        raise ConfigError("--engine ray reads files (its workers cannot see stdin); give a path")
    work = (staging / WORK).absolute()
    try:
        with ray_session(config.run.ray_address) as ray:
            return _read_dedup(ray, paths, work, sink, config, validator, mode)
    except CurateError:
        raise
    except Exception as exc:
        err = _curate_error(exc)
        if err is not None:
            raise err from None
        raise
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _read_dedup(
    ray: Any, paths: list[str], work: Path, sink: Any, config: Any, validator: Any, mode: str
) -> Prepared:
    from curate.dedup.cluster import Cluster
    from curate.dedup.config import REASONS
    from curate.dedup.engine import DedupResult
    from curate.dedup.exact import STAGE
    from curate.engine.merge import merge_converters, merge_validator
    from curate.engine.shards import merge_read_stats
    from curate.stage import Dropped, StageResult

    eng = RayDedup(ray, config, work)
    _log(f"{len(paths)} shard(s) on {eng.parts // 2} CPU(s), {eng.gpus} GPU(s)")
    primed = _prime(paths, config) if mode == "run" else None
    base, summaries = eng.front(paths, mode, primed)
    read_stats = ReadStats()
    for i, (stats, vstate, _conv, by_stage, _n) in enumerate(summaries):
        merge_read_stats(read_stats, stats)
        merge_validator(validator, vstate)
        for k, v in by_stage.items():
            sink.by_stage[k] += v
        sink.fh.write((work / "rejects" / f"{i:08d}.jsonl").read_bytes())
    converter = merge_converters([s[2] for s in summaries], config.convert.fmt)
    if primed:
        converter.votes = dict(primed[2])
    n_in = int(sum(s[4] for s in summaries))
    _log(f"{read_stats.records + read_stats.bad_lines} input records, {n_in} after front")

    cfg = config.dedup
    alive = base
    removed: list[_Removed] = []
    gone = np.zeros(0, dtype=np.int64)
    embedded = False
    for method in cfg.methods:
        if method == "semantic":
            alive = eng.embed(alive)
            embedded = True
            n_alive = n_in - gone.size
            r = eng.semantic(alive, n_alive)
        elif method == "near":
            r = eng.near(alive)
        else:
            r = eng.exact(alive)
        removed.append(r)
        _log(f"{method}: removed {len(r.keep)}")
        if r.keep:
            gone = np.union1d(gone, np.fromiter(r.keep, dtype=np.int64))
            alive = alive.map_batches(
                _without, batch_format="numpy", fn_kwargs={"removed": gone}
            ).materialize()
    if config.run.semantic and not embedded and n_in:
        alive = eng.embed(alive)

    # Drops, exactly as curate.dedup.engine.dedup words them.
    keeper_of = {m: r.keep[m] for r in removed for m in r.keep}

    def survivor(i: int) -> int:
        while i in keeper_of:
            i = keeper_of[i]
        return i

    need = set(keeper_of) | set(keeper_of.values()) | {survivor(k) for k in keeper_of.values()}
    rows = _rows(base, np.array(sorted(need), dtype=np.int64)) if need else {}
    drops: dict[int, Dropped] = {}
    clusters_n: dict[str, int] = {m: 0 for m in cfg.methods}
    removed_n: dict[str, int] = {m: 0 for m in cfg.methods}
    for r in removed:
        clusters_n[r.method] = len(set(r.keep.values()))
        removed_n[r.method] = len(r.keep)
        for m, k in r.keep.items():
            sim = round(r.sim[m], 4)
            final = str(rows[survivor(k)]["rid"])
            extra: dict[str, Any] = {"duplicate_of": final, "similarity": sim}
            if survivor(k) != k:
                extra["via"] = str(rows[k]["rid"])
            extra["method"] = r.method
            drops[m] = Dropped(
                _record(rows[m]),
                STAGE,
                REASONS[r.method],
                f"duplicate_of={final} similarity={sim}",
                extra,
            )
    dropped = [drops[i] for i in sorted(drops)]
    _log("collecting the kept records")

    kept: list[Record] = []
    vecs: list[np.ndarray] = []
    cols = ["idx", "source", "line", "text_line", "data"] + (
        ["vec"] if embedded or (config.run.semantic and n_in) else []
    )
    for batch in (
        alive.select_columns(cols).sort("idx").iter_batches(batch_format="numpy", batch_size=8192)
    ):
        kept.extend(_records(batch))
        if "vec" in batch:
            vecs.append(np.asarray(batch["vec"], dtype=np.float32))
    embeddings = np.concatenate(vecs) if vecs else None
    if embeddings is not None and not config.run.semantic:
        embeddings = None
    areport = None
    if mode == "run":
        from curate.engine.ray_audit import audit_kept

        _log("auditing the kept records on the workers")
        a = config.audit
        shared = a.embed_side == cfg.key and a.model == cfg.model
        areport = audit_kept(
            ray, alive, gone, len(kept), a, eng.parts, embeddings if shared else None
        )
    reasons = Counter(d.reason for d in dropped)
    stats: dict[str, Any] = {
        "n_in": n_in,
        "n_out": len(kept),
        "removed": {**removed_n, "leaked": 0},
        "clusters": clusters_n,
        "leaks": 0,
        "reasons": {REASONS[m]: reasons[REASONS[m]] for m in cfg.methods if reasons[REASONS[m]]},
        "config": cfg.as_dict(),
        "engine": "ray",
    }
    if "semantic" in cfg.methods:
        stats["semantic_pairs_rejected_by_slot_guard"] = eng.slot_rejected
    clusters = []
    for r in removed:
        by_keep: dict[int, list[int]] = {}
        for m, k in r.keep.items():
            by_keep.setdefault(k, []).append(m)
        for k in sorted(by_keep, key=lambda k: min([k, *by_keep[k]])):
            members = tuple(sorted([k, *by_keep[k]]))
            sims = tuple(1.0 if m == k else r.sim[m] for m in members)
            clusters.append(Cluster(r.method, members, k, sims))
    refs = {i: (str(row["rid"]), int(row["line"])) for i, row in rows.items()}
    dres = DedupResult(StageResult(kept=kept, dropped=dropped, stats=stats), clusters)
    return Prepared(kept, embeddings, dres, read_stats, converter, refs, areport)
