"""Benchmark `curate audit` on a large chat file: time per stage, peak memory, and what the two
costly stages would take without the audit's shortcuts (the baseline column).

    python bench/audit.py data.jsonl [--model fast] [--max-embed 20000] [--language-sample 10000]
    python bench/audit.py data.jsonl --compare [--baseline 34aaea4] [--hostile 20000]
    python bench/audit.py data.jsonl --memory [--baseline 34aaea4]
    python bench/audit.py data.jsonl --command 3 [--baseline 34aaea4]

``--compare``: the audit without embeddings, the baseline commit's code beside this tree's in
one run (child processes, one after the other), in seconds per 100k rows: standalone
(``curate audit --no-embeddings``, which hashes the rows for the duplicate share itself) in CPU
seconds of one process, and in wall seconds with every CPU (``parallel``: the fingerprints
hashed in ``run.workers`` processes, as ``curate audit`` does; the worker CPU is not in the
first figure), and as the audit stage of ``curate run`` (dedup's fingerprints given), CPU
seconds. Each pair of reports must be
equal key for key (``--json``), and so must each finding's rows; a seeded hostile copy of the
first ``--hostile`` rows (planted loops, repeated sentences, refusals, placeholders, lists,
tables, code, non-ASCII and odd whitespace) checks the detectors the generated data never
triggers.

``--command N``: the standalone command as a user runs it (``curate audit PATH
--no-embeddings --json``, default workers), the baseline's code and this tree's taking turns N
times: wall seconds, CPU seconds of the process tree and of the command's own process (polled
with psutil, as ``bench/run.py``), and whether the JSON reports (minus timings) are equal.

Baselines are extrapolated from a timed sample of 300 texts: langdetect on every user and
assistant text (no English/CJK fast path, no sampling), and embedding every conversation with
the packaged MiniLM.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from baseline import BASELINE, baseline_tree
from run import measure

from curate.audit import AuditConfig, audit_path
from curate.audit.convs import to_conv
from curate.audit.diversity import embed_texts
from curate.audit.run import read_for_audit
from curate.language import detect_language

SAMPLE = 300
ROOT = Path(__file__).resolve().parents[1]

# Run in a child with PYTHONPATH = the code under test: CPU seconds of the audit alone.
CHILD = r"""
import gc, json, sys, time
import curate
assert curate.__file__.startswith(sys.argv[3]), (curate.__file__, sys.argv[3])
from curate.audit import AuditConfig, audit
from curate.audit.run import read_for_audit
from curate.dedup import DedupConfig
from curate.dedup.features import compute_features
path, out = sys.argv[1], sys.argv[2]
records, bad, _ = read_for_audit(path)
config = AuditConfig(embeddings=False)
result = {}
def rows(report):
    return [f.rows for f in report.findings]
t0 = time.process_time()
report = audit(records, config, bad_lines=bad, source=path)
result["standalone"] = time.process_time() - t0
result["standalone_report"] = report.to_dict()
result["standalone_rows"] = rows(report)
del report
gc.collect()
try:  # `curate audit` hashes in run.workers processes where the tree can
    from curate.dedup.features import workers
except ImportError:
    import contextlib
    workers = lambda n: contextlib.nullcontext()
t0 = time.perf_counter()
with workers(0):
    report = audit(records, config, bad_lines=bad, source=path)
result["parallel"] = time.perf_counter() - t0
result["parallel_report"] = report.to_dict()
result["parallel_rows"] = rows(report)
del report
gc.collect()
dc = DedupConfig(methods=("exact", "near"), key="conversation", seed=0)
features = compute_features(records, dc, True)
t0 = time.process_time()
report = audit(records, config, bad_lines=bad, source=path, features=features)
result["stage"] = time.process_time() - t0
result["stage_report"] = report.to_dict()
result["stage_rows"] = rows(report)
result["records"] = len(records) + len(bad)
json.dump(result, open(out, "w"))
"""


# The audit stage's memory: what ``audit()`` allocates beyond its input (tracemalloc, started
# just before it: its peak and what is still held at its end besides the report), and the
# process's peak RSS before and after it (fingerprints given, as in ``curate run``).
MEM_CHILD = r"""
import gc, json, resource, sys, tracemalloc
import curate
assert curate.__file__.startswith(sys.argv[3]), (curate.__file__, sys.argv[3])
from curate.audit import AuditConfig, audit
from curate.audit.run import read_for_audit
from curate.dedup import DedupConfig
from curate.dedup.features import compute_features
path, out = sys.argv[1], sys.argv[2]
records, bad, _ = read_for_audit(path)
dc = DedupConfig(methods=("exact", "near"), key="conversation", seed=0)
features = compute_features(records, dc, True)
gc.collect()
rss = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
before = rss()
if sys.argv[4] == "trace":
    tracemalloc.start()
