"""The Ray driver's heap while near dedup turns its duplicate edges into keepers: ea0a5d0's
dict union-find, lists of groups, set of members and lists of keepers (its code copied
here) against ``ray_udfs._components`` and ``ray_dedup._keepers`` (the production code),
for edge lists shaped like the bench sets' (clusters of 2-4 rows, star and chain edges,
among ``rows`` ids) at their near-edge counts and 10x / 100x the 1M set's. tracemalloc
peak and what is left (the removed ids and keepers), each side run once before measuring:

    python bench/ray_components_memory.py
"""

import sys
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from curate.engine.ray_dedup import _keepers
from curate.engine.ray_udfs import _components
from tests.engine.helpers import dict_components  # ea0a5d0's union-find, the reference


def edges_of(n_edges: int, rows: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    pool = rng.permutation(rows)
    i, j, at = [], [], 0
    while len(i) < n_edges:
        size = int(rng.integers(2, 5))
        g = pool[at : at + size].tolist()
        at += size
        for k in range(1, size):  # a star or a chain
            i.append(g[0] if rng.random() < 0.5 else g[k - 1])
            j.append(g[k])
    return np.array(i[:n_edges], np.int64), np.array(j[:n_edges], np.int64)


def old(i: np.ndarray, j: np.ndarray) -> tuple[int, int]:
    from curate.dedup.cluster import choose_keep

    tracemalloc.start()
    # A generator, so the edge list is freed once read, as the old code's loop freed it.
    groups = dict_components(e for e in np.stack((i, j), axis=1).tolist())
    members = np.array(sorted({m for g in groups for m in g}), dtype=np.int64)  # noqa: F841
    ms: list[int] = []
    ks: list[int] = []
    for g in groups:
        k = choose_keep(g, {}, "first")
        for m in g:
            if m != k:
                ms.append(m)
                ks.append(k)
    out = np.array(ms, dtype=np.int64), np.array(ks, dtype=np.int64)
    del groups, ms, ks
    now, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del out
    return peak, now


def new(i: np.ndarray, j: np.ndarray) -> tuple[int, int]:
    tracemalloc.start()
    members, first = _components(i, j)
    out = _keepers(members, first, np.zeros(0, np.int64), "first")
    del members, first
    now, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del out
    return peak, now


def main() -> None:
    print("| rows | edges | ea0a5d0 peak / left | this peak / left | bytes an edge, peak |")
    print("|---:|---:|---|---|---|")
    for rows, n in (
        (100_000, 3_785),
        (1_000_000, 40_000),
        (10_000_000, 400_000),
        (100_000_000, 4_000_000),
    ):
        i, j = edges_of(n, rows)
        old(i, j), new(i, j)  # warm: first-call allocations (imports, caches) out of the way
        (po, lo), (pn, ln) = old(i, j), new(i, j)
        mib = 2**20
        print(
            f"| {rows:,} | {n:,} | {po / mib:.1f} / {lo / mib:.2f} MiB | "
            f"{pn / mib:.1f} / {ln / mib:.2f} MiB | {po / n:.0f} -> {pn / n:.0f} |"
        )


if __name__ == "__main__":
    main()
