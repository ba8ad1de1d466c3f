"""Explanations for threshold calibration: a similarity histogram and pairs near the threshold."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

BIN_WIDTH = 0.05
SAMPLES = 5
CONTEXT = 40  # characters shown before the first difference
SHOWN = 200


def _common_prefix(a: str, b: str) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def explain_method(
    pairs: np.ndarray,
    sims: np.ndarray,
    threshold: float,
    n: int,
    to_index: Callable[[int], int],
    describe: Callable[[int], dict[str, Any]],
    kept_apart: Callable[[int, int], bool] | None = None,
) -> dict[str, Any]:
    """Summarise the candidate pairs of one method.

    The histogram counts, per record, the similarity of its most similar candidate (records
    with no candidate at all are counted apart: for near dedup they share almost no
    shingles with anything). ``above``/``below`` are the pairs closest to the threshold on
    each side, the ones a user should read to decide whether to move it. ``kept_apart``
    (index, index) marks pairs over the threshold that a further check (the semantic slot
    guard) keeps apart. Texts are shown from a little before the point where they differ.
    """
    # -inf, not -1: a record whose best candidate is at -1 (two centred vectors of a
    # 2-record set) has a candidate; counted as "below 0", not as "no candidate".
    best = np.full(n, -np.inf)
    if pairs.size:
        np.maximum.at(best, pairs[:, 0], sims)
        np.maximum.at(best, pairs[:, 1], sims)
    has = best >= 0
    below_zero = int((np.isfinite(best) & ~has).sum())
    edges = np.round(np.arange(0.0, 1.0 + BIN_WIDTH / 2, BIN_WIDTH), 2)
    counts, _ = np.histogram(np.clip(best[has], 0.0, 1.0), bins=edges)
    histogram = [
        {"from": float(edges[k]), "to": float(edges[k + 1]), "records": int(counts[k])}
        for k in range(len(counts))
    ]
    above, below = _nearest(pairs, sims, threshold)

    def pair(k: int) -> dict[str, Any]:
        a, b = (to_index(int(x)) for x in pairs[k])
        da, db = describe(a), describe(b)
        start = max(0, _common_prefix(da["text"], db["text"]) - CONTEXT)
        for d in (da, db):
            d["text"] = ("..." if start else "") + d["text"][start : start + SHOWN]
        out = {"similarity": round(float(sims[k]), 4), "a": da, "b": db}
        if kept_apart is not None and sims[k] >= threshold and kept_apart(a, b):
            out["kept_apart"] = "different slot values"
        return out

    return {
        "threshold": threshold,
        "records": n,
        "candidate_pairs": int(pairs.shape[0]),
        "pairs_at_or_above": int((sims >= threshold).sum()),
        "records_without_candidate": int((~np.isfinite(best)).sum()),
        "records_below_zero": below_zero,
        "histogram": histogram,
        "above": [pair(k) for k in above],
        "below": [pair(k) for k in below],
    }


def _nearest(pairs: np.ndarray, sims: np.ndarray, threshold: float) -> tuple[list[int], list[int]]:
    """The ``SAMPLES`` pairs just above (ascending) and just below (descending) the threshold,
    ties broken by the pair's indexes.

    Only the pairs whose similarity can be among them are sorted (``np.partition`` finds the
    cut-off value): with every candidate kept for the histogram there are ~10 per record, and
    a full sort of them cost more than the rest of the explanation.
    """
    if not pairs.size:
        return [], []
    ge = sims >= threshold
    up = np.flatnonzero(ge)
    down = np.flatnonzero(~ge)
    if up.size > SAMPLES:
        cut = np.partition(sims[up], SAMPLES - 1)[SAMPLES - 1]
        up = up[sims[up] <= cut]
    if down.size > SAMPLES:
        cut = np.partition(sims[down], down.size - SAMPLES)[down.size - SAMPLES]
        down = down[sims[down] >= cut]
    order_up = up[np.lexsort((pairs[up, 1], pairs[up, 0], sims[up]))]
    order_down = down[np.lexsort((pairs[down, 1], pairs[down, 0], sims[down]))]
    return order_up[:SAMPLES].tolist(), order_down[-SAMPLES:][::-1].tolist()


def semantic_warnings(stats: dict[str, Any]) -> list[str]:
    """What the semantic step left out and why, from dedup's ``stats`` (each engine's)."""
    out = []
    model = stats.get("embedder") or (stats.get("config") or {}).get("model") or "fast"
    unseen = stats.get("semantic_unseen") or 0
    if unseen:
        out.append(
            f"semantic dedup left out {unseen:,} records whose text the {model} model mostly "
            "cannot see (over a third of their tokens unknown to it, e.g. Chinese for the "
            "default model): they were neither removed nor the cause of a removal by "
            "meaning (exact and near dedup still apply); a multilingual sentence-transformers "
            "model (--model PATH) compares them (--model minilm has the default model's "
            "vocabulary: it cannot see them either)"
        )
    few = stats.get("semantic_too_few_to_centre") or 0
    if few:
        out.append(
            f"semantic dedup skipped: {few} records are too few to centre the {model} "
            "model's vectors on (fewer than 5); --model minilm compares them"
        )
    return out


def format_explain(explain: dict[str, Any]) -> str:
    """Human text for stderr: one block per method."""
    lines: list[str] = []
    for method, info in explain.items():
        lines.append(
            f"{method}: threshold {info['threshold']}, {info['records']} records, "
            f"{info['candidate_pairs']} candidate pairs, {info['pairs_at_or_above']} at or above"
        )
        lines.append("  best-match similarity per record:")
        peak = max((h["records"] for h in info["histogram"]), default=0) or 1
        marked = False
        for h in info["histogram"]:
            if not marked and h["to"] > info["threshold"]:
                lines.append(f"  ---------- threshold {info['threshold']} ----------")
                marked = True
            if h["records"]:
                bar = "#" * max(1, round(40 * h["records"] / peak))
                lines.append(f"  {h['from']:.2f}-{h['to']:.2f} {h['records']:>7} {bar}")
        if info.get("records_below_zero"):
            lines.append(f"  below 0.00: {info['records_below_zero']}")
        if info["records_without_candidate"]:
            lines.append(f"  no candidate: {info['records_without_candidate']}")
        for side in ("above", "below"):
            if info[side]:
                lines.append(f"  pairs just {side} the threshold:")
            for p in info[side]:
                apart = f"  (kept apart: {p['kept_apart']})" if "kept_apart" in p else ""
                lines.append(f"    {p['similarity']:.4f}  {p['a']['id']}  ~  {p['b']['id']}{apart}")
                lines.append(f"        a: {_one_line(p['a']['text'])}")
                lines.append(f"        b: {_one_line(p['b']['text'])}")
    return "\n".join(lines)


def _one_line(text: str, width: int = 120) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 3] + "..."
