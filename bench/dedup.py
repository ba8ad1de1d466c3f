#!/usr/bin/env python3
"""Dedup benchmark: our exact / near / semantic dedup against datasketch and datatrove.

Data comes from ../shared/bench/gen_chat.py (planted exact and near duplicates, recorded in a
truth file). Every contender runs in its own subprocess, so "peak MB" is that process's own
maximum resident set (reading the file included). Pair precision / recall: every pair of lines
inside one predicted cluster vs every pair inside one planted cluster; malformed lines (which
a pipeline drops before dedup) are left out of both.

Every ours-* contender runs twice, with the code of --baseline (default 2009b00, main before
the speed work) and with this tree's, side by side in one run (the machine is shared: only
ratios within one run mean anything). The data gets --paraphrases (default 2%) planted
paraphrases too (bench/gen_data.py); "para rec" is the recall on those pairs alone.

Usage:
    .venv/bin/python bench/dedup.py --rows 100000
    .venv/bin/python bench/dedup.py --rows 5000 --only ours-near,datasketch

Peers run where they are importable: datasketch (a project dependency) in this Python,
datatrove in --peer-python (default /tmp/bench-venv/bin/python; `pip install datatrove` there,
not in the project). A peer that cannot be imported is skipped with a line saying so.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import unicodedata
from pathlib import Path

from baseline import BASELINE, baseline_tree
from gen_data import generate

REPO = Path(__file__).resolve().parents[1]
CONTENDERS = [
    "ours-exact",
    "ours-near",
    "ours-exact+near",
    "ours-semantic-fast",
    "ours-semantic-minilm",
    "datasketch",
    "datatrove",
]
_NONWORD = re.compile(r"\W+")


# -- helpers shared by workers -----------------------------------------------------------------


def peak_mb() -> float:
    # children too: datatrove forks its workers
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return max(own, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024


def norm(text: str) -> str:
    """gen_chat.py's norm(): NFKC, lower, runs of non-word characters -> one space."""
    return _NONWORD.sub(" ", unicodedata.normalize("NFKC", text).lower()).strip()


def concat_rows(path: Path):  # noqa: ANN201 - iterator of (line, text)
    """(line, contents joined by newlines) for every well-formed chat line, like gen_chat."""
    with path.open("rb") as fh:
        for line_no, raw in enumerate(fh, start=1):
            try:
                row = json.loads(raw)
                text = "\n".join(m["content"] for m in row["messages"])
            except (ValueError, KeyError, TypeError):
                continue
            if isinstance(text, str) and text:
                yield line_no, text


def _ours(data: Path, methods: str, model: str | None, cache: str | None) -> dict:
    import psutil

    sys.path.insert(0, os.environ.get("BENCH_CURATE_TREE", str(REPO)))
    from curate.dedup import DedupConfig, dedup
    from curate.records import Record, RecordReader

    t0 = time.perf_counter()
    records = [r for r in RecordReader(data) if isinstance(r, Record)]
    t_read = time.perf_counter() - t0
    rss_read = psutil.Process().memory_info().rss / 2**20
    cfg = DedupConfig(methods=methods, model=model, cache_dir=cache)
    if "semantic" in methods:
        from curate.embed import get_embedder

        get_embedder(model, cache_dir=False).encode(["load the model before timing"])
    # Peak resident memory during the dedup call alone (sampled), over what it started with:
    # ru_maxrss would also catch the reader's temporaries.
    import threading

    proc = psutil.Process()
    base = proc.memory_info().rss
    peak = [base]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.05):
            peak[0] = max(peak[0], proc.memory_info().rss)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    t1, c1 = time.perf_counter(), time.process_time()
    res = dedup(records, cfg)
    t_dedup, c_dedup = time.perf_counter() - t1, time.process_time() - c1
    done.set()
    sampler.join()
    peak[0] = max(peak[0], proc.memory_info().rss)
    out = {
        "seconds": time.perf_counter() - t0,
        "read_s": round(t_read, 2),
        "dedup_s": round(t_dedup, 2),
        "dedup_cpu": round(c_dedup, 2),
        "clusters": [[records[m].line for m in c.members] for c in res.clusters],
        "embedding_s": res.stats.get("embedding_seconds"),
        "rss_read_mb": rss_read,
        "dedup_peak_mb": (peak[0] - base) / 2**20,
    }
    if "semantic" in methods:
        from curate.dedup import key_text
        from curate.embed import get_embedder

        t2, c2 = time.perf_counter(), time.process_time()
        again = dedup(records, cfg)  # every vector now comes from the cache
        out["rerun_s"] = round(time.perf_counter() - t2, 2)
        out["rerun_cpu"] = round(time.process_time() - c2, 2)
        out["rerun_same"] = [c.members for c in again.clusters] == [c.members for c in res.clusters]
        texts = [key_text(r, cfg.key) for r in records]
        # The embedding alone, as the dedup call met it: a model loaded and warmed with one
        # text, nothing else seen. The static model is cached per process and its tokenizer
        # keeps every word it has looked up, so after the dedup calls it would tokenise these
        # texts from a warm word cache (~6% less CPU than dedup's own embedding had).
        from curate import embed as embed_module

        fresh = getattr(getattr(embed_module, "_static_model", None), "cache_clear", None)
        if fresh is not None:
            fresh()
        embedder = get_embedder(model, cache_dir=False)
        embedder.encode(["load the model before timing"])
        t3, c3 = time.perf_counter(), time.process_time()
        embedder.encode(texts)
        out["embed_only_s"] = round(time.perf_counter() - t3, 2)
        out["embed_only_cpu"] = round(time.process_time() - c3, 2)
    return out


