"""``curate run`` / ``dedup`` stages on Ray Data, with the answers of the local engine.

The rows live in Ray's object store (spread over the nodes, spilled to disk when needed);
the driver holds only per-shard counters and lists whose size is the number of *duplicates*
(keepers, removed ids, near dedup's duplicate edges), never the number of rows:

* **front**: one task per shard runs the local ``read -> convert -> validate -> filter``
  (``curate.pipeline.stages.front``) and writes that shard's rejects and counters to the work
  folder; the driver concatenates them in shard order, so ``rejects.jsonl`` is byte for byte
  what the local engine writes. Each kept row gets its global index (the position the local
  engine gives it) from the per-shard counts.
* **exact**: a hash aggregation (``groupby(digest)`` with ``count`` and ``min(rank)``, where
  the rank encodes the keep policy), so each duplicate text's keeper is found in one shuffle.
* **near**: MinHash signatures and LSH band keys in ``map_batches`` (the library's own
  ``curate.dedup.near`` code and seed), band buckets by a shuffle on the key, candidate pairs
  formed inside each bucket exactly as the local code does, then uniqued and verified on the
  workers (a join of the pairs with the rows' shingle sets, in Ray tasks); only the pairs at
  or above the threshold come back, for connected components on the driver.
* **semantic**: an embedding actor pool (one model load per actor), k-means partitions of the
  vectors, exact search and clustering inside each partition (the SemDeDup recipe).
"""

from __future__ import annotations

import os
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from curate.engine.ray_dedup import Prepared, RayDedup, _refs, _Removed
from curate.engine.ray_rows import (
    WORK,
    _atomic_bytes,
    _collect,
    _fetched,
    _log,
    _only,
    _record,
    _records,
    _without,
    check_count,
    row_ids,
    worker_errors,
)
from curate.errors import ClusterError, ConfigError
from curate.records import ReadStats


def _prime(paths: list[str], config: Any) -> tuple | None:
    """(format, detected_from, votes) as the local engine's ``Converter.prime`` decides them
    over the first records of a one-file input; None when the format is given, fields are
    mapped, no early record has a known shape (then the shard decides from its first
    recognisable record), or the input has several files (each shard votes on its own)."""
    import itertools

    from curate.formats import SAMPLE, Converter
    from curate.records import RecordReader

    if config.convert.fmt is not None or config.convert.field_map() is not None:
        return None
    if len(paths) > 1:
        return None  # each file has its own format, as locally: each shard primes its own

    def head() -> Any:
        for p in paths:
            yield from RecordReader(p)

    conv = Converter()
    list(conv.prime(itertools.islice(head(), SAMPLE)))
    if conv.fmt is None:
        return None
    return conv.fmt, conv.detected_from, sorted(conv.votes.items())


