"""Ray Data building blocks: row helpers and the per-shard front task (read..filter)."""

from __future__ import annotations

import contextlib
import functools
import io
import os
import pickle
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from curate.errors import ClusterError, CurateError
from curate.records import ReadStats, Record
from curate.split.allocate import TEST, TRAIN, VAL

IDX_BITS = 40  # global row index: up to 10^12 rows
IDX_MASK = (1 << IDX_BITS) - 1
LEN_CAP = (1 << 22) - 1  # key-text length folded into the keep rank (longer ones tie)
BATCH = 2048
SIDES = (TRAIN, VAL, TEST)  # the split's side codes on the workers: 0, 1, 2
PARTITION_ROWS = 4000  # semantic: rows per k-means partition searched exactly
BORDER = 0.05  # semantic: a row this close to its second centroid is searched there too
WORK = ".ray-work"
# Input shards smaller than this are put together into blocks of about this size (never
# fewer blocks than partitions): see ``block_count``.
BLOCK_BYTES = 64 << 20

# -- small helpers ---------------------------------------------------------------------------

_T0 = time.monotonic()


def _log(message: str) -> None:
    # Progress on stderr, with elapsed time, like ``curate run``'s own lines; with
    # CURATE_RAY_RSS=1 also the driver's resident memory (bench/scale.py attributes the
    # driver's growth to stages with it), and how much of it is the object store's shared
    # pages the driver has read (they stay resident in it after the objects are freed).
    rss = ""
    if os.environ.get("CURATE_RAY_RSS"):
        import psutil

        total = psutil.Process().memory_info().rss / 2**30
        rss = f" [driver rss {total:.2f} GiB, store {shared_rss() / 2**30:.2f}]"
    sys.stderr.write(f"ray: [{time.monotonic() - _T0:7.1f}s] {message}{rss}\n")


