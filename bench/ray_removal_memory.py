"""The Ray driver's heap while dedup's rejects are planned: the structures of 3202ffb (dicts
of keepers and similarities, the rows' record ids, plan tuples, object arrays; its code
copied here) against the arrays that replace them (``_Removed`` and ``_dedup_plan``, the
production code itself), at the removal counts of the 100k / 400k / 1M bench sets (1M: exact
count assumed). tracemalloc peak, no Ray, each side run once before measuring:

    python bench/ray_removal_memory.py
"""

import sys
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from curate.engine.ray_dedup import _Removed
from curate.engine.ray_stages import _dedup_plan


def removals(n_exact, n_near, rows, seed=1):
    rng = np.random.default_rng(seed)
    pool = rng.permutation(rows)
    ex, ek = pool[:n_exact], pool[n_exact : n_exact + n_exact // 2]
    exk = rng.choice(ek, n_exact)
    rest = pool[n_exact:]  # keepers of exact may be removed by near
    nr, nk = rest[:n_near], rest[n_near : n_near + n_near // 2]
    nrk = rng.choice(nk, n_near)
    return (ex, exk), (nr, nrk)


def rid(i):
    return f"/tmp/curate-scale/shards-1000000-8/part-{i % 8:05d}.jsonl:{i}"


def old(ex, nr):
    removed = [
        ("exact", dict(zip(ex[0].tolist(), ex[1].tolist(), strict=True)), None),
        ("near", dict(zip(nr[0].tolist(), nr[1].tolist(), strict=True)), None),
    ]
    removed = [(m, k, {x: 0.912345 for x in k}) for m, k, _ in removed]
    tracemalloc.start()
    keeper_of = {m: k[m] for _, k, _ in removed for m in k}

    def survivor(i):
        while i in keeper_of:
            i = keeper_of[i]
        return i

    need = set(keeper_of) | set(keeper_of.values()) | {survivor(k) for k in keeper_of.values()}
    refs = {i: (rid(i), i + 1) for i in sorted(need)}  # what _refs built from the workers' answer
    plan = sorted((m, meth, k) for meth, kk, _ in removed for m, k in kk.items())
    sim = {m: s[m] for _, kk, s in removed for m in kk}
    ids = np.array([m for m, _, _ in plan], dtype=np.int64)
    method = np.array([meth for _, meth, _ in plan], dtype=object)
    sims = np.array([round(sim[m], 4) for m, _, _ in plan], dtype=np.float64)
    final = np.array([refs[survivor(k)][0] for _, _, k in plan], dtype=object)
    via = np.array([refs[k][0] if survivor(k) != k else "" for _, _, k in plan], dtype=object)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert len({ids.size, method.size, sims.size, final.size, via.size}) == 1
    return peak


def new(ex, nr):
    removed = [
        _Removed.of("exact", ex[0], ex[1], np.ones(ex[0].size)),
        _Removed.of("near", nr[0], nr[1], np.full(nr[0].size, 0.912345)),
    ]
    tracemalloc.start()
    ids, code, sim, final, via, names = _dedup_plan(removed)  # the production code
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert len({ids.size, code.size, sim.size, final.size, via.size}) == 1
    assert names.size <= ids.size
    return peak


SETS = ((100_000, 6522, 3401), (400_000, 11656, 7173), (1_000_000, 30000, 34350))
# Each side once before measuring: the first call's one-off allocations (numpy's and the
# interpreter's caches, imports) are not the plan's.
warm = removals(100, 50, 1000)
old(*warm), new(*warm)
for rows, n_exact, n_near in SETS:
    ex, nr = removals(n_exact, n_near, rows)
    o, n = old(ex, nr), new(ex, nr)
    r = n_exact + n_near
    print(
        f"{rows:>9,} rows, {r:>6,} removed: 3202ffb {o / 2**20:6.1f} MiB ({o / r:4.0f} B a row)"
        f"  now {n / 2**20:5.1f} MiB ({n / r:4.0f} B a row)"
    )
