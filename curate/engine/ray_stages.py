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

import io
import logging
import os
import pickle
import shutil
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from curate.errors import ConfigError, CurateError, InputError
from curate.records import ReadStats, Record

IDX_BITS = 40  # global row index: up to 10^12 rows
IDX_MASK = (1 << IDX_BITS) - 1
LEN_CAP = (1 << 22) - 1  # key-text length folded into the keep rank (longer ones tie)
BATCH = 2048
PARTITION_ROWS = 4000  # semantic: rows per k-means partition searched exactly
BORDER = 0.05  # semantic: a row this close to its second centroid is searched there too
WORK = ".ray-work"


@dataclass(slots=True)
class Prepared:
    """What the Ray engine hands back to ``curate run``: the records that survived dedup."""

    kept: list[Record]
    embeddings: np.ndarray | None
    dres: Any
    read_stats: ReadStats
    converter: Any
    refs: dict[int, tuple[str, int]]  # cluster member -> (record id, line), for --clusters


# -- small helpers ---------------------------------------------------------------------------

_T0 = time.monotonic()


def _log(message: str) -> None:
    # Progress on stderr, with elapsed time, like ``curate run``'s own lines.
    sys.stderr.write(f"ray: [{time.monotonic() - _T0:7.1f}s] {message}\n")


def _atomic_bytes(path: Path, data: bytes) -> None:
    # A retried task rewrites its files: write aside, rename into place.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _record(row: dict[str, Any]) -> Record:
    return Record(
        str(row["source"]), int(row["line"]), orjson.loads(row["data"]), int(row["text_line"])
    )


def _records(batch: dict[str, np.ndarray]) -> list[Record]:
    n = len(batch["idx"])
    return [
        Record(
            str(batch["source"][k]),
            int(batch["line"][k]),
            orjson.loads(batch["data"][k]),
            int(batch["text_line"][k]),
        )
        for k in range(n)
    ]


def _collect(ds: Any, columns: list[str]) -> dict[str, np.ndarray]:
    """Small results (sized by duplicates, not rows) onto the driver as numpy columns."""
    parts: dict[str, list[np.ndarray]] = {c: [] for c in columns}
    for batch in ds.select_columns(columns).iter_batches(batch_format="numpy", batch_size=None):
        for c in columns:
            parts[c].append(np.asarray(batch[c]))
    return {c: (np.concatenate(v) if v else np.zeros(0, dtype=np.int64)) for c, v in parts.items()}


def _without(batch: dict[str, np.ndarray], removed: np.ndarray) -> dict[str, np.ndarray]:
    keep = ~np.isin(batch["idx"], removed)
    return {k: v[keep] for k, v in batch.items()}


def _only(batch: dict[str, np.ndarray], ids: np.ndarray) -> dict[str, np.ndarray]:
    keep = np.isin(batch["idx"], ids)
    return {k: v[keep] for k, v in batch.items()}


def _curate_error(exc: BaseException) -> CurateError | None:
    """The user-facing error a worker raised, unwrapped from Ray's exception chain."""
    seen = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, CurateError):
            return e
        todo += [e.__cause__, e.__context__, getattr(e, "cause", None)]
    return None


# -- front: read + convert + validate + filter, one task per shard ---------------------------


def _read_only(path: str, sink: Any) -> tuple[Iterator[Record], ReadStats, Any]:
    from curate.formats import Converter
    from curate.records import BadLine, RecordReader
    from curate.stage import unreadable

    reader = RecordReader(path)

    def gen() -> Iterator[Record]:
        for item in reader:
            if isinstance(item, BadLine):
                sink.drop(unreadable(item))
            else:
                yield item

    return gen(), reader.stats, Converter()