def shared_rss(pid: int | str = "self") -> int:
    """Bytes of shared memory resident in process ``pid`` (Linux ``RssShmem``; 0 elsewhere):
    in a Ray driver, the object store's pages it has mapped (/dev/shm), which stay resident
    in its RSS after the objects are freed, though the store owns them (a 100 MiB
    ``ray.put`` adds 100 MiB here and nothing to ``RssAnon``; shutting Ray down takes it
    back to 0)."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("RssShmem:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def block_count(blocks: int, size_bytes: int, parts: int) -> int:
    """How many blocks the rows of ``blocks`` input shards (one block each, ``size_bytes`` in
    all) are processed in: at least ``parts`` (every CPU has work); and small shards put
    together, up to ``BLOCK_BYTES`` a block, never split.

    The driver holds state for every block of every dataset it keeps and for every task it
    ran (object refs, their lineage, Ray Data's block metadata, and the heap they leave:
    ~10 KB a block and step, measured in docs/ray.md), so its memory follows the number of
    blocks, not the rows: many small shards would make it grow with the shard count."""
    if blocks < parts:
        return parts
    return max(parts, min(blocks, -(-size_bytes // BLOCK_BYTES)))


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


def row_ids(ids: np.ndarray, work: Path | None) -> np.ndarray | str:
    """Row ids for a task's ``fn_kwargs``: with ``work`` (a folder every node sees), the
    path of a ``.npy`` file there holding them; without, the array itself.

    Ray Data puts a map's ``fn_kwargs`` into the object store from the driver, so an array
    sized by the removed rows costs the driver that many object-store pages, resident in
    it for the rest of the run (a fresh copy for every map, though the array is the same);
    a file costs it nothing. The workers read either through ``ids_of``. Each file is
    written once under a new name (a worker caches what it read by path)."""
    if work is None:
        return ids
    folder = work / "ids"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{uuid.uuid4().hex}.npy"
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as fh:
        np.save(fh, np.asarray(ids, dtype=np.int64))
    os.replace(tmp, path)
    return str(path)


def ids_of(ids: np.ndarray | str) -> np.ndarray:
    """On a worker: the row ids ``row_ids`` handed over (an array, or its file's path)."""
    return ids if isinstance(ids, np.ndarray) else _ids_file(ids)


@functools.lru_cache(maxsize=4)
def _ids_file(path: str) -> np.ndarray:
    # One read per worker process and file, not one per batch (the files never change).
    return np.load(path)


def _without(batch: dict[str, np.ndarray], removed: np.ndarray | str) -> dict[str, np.ndarray]:
    keep = ~np.isin(batch["idx"], ids_of(removed))
    return {k: v[keep] for k, v in batch.items()}


def _fetched(blocks: list) -> Any:
    """On a worker: the Arrow blocks of a dataset the driver left in the object store
    (``to_arrow_refs``; resolved here unless Ray already did), as one table or None."""
    import pyarrow as pa
    import ray

    tables = [ray.get(t) if isinstance(t, ray.ObjectRef) else t for t in blocks]
    tables = [t for t in tables if t.num_rows]
    return pa.concat_tables(tables) if tables else None


def _only(batch: dict[str, np.ndarray], ids: np.ndarray | str) -> dict[str, np.ndarray]:
    keep = np.isin(batch["idx"], ids_of(ids))
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


def check_count(what: str, got: Any, want: Any) -> None:
    """A count the workers handed back against the one they were given (a number, or
    counts by key).

    Raises:
        ClusterError: they differ (a part file lost or written twice): one line for the
            user, and no output folder, instead of outputs that silently miss rows.
    """
    if got != want:
        raise ClusterError(
            f"{what}: {got}, expected {want} (a Ray worker's part files were lost or "
            "repeated); run again"
        )


@contextlib.contextmanager
def worker_errors() -> Iterator[None]:
    """Inside the block, an error a worker raised reaches the user as the ``CurateError`` it
    carries (a one-line message), not as Ray's wrapped traceback."""
    try:
        yield
    except CurateError:
        raise
    except Exception as exc:
        err = _curate_error(exc)
        if err is not None:
            raise err from None
        raise


# -- front: read + convert + validate + filter, one task per shard ---------------------------


def _read_only(path: str, sink: Any) -> tuple[Iterator[Record], ReadStats, Any]:
    from curate.reader import read_chat

    # curate dedup: records as read (compared through chat_view), unreadable lines rejected.
    chat = read_chat(path, convert=False, on_bad="reject", on_drop=sink.drop)
    return iter(chat), chat.stats, chat.converter  # type: ignore[return-value]


def _front_shard(
    batch: dict[str, np.ndarray],
    *,
    work: str,
    config: Any,
    cwd: str,
    mode: str = "run",
    primed: tuple | None = None,
) -> Any:
    import pyarrow as pa

    from curate.dedup.exact import digest
    from curate.dedup.normalize import key_text
    from curate.engine.merge import validator_state
    from curate.pipeline.filters import make_filter
    from curate.pipeline.stages import RejectSink, front
    from curate.reader import chat_view
    from curate.validate import Validator

    # Relative input paths (and records' ``source``) mean what they mean on the driver:
    # every node sees the same shared filesystem at the same paths (docs/ray.md).
    os.chdir(cwd)
    shard, path = int(batch["shard"][0]), str(batch["path"][0])
    v, d = config.validate, config.dedup
    cols: dict[str, list[Any]] = {
        k: []
        for k in ("shard", "pos", "source", "line", "text_line", "data", "rid", "digest", "klen")
    }
    root = Path(work)
    buf = io.BytesIO()
    sink = RejectSink(buf)
    try:
        validator = Validator(schema=v.schema, tokenizer=v.tokenizer, max_tokens=v.max_tokens)
        if mode == "read":  # curate dedup: records as read, unreadable lines rejected
            stream, stats, conv = _read_only(path, sink)
        else:
            stream, stats, conv = front(
                path,
                sink,
                fmt=primed[0] if primed else config.convert.fmt,
                fields=config.convert.field_map(),
                validator=validator,
                filter_step=make_filter(config.filter),
            )
            if primed:
                # The input's format as local decided it over the first records of the
                # whole input: every shard's rejects then word it the same way.
                conv.detected_from, conv.votes = primed[1], dict(primed[2])
        for pos, r in enumerate(stream):
            # curate dedup writes records as read but compares them as chat.
            text = key_text(chat_view(r) if mode == "read" else r, d.key)
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
