"""The semantic search's index settings side by side on one set of vectors (CPU seconds, pairs).

    python bench/search_variants.py --input /tmp/curate-bench/chat-100000-1.jsonl

Embeds the file's records with the default static model (through the embedding cache: set
CURATE_CACHE_DIR), centres them as dedup does, then runs ``semantic_search`` (no neighbour
cache) once per variant in this process and compares each one's pairs over the 0.90 threshold
with the current settings': how many it loses and gains, and its CPU seconds. ``exact`` is a
flat (brute force) index on the full vectors: the recall ceiling (up to 40k rows).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import curate.dedup.semantic as sem
from curate.dedup import DedupConfig, key_text
from curate.embed import embed_records
from curate.reader import read_chat


def partition(n: int, pairs: set[tuple[int, int]]) -> dict[int, frozenset[int]]:
    """record -> the members of its component (records in none are left out)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    if not pairs:
        return {}
    a = np.array(sorted(pairs))
    g = coo_matrix((np.ones(len(a)), (a[:, 0], a[:, 1])), shape=(n, n))
    _, lab = connected_components(g, directed=False)
    members: dict[int, set[int]] = {}
    for i in np.unique(a).tolist():
        members.setdefault(int(lab[i]), set()).add(i)
    return {i: frozenset(m) for m in members.values() for i in m}


def run(vecs: np.ndarray, **consts: int) -> tuple[set[tuple[int, int]], float]:
    old = {k: getattr(sem, k) for k in consts}
    for k, v in consts.items():
        setattr(sem, k, v)
    try:
        t0 = time.process_time()
        found = sem.semantic_search(vecs, neighbours=10, min_score=0.75)
        cpu = time.process_time() - t0
    finally:
        for k, v in old.items():
            setattr(sem, k, v)
    over = found.pairs[found.sims >= 0.90]
    return {(int(a), int(b)) for a, b in over.tolist()}, cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--input", required=True)
    ap.add_argument("--rows", type=int, default=0)
    args = ap.parse_args()
    records = list(read_chat(args.input, detect="record", on_bad="reject", on_drop=lambda d: 0))
    if args.rows:
        records = records[: args.rows]
    cfg = DedupConfig(methods=("semantic",), model="fast")
    vecs = embed_records(records, lambda r: key_text(r, cfg.key), "fast", None, False)
    (vecs,) = sem.centered(vecs)
    variants: dict[str, dict[str, int]] = {
        "current (nprobe 8, 64 dims)": {},
        "nprobe 4": {"NPROBE": 4},
        "48 dims": {"SEARCH_DIMS": 48},
        "32 dims": {"SEARCH_DIMS": 32},
        "nprobe 4, 48 dims": {"NPROBE": 4, "SEARCH_DIMS": 48},
        "exact (flat, full dims)": {"FLAT_LIMIT": 10**9},
    }
    if len(vecs) > 40_000:  # brute force grows with n^2: minutes above this
        del variants["exact (flat, full dims)"]
    base, base_cpu = run(vecs)
    n = len(vecs)
    base_p = partition(n, base)
    print(
        f"{n:,} vectors; current: {len(base):,} pairs >= 0.90 joining {len(base_p):,} records "
        f"into {len(set(base_p.values())):,} clusters, {base_cpu:.1f} CPU s"
    )
    for name, consts in list(variants.items())[1:]:
        got, cpu = run(vecs, **consts)
        got_p = partition(n, got)
        moved = sum(1 for i in set(base_p) | set(got_p) if base_p.get(i) != got_p.get(i))
        print(
            f"{name:28s} {cpu:7.1f} CPU s  pairs {len(got):,} (lost {len(base - got):,}, "
            f"gained {len(got - base):,})  clustered {len(got_p):,}  records in another "
            f"cluster {moved:,}"
        )


if __name__ == "__main__":
    main()