def _front_shard(batch: dict[str, np.ndarray], *, work: str, config: Any, mode: str = "run") -> Any:
    import pyarrow as pa

    from curate.dedup.exact import digest
    from curate.dedup.normalize import key_text
    from curate.engine.merge import validator_state
    from curate.pipeline.filters import make_filter
    from curate.pipeline.stages import RejectSink, front
    from curate.validate import Validator

    shard, path = int(batch["shard"][0]), str(batch["path"][0])
    v, d = config.validate, config.dedup
    validator = Validator(schema=v.schema, tokenizer=v.tokenizer, max_tokens=v.max_tokens)
    buf = io.BytesIO()
    sink = RejectSink(buf)
    if mode == "read":  # curate dedup: records as read, unreadable lines rejected
        stream, stats, conv = _read_only(path, sink)
    else:
        stream, stats, conv = front(
            path,
            sink,
            fmt=config.convert.fmt,
            validator=validator,
            filter_step=make_filter(config.filter),
        )
    cols: dict[str, list[Any]] = {
        k: []
        for k in ("shard", "pos", "source", "line", "text_line", "data", "rid", "digest", "klen")
    }
    root = Path(work)
    try:
        for pos, r in enumerate(stream):
            text = key_text(r, d.key)
            cols["shard"].append(shard)
            cols["pos"].append(pos)
            cols["source"].append(r.source)
            cols["line"].append(r.line)
            cols["text_line"].append(r.text_line)
            cols["data"].append(orjson.dumps(r.data))
            cols["rid"].append(str(r.id))
            cols["digest"].append(digest(d.normalizer.to_bytes(text)).hex())
            cols["klen"].append(len(text))
    except CurateError as exc:
        # Ray would wrap it in a traceback; hand the one-line error to the driver as data.
        cols = {k: [] for k in cols}
        summary: tuple = ("error", type(exc).__name__, str(exc))
    else:
        _atomic_bytes(root / "rejects" / f"{shard:08d}.jsonl", buf.getvalue())
        summary = (stats, validator_state(validator), conv, dict(sink.by_stage), len(cols["pos"]))
    _atomic_bytes(root / "stats" / f"{shard:08d}.pkl", pickle.dumps(summary))
    types = {
        "shard": pa.int64(),
        "pos": pa.int64(),
        "line": pa.int64(),
        "text_line": pa.int64(),
        "klen": pa.int64(),
        "data": pa.binary(),
    }
    return pa.table({k: pa.array(val, type=types.get(k, pa.string())) for k, val in cols.items()})


def _add_idx(batch: dict[str, np.ndarray], *, offsets: np.ndarray, keep: str) -> dict:
    idx = offsets[batch["shard"]] + batch["pos"]
    klen = np.minimum(batch["klen"], LEN_CAP)
    if keep == "longest":
        rank = ((LEN_CAP - klen) << IDX_BITS) | idx
    elif keep == "shortest":
        rank = (klen << IDX_BITS) | idx
    else:
        rank = idx
    return {**batch, "idx": idx.astype(np.int64), "rank": rank.astype(np.int64)}


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

    norm = config.normalizer
    folded = norm.whitespace or norm.punctuation
    out = []
    for r in records:
        b = norm.to_bytes(key_text(r, config.key))
        out.append(b if folded else b" ".join(b.split()))
    return out


def _band_rows(batch: dict[str, np.ndarray], *, config: Any, parts: int) -> dict:
    from curate.dedup.near import _Q, U64, _mix64, shingle_hashes, signatures

    hashes, offsets = shingle_hashes(_words(_records(batch), config), config.shingle_size)
    sig = signatures(hashes, offsets, config.num_perm, config.seed)
    usable = np.diff(offsets) > 0
    ids, sub = batch["idx"][usable], sig[usable]
    rows = config.num_perm // config.bands
    bands, keys = [], []
    for b in range(config.bands):
        key = sub[:, b * rows].astype(U64)
        for r in range(1, rows):
            key = key * _Q + sub[:, b * rows + r].astype(U64)
        keys.append(_mix64(key + U64(b)))
        bands.append(np.full(ids.size, b, dtype=np.int64))
    bkey = np.concatenate(keys) if keys else np.zeros(0, U64)
    return {
        "band": np.concatenate(bands) if bands else np.zeros(0, np.int64),
        "bkey": bkey,
        "idx": np.tile(ids, config.bands),
        "part": (bkey % U64(parts)).astype(np.int64),
    }