def _datasketch(data: Path, threshold: float) -> dict:
    from datasketch import MinHash, MinHashLSH

    t0 = time.perf_counter()
    lsh = MinHashLSH(threshold=threshold, num_perm=128)
    parent: dict[int, int] = {}

    def find(x: int) -> int:
        while parent.get(x, x) != x:
            x = parent[x]
        return x

    for line, text in concat_rows(data):
        toks = norm(text).split()
        grams = {" ".join(toks[i : i + 5]) for i in range(max(1, len(toks) - 4))}
        mh = MinHash(num_perm=128, seed=1)
        mh.update_batch([g.encode() for g in grams])
        for other in lsh.query(mh):
            a, b = find(line), find(other)
            if a != b:
                parent[max(a, b)] = min(a, b)
        lsh.insert(line, mh)
    groups: dict[int, list[int]] = {}
    for x in parent:
        groups.setdefault(find(x), []).append(x)
    clusters = [sorted({root, *members}) for root, members in groups.items()]
    return {"seconds": time.perf_counter() - t0, "clusters": clusters}


def _datatrove(data: Path, workers: int) -> dict:
    from datatrove.data import Document
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.dedup import (
        MinhashDedupBuckets,
        MinhashDedupCluster,
        MinhashDedupFilter,
        MinhashDedupSignature,
    )
    from datatrove.pipeline.dedup.minhash import MinhashConfig
    from datatrove.pipeline.writers import JsonlWriter

    t0 = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="dt-"))
    cfg = MinhashConfig()
    n_files = workers

    def reader(rank: int = 0, world_size: int = 1):  # noqa: ANN202 - a datatrove reader
        for k, (line, text) in enumerate(concat_rows(data)):
            if k % world_size == rank:
                yield Document(text=text, id=str(line))

    class Reader:  # a minimal pipeline step yielding the documents of one shard
        def __call__(self, data, rank: int = 0, world_size: int = 1):  # noqa: ANN204
            yield from reader(rank, world_size)

    log = str(work / "logs")
    LocalPipelineExecutor(
        [Reader(), MinhashDedupSignature(output_folder=str(work / "sigs"), config=cfg)],
        tasks=n_files,
        workers=workers,
        logging_dir=log + "1",
    ).run()
    LocalPipelineExecutor(
        [
            MinhashDedupBuckets(
                input_folder=str(work / "sigs"), output_folder=str(work / "buckets"), config=cfg
            )
        ],
        tasks=cfg.num_buckets,
        workers=workers,
        logging_dir=log + "2",
    ).run()
    LocalPipelineExecutor(
        [
            MinhashDedupCluster(
                input_folder=str(work / "buckets"),
                output_folder=str(work / "rm"),
                config=cfg,
                save_cluster_id=True,
            )
        ],
        tasks=1,
        logging_dir=log + "3",
    ).run()
    LocalPipelineExecutor(
        [
            Reader(),
            MinhashDedupFilter(
                input_folder=str(work / "rm"),
                load_cluster_ids=True,
                exclusion_writer=JsonlWriter(str(work / "removed")),
            ),
            JsonlWriter(str(work / "kept")),
        ],
        tasks=n_files,
        workers=workers,
        logging_dir=log + "4",
    ).run()
    groups: dict[int, list[int]] = {}
    import gzip

    for f in sorted((work / "kept").glob("*")) + sorted((work / "removed").glob("*")):
        with gzip.open(f, "rt") as fh:
            for raw in fh:
                doc = json.loads(raw)
                cid = doc.get("metadata", {}).get("minhash_cluster_id")
                if cid is not None and cid != -1:
                    groups.setdefault(cid, []).append(int(doc["id"]))
    clusters = [sorted(g) for g in groups.values() if len(g) > 1]
    return {"seconds": time.perf_counter() - t0, "clusters": clusters}