config = AuditConfig(embeddings=False)
report = audit(records, config, bad_lines=bad, source=path, features=features)
result = {"records": len(records) + len(bad)}
if sys.argv[4] == "rss":  # (tracemalloc's own bookkeeping would inflate the RSS)
    result["rss_before"], result["rss_after"] = before, rss()
else:
    end, peak = tracemalloc.get_traced_memory()
    result["traced_peak"], result["traced_end"] = peak / 2**20, end / 2**20
json.dump(result, open(out, "w"))
"""


def memory(path: str, rev: str) -> None:
    """Peak RSS and tracemalloc figures of the audit stage, ``rev`` beside this tree."""
    old_tree = baseline_tree(rev)
    tmp = Path(tempfile.mkdtemp(prefix="curate-audit-mem-"))
    print(f"audit stage memory, MB ({rev} vs this tree), {Path(path).name}")
    print(f"{'measure':<40}{rev:>10}{'new':>10}")
    got: dict[str, dict] = {}
    for mode in ("rss", "trace"):
        for name, tree in (("old", old_tree), ("new", ROOT)):
            env = {**os.environ, "PYTHONPATH": str(tree)}
            env.setdefault("OMP_NUM_THREADS", "1")
            out = tmp / f"{name}-{mode}.json"
            subprocess.run(
                [sys.executable, "-c", MEM_CHILD, os.path.abspath(path), str(out), str(tree), mode],
                env=env,
                check=True,
                cwd=tree,
            )
            got.setdefault(name, {}).update(json.loads(out.read_text()))
    o, n = got["old"], got["new"]
    rows = [
        ("peak RSS before the audit", "rss_before"),
        ("peak RSS after the audit", "rss_after"),
        ("tracemalloc peak inside audit()", "traced_peak"),
        ("tracemalloc held at its end (report)", "traced_end"),
    ]
    for label, key in rows:
        print(f"{label:<40}{o[key]:>10.0f}{n[key]:>10.0f}")
    print(
        f"{'RSS growth in the audit':<40}{o['rss_after'] - o['rss_before']:>10.0f}"
        f"{n['rss_after'] - n['rss_before']:>10.0f}"
    )


def hostile_copy(path: str, rows: int, dest: Path, seed: int = 15) -> Path:
    """The first ``rows`` lines of ``path`` with seeded planted oddities in about half the
    answers (what the generated data never has), for the report-equality check."""
    rng = random.Random(seed)
    loops = ["the the the the the the the", "I am I am I am I am sure", "go to go to go to go to"]
    oddities = [
        lambda a: a + " " + rng.choice(loops),
        lambda a: " ".join([a.split(".")[0] + "."] * 4) + " " + a,
        lambda a: "I'm sorry, but I can't help with that request. " + a,
        lambda a: "As an AI language model, I cannot do that.",
        lambda a: a + " Regards, [Your Name] {{ user.name }} <COMPANY_NAME>",
        lambda a: "- one\n- two\n- three\n\n1. first\n2) second\n" + a,
        lambda a: "| a | b |\n|---|---|\n| 1 | 2 |\n\n**Bold** " + a,
        lambda a: "```python\nx x x x x x x\n```\n" + a,
        lambda a: "这是一个中文回答。这是一个中文回答。这是一个中文回答。" + a,
        lambda a: a.replace(" ", "\x1c", 3),
        lambda a: a.replace(" ", "\t", 5).replace(".", "!\n", 2),
        lambda a: "7 7 7 7 7 7 7 " + a,
        lambda a: "",
        lambda a: "Ok.",
    ]
    with open(path, encoding="utf-8") as src, open(dest, "w", encoding="utf-8") as out:
        for i, line in enumerate(src):
            if i >= rows:
                break
            try:
                row = json.loads(line)
                msg = row["messages"][-1]
                if rng.random() < 0.5 and isinstance(msg.get("content"), str):
                    msg["content"] = rng.choice(oddities)(msg["content"])
                line = json.dumps(row, ensure_ascii=rng.random() < 0.5) + "\n"
            except (ValueError, KeyError, TypeError, IndexError, AttributeError):
                pass  # a broken line stays as it is: the audit reports it
            out.write(line)
    return dest


def run_child(tree: Path, path: str, out: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    env.setdefault("OMP_NUM_THREADS", "1")
    # cwd = the tree: ``python -c`` puts the working directory first on sys.path.
    subprocess.run(
        [sys.executable, "-c", CHILD, os.path.abspath(path), str(out), str(tree)],
        env=env,
        check=True,
        cwd=tree,
    )
    return json.loads(out.read_text())


# `curate audit PATH --no-embeddings --json` with stdout to a file (``measure`` drops it).
COMMAND = r"""
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
os.dup2(fd, 1)
# ``python -c`` puts the working directory first: from a checkout it would shadow the tree.
if sys.path and sys.path[0] == "":
    del sys.path[0]