def read_dedup(
    path: str,
    staging: Path,
    sink: Any,
    config: Any,
    validator: Any,
    mode: str = "run",
    drops: Any = None,
    kept_to: Any = None,
    clusters: bool = False,
) -> Prepared:
    """``curate run``'s read -> convert -> validate -> filter -> dedup on Ray.

    ``mode="read"`` (``curate dedup``): no conversion, validation or filter; only the lines
    that do not parse are rejected before dedup. ``drops``: a sink for dedup's rejects (in
    row order, written by the workers) apart from ``sink``'s; default ``sink``; ``False``:
    only counted (``curate dedup`` without ``--rejects``). ``kept_to`` (``mode="read"``): a
    binary file the kept records go to as JSONL, in input order, written by the workers as
    part files and concatenated here; ``Prepared.kept`` is then only their count.
    ``clusters`` (``curate dedup --clusters``): list the clusters and fetch the (record id,
    line) of their members (``Prepared.refs``), which nothing else needs.
    """
    from curate.engine.session import ray_session
    from curate.shards import expand

    paths = expand(path)
    if "-" in paths:
        raise ConfigError("--engine ray reads files (its workers cannot see stdin); give a path")
    work = (staging / WORK).absolute()
    try:
        with worker_errors(), ray_session(config.run.ray_address) as ray:
            return _read_dedup(
                ray, paths, work, sink, config, validator, mode, drops, kept_to, clusters
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _read_dedup(
    ray: Any,
    paths: list[str],
    work: Path,
    sink: Any,
    config: Any,
    validator: Any,
    mode: str,
    drops: Any = None,
    kept_to: Any = None,
    clusters: bool = False,
) -> Prepared:
    from curate.dedup.config import REASONS
    from curate.dedup.engine import DedupResult
    from curate.stage import StageResult

    eng = RayDedup(ray, config, work)
    # The audit's duplicate share reuses dedup's fingerprints when they are the ones it
    # would compute (as local passes its Features): the digests and the LSH band keys.
    from curate.dedup.features import settings_of
    from curate.engine.ray_audit import AUDIT_DEDUP

    cfg = config.dedup
    reuse = mode == "run" and (settings_of(cfg), cfg.bands) == (
        settings_of(AUDIT_DEDUP),
        AUDIT_DEDUP.bands,
    )
    eng.keep_bands = reuse and "near" in cfg.methods
    if mode == "run" and "near" in cfg.methods and config.split.check_leakage:
        from curate.engine.ray_split import not_eligible

        eng.carry_bands = not_eligible(config) is None
    _log(f"{len(paths)} shard(s) on {eng.parts // 2} CPU(s), {eng.gpus} GPU(s)")
    primed = _prime(paths, config) if mode == "run" else None
    base, summaries = eng.front(paths, mode, primed)
    read_stats, converter, n_in = _merged_fronts(summaries, validator, sink, work, config, primed)
    del summaries
    _log(
        f"{read_stats.records + read_stats.bad_lines} input records, {n_in} after front, "
        f"in {base.num_blocks()} block(s)"
    )

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
            if eng.banded is not None:
                alive, eng.banded = eng.banded, None
        else:
            r = eng.exact(alive)
        removed.append(r)
        _log(f"{method}: removed {len(r)}")
        if len(r):
            gone = np.union1d(gone, r.ids)
            alive = alive.map_batches(
                _without, batch_format="numpy", fn_kwargs={"removed": row_ids(gone, work)}
            ).materialize()
    if config.run.semantic and not embedded and n_in:
        alive = eng.embed(alive)

    # Drops, exactly as curate.dedup.engine.dedup words them.
    clusters_n: dict[str, int] = {m: 0 for m in cfg.methods}
    removed_n: dict[str, int] = {m: 0 for m in cfg.methods}
    for r in removed:
        clusters_n[r.method] = r.clusters()
        removed_n[r.method] = len(r)
    refs: dict[int, tuple[str, int]] = {}
    listed: list[Any] = []
    if clusters and gone.size:  # --clusters names every member by its id and line
        need = [r.ids for r in removed] + [r.keep for r in removed]
        refs = _refs(base, np.unique(np.concatenate(need)))
        listed = _clusters(removed)
    # The workers word and write the removed rows' rejects, naming the keepers themselves:
    # the records, and their ids, never come here.
    by_reason = _write_dedup_rejects(eng, base, removed, sink if drops is None else drops)
    if mode == "run":
        # Nothing after this needs a removed row's keeper, id or similarity (the rejects
        # name them; the page shows counts): the driver holds nothing per removed row.
        removed.clear()
    sres = None
    if mode == "run":
        # The split and its writers on the workers when the config allows (ray_split);
        # then the kept records never come to the driver.
        from curate.engine.ray_split import split_on_workers

        drawn = split_on_workers(eng, alive, gone, n_in - int(gone.size), config, work.parent)
        if drawn is not None:
            kept, sres = drawn
    vecs: list[np.ndarray] = []
    if kept_to is not None:
        _log("the workers write the kept records")
        kept = _Written(_write_kept(eng, alive, kept_to, n_in - int(gone.size)))
    elif sres is None:
        _log("collecting the kept records")
        kept = []
        from curate.dedup.normalize import key_text
        from curate.embed import note_unseen

        with_vec = embedded or (config.run.semantic and n_in)
        cols = ["idx", "source", "line", "text_line", "data"] + (
            ["vec", "unseen"] if with_vec else []
        )
        for batch in (
            alive.select_columns(cols)
            .sort("idx")
            .iter_batches(batch_format="numpy", batch_size=8192)
        ):
            records = _records(batch)
            kept.extend(records)
            if "vec" in batch:
                vecs.append(np.asarray(batch["vec"], dtype=np.float32))
                # The driver's split asks which texts the model cannot see (its leak
                # check leaves them out, as local's, whose embed stage noted them).
                note_unseen(cfg.model, [key_text(r, cfg.key) for r in records], batch["unseen"])
    embeddings = np.concatenate(vecs) if vecs else None
    if embeddings is not None and not config.run.semantic:
        embeddings = None
    areport = None
    if mode == "run":
        from curate.engine.ray_audit import WorkerVectors, audit_kept

        _log("auditing the kept records on the workers")
        a = config.audit
        shared = a.embed_side == cfg.key and a.model == cfg.model
        vectors = embeddings if shared else None
        if shared and sres is not None and config.run.semantic and n_in:
            # The split ran on the workers: the vectors are ``alive``'s ``vec`` column and
            # stay there (the driver fetches the audit's samples, the workers assign).
            vectors = WorkerVectors()
        areport = audit_kept(
            ray,
            alive,
            gone,
            len(kept),
            a,
            eng.parts,
            vectors,
            reuse=(reuse, eng.bands),
            work=eng.work,
        )
        eng.bands = None
        topics = (areport.series or {}).get("topics") if sres is not None else None
        if topics is not None:
            from curate.engine.ray_audit import topics_on_workers

            topics_on_workers(kept.ds, topics, eng.work)
    reasons = by_reason
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
        stats["semantic_unseen"] = eng.unseen
        stats["semantic_too_few_to_centre"] = eng.too_few_to_centre
    dres = DedupResult(StageResult(kept=kept, dropped=[], stats=stats), listed)
    return Prepared(kept, embeddings, dres, read_stats, converter, refs, areport, sres)


class _Written:
    """The kept records of ``curate dedup --engine ray``, already written by the workers:
    only their count comes back."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n


def _merge_parts(folder: Path, got: dict[str, np.ndarray], out: Any) -> None:
    """The part files ``_save_part`` wrote in ``folder`` (``got``: their first and last row
    ids), into ``out`` in row order: concatenated by file copy when their row spans are
    disjoint, else merged by row id (ids read from disk, lazily) as blocks interleave after a
    shuffle."""
    import heapq

    order = np.argsort(got["first"], kind="stable")
    firsts, lasts = got["first"][order].tolist(), got["last"][order].tolist()
    if all(b > a for a, b in zip(lasts, firsts[1:], strict=False)):
        for first in firsts:  # disjoint spans: the parts in order are the rows in order
            with open(folder / f"{first:012d}.jsonl", "rb") as part:
                shutil.copyfileobj(part, out, 1 << 20)
        return

    def part(first: int) -> Any:
        ids = np.load(folder / f"{first:012d}.npy", mmap_mode="r")
        with open(folder / f"{first:012d}.jsonl", "rb") as fh:
            yield from zip(map(int, ids), fh, strict=True)

    for _, line in heapq.merge(*(part(f) for f in firsts)):
        out.write(line)


def _save_part(folder: str, ids: np.ndarray, lines: bytes) -> dict[str, np.ndarray]:
    """On a worker: one block's lines (for row ids ``ids``, ascending) as a part file named
    by its first row id, its ids beside it (a retried task rewrites the same bytes); the
    counters ``_merge_parts`` and the count checks read."""
    first, root = int(ids[0]), Path(folder)
    tmp = root / f".{first:012d}.{os.getpid()}.npy"
    np.save(tmp, ids.astype(np.int64))
    os.replace(tmp, root / f"{first:012d}.npy")
    _atomic_bytes(root / f"{first:012d}.jsonl", lines)
    return {
        "first": np.array([first], np.int64),
        "last": np.array([int(ids[-1])], np.int64),
        "rows": np.array([ids.size], np.int64),
    }


def _write_kept(eng: Any, alive: Any, out: Any, expect: int) -> int:
    """The kept rows as JSONL into ``out``, in row order: each block writes its rows as a
    part file (named by its first row id, with its ids beside it); the driver concatenates
    the parts by file copy, or merges them by row id (ids read from disk, lazily) when
    blocks interleave (``_merge_parts``). Nothing per row is held here.

    Raises:
        ClusterError: the parts hold other than ``expect`` rows (the report's counts are
            built from this one, so a lost part must not pass silently).
    """

    folder = eng.work / "kept"
    folder.mkdir(parents=True, exist_ok=True)
    got = _collect(
        alive.select_columns(["idx", "data"]).map_batches(
            _kept_part, batch_format="numpy", batch_size=None, fn_kwargs={"folder": str(folder)}
        ),
        ["first", "last", "rows"],
    )
    check_count("ray dedup: kept rows written", int(got["rows"].sum()), expect)
    _merge_parts(folder, got, out)
    return int(got["rows"].sum())


def _kept_part(batch: dict[str, np.ndarray], *, folder: str) -> dict[str, np.ndarray]:
    """On a worker: this block's rows as JSONL lines (what the local command writes for
    each kept record), in row order, one part file named by its first row id."""
    import orjson

    from curate.records import dumps_line

    idx = batch["idx"]
    if not idx.size:
        z = np.zeros(0, np.int64)
        return {"first": z, "last": z, "rows": z}
    order = np.argsort(idx, kind="stable")
    data = batch["data"]
    lines = b"".join(dumps_line(orjson.loads(data[t])) for t in order.tolist())
    return _save_part(folder, idx[order], lines)


def _merged_fronts(
    summaries: list[tuple], validator: Any, sink: Any, work: Path, config: Any, primed: Any
) -> tuple[ReadStats, Any, int]:
    """The shards' front summaries merged into the driver's validator, rejects and read
    stats: (read stats, converter, rows after the front). A function of its own so that no
    shard's summary outlives it: each lists up to MAX_LISTED invalid records and warnings,
    of which the merge keeps the first MAX_LISTED; the rest stayed for the whole run (~7
    bytes an input row on the bench data: 0.9 MiB at 100k, 2.8 MiB at 400k)."""
    from curate.engine.merge import merge_converters, merge_validator
    from curate.shards import merge_read_stats

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
    return read_stats, converter, int(sum(s[4] for s in summaries))


def _clusters(removed: list[_Removed]) -> list[Any]:
    """``curate dedup --clusters``' clusters, as the local engine lists them."""
    from curate.dedup.cluster import Cluster

    clusters = []
    for r in removed:
        # Each keeper's removed rows with their similarity (``r.sim`` is aligned with the
        # sorted ``r.ids``, so each list is in row order).
        by_keep: dict[int, list[tuple[int, float]]] = {}
        for m, k, s in zip(r.ids.tolist(), r.keep.tolist(), r.sim.tolist(), strict=True):
            by_keep.setdefault(k, []).append((m, s))
        for k in sorted(by_keep, key=lambda k: min(k, by_keep[k][0][0])):
            pairs = sorted([(k, 1.0), *by_keep[k]])
            members = tuple(m for m, _ in pairs)
            clusters.append(Cluster(r.method, members, k, tuple(s for _, s in pairs)))
    return clusters