def worker(name: str, data: Path, args: argparse.Namespace) -> dict:
    cache = tempfile.mkdtemp(prefix="emb-cache-")
    if name == "ours-exact":
        out = _ours(data, "exact", None, cache)
    elif name == "ours-near":
        out = _ours(data, "near", None, cache)
    elif name == "ours-exact+near":
        out = _ours(data, "exact,near", None, cache)
    elif name == "ours-semantic-fast":
        out = _ours(data, "semantic", "fast", cache)
    elif name == "ours-semantic-minilm":
        out = _ours(data, "semantic", "minilm", cache)
    elif name == "datasketch":
        out = _datasketch(data, args.threshold)
    elif name == "datatrove":
        out = _datatrove(data, args.workers)
    else:
        raise SystemExit(f"unknown contender {name}")
    out["peak_mb"] = round(peak_mb())
    shutil.rmtree(cache, ignore_errors=True)
    return out


# -- parent ------------------------------------------------------------------------------------


def pairs_of(clusters: list[list[int]], skip: set[int]) -> set[tuple[int, int]]:
    """All pairs inside one group, groups being clusters merged transitively (an exact
    cluster and a near cluster sharing a record are one group)."""
    parent: dict[int, int] = {}

    def find(x: int) -> int:
        while parent.get(x, x) != x:
            parent[x] = parent.get(parent[x], parent[x])
            x = parent[x]
        return x

    for c in clusters:
        for m in c[1:]:
            a, b = find(c[0]), find(m)
            if a != b:
                parent[max(a, b)] = min(a, b)
    groups: dict[int, set[int]] = {}
    for c in clusters:
        for m in c:
            groups.setdefault(find(m), set()).add(m)
    out = set()
    for g in groups.values():
        members = sorted(m for m in g if m not in skip)
        for i, a in enumerate(members):
            for b in members[i + 1 :]:
                out.add((a, b))
    return out


