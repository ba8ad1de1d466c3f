"""Diversity: topic clusters on embeddings, pairwise distance, distinct-n, label balance and
near-duplicate share, each with a plain-language reading.

Thresholds in the readings are rules of thumb for the default MiniLM-family embedders; the
numbers themselves are in the report so a user can set their own gates.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from curate.audit.convs import Conv, Lazy, lookup
from curate.audit.kmeans import choose_k, spherical_kmeans
from curate.audit.languages import sample_indices
from curate.audit.model import AuditConfig
from curate.chat import side_text
from curate.records import Record, last_string_member

PAIRWISE_SAMPLE = 2_000
MODEL_MAX_EMBED = 5_000
STATIC_MAX_EMBED = 50_000
DISTINCT_TOKEN_BUDGET = 50_000  # distinct-n falls as a corpus grows; a fixed budget compares sets
MIN_ROWS_FOR_CLUSTERS = 10
EMBED_CHARS = 2_000  # MiniLM sees ~256 tokens anyway
# "The largest 20% of clusters hold X% of the data": 20% if topics were spread evenly.
TOP_CLUSTER_FRACTION = 0.2
_TOKEN = re.compile(r"[\u2e80-\u9fff\u3040-\u30ff\uac00-\ud7af]|[^\W_]+", re.UNICODE)


def tokens_of(text: str) -> list[str]:
    """Words for spaced scripts, single characters for CJK (which has no spaces)."""
    return _TOKEN.findall(text.casefold())


def distinct_n(texts: Sequence[str], seed: int, budget: int = DISTINCT_TOKEN_BUDGET) -> dict:
    """distinct-1/2 (unique n-grams / n-grams) over a seeded sample of about ``budget`` tokens."""
    order = np.random.default_rng(seed).permutation(len(texts))
    uni: set[str] = set()
    bi: set[tuple[str, str]] = set()
    n_uni = n_bi = 0
    for i in order:
        toks = tokens_of(texts[int(i)])
        uni.update(toks)
        bi.update(zip(toks, toks[1:], strict=False))
        n_uni += len(toks)
        n_bi += max(0, len(toks) - 1)
        if n_uni >= budget:
            break
    return {
        "distinct_1": round(len(uni) / n_uni, 4) if n_uni else 0.0,
        "distinct_2": round(len(bi) / n_bi, 4) if n_bi else 0.0,
        "tokens": n_uni,
    }


def embed_texts(convs: Sequence[Conv], side: str) -> list[str]:
    return [side_text(c.messages, side)[:EMBED_CHARS] for c in convs]  # type: ignore[arg-type]


def embed_limit(config: AuditConfig) -> int:
    """``config.max_embed``, or a default that keeps the embedder to a few minutes on a CPU."""
    if config.max_embed is not None:
        return config.max_embed
    from curate.embed import is_static_model

    return STATIC_MAX_EMBED if is_static_model(config.model) else MODEL_MAX_EMBED


def compute_embeddings(convs: Sequence[Conv], config: AuditConfig) -> tuple[np.ndarray, np.ndarray]:
    """Embed a seeded sample of at most ``max_embed`` conversations.

    Returns:
        (indices into ``convs``, float32 L2-normalised vectors for them).
    """
    from curate.embed import get_embedder

    idx = sample_indices(len(convs), embed_limit(config), config.seed)
    texts = embed_texts([convs[int(i)] for i in idx], config.embed_side)
    vecs = get_embedder(config.model).encode(texts)
    return idx, np.asarray(vecs, dtype=np.float32)


def cluster_stats(vecs: np.ndarray, config: AuditConfig) -> dict[str, Any]:
    """k-means topic clusters and how evenly the data spreads over them."""
    n = len(vecs)
    k = choose_k(n, config.max_clusters)
    labels = spherical_kmeans(vecs, k, config.seed)
    out = cluster_summary(np.bincount(labels, minlength=k), k)
    # Per row, its cluster: the report names topics from it; popped before the JSON.
    out["assignment"] = labels
    return out


def cluster_summary(sizes: np.ndarray, k: int) -> dict[str, Any]:
    """The clusters' section from their sizes (``k`` of them, summing to the row count)."""
    n = int(sizes.sum())
    sizes_sorted = np.sort(sizes)[::-1]
    p = sizes[sizes > 0] / n
    entropy = float(-(p * np.log(p)).sum() / math.log(k)) if k > 1 else 0.0
    top_n = max(1, round(k * TOP_CLUSTER_FRACTION))
    top_share = float(sizes_sorted[:top_n].sum() / n)
    cum = np.cumsum(sizes_sorted) / n
    for80 = int(np.searchsorted(cum, 0.8 - 1e-9) + 1)
    return {
        "k": k,
        "sizes": [int(s) for s in sizes_sorted],
        "entropy": round(entropy, 4),
        "top_clusters": top_n,
        "top_share": round(top_share, 4),
        "clusters_for_80pct": for80,
        "coverage": round(for80 / k, 4),
    }