import curate
assert curate.__file__.startswith(sys.argv[2]), (curate.__file__, sys.argv[2])
from curate.cli import main
sys.argv = ["curate", "audit", sys.argv[3], "--no-embeddings", "--json"]
main()
"""


def command(path: str, rev: str, repeat: int) -> bool:
    """The standalone command itself, ``rev``'s code and this tree's taking turns (``repeat``
    pairs): wall seconds, CPU seconds of the whole process tree (workers included) and of the
    command's own process, per 100k rows, and the tree's peak memory (not per 100k); its JSON
    output (minus timings) must be equal."""
    old_tree = baseline_tree(rev)
    tmp = Path(tempfile.mkdtemp(prefix="curate-audit-cmd-"))
    rows = sum(1 for _ in open(path, "rb"))
    per = 100_000 / rows
    print(f"`curate audit --no-embeddings --json`, per 100k rows ({rev} vs this tree)")
    print(
        f"{'pair':<6}{'code':<10}{'wall s':>8}{'CPU s':>8}{'own CPU':>9}{'peak GiB':>10}"
        f"{'exit':>6}  load"
    )
    same, walls = True, {"old": [], "new": []}
    outs: dict[str, dict] = {}
    for k in range(repeat):
        for name, tree in (("old", old_tree), ("new", ROOT)):
            env = {**os.environ, "PYTHONPATH": str(tree)}
            env.setdefault("CURATE_CACHE_DIR", str(tmp / "cache"))
            out = tmp / f"{name}.json"
            load = os.getloadavg()[0]
            cmd = [sys.executable, "-c", COMMAND, str(out), str(tree), os.path.abspath(path)]
            wall, cpu, peak, code, own = measure(cmd, env)
            walls[name].append(wall * per)
            label = rev if name == "old" else "new"
            print(
                f"{k + 1:<6}{label:<10}{wall * per:>8.1f}{cpu * per:>8.1f}{own * per:>9.1f}"
                f"{peak:>10.2f}{code:>6}  {load:.1f}"
            )
            report = json.loads(out.read_text())
            report.pop("timings", None)
            outs[name] = report
        same &= outs["old"] == outs["new"]
    print(
        f"best wall: {rev} {min(walls['old']):.1f} s, new {min(walls['new']):.1f} s; "
        f"reports {'identical' if same else 'DIFFERENT'}"
    )
    return same


def compare(path: str, rev: str, hostile: int) -> bool:
    old_tree = baseline_tree(rev)
    tmp = Path(tempfile.mkdtemp(prefix="curate-audit-bench-"))
    inputs = [path]
    if hostile:
        inputs.append(str(hostile_copy(path, hostile, tmp / "hostile.jsonl")))
    same_all = True
    print(f"audit without embeddings, seconds per 100k rows ({rev} vs this tree)")
    print("  standalone, stage: CPU of one process (workers 1); parallel: wall, every CPU")
    print(f"{'input':<22}{'mode':<12}{rev:>10}{'new':>10}{'ratio':>8}  report")
    for inp in inputs:
        old = run_child(old_tree, inp, tmp / "old.json")
        new = run_child(ROOT, inp, tmp / "new.json")
        per = 100_000 / old["records"]
        name = Path(inp).name[:21]
        for mode in ("standalone", "parallel", "stage"):
            same = (
                old[f"{mode}_report"] == new[f"{mode}_report"]
                and old[f"{mode}_rows"] == new[f"{mode}_rows"]
            )
            same_all &= same
            print(
                f"{name:<22}{mode:<12}{old[mode] * per:>10.1f}{new[mode] * per:>10.1f}"
                f"{old[mode] / new[mode]:>7.1f}x  {'identical' if same else 'DIFFERENT'}"
            )
    return same_all


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def baselines(path: str, seed: int) -> dict[str, float]:
    """Seconds per text for full langdetect and for MiniLM, from a seeded sample."""
    records, _, _ = read_for_audit(path)
    convs = [c for c in map(to_conv, records) if c is not None]
    rng = np.random.default_rng(seed)
    pick = [convs[int(i)] for i in rng.choice(len(convs), SAMPLE, replace=False)]
    texts = [c.role_text.get(r, "") for c in pick for r in ("user", "assistant")]
    detect_language("warm up the profiles", seed)
    t0 = time.perf_counter()
    for t in texts:
        detect_language(t[:400], seed)
    per_detect = (time.perf_counter() - t0) / len(texts)
    from curate.embed import get_embedder

    emb = get_embedder(None, cache_dir=False)
    emb.encode(["warm up"])
    t0 = time.perf_counter()
    emb.encode(embed_texts(pick, "conversation"))
    per_embed = (time.perf_counter() - t0) / SAMPLE
    return {"n": len(convs), "detect": per_detect, "embed": per_embed}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("path")
    ap.add_argument("--model", default="fast")
    ap.add_argument("--max-embed", type=int, default=None)
    ap.add_argument("--language-sample", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-baseline", action="store_true")
    ap.add_argument("--compare", action="store_true", help="baseline commit vs this tree")
    ap.add_argument("--baseline", default=BASELINE)
    ap.add_argument("--hostile", type=int, default=20_000)
    ap.add_argument("--memory", action="store_true", help="audit stage memory, baseline vs now")
    ap.add_argument(
        "--command",
        type=int,
        default=0,
        metavar="N",
        help="time the standalone command, N pairs of baseline and this tree taking turns",
    )
    a = ap.parse_args()
    if a.command:
        sys.exit(0 if command(a.path, a.baseline, a.command) else 1)
    if a.memory:
        memory(a.path, a.baseline)
        return
    if a.compare:
        sys.exit(0 if compare(a.path, a.baseline, a.hostile) else 1)

    config = AuditConfig(
        seed=a.seed,
        model=a.model,
        max_embed=a.max_embed,
        language_sample=a.language_sample,
    )
    t0 = time.perf_counter()
    report = audit_path(a.path, config)
    wall = time.perf_counter() - t0
    peak = peak_rss_mb()
    m = report.metrics
    print(f"records {m['records']:,}  conversations {m['conversations']:,}")
    print(f"{'stage':<18}{'seconds':>10}")
    for stage, sec in report.timings.items():
        print(f"{stage:<18}{sec:>10.1f}")
    print(f"{'wall':<18}{wall:>10.1f}")
    print(f"peak RSS {peak:,.0f} MB")
    print(
        "flagged records: "
        + ", ".join(f"{c} {m[c]:,}" for c in report.to_dict()["summary"]["flagged"] if m[c])
    )
    print(
        f"languages checked {report.languages['checked']:,}; embeddings on "
        f"{report.diversity.get('embeddings', {}).get('rows', 0):,} rows ({a.model})"
    )
    if a.no_baseline:
        return
    b = baselines(a.path, a.seed)
    n = b["n"]
    lang_now = report.timings.get("languages", 0.0)
    emb_now = report.timings.get("embeddings", 0.0)
    print()
    print(f"{'stage':<34}{'this audit':>12}{'baseline':>12}")
    print(
        f"{'languages (all rows, langdetect)':<34}{lang_now:>11.1f}s{b['detect'] * 2 * n:>11.0f}s"
    )
    print(f"{'embeddings (all rows, MiniLM)':<34}{emb_now:>11.1f}s{b['embed'] * n:>11.0f}s")


if __name__ == "__main__":
    main()