def run_one(
    name: str, data: Path, args: argparse.Namespace, tree: Path | None = None
) -> dict | str:
    python = args.peer_python if name == "datatrove" else sys.executable
    if not Path(python).exists():
        return f"skipped: {python} not found (create it and `pip install datatrove` there)"
    probe = {"datasketch": "datasketch", "datatrove": "datatrove"}.get(name)
    if probe and subprocess.run([python, "-c", f"import {probe}"], capture_output=True).returncode:
        return f"skipped: {probe} is not importable in {python}"
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as tmp:
        result_path = tmp.name
    cmd = [
        python,
        __file__,
        "--worker",
        name,
        "--data",
        str(data),
        "--result",
        result_path,
        "--threshold",
        str(args.threshold),
        "--workers",
        str(args.workers),
    ]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    if tree is not None:
        env["BENCH_CURATE_TREE"] = str(tree)
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode:
        tail = proc.stderr.strip().splitlines()
        return f"failed: {tail[-1] if tail else proc.returncode}"
    return json.loads(Path(result_path).read_text())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument(
        "--minilm-rows",
        type=int,
        default=1000,
        help="rows for the MiniLM semantic run (~40 long texts/s on 2 cores)",
    )
    ap.add_argument("--only", help="comma-separated contenders: " + ",".join(CONTENDERS))
    ap.add_argument("--workdir", default=os.path.join(tempfile.gettempdir(), "curate-bench-dedup"))
    ap.add_argument("--peer-python", default="/tmp/bench-venv/bin/python")
    ap.add_argument("--threshold", type=float, default=0.75, help="Jaccard for MinHash peers")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument(
        "--paraphrases",
        type=float,
        default=0.02,
        help="share of rows added as planted paraphrases (gen_data.py); 0: copies only",
    )
    ap.add_argument(
        "--baseline",
        default=BASELINE,
        help="commit whose code runs beside this tree's for every ours-* contender",
    )
    ap.add_argument("--no-baseline", action="store_true")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--data", help=argparse.SUPPRESS)
    ap.add_argument("--result", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        out = worker(args.worker, Path(args.data), args)
        Path(args.result).write_text(json.dumps(out))
        return

    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    names = args.only.split(",") if args.only else CONTENDERS
    old_tree = None if args.no_baseline else baseline_tree(args.baseline)
    print(
        f"{'contender':<22}{'code':<9}{'rows':>8}{'seconds':>9}{'rows/s':>9}{'peak MB':>9}"
        f"{'pairs':>8}{'prec':>7}{'recall':>8}{'para rec':>9}  notes"
    )
    for name in names:
        rows = args.minilm_rows if name == "ours-semantic-minilm" else args.rows
        data, truth_path = generate(rows, args.seed, workdir, paraphrases=args.paraphrases)
        truth = json.loads(truth_path.read_text())
        malformed = {line for line, _ in truth["malformed"]}
        truth_pairs = pairs_of(truth["clusters"], malformed)
        para_pairs = {(min(a, b), max(a, b)) for a, b, _ in truth.get("paraphrase", [])}
        runs = [("new", None)]
        if old_tree is not None and name.startswith("ours-"):
            runs.insert(0, (args.baseline, old_tree))
        for code, tree in runs:
            got = run_one(name, data, args, tree)
            if isinstance(got, str):
                print(f"{name:<22}{code:<9}{rows:>8}  {got}")
                continue
            _print_row(name, code, rows, got, truth, truth_pairs, para_pairs, malformed)
    print(
        f"truth: {len(truth_pairs)} duplicate pairs at {args.rows} rows, {len(para_pairs)} of "
        "them planted paraphrases (malformed lines excluded); thresholds: ours near Jaccard "
        "0.75 (verified), semantic cosine 0.90 centred (fast) / 0.95 (MiniLM); datasketch "
        f"Jaccard {args.threshold} (estimated, 128 perms); datatrove defaults (14 buckets x 8 "
        "hashes). 'para rec': recall on the paraphrase pairs alone."
    )


def _print_row(
    name: str,
    code: str,
    rows: int,
    got: dict,
    truth: dict,
    truth_pairs: set,
    para_pairs: set,
    malformed: set,
) -> None:
    pred = pairs_of(got["clusters"], malformed)
    hit = len(pred & truth_pairs)
    prec = hit / len(pred) if pred else 1.0
    rec = hit / len(truth_pairs) if truth_pairs else 1.0
    para = len(pred & para_pairs) / len(para_pairs) if para_pairs else float("nan")
    notes = []
    if name == "ours-exact":
        exact_pairs = pairs_of([[s, c] for c, s, _ in truth["exact"]], malformed)
        notes.append(
            f"recall on planted exact copies {len(pred & exact_pairs) / len(exact_pairs):.3f}"
        )
    if "read_s" in got:
        notes.append(f"read {got['read_s']}s dedup {got['dedup_s']}s")
        over = got.get("dedup_peak_mb", 0.0)
        notes.append(
            f"dedup's own peak over the loaded records {over:.0f} MB ({1024 * over / rows:.2f} "
            "KB/row)"
        )
    if "embed_only_s" in got:
        notes.append(
            f"embedding {got['embedding_s']:.1f}s of it (total/embedding "
            f"{got['dedup_s'] / max(got['embedding_s'], 1e-9):.2f}x); embed-only run "
            f"{got['embed_only_s']}s (total/embed-only wall "
            f"{got['dedup_s'] / max(got['embed_only_s'], 1e-9):.2f}x); cached rerun "
            f"{got['rerun_s']}s ({got['dedup_s'] / max(got['rerun_s'], 1e-9):.1f}x faster, "
            f"same clusters: {got['rerun_same']})"
        )
        if "embed_only_cpu" in got:  # CPU seconds: what a shared machine's load stretches least
            notes.append(
                f"CPU s: dedup {got['dedup_cpu']}, embed-only {got['embed_only_cpu']} (total/"
                f"embedding {got['dedup_cpu'] / max(got['embed_only_cpu'], 1e-9):.2f}x), cached "
                f"rerun {got['rerun_cpu']} "
                f"({got['dedup_cpu'] / max(got['rerun_cpu'], 1e-9):.1f}x faster)"
            )
    print(
        f"{name:<22}{code:<9}{rows:>8}{got['seconds']:>9.1f}{rows / got['seconds']:>9.0f}"
        f"{got['peak_mb']:>9}{len(pred):>8}{prec:>7.3f}{rec:>8.3f}{para:>9.3f}  "
        f"{'; '.join(notes)}",
        flush=True,
    )


if __name__ == "__main__":
    main()