def _bucket_pairs(group: dict[str, np.ndarray]) -> dict:
    """Candidate pairs inside one shuffle partition: the local ``candidate_pairs`` rule."""
    from curate.dedup.near import BUCKET_WINDOW

    found = []
    for b in np.unique(group["band"]).tolist():
        m = group["band"] == b
        keys, ids = group["bkey"][m], group["idx"][m]
        order = np.lexsort((ids, keys))  # by key, ties by input order (a stable argsort)
        ks, ii = keys[order], ids[order]
        for d in range(1, BUCKET_WINDOW + 1):
            same = np.flatnonzero(ks[:-d] == ks[d:])
            if same.size == 0:
                break
            found.append(np.stack((ii[same], ii[same + d]), axis=1))
    pairs = np.concatenate(found) if found else np.zeros((0, 2), np.int64)
    return {"i": pairs[:, 0].astype(np.int64), "j": pairs[:, 1].astype(np.int64)}


def _routed_sets(batch: dict[str, np.ndarray], *, config: Any, route: dict[int, list[int]]) -> Any:
    """Shingle sets of the rows in some candidate pair, one copy per partition needing it."""
    import pyarrow as pa

    from curate.dedup.near import shingle_hashes

    batch = _only(batch, np.fromiter(route, dtype=np.int64, count=len(route)))
    hashes, offsets = shingle_hashes(_words(_records(batch), config), config.shingle_size)
    parts, ids, sets = [], [], []
    for t, i in enumerate(batch["idx"].tolist()):
        sh = np.unique(hashes[offsets[t] : offsets[t + 1]])
        for part in route[i]:
            parts.append(part)
            ids.append(i)
            sets.append(sh)
    return pa.table(
        {
            "part": pa.array(parts, pa.int64()),
            "idx": pa.array(ids, pa.int64()),
            "sh": pa.array(sets, pa.list_(pa.uint64())),
        }
    )


def _verify_part(group: Any, *, pairs: np.ndarray, parts: int) -> dict:
    """True Jaccard of the pairs routed to this partition (pair ``(i, j)`` goes to ``i % P``)."""
    from curate.dedup.near import jaccard_of

    part = group.column("part")[0].as_py()
    sets = {
        i: np.array(sh, dtype=np.uint64)
        for i, sh in zip(
            group.column("idx").to_pylist(), group.column("sh").to_pylist(), strict=True
        )
    }
    mine = pairs[pairs[:, 0] % parts == part]
    jac = [jaccard_of(sets[a], sets[b]) for a, b in mine.tolist()]
    return {
        "i": mine[:, 0].astype(np.int64),
        "j": mine[:, 1].astype(np.int64),
        "jac": np.array(jac, dtype=np.float64),
    }


def _components(edges: np.ndarray) -> list[list[int]]:
    """Connected components (size >= 2, sorted, by first member) over an edge list.

    A dict-based union-find: memory is proportional to the records in some edge, not to
    the number of rows (``curate.dedup.cluster.components`` sizes its table by rows).
    """
    parent: dict[int, int] = {}

    def find(x: int) -> int:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in edges.tolist():
        ra, rb = find(a), find(b)
        if ra != rb:
            if rb < ra:
                ra, rb = rb, ra
            parent[rb] = ra
    groups: dict[int, list[int]] = {}
    for x in sorted(parent):
        groups.setdefault(find(x), []).append(x)
    return [sorted(g) for _, g in sorted(groups.items()) if len(g) > 1]


# -- semantic --------------------------------------------------------------------------------


