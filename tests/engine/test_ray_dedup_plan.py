"""Dedup's removals on the Ray engine: the rejects' plan, the keepers' names looked up and
checked on the workers, the clusters listed only for ``--clusters``."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import orjson
import pyarrow as pa
import pytest
from click.testing import CliRunner

from curate.cli import main
from curate.engine.ray_dedup import _Removed
from curate.errors import ClusterError
from tests.engine.helpers import dict_components, planted_shards, ray_run_error

pytestmark = pytest.mark.filterwarnings(
    "ignore::DeprecationWarning",
    "ignore::FutureWarning",
    "ignore::pytest.PytestUnraisableExceptionWarning",
    "ignore::ResourceWarning",
)


def _chains(seed: int = 4) -> tuple[list[_Removed], dict[int, int], dict[int, float]]:
    """Three methods, each removing some alive rows for other alive ones (so a keeper of
    one method may be removed by a later one): the removals, and as dicts."""
    rng = np.random.default_rng(seed)
    keeper_of: dict[int, int] = {}
    sim_of: dict[int, float] = {}
    removed = []
    alive = list(range(400))
    for method in ("exact", "near", "semantic"):
        rng.shuffle(alive)
        gone, kept = alive[:60], alive[60:120]
        ks = [int(rng.choice(kept)) for _ in gone]
        ss = [round(float(rng.uniform(0.8, 1.0)), 6) for _ in gone]
        keeper_of.update(zip(gone, ks, strict=True))
        sim_of.update(zip(gone, ss, strict=True))
        removed.append(_Removed.of(method, gone, ks, ss))
        alive = alive[60:]
    return removed, keeper_of, sim_of


def test_dedup_plan_final_and_via_as_the_old_formulas() -> None:
    """``_dedup_plan`` (what ``_write_dedup_rejects`` writes and the bench measures): each
    removed row's final keeper and the keeper passed through are what 3202ffb's walk over a
    ``{removed: keeper}`` dict gave, aligned with its id, method and similarity."""
    from curate.engine.ray_stages import _dedup_plan

    removed, keeper_of, sim_of = _chains()

    def survivor(i: int) -> int:  # 3202ffb's formula
        while i in keeper_of:
            i = keeper_of[i]
        return i

    ids, code, sim, final, via, names = _dedup_plan(removed)
    rows = sorted(keeper_of)
    assert ids.tolist() == rows
    method_of = {int(m): t for t, r in enumerate(removed) for m in r.ids.tolist()}
    assert code.tolist() == [method_of[m] for m in rows]
    assert sim.tolist() == [sim_of[m] for m in rows]
    assert final.tolist() == [survivor(keeper_of[m]) for m in rows]
    old_via = [keeper_of[m] if survivor(keeper_of[m]) != keeper_of[m] else -1 for m in rows]
    assert via.tolist() == old_via
    assert sum(v >= 0 for v in old_via) > 10  # keepers were passed through
    want_names = {survivor(keeper_of[m]) for m in rows} | {v for v in old_via if v >= 0}
    assert names.tolist() == sorted(want_names)


def _plan_files(tmp_path: Path) -> Path:
    """Row 7 removed for 5 (exact), 5 for 2 (near): 7's final keeper is 2, via 5."""
    plan = tmp_path / "plan"
    plan.mkdir()
    np.save(plan / "ids.npy", np.array([5, 7], np.int64))
    np.save(plan / "method.npy", np.array([1, 0], np.uint8))
    np.save(plan / "sim.npy", np.array([0.9, 1.0]))
    np.save(plan / "final.npy", np.array([2, 2], np.int64))
    np.save(plan / "via.npy", np.array([-1, 5], np.int64))
    return plan


def _block(ids: list[int]) -> dict[str, np.ndarray]:
    return {
        "idx": np.array(ids, np.int64),
        "source": np.array(["t.jsonl"] * len(ids), dtype=object),
        "line": np.array([i + 1 for i in ids], np.int64),
        "text_line": np.array([i + 1 for i in ids], np.int64),
        "data": np.array([orjson.dumps({"n": i}) for i in ids], dtype=object),
    }


def _names(ids: list[int]) -> list[pa.Table]:
    ids = sorted(ids)
    half = len(ids) // 2
    return [
        pa.table({"idx": pa.array(part, pa.int64()), "rid": [f"t.jsonl:{i + 1}" for i in part]})
        for part in (ids[:half], ids[half:])
    ]