def _survivors(ids: np.ndarray, keep: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Each of ``rows``' keeper at the end of all methods: a keeper that a later method
    removed hands on to its own keeper (``ids`` sorted, ``keep`` their keepers)."""
    out = rows.copy()
    if not ids.size:
        return out
    while True:
        at = np.minimum(np.searchsorted(ids, out), ids.size - 1)
        hit = ids[at] == out
        if not hit.any():
            return out
        out[hit] = keep[at[hit]]


def _dedup_plan(
    removed: list[_Removed],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The rejects' plan, in removed-row order: (removed id, method code (its index in
    ``removed``), similarity, final keeper, keeper passed through (-1: none), the keepers
    the rejects name (sorted, unique)). A row's final keeper is its keeper unless a later
    method removed that one (then that one's keeper, and so on): ``via`` is then the keeper
    it was removed for. Numbers only: 33 bytes a removed row, plus the names."""
    ids = np.concatenate([r.ids for r in removed])
    order = np.argsort(ids, kind="stable")
    ids = ids[order]
    keep = np.concatenate([r.keep for r in removed])[order]
    code = np.concatenate([np.full(len(r), t, np.uint8) for t, r in enumerate(removed)])[order]
    sim = np.concatenate([r.sim for r in removed])[order]
    del order
    final = _survivors(ids, keep, keep)
    passed = final != keep
    via = np.where(passed, keep, -1)
    names = np.unique(np.concatenate((final, keep[passed])))
    return ids, code, sim, final, via, names


def _write_dedup_rejects(eng: Any, base: Any, removed: list[_Removed], sink: Any) -> Counter[str]:
    """Dedup's rejects, written by the workers as part files (each block's removed rows,
    worded as ``curate.dedup.engine.dedup`` words them) and merged into ``sink`` in row
    order by file copy: what the driver wrote from the records before, byte for byte.

    The plan (removed id, method, similarity, final keeper, keeper passed through) goes to
    the workers as ``.npy`` files in the work folder, which they map; the keepers' record
    ids are looked up on the workers (a dataset left in the object store): the driver holds
    a few arrays of 8 bytes per removed row, no strings, no dicts.
    """

    from curate.dedup.config import REASONS
    from curate.dedup.exact import STAGE

    by_reason: Counter[str] = Counter()
    for r in removed:
        if len(r):
            by_reason[REASONS[r.method]] += len(r)
    if sink is False:  # no rejects file asked for: the counts only, nothing per row built
        return by_reason
    if not by_reason:
        return Counter()
    methods = [r.method for r in removed]
    plan = eng.work / "dedup-plan"
    plan.mkdir(parents=True, exist_ok=True)
    ids, code, sim, final, via, names = _dedup_plan(removed)
    for name, arr in (("ids", ids), ("method", code), ("sim", sim), ("final", final), ("via", via)):
        np.save(plan / f"{name}.npy", arr)
    n_removed = int(ids.size)
    del ids, code, sim, final, via
    # The keepers' record ids, left on the workers (sorted by row id once, here): each
    # reject task fetches them and looks up the ones it names.
    named = (
        base.select_columns(["idx", "rid"])
        .map_batches(_only, batch_format="numpy", fn_kwargs={"ids": names})
        .sort("idx")
        .materialize()
    )
    check_count("ray dedup: keepers named", named.count(), int(names.size))
    del names
    folder = eng.work / "dedup"
    folder.mkdir(parents=True, exist_ok=True)
    got = _collect(
        base.select_columns(["idx", "source", "line", "text_line", "data"]).map_batches(
            _dedup_rejects,
            batch_format="numpy",
            batch_size=None,
            fn_kwargs={
                "plan": str(plan),
                "names": named.to_arrow_refs(),
                "methods": methods,
                "folder": str(folder),
                "stage": STAGE,
                "reasons": dict(REASONS),
            },
        ),
        ["first", "last", "rows"],
    )
    del named
    check_count("ray dedup: rejects written", int(got["rows"].sum()), n_removed)
    _merge_parts(folder, got, sink.fh)
    # Counted in the order the rejects file first names each reason (by row id).
    firsts = sorted((int(r.ids[0]), REASONS[r.method], len(r)) for r in removed if len(r))
    counted: Counter[str] = Counter()
    for _, reason, n in firsts:
        sink.by_stage[(STAGE, reason)] += n
        counted[reason] += n
    return counted


def _keeper_names(names: list, want: np.ndarray) -> list[str]:
    """On a worker: the record ids of the keepers ``want`` (row ids), from the blocks of
    (row id, record id) the driver left sorted by row id.

    Raises:
        ClusterError: a keeper is not among them (a lost block), rather than a reject that
            names another record.
    """
    if not want.size:
        return []
    table = _fetched(names)
    known = np.zeros(0, np.int64) if table is None else table["idx"].to_numpy()
    pos = np.searchsorted(known, want)
    found = pos < known.size
    found[found] = known[pos[found]] == want[found]
    if not found.all():
        raise ClusterError(
            f"ray dedup: keeper row {int(want[~found][0])} not among the keepers named "
            "(a Ray worker's block was lost); run again"
        )
    return table["rid"].take(pos).to_pylist()


def _dedup_rejects(
    batch: dict[str, np.ndarray],
    *,
    plan: str,
    names: list,
    methods: list[str],
    folder: str,
    stage: str,
    reasons: dict,
) -> dict[str, np.ndarray]:
    """On a worker: this block's removed rows as reject lines, in row order, one part file
    (named by its first row id; a retried task rewrites the same bytes)."""
    from curate.records import dumps_line
    from curate.stage import Dropped

    root = Path(plan)
    ids = np.load(root / "ids.npy", mmap_mode="r")
    idx = batch["idx"]
    at = np.minimum(np.searchsorted(ids, idx), ids.size - 1)
    mine = np.flatnonzero(ids[at] == idx)
    if not mine.size:
        z = np.zeros(0, np.int64)
        return {"first": z, "last": z, "rows": z}
    mine = mine[np.argsort(idx[mine], kind="stable")]
    at = at[mine]
    method = np.load(root / "method.npy", mmap_mode="r")[at]
    sims = np.load(root / "sim.npy", mmap_mode="r")[at]
    final = np.load(root / "final.npy", mmap_mode="r")[at]
    via = np.load(root / "via.npy", mmap_mode="r")[at]
    want = np.unique(np.concatenate((final, via[via >= 0])))
    rid = _keeper_names(names, want)
    final_ids = [rid[k] for k in np.searchsorted(want, final).tolist()]
    via_at = np.searchsorted(want, via).tolist()

    lines = []
    for p, t in enumerate(mine.tolist()):
        s = round(float(sims[p]), 4)  # Python's round, as the local engine words it
        meth = methods[int(method[p])]
        final_id = final_ids[p]
        extra: dict[str, Any] = {"duplicate_of": final_id, "similarity": s}
        if via[p] >= 0:
            extra["via"] = rid[via_at[p]]
        extra["method"] = meth
        row = {c: batch[c][t] for c in ("source", "line", "text_line", "data")}
        d = Dropped(
            _record(row),
            stage,
            reasons[meth],
            f"duplicate_of={final_id} similarity={s}",
            extra,
        )
        lines.append(dumps_line(d.to_reject()))
    return _save_part(folder, idx[mine], b"".join(lines))