class _Embed:
    """One embedding model per actor; adds a ``vec`` column (the dedup key text's vector).

    ``key_text``: embed what ``curate dedup`` embeds (``curate.dedup.normalize.key_text``,
    tools included); else what ``curate run`` embeds (``curate.chat.record_text``).
    """

    def __init__(self, model: str | None, side: str, cache_dir: Any, key_text: bool) -> None:
        from curate.embed import get_embedder

        self.embedder = get_embedder(model, cache_dir=cache_dir)
        self.side = side
        self.key_text = key_text

    def __call__(self, batch: dict[str, np.ndarray]) -> dict:
        from curate.chat import record_text
        from curate.dedup.normalize import key_text

        if self.key_text:
            texts = [key_text(r, self.side) for r in _records(batch)]  # type: ignore[arg-type]
        else:
            texts = [record_text(orjson.loads(d), self.side) for d in batch["data"]]
        vecs = self.embedder.encode(texts) if texts else np.zeros((0, 1), np.float32)
        return {**batch, "vec": np.asarray(vecs, dtype=np.float32)}


def _vec_sum(batch: dict[str, np.ndarray]) -> dict:
    v = batch["vec"]
    return {"sum": v.sum(axis=0, dtype=np.float64)[None, :], "n": np.array([v.shape[0]])}


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
    from curate.dedup.semantic import semantic_pairs
    from curate.dedup.slots import Slots, different_slots

    order = np.argsort(group["idx"], kind="stable")
    group = {k: v[order] for k, v in group.items()}
    vecs = _unit_centered(np.asarray(group["vec"], dtype=np.float32), mean)
    threshold, _ = config.semantic_settings()
    pairs, sims, _ = semantic_pairs(
        vecs, neighbours=config.neighbours, seed=config.seed, min_score=threshold - SCORE_MARGIN
    )
    ok = sims >= threshold
    pairs, sims = pairs[ok], sims[ok]
    if config.slot_guard and pairs.size:
        recs = _records(group)
        slots: dict[int, Slots] = {}

        def s(k: int) -> Slots:
            if k not in slots:
                slots[k] = Slots(key_text(recs[k], config.key))
            return slots[k]

        guard = np.array([not different_slots(s(a), s(b)) for a, b in pairs.tolist()], bool)
        sims = np.where(guard, sims, -1.0)
    ids = group["idx"]
    return {
        "i": ids[pairs[:, 0]].astype(np.int64) if pairs.size else np.zeros(0, np.int64),
        "j": ids[pairs[:, 1]].astype(np.int64) if pairs.size else np.zeros(0, np.int64),
        "cos": np.asarray(sims, dtype=np.float64),
    }


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

    def front(self, paths: list[str], mode: str = "run") -> tuple[Any, list[tuple]]:
        self.mode = mode
        import ray.data

        for sub in ("rejects", "stats"):
            (self.work / sub).mkdir(parents=True, exist_ok=True)
        items = [{"shard": i, "path": p} for i, p in enumerate(paths)]
        ds = ray.data.from_items(items, override_num_blocks=len(items))
        shards = ds.map_batches(
            _front_shard,
            batch_size=1,
            fn_kwargs={"work": str(self.work), "config": self.config, "mode": mode},
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
    work = staging / WORK
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
    base, summaries = eng.front(paths, mode)
    read_stats = ReadStats()
    for i, (stats, vstate, _conv, by_stage, _n) in enumerate(summaries):
        merge_read_stats(read_stats, stats)
        merge_validator(validator, vstate)
        for k, v in by_stage.items():
            sink.by_stage[k] += v
        sink.fh.write((work / "rejects" / f"{i:08d}.jsonl").read_bytes())
    converter = merge_converters([s[2] for s in summaries], config.convert.fmt)
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
    dres = DedupResult(StageResult(kept=kept, dropped=dropped, stats=stats), clusters, stats)
    return Prepared(kept, embeddings, dres, read_stats, converter, refs)