def test_keeper_missing_from_the_names_is_a_cluster_error(tmp_path: Path) -> None:
    """On a worker, every keeper a reject names is looked up and checked: one missing from
    the (row id, record id) blocks is a ``ClusterError``, not a reject naming the record
    beside it (3202ffb's lookup took ``rid[searchsorted(known, i)]`` unchecked)."""
    from curate.engine.ray_stages import _dedup_rejects

    plan = _plan_files(tmp_path)
    args = {
        "plan": str(plan),
        "methods": ["exact", "near"],
        "stage": "dedup",
        "reasons": {"exact": "exact_duplicate", "near": "near_duplicate"},
    }
    out = tmp_path / "ok"
    out.mkdir()
    got = _dedup_rejects(_block([2, 5, 7, 9]), names=_names([2, 5]), folder=str(out), **args)
    assert got["rows"].tolist() == [2]
    lines = [json.loads(x) for x in (out / f"{5:012d}.jsonl").read_text().splitlines()]
    assert [(x["duplicate_of"], x.get("via")) for x in lines] == [
        ("t.jsonl:3", None),
        ("t.jsonl:3", "t.jsonl:6"),
    ]
    bad = tmp_path / "bad"
    bad.mkdir()
    for names in ([3, 5], [2, 6], [2], [5], []):  # a keeper missing, another row beside it
        with pytest.raises(ClusterError, match=r"ray dedup: keeper row \d not among"):
            _dedup_rejects(_block([5, 7]), names=_names(names), folder=str(bad), **args)
    assert not list(bad.iterdir())


def _groups(members: np.ndarray, first: np.ndarray) -> list[list[int]]:
    out: dict[int, list[int]] = {}
    for m, f in zip(members.tolist(), first.tolist(), strict=True):
        out.setdefault(f, []).append(m)
    return list(out.values())


def test_components_as_arrays_equal_the_dict_union_find() -> None:
    """``_components`` (a union-find in rounds over numpy arrays) finds ea0a5d0's groups,
    in its order: chains (one of 3,000 rows in random order), stars, repeated and reversed
    edges, self loops, ids far apart; 16 bytes a member."""
    from curate.engine.ray_udfs import _components

    rng = np.random.default_rng(3)
    cases = [
        [(5, 9)],
        [(3, 3)],  # a self loop is no component
        [(3, 3), (7, 2), (2, 7), (7, 2)],
        [(k + 1, k) for k in range(50)],  # a chain, each edge reversed
        [(1 << 40, 1), (1, 1 << 41), (9, 8)],
    ]
    chain = rng.permutation(3000).tolist()  # one long chain, its rows in random order
    cases.append(list(zip(chain[:-1], chain[1:], strict=True)))
    for n, m in ((60, 40), (500, 300), (2000, 2500), (10**9, 3000)):
        cases.append([(int(a), int(b)) for a, b in rng.integers(0, n, size=(m, 2))])
    for edges in cases:
        i = np.array([a for a, _ in edges], dtype=np.int64)
        j = np.array([b for _, b in edges], dtype=np.int64)
        members, first = _components(i, j)
        want = dict_components(edges)
        assert _groups(members, first) == want
        assert members.tolist() == [m for g in want for m in g]
        assert members.dtype == first.dtype == np.int64


def test_keepers_serve_both_shapes_as_choose_keep() -> None:
    """``_keepers``: near's and semantic's keepers over the components' arrays, as
    ``choose_keep`` over ea0a5d0's list of groups."""
    from curate.dedup.cluster import choose_keep
    from curate.engine.ray_dedup import _keepers, _lookup
    from curate.engine.ray_udfs import _components

    rng = random.Random(2)
    edges = [(rng.randrange(500), rng.randrange(500)) for _ in range(300)]
    groups = dict_components(edges)
    members, first = _components(*np.array(edges, dtype=np.int64).T)
    lengths = {m: rng.randint(1, 5) for g in groups for m in g}
    del lengths[groups[0][0]]  # a member whose length did not come back counts 0, as before
    table = np.array(sorted(lengths.items()), dtype=np.int64)
    for policy in ("first", "longest", "shortest"):
        got = _lookup(table[:, 0], table[:, 1], members)
        ms, ks = _keepers(members, first, got, policy)
        want = [
            (m, k)
            for g in groups
            for k in [choose_keep(g, [lengths.get(i, 0) for i in range(500)], policy)]
            for m in g
            if m != k
        ]
        assert list(zip(ms.tolist(), ks.tolist(), strict=True)) == want
        empty = np.zeros(0, np.int64)
        assert [a.size for a in _keepers(empty, empty, empty, policy)] == [0, 0]
    assert _lookup(np.array([4, 2]), np.array([40, 20]), np.array([2, 3, 4])).tolist() == [
        20,
        0,
        40,
    ]


