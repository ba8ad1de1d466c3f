"""File-level dedup: read, run ``dedup``, write outputs and a report (what the CLI calls)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from curate.dedup.config import DedupConfig
from curate.dedup.engine import DedupResult, DedupStage
from curate.dedup.explain import semantic_warnings
from curate.errors import InputError
from curate.reader import read_chat
from curate.records import (
    Record,
    atomic_files,
    check_output_paths,
    dumps_line,
    recover_outputs,
)
from curate.shards import expand
from curate.stage import Batch, Dropped, run_stages

# Data files taken from an --against folder (recursively, in sorted order).
DATA_SUFFIXES = (".jsonl", ".json", ".jsonl.gz", ".json.gz", ".parquet")


def against_files(paths: Sequence[str | os.PathLike[str]]) -> list[str]:
    """The files behind ``paths``: a file as is, a folder's data files (an HF dataset folder
    as itself). A path that does not exist, or a folder with no data file, is an error."""
    from pathlib import Path

    from curate.records import _is_hf_dataset_dir

    out: list[str] = []
    for raw in paths:
        p = Path(raw)
        if not p.exists():
            raise InputError(f"against: {raw}: no such file or folder")
        if p.is_dir() and not _is_hf_dataset_dir(p):
            found = sorted(
                str(f)
                for f in p.rglob("*")
                if f.is_file() and f.name.lower().endswith(DATA_SUFFIXES)
            )
            if not found:
                raise InputError(
                    f"against: {raw}: a folder with no data file ({', '.join(DATA_SUFFIXES)})"
                )
            out.extend(found)
        else:
            out.append(str(p))
    return out


def read_against(
    paths: Sequence[str | os.PathLike[str]], fmt: str | None = None
) -> list[list[Record]]:
    """Each ``--against`` file's records, converted to chat, one list per file.

    A leakage check compares chat turns: a record that cannot be converted would fall back to
    its raw JSON, which matches nothing of another shape, and a leak would pass unseen. So an
    unreadable or unconvertible record is an ``InputError`` naming its file and line (convert
    the file first, or give a field mapping).
    """
    hint = " (a leakage check needs chat turns: convert the file first, or map its fields)"
    return [
        list(read_chat(path, fmt=fmt, on_bad="raise", prefix="against: ", hint=hint))
        for path in against_files(paths)
    ]


def read_all(
    path: str | os.PathLike[str],
) -> tuple[list[Record], list[Record], list[Dropped], dict[str, Any]]:
    """Read ``path`` for dedup: (records as chat, the same records as read, unreadable lines as
    ``Dropped`` of stage ``read``, read stats).

    Records are compared as chat (each by its own shape) but written as read; a record that
    does not convert is kept and compared as its whole JSON.
    """
    bad: list[Dropped] = []
    chat = read_chat(
        path,
        detect="record",
        on_bad="reject",
        on_unconvertible="keep",
        on_drop=bad.append,
        keep_read=True,
    )
    records = list(chat)
    assert chat.as_read is not None
    return records, chat.as_read, bad, chat.stats.as_dict()


def cluster_rows(result: DedupResult, records: Sequence[Record]) -> list[dict[str, Any]]:
    """One JSON object per cluster, with the records' own ids (``id`` field or source:line)."""
    rows = []
    for k, c in enumerate(result.clusters, start=1):
        rows.append(
            {
                "cluster": k,
                "method": c.method,
                "size": len(c.members),
                "kept": records[c.keep].id,
                "members": [
                    {
                        "id": records[m].id,
                        "line": records[m].line,
                        "similarity": round(s, 4),
                        "kept": m == c.keep,
                    }
                    for m, s in zip(c.members, c.similarity, strict=True)
                ],
            }
        )
    return rows


def dedup_file(
    path: str | os.PathLike[str],
    output: str | os.PathLike[str] | None,
    config: DedupConfig,
    against: Sequence[str | os.PathLike[str]] = (),
    rejects: str | os.PathLike[str] | None = None,
    clusters: str | os.PathLike[str] | None = None,
) -> dict[str, Any]:
    """Dedup ``path`` into ``output`` (atomic; ``None`` writes no records, e.g. for --explain).

    Every input line ends in exactly one place: ``output``, or ``rejects`` with its reason
    (a dedup reason, or the read error of a line that does not parse).

    Returns:
        The report ``curate dedup --json`` prints.
    """
    check_output_paths([path, *against], [output, rejects, clusters])
    # The --against files first: a bad one is an error before any work on PATH.
    against_sets = read_against(against)
    recover_outputs([output, rejects, clusters])
    records, as_read, bad, read_stats = read_all(path)
    stage_drops: list[Dropped] = []
    kept_batch, done = run_stages(
        [DedupStage(config, against_sets)], Batch.of(records), stage_drops.append
    )
    result = done["dedup"].output
    # Compared as chat, written as read: map each record back to the line it came from.
    where = {id(r): k for k, r in enumerate(records)}
    kept = [as_read[k] for k in kept_batch.index.tolist()]
    dropped = [replace(d, record=as_read[where[id(d.record)]]) for d in stage_drops]
    # In input order, file by file (a folder's files as ``expand`` lists them), as the Ray
    # engine writes them: sorted by line alone, a folder's rejects would interleave.
    file_at = {source: k for k, source in enumerate(expand(str(path)))}
    rejected = sorted(
        [*bad, *dropped], key=lambda d: (file_at.get(d.record.source, 0), d.record.line)
    )
    # Output, rejects and clusters appear together or not at all (a kill between two renames
    # is rolled forward by the next write), so their counts always add up.
    with atomic_files([output, rejects, clusters]) as (out_fh, rej_fh, cl_fh):
        if out_fh is not None:
            for r in kept:
                out_fh.write(dumps_line(r.data))
        if rej_fh is not None:
            for d in rejected:
                rej_fh.write(dumps_line(d.to_reject()))
        if cl_fh is not None:
            for row in cluster_rows(result, as_read):
                cl_fh.write(dumps_line(row))
    report: dict[str, Any] = {
        "path": str(path),
        "output": None if output is None else str(output),
        "lines_in": len(records) + len(bad),
        "records": len(records),
        "bad_lines": len(bad),
        "kept": len(kept),
        "rejected": len(rejected),
        "removed": result.stats["removed"],
        "clusters": result.stats["clusters"],
        "reasons": {**_count(bad), **result.stats["reasons"]},
        "leaks": [lk.as_dict() for lk in result.leaks],
        "against": [str(a) for a in against],
        "against_records": sum(len(s) for s in against_sets),
        "against_key": config.leak_key() if against else None,
        "config": result.stats["config"],
        "read": read_stats,
    }
    for key in ("embedder", "embedding_cache", "embedding_seconds", "semantic_unseen"):
        if key in result.stats:
            report[key] = result.stats[key]
    report["warnings"] = semantic_warnings(result.stats)
    if result.explain:
        report["explain"] = result.explain
    return report


def _count(drops: Sequence[Dropped]) -> dict[str, int]:
    out: dict[str, int] = {}
    for d in drops:
        out[d.reason] = out.get(d.reason, 0) + 1
    return out