def mean_pairwise_distance(vecs: np.ndarray, seed: int) -> float:
    """Mean cosine distance over all pairs of a seeded sample of at most 2,000 vectors."""
    return pairwise_mean(vecs[sample_indices(len(vecs), PAIRWISE_SAMPLE, seed)])


def pairwise_mean(sample: np.ndarray) -> float:
    """``mean_pairwise_distance`` of the sampled vectors themselves (in sample order)."""
    v = np.asarray(sample).astype(np.float64)
    m = len(v)
    if m < 2:
        return 0.0
    sims = v @ v.T
    mean_sim = (sims.sum() - np.trace(sims)) / (m * (m - 1))
    return round(float(1.0 - mean_sim), 4)


def label_balance(convs: Sequence[Conv] | Sequence[Record], path: str) -> dict[str, Any]:
    """Counts per label value at a dotted path, entropy and imbalance ratio (of the ``data``
    of conversation views or of their records: the same)."""
    counts: Counter[str] = Counter()
    missing = 0
    top = "." not in path
    for c in convs:
        # A top-level string label that ends a packed record: read without parsing it.
        value = last_string_member(c, path) if top else None
        if value is None:
            value = lookup(c.data, path)
        if value is None or isinstance(value, dict | list):
            missing += 1
        else:
            counts[str(value)] += 1
    return label_stats(path, counts, missing)


def label_stats(path: str, counts: Counter[str], missing: int) -> dict[str, Any]:
    """Label counts as the report shows them: shares, normalised entropy, imbalance ratio
    (one function for the local audit and the Ray engine's merged counter)."""
    total = sum(counts.values())
    k = len(counts)
    items = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    entropy = 0.0
    if k > 1:
        p = np.array([v for _, v in items], dtype=float) / total
        entropy = float(-(p * np.log(p)).sum() / math.log(k))
    return {
        "field": path,
        "labels": k,
        "missing": missing,
        "counts": [{"label": lab, "count": v, "share": round(v / total, 4)} for lab, v in items],
        "entropy": round(entropy, 4),
        "imbalance": round(items[0][1] / items[-1][1], 2) if items else 0.0,
    }


def duplicate_config() -> Any:
    """The dedup settings of the duplicate share (``curate.dedup.DedupConfig``)."""
    from curate.dedup import DedupConfig

    return DedupConfig(methods=("exact", "near"), key="conversation", seed=0)


def near_duplicate_share(records: Sequence[Record], features: Any = None) -> dict[str, Any]:
    """Share of records that duplicate an earlier one: exact after normalisation, or near
    (MinHash, verified 5-gram Jaccard >= 0.75), by ``curate.dedup`` on whole conversations.

    The MinHash seed is fixed: pairs are verified on true Jaccard, so the share hardly depends
    on it, and a fixed seed keeps it identical whatever ``--seed`` the audit runs with.
    ``features``: dedup fingerprints of ``records`` (one row each), used instead of hashing
    the records again when they were computed with the same settings.
    """
    from curate.dedup import find_duplicates

    dc = duplicate_config()
    # Dedup's fingerprints are used when they were made with these settings (``curate run``
    # with the default dedup seed): the MinHash pass is then not repeated.
    # Whole components (as the share has always counted): a record in a chain of duplicate
    # pairs repeats an earlier one even where dedup would keep it.
    clusters = find_duplicates(records, dc, features=features, whole_components=True)
    by_method = {m: sum(len(c.removed) for c in clusters if c.method == m) for m in dc.methods}
    dups = sum(by_method.values())
    n = len(records)
    return {
        "method": "curate.dedup exact+near (conversation)",
        "near_threshold": dc.near_threshold,
        "duplicates": dups,
        "by_method": by_method,
        "clusters": len(clusters),
        "share": round(dups / n, 4) if n else 0.0,
    }