def test_clusters_as_the_dict_of_similarities() -> None:
    """``_clusters`` reads each member's similarity by its position in the sorted ids: the
    clusters 3202ffb built with a dict of similarities."""
    from curate.dedup.cluster import Cluster
    from curate.engine.ray_stages import _clusters

    removed, _, _ = _chains(6)

    def old(removed: list[_Removed]) -> list[Cluster]:  # 3202ffb's formula
        clusters = []
        for r in removed:
            by_keep: dict[int, list[int]] = {}
            for m, k in zip(r.ids.tolist(), r.keep.tolist(), strict=True):
                by_keep.setdefault(k, []).append(m)
            sim = dict(zip(r.ids.tolist(), r.sim.tolist(), strict=True))
            for k in sorted(by_keep, key=lambda k: min([k, *by_keep[k]])):
                members = tuple(sorted([k, *by_keep[k]]))
                sims = tuple(1.0 if m == k else sim[m] for m in members)
                clusters.append(Cluster(r.method, members, k, sims))
        return clusters

    assert _clusters(removed) == old(removed)
    assert any(len(c.members) > 2 for c in old(removed))


def _distinct(path: Path, n: int = 60) -> Path:
    rng = random.Random(9)
    words = [f"w{k}" for k in range(400)]
    rows = [
        {
            "messages": [
                {"role": "user", "content": " ".join(rng.sample(words, 10))},
                {"role": "assistant", "content": " ".join(rng.sample(words, 40))},
            ]
        }
        for _ in range(n)
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_dedup_fetches_member_refs_only_for_clusters(
    ray_cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``curate dedup --engine ray`` fetches the clusters' members' ids and lines (``_refs``,
    a pass over all rows) and lists the clusters only for ``--clusters``, and not when
    nothing was removed; the outputs stay local's."""
    import curate.engine.ray_stages as stages

    calls: list[str] = []
    real_refs, real_clusters = stages._refs, stages._clusters

    def refs(*args):  # noqa: ANN002, ANN202
        calls.append("refs")
        return real_refs(*args)

    def clusters(*args):  # noqa: ANN002, ANN202
        calls.append("clusters")
        return real_clusters(*args)

    monkeypatch.setattr(stages, "_refs", refs)
    monkeypatch.setattr(stages, "_clusters", clusters)
    planted_shards(tmp_path / "in")
    dups = tmp_path / "in" / "part-000.jsonl"
    clean = _distinct(tmp_path / "clean.jsonl")

    def dedup(data: Path, engine: str, *extra: str) -> tuple[bytes, ...]:
        d = tmp_path / f"{data.stem}-{engine}-{len(extra)}"
        d.mkdir()
        args = ["dedup", str(data), "-o", str(d / "kept.jsonl"), "--rejects", str(d / "r.jsonl")]
        args += ["--method", "exact,near", "--allow-rejects", "--engine", engine]
        extra = tuple(str(d / x) if x.endswith(".jsonl") else x for x in extra)
        result = CliRunner().invoke(main, [*args, *extra])
        assert result.exit_code == 0, result.stderr
        return tuple(p.read_bytes() for p in sorted(d.iterdir()))

    assert dedup(dups, "ray") == dedup(dups, "local")
    assert calls == []  # removals, no --clusters
    cl = ("--clusters", "cl.jsonl")
    assert dedup(clean, "ray", *cl) == dedup(clean, "local", *cl)
    assert calls == []  # --clusters, nothing removed
    assert dedup(dups, "ray", *cl) == dedup(dups, "local", *cl)
    assert calls == ["refs", "clusters"]  # the spies see the one case that needs them


def test_keepers_named_are_counted_on_the_driver(
    ray_cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The keepers' (row id, record id) dataset is counted against the keepers planned
    before any reject task reads it: a short one is one line, exit 2, no output."""
    import curate.engine.ray_stages as stages

    real = stages._only

    def one_keeper_lost(batch, ids):  # noqa: ANN001, ANN202
        return real(batch, ids[1:])

    monkeypatch.setattr(stages, "_only", one_keeper_lost)
    assert ray_run_error(tmp_path).startswith("Error: ray dedup: keepers named: ")
