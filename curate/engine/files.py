"""``curate dedup --engine ray``: the file-level dedup of ``curate.dedup.files`` on Ray."""

from __future__ import annotations

import contextlib
import heapq
import io
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from curate.dedup.config import DedupConfig
from curate.dedup.explain import semantic_warnings
from curate.records import atomic_files, check_output_paths, dumps_line, recover_outputs


def ray_dedup_file(
    path: str,
    output: str | None,
    config: DedupConfig,
    rejects: str | None = None,
    clusters: str | None = None,
    address: str | None = None,
) -> dict[str, Any]:
    """Dedup ``path`` (a file, folder or glob of shards) on Ray; the report of ``dedup_file``.

    Rejects are written in input order (shard, then line), unreadable lines included, as
    the local command writes them.
    """
    from curate.engine.ray_stages import read_dedup
    from curate.pipeline.config import RunConfig, RunOptions
    from curate.pipeline.stages import RejectSink
    from curate.shards import expand
    from curate.validate import Validator

    check_output_paths([path], [output, rejects, clusters])
    paths = expand(path)
    shard_of = {p: k for k, p in enumerate(paths)}
    run_config = RunConfig(
        run=RunOptions(semantic=False, engine="ray", ray_address=address), dedup=config
    )
    # The workers' scratch files live beside the output: on a cluster, a shared folder.
    parent = Path(output).resolve().parent if output not in (None, "-") else Path.cwd()
    scratch = Path(tempfile.mkdtemp(prefix=".curate-ray-", dir=parent))
    buf = io.BytesIO()
    sink = RejectSink(buf)
    recover_outputs([output, rejects, clusters])
    try:
        # The workers write the kept records (part files concatenated in input order) and
        # dedup's rejects (merged in row order), and the latter only when --rejects asks
        # for them: no record comes to the driver. Output, rejects and clusters appear
        # together or not at all (as the local command's), so their counts always add up.
        with contextlib.ExitStack() as stack:
            out, rej, cl = stack.enter_context(atomic_files([output, rejects, clusters]))
            dfh = stack.enter_context(open(scratch / "dedup-rejects.jsonl", "w+b"))
            got = read_dedup(
                path,
                scratch,
                sink,
                run_config,
                Validator(),
                mode="read",
                drops=RejectSink(dfh) if rej is not None else False,
                kept_to=out,
                clusters=cl is not None,
            )
            res = got.dres.result
            bad = [line for line in buf.getvalue().splitlines(keepends=True) if line]
            if rej is not None:

                def keyed(lines: Any) -> Iterator[tuple[tuple[int, int], bytes]]:
                    for line in lines:
                        obj = orjson.loads(line)
                        yield (shard_of.get(obj["source"], 0), obj["line"]), line

                dfh.seek(0)
                # Both in input order (shard, then line): one merge.
                for _, line in heapq.merge(keyed(bad), keyed(dfh), key=lambda t: t[0]):
                    rej.write(line)
            if cl is not None:
                for row in _cluster_rows(got):
                    cl.write(dumps_line(row))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    stats = got.dres.stats
    dropped = sum(stats["reasons"].values())
    reasons: dict[str, int] = {}
    for (_stage, reason), n in sorted(sink.by_stage.items()):
        reasons[reason] = reasons.get(reason, 0) + n
    return {
        "path": str(path),
        "output": None if output is None else str(output),
        "lines_in": len(res.kept) + dropped + len(bad),
        "records": len(res.kept) + dropped,
        "bad_lines": len(bad),
        "kept": len(res.kept),
        "rejected": dropped + len(bad),
        "removed": stats["removed"],
        "clusters": stats["clusters"],
        "reasons": {**reasons, **stats["reasons"]},
        "leaks": [],
        "against": [],
        "config": stats["config"],
        "read": got.read_stats.as_dict(),
        "engine": "ray",
        "semantic_unseen": stats.get("semantic_unseen", 0),
        "warnings": semantic_warnings(stats),
    }


def _cluster_rows(got: Any) -> Iterator[dict[str, Any]]:
    """``--clusters``' rows, as ``curate.dedup.files`` writes them."""
    for k, c in enumerate(got.dres.clusters, start=1):
        yield {
            "cluster": k,
            "method": c.method,
            "size": len(c.members),
            "kept": got.refs[c.keep][0],
            "members": [
                {
                    "id": got.refs[m][0],
                    "line": got.refs[m][1],
                    "similarity": round(s, 4),
                    "kept": m == c.keep,
                }
                for m, s in zip(c.members, c.similarity, strict=True)
            ],
        }


__all__ = ["ray_dedup_file"]
