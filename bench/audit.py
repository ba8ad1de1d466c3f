"""Benchmark `curate audit` on a large chat file: time per stage, peak memory, and what the two
costly stages would take without the audit's shortcuts (the baseline column).

    python bench/audit.py data.jsonl [--model fast] [--max-embed 20000] [--language-sample 10000]

Baselines are extrapolated from a timed sample of 300 texts: langdetect on every user and
assistant text (no English/CJK fast path, no sampling), and embedding every conversation with
the packaged MiniLM.
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np

from curate.audit import AuditConfig, audit_path
from curate.audit.convs import to_conv
from curate.audit.diversity import embed_texts
from curate.audit.run import read_for_audit
from curate.language import detect_language

SAMPLE = 300


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
    a = ap.parse_args()

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