def compute_diversity(
    records: Sequence[Record],
    convs: Sequence[Conv],
    config: AuditConfig,
    embeddings: np.ndarray | None,
    timings: dict[str, float],
    features: Any = None,
) -> dict[str, Any]:
    """The diversity section; ``embeddings`` (one row per conversation) skip the embedder,
    ``features`` (dedup fingerprints, one row per record) the duplicate share's hashing."""
    import time

    out: dict[str, Any] = {}
    n = len(convs)
    out["distinct"] = {
        # (distinct_n reads a sample: ``Lazy`` builds only the texts it reads)
        "prompt": distinct_n(Lazy(n, lambda i: convs[i].role_text.get("user", "")), config.seed),
        "response": distinct_n(Lazy(n, lambda i: convs[i].answer or ""), config.seed),
    }
    t0 = time.perf_counter()
    out["near_duplicates"] = near_duplicate_share(records, features)
    timings["near_duplicates"] = time.perf_counter() - t0
    if config.label:
        out["labels"] = label_balance(records, config.label)
    vecs = None
    rows = np.arange(len(convs))
    if embeddings is not None:
        vecs = embeddings
        out["embeddings"] = {"source": "precomputed", "rows": len(vecs), "of": len(convs)}
    elif config.embeddings and len(convs) >= MIN_ROWS_FOR_CLUSTERS:
        t0 = time.perf_counter()
        idx, vecs = compute_embeddings(convs, config)
        rows = np.asarray(idx)
        timings["embeddings"] = time.perf_counter() - t0
        out["embeddings"] = {
            "source": config.model or "fast",
            "side": config.embed_side,
            "rows": len(idx),
            "of": len(convs),
            "sampled": len(idx) < len(convs),
        }
    if vecs is not None and len(vecs) >= MIN_ROWS_FOR_CLUSTERS:
        t0 = time.perf_counter()
        out["clusters"] = cluster_stats(vecs, config)
        # Kept off the JSON (one int per row): the page's named topics read it from series.
        out["_topics"] = {"rows": rows, "labels": out["clusters"].pop("assignment")}
        out["mean_pairwise_distance"] = mean_pairwise_distance(vecs, config.seed)
        timings["clusters"] = time.perf_counter() - t0
    out["readings"] = readings(out)
    return out


def readings(d: dict[str, Any]) -> dict[str, str]:
    """One plain-language sentence per diversity metric."""
    r: dict[str, str] = {}
    cl = d.get("clusters")
    if cl:
        share, top, k = cl["top_share"], cl["top_clusters"], cl["k"]
        verdict = (
            "the set is narrow"
            if share >= 0.6
            else "a few topics dominate"
            if share >= 0.4
            else "topics are broadly spread"
        )
        r["clusters"] = (
            f"The largest {top} of {k} topic clusters hold {share:.0%} of the data (an even "
            f"spread would be {top / k:.0%}): {verdict}. "
            f"80% of the data sits in {cl['clusters_for_80pct']} clusters; cluster-size "
            f"entropy {cl['entropy']:.2f} (1 = perfectly even)."
        )
    if "mean_pairwise_distance" in d:
        mpd = d["mean_pairwise_distance"]
        verdict = (
            "conversations are very alike (narrow or templated)"
            if mpd < 0.4
            else "moderately varied"
            if mpd < 0.7
            else "conversations are semantically varied"
        )
        r["mean_pairwise_distance"] = f"Mean pairwise cosine distance {mpd:.2f}: {verdict}."
        source = d.get("embeddings", {}).get("source")
        if source not in ("minilm", "all-MiniLM-L6-v2"):
            r["mean_pairwise_distance"] += (
                " (The thresholds suit MiniLM; other models, static ones especially, give "
                "lower distances.)"
            )
    dist = d["distinct"]["response"]
    if dist["tokens"]:
        d2 = dist["distinct_2"]
        verdict = (
            "answers reuse the same phrasing heavily"
            if d2 < 0.2
            else "phrasing is moderately varied"
            if d2 < 0.5
            else "phrasing is varied"
        )
        r["distinct"] = (
            f"distinct-2 of answers is {d2:.2f} (distinct-1 {dist['distinct_1']:.2f}, on "
            f"{dist['tokens']:,} tokens): {verdict}."
        )
    nd = d["near_duplicates"]
    verdict = (
        "deduplicate before training"
        if nd["share"] > 0.05
        else "some repeats"
        if nd["share"] > 0.01
        else "few repeats"
    )
    parts = ", ".join(f"{m} {k:,}" for m, k in nd.get("by_method", {}).items())
    r["near_duplicates"] = (
        f"{nd['duplicates']:,} records ({nd['share']:.1%}) duplicate an earlier one"
        + (f" ({parts})" if parts else "")
        + f": {verdict}."
    )
    lab = d.get("labels")
    if lab and lab["counts"]:
        top, low = lab["counts"][0], lab["counts"][-1]
        verdict = (
            "strongly imbalanced"
            if lab["imbalance"] >= 10
            else "somewhat imbalanced"
            if lab["imbalance"] >= 3
            else "balanced"
        )
        r["labels"] = (
            f"{lab['labels']} values of {lab['field']}: the largest, {top['label']!r}, has "
            f"{top['share']:.0%}, the smallest, {low['label']!r}, {low['share']:.0%} "
            f"({lab['imbalance']:g}x): {verdict}."
            + (f" {lab['missing']} records have no {lab['field']}." if lab["missing"] else "")
        )
    return r
