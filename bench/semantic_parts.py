#!/usr/bin/env python3
"""Where a cold semantic dedup's CPU goes beyond the embedding: one row per part.

Runs ``dedup(records, method semantic, fast model, fresh cache)`` on a JSONL file with
timers around the parts (``time.process_time`` per call; no profiler, whose own cost would
swamp the many small calls), then the embedding alone from a fresh model, as the dedup
met it. Each tree runs in its own subprocess, the baseline's (``--baseline``) beside this
one's, so the figures compare within one run on a shared machine.

Usage:
    .venv/bin/python bench/semantic_parts.py /tmp/curate-bench/chat-100000-1.jsonl
    .venv/bin/python bench/semantic_parts.py FILE --rows 20000 --baseline 7dc55e2

A part missing from a tree (renamed or added since) is left out of its column.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from baseline import BASELINE, baseline_tree

REPO = Path(__file__).resolve().parents[1]

# (module, attribute path, label): the parts timed, in the order the step runs them. Only
# parts called a few times each: a timer around a per-record call (``_Texts.raw``, ~117k
# calls per 100k rows) costs ~1.5 us a call, ~0.17 CPU s per 100k inside the total.
PARTS = [
    ("curate.dedup.engine", "_Vectors._embed", "embedding in dedup (key texts, cache, model)"),
    ("curate.dedup.engine", "Engine._outcome_file", "outcome key (records' JSON digest)"),
    ("curate.dedup.semantic", "_neighbour_file", "neighbour cache key (vectors' digest)"),
    ("curate.dedup.semantic", "Rows.mean_of", "mean vector"),
    ("curate.dedup.semantic", "_project", "PCA fit + projection"),
    ("curate.dedup.semantic", "_index", "IVF index (train + add)"),
    ("curate.dedup.semantic", "_scan_lists", "list scan (coarse probes, products, re-score)"),
    ("curate.dedup.semantic", "_faiss_codes", "faiss's search (explain: every candidate)"),
    ("curate.dedup.semantic", "_dots", "exact cosines of the pairs"),
    ("curate.dedup.engine", "Engine._similarity_of", "rows of the pairs over the threshold"),
    ("curate.dedup.engine", "Engine._same_slots", "slot guard"),
    ("curate.dedup.semantic", "_write_arrays", "cache writes (npz)"),
    ("curate.dedup.engine", "explain_method", "explain (similarity histograms)"),
    ("curate.dedup.engine", "_components", "components"),
    ("curate.dedup.engine", "build_clusters", "clusters (keeper, similarities)"),
    ("curate.dedup.engine", "Engine._semantic_groups", "semantic step, all of it (run mode)"),
]


def _wrap(owner: object, name: str, label: str, spent: dict[str, float]) -> None:
    f = owner.__dict__[name]
    unwrap = staticmethod if isinstance(f, staticmethod) else None
    inner = f.__func__ if unwrap else f

    @functools.wraps(inner)
    def timed(*a, **k):  # noqa: ANN202 - whatever the part returns
        c = time.process_time()
        try:
            return inner(*a, **k)
        finally:
            spent[label] = spent.get(label, 0.0) + time.process_time() - c

    setattr(owner, name, unwrap(timed) if unwrap else timed)


def worker(path: Path, rows: int | None, run_mode: bool = False) -> dict:
    import gc
    import importlib
    from itertools import islice

    sys.path.insert(0, os.environ.get("BENCH_CURATE_TREE", str(REPO)))
    c = time.process_time()
    import faiss  # noqa: F401 - its import is timed on its own

    faiss_s = time.process_time() - c
    from curate import embed
    from curate.dedup import DedupConfig, dedup, key_text
    from curate.records import Record, RecordReader

    records = [r for r in islice(RecordReader(path), rows) if isinstance(r, Record)]
    spent: dict[str, float] = {}
    for module, attr, label in PARTS:
        owner: object = importlib.import_module(module)
        *outer, name = attr.split(".")
        for part in outer:
            owner = getattr(owner, part, None)
        if owner is not None and name in getattr(owner, "__dict__", {}):
            _wrap(owner, name, label, spent)
    collected = [0.0]

    def on_gc(phase: str, _info: dict) -> None:
        if phase == "start":
            collected.append(time.process_time())
        else:
            collected[0] += time.process_time() - collected.pop()

    with tempfile.TemporaryDirectory(prefix="sem-parts-") as cache:
        cfg = DedupConfig(methods=("semantic",), model="fast", cache_dir=cache)
        given = None
        if run_mode:
            # As `curate run` calls it: exact and near first, `explain` on, the run's own
            # vectors given (embedded before, outside the timing).
            cfg = DedupConfig(
                methods=("exact", "near", "semantic"), model="fast", cache_dir=cache, explain=True
            )
            given = embed.get_embedder("fast", cache_dir=False).encode(
                [key_text(r, cfg.key) for r in records]
            )
        embed.get_embedder("fast", cache_dir=False).encode(["load the model before timing"])
        gc.callbacks.append(on_gc)
        if run_mode:
            gc.disable()  # `curate run` pauses the cycle collector for the whole run
        c0, w0 = time.process_time(), time.perf_counter()
        res = dedup(records, cfg, embeddings=given)
        total, total_wall = time.process_time() - c0, time.perf_counter() - w0
        gc.enable()
        gc.callbacks.remove(on_gc)
    # The key texts are built before the reference embedding is timed, as dedup must build
    # them to embed: timed apart, so the ratio can be given against both.
    c2 = time.process_time()
    texts = [key_text(r, cfg.key) for r in records]
    key_texts = time.process_time() - c2
    embed._static_model.cache_clear()  # a fresh model: its tokenizer's word cache empty
    model = embed.get_embedder("fast", cache_dir=False)
    model.encode(["load the model before timing"])
    in_dedup = collected[0]
    gc.callbacks.append(on_gc)
    c1, w1 = time.process_time(), time.perf_counter()
    model.encode(texts)
    alone, alone_wall = time.process_time() - c1, time.perf_counter() - w1
    gc.callbacks.remove(on_gc)
    return {
        "records": len(records),
        "total": total,
        "embed_only": alone,
        "total_wall": total_wall,
        "embed_only_wall": alone_wall,
        "key_texts": key_texts,
        "parts": spent,
        "gc": in_dedup,
        "gc_alone": collected[0] - in_dedup,
        "faiss_import": faiss_s,
        "clusters": [list(c.members) for c in res.clusters],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("input", type=Path, nargs="?")
    ap.add_argument("--rows", type=int, help="first N lines only")
    ap.add_argument("--baseline", default=BASELINE)
    ap.add_argument("--no-baseline", action="store_true")
    ap.add_argument(
        "--run",
        action="store_true",
        help="as curate run: exact+near+semantic, explain, vectors given (the total is then "
        "the whole dedup beside the embedding it did not do)",
    )
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(worker(args.input, args.rows, args.run)))
        return
    runs = [("new", None)]
    if not args.no_baseline:
        runs.insert(0, (args.baseline, baseline_tree(args.baseline)))
    got = {}
    for code, tree in runs:
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
        if tree is not None:
            env["BENCH_CURATE_TREE"] = str(tree)
        cmd = [sys.executable, __file__, str(args.input), "--worker"]
        if args.rows:
            cmd += ["--rows", str(args.rows)]
        if args.run:
            cmd.append("--run")
        out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True).stdout
        got[code] = json.loads(out.strip().splitlines()[-1])
    codes = list(got)
    first = got[codes[0]]
    what = "exact+near+semantic, explain, vectors given" if args.run else "semantic only"
    print(f"{first['records']} records, {what}, fast model, cold cache; CPU s")
    print(f"{'part':<48}" + "".join(f"{c:>10}" for c in codes))
    labels = [label for _, _, label in PARTS]

    def row(label: str, values: list[float | None]) -> None:
        cells = "".join(f"{'-' if v is None else f'{v:.3f}':>10}" for v in values)
        print(f"{label:<48}{cells}")

    for label in labels:
        row(label, [got[c]["parts"].get(label) for c in codes])
    row("garbage collection (inside the parts above)", [got[c]["gc"] for c in codes])
    row("faiss import (once per process, not in total)", [got[c]["faiss_import"] for c in codes])
    row("cold semantic dedup, total", [got[c]["total"] for c in codes])
    row("embedding alone (fresh model)", [got[c]["embed_only"] for c in codes])
    row("  of it, garbage collection", [got[c].get("gc_alone") for c in codes])
    row(
        "beyond the embedding (total - embedding alone)",
        [got[c]["total"] - got[c]["embed_only"] for c in codes],
    )
    row("key texts alone (built before the embedding)", [got[c].get("key_texts") for c in codes])

    def ratio(label: str, base: Callable[[dict], float]) -> None:
        cells = "".join(f"{got[c]['total'] / max(base(got[c]), 1e-9):>9.2f}x" for c in codes)
        print(f"{label:<48}{cells}")

    ratio("total / embedding alone", lambda g: g["embed_only"])
    # Wall time: what the user waits for (the list scan's second thread shows only here);
    # on a shared machine it moves with the load, so only the columns of one run compare.
    row("wall s: cold semantic dedup", [got[c]["total_wall"] for c in codes])
    row("wall s: embedding alone", [got[c]["embed_only_wall"] for c in codes])
    walls = "".join(
        f"{got[c]['total_wall'] / max(got[c]['embed_only_wall'], 1e-9):>9.2f}x" for c in codes
    )
    print(f"{'wall: total / embedding alone':<48}{walls}")
    ratio("total / (key texts + embedding alone)", lambda g: g["embed_only"] + g["key_texts"])
    if args.run:  # the total holds exact and near too: the semantic step's own ratio
        step = "semantic step, all of it (run mode)"
        alone = [max(got[c]["embed_only"], 1e-9) for c in codes]
        spent = [got[c]["parts"].get(step, 0.0) for c in codes]
        cells = "".join(f"{(a + t) / a:>9.2f}x" for a, t in zip(alone, spent, strict=True))
        print(f"{'(embedding alone + semantic step) / embedding':<48}{cells}")
    same = all(got[c]["clusters"] == first["clusters"] for c in codes)
    print(f"same clusters: {same} ({len(first['clusters'])})")


if __name__ == "__main__":
    main()
