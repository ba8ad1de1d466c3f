"""``curate run --engine ray`` draws the split on the workers when rows share a prompt and
when the leakage check finds a leak to repair: the same files and report as local."""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from curate.cli import main
from curate.engine.ray_groups import (
    Group,
    bounds_of,
    draw_stratum,
    form_strata,
    gaps_below,
    merged_groups,
)
from curate.split.allocate import TEST, TRAIN, VAL, allocate, order_keys
from curate.split.groups import UnionFind
from tests.engine.helpers import compare_outputs

pytestmark = pytest.mark.filterwarnings(
    # Ray's own modules warn about their deprecated APIs at import/connect time.
    "ignore::DeprecationWarning",
    "ignore::FutureWarning",
    "ignore::pytest.PytestUnraisableExceptionWarning",
    "ignore::ResourceWarning",
)


# -- the driver's draw against allocate, without Ray ------------------------------------


def _draw_as_workers(
    labels: list[str],
    groups: dict[int, list[int]],
    test_size: float,
    val_size: float,
    seed: int,
    min_stratum: int,
) -> tuple[list[str], list[dict]]:
    """The Ray path's draw over the same groups: groups of two or more rows on the driver,
    singletons only counted (per gap, per cut), as the workers count them."""
    multi = [Group(m[0], len(m), {}) for m in (groups[r] for r in sorted(groups)) if len(m) > 1]
    members = [m for m in (groups[r] for r in sorted(groups)) if len(m) > 1]
    for g, m in zip(multi, members, strict=True):
        for i in m:
            got = g.labels.setdefault(labels[i], [0, i])
            got[0] += 1
    singles = [m[0] for m in groups.values() if len(m) == 1]
    names, pooled, sid_of, gsid = form_strata(
        Counter(labels[i] for i in singles), multi, min_stratum
    )
    bounds = bounds_of(multi, gsid, seed)
    okey = np.array(order_keys(seed, singles), dtype=np.uint64)
    pos = np.array(singles, dtype=np.int64)
    sid = np.array([sid_of[labels[i]] for i in singles], dtype=np.int64)
    sides = [TRAIN] * len(labels)
    reports = []
    names_of = (TRAIN, VAL, TEST)
    for s, name in enumerate(names):
        m = sid == s
        order = bounds[s][2] if s in bounds else np.zeros(0, dtype=np.int64)
        sizes = [multi[k].size for k in order.tolist()]
        if s in bounds:
            gap = gaps_below(okey[m], pos[m], bounds[s][0], bounds[s][1])
            gaps = np.bincount(gap, minlength=len(sizes) + 1).tolist()
        else:
            gaps = [int(m.sum())]
        n = int(m.sum()) + sum(sizes)
        status, nt, nv, gsides = draw_stratum(n, gaps, sizes, test_size, val_size)
        ranked = pos[m][np.lexsort((pos[m], okey[m]))].tolist()
        for i in ranked[:nt]:
            sides[i] = TEST
        for i in ranked[nt : nt + nv]:
            sides[i] = VAL
        for k, c in zip(order.tolist(), gsides, strict=True):
            for i in members[k]:
                sides[i] = names_of[c]
        rows = ranked + [i for k in order.tolist() for i in members[k]]
        counts = Counter(sides[i] for i in rows)
        reports.append(
            {
                "stratum": name,
                "records": n,
                "groups": int(m.sum()) + len(sizes),
                "status": status,
                **{x: counts.get(x, 0) for x in (TRAIN, VAL, TEST)},
                **({"pooled": pooled} if name == "<other>" else {}),
            }
        )
    return sides, reports


@pytest.mark.parametrize("seed", range(60))
def test_draw_over_gaps_is_allocate(seed: int) -> None:
    """Groups of random sizes (a few big enough to be skipped, then to overshoot) among
    singletons, random strata, pooled small ones: each row's side and each stratum's
    report as ``allocate``'s."""
    rng = random.Random(seed)
    n = rng.randint(5, 300)
    labels = [rng.choice("aaabbbccdefg") for _ in range(n)]
    uf = UnionFind(n)
    for _ in range(rng.randint(0, n // 3)):
        size = rng.choice([2, 2, 3, 4, 8, 20])
        uf.union_all(rng.sample(range(n), min(size, n)))
    groups = uf.groups()
    test_size = rng.choice([0.1, 0.2, 0.3])
    val_size = rng.choice([0.0, 0.1, 0.15])
    min_stratum = rng.choice([0, 10, 25])
    want_sides, strata = allocate(labels, groups, test_size, val_size, seed, min_stratum)
    want = []
    for r in strata:
        d = r.to_dict()
        d.pop("target")
        if d["status"] == "off_target":  # marked from the counts, as the Ray path marks it
            d["status"] = "split"
        want.append(d)
    got_sides, got = _draw_as_workers(labels, groups, test_size, val_size, seed, min_stratum)
    assert got_sides == want_sides
    assert got == want


def test_gaps_below_orders_ties_by_position() -> None:
    rng = np.random.default_rng(0)
    keys = np.sort(rng.integers(0, 5, 40).astype(np.uint64))
    roots = np.zeros(40, dtype=np.int64)
    for k in np.unique(keys).tolist():
        m = np.flatnonzero(keys == k)
        roots[m] = np.sort(rng.choice(1000, m.size, replace=False))
    okey = rng.integers(0, 6, 200).astype(np.uint64)
    pos = rng.choice(np.setdiff1d(np.arange(2000), roots), 200, replace=False)
    got = gaps_below(okey, pos, keys, roots)
    want = [
        sum(
            (kk, rr) < (int(k), int(p))
            for kk, rr in zip(keys.tolist(), roots.tolist(), strict=True)
        )
        for k, p in zip(okey, pos, strict=True)
    ]
    assert got.tolist() == want


def test_merged_groups_join_leaking_rows() -> None:
    a = Group(3, 2, {"x": [2, 3]})
    b = Group(5, 3, {"y": [2, 5], "x": [1, 9]})
    groups, of_digest, of_pos = merged_groups(
        [a, b],
        {3: ("x", 0), 7: ("y", -1), 9: ("x", 1), 12: ("z", -1), 1: ("z", -1)},
        [(7, 3), (9, 12), (1, 12)],
    )
    assert [(g.root, g.size, g.label()) for g in groups] == [
        (1, 5, "z"),
        (3, 3, "x"),
    ]  # y 2, z 2: z met first
    assert of_digest == {0: 1, 1: 0} and of_pos == {1: 0, 7: 1, 12: 0}


# -- the run on the two-node cluster ---------------------------------------------------


def _runs(data: Path, config: Path, tmp_path: Path) -> tuple[dict[str, Path], dict[str, str]]:
    out, errs = {}, {}
    for engine in ("local", "ray"):
        out[engine] = tmp_path / engine
        args = [str(data), "-o", str(out[engine]), "--config", str(config), "--no-semantic"]
        result = CliRunner().invoke(main, ["run", *args, "--engine", engine, "--allow-rejects"])
        if result.exception and not isinstance(result.exception, SystemExit):
            raise result.exception
        assert result.exit_code in (0, 1), result.stderr
        errs[engine] = result.stderr
    return out, errs


def _chat(q: str, a: str, **extra: object) -> dict:
    msgs = [{"role": "user", "content": q}, {"role": "assistant", "content": a}]
    return {"messages": msgs, **extra}


def test_shared_prompts_grouped_on_the_workers_as_local(ray_cluster, tmp_path: Path) -> None:
    # Rows asking the same prompt, answered apart, across strata: pairs and triples, a
    # group of 25 in "big", and a stratum of three groups of 4 only (test's need, 3, fits
    # none of them: each is skipped, then the smallest overshoots; val's 1 fits none
    # either); small strata pooled into <other>; val on.
    rng = random.Random(11)
    vocab = [f"v{k}" for k in range(5000)]

    def words(k: int) -> str:
        return " ".join(rng.sample(vocab, k))

    rows = []
    for cat, k in {"big": 220, "mid": 70, "p1": 5, "p2": 6, "p3": 4}.items():
        for _ in range(k):
            rows.append(_chat(words(10), words(30), category=cat))
    for cat, sizes in {"big": [2, 2, 3, 25], "mid": [2, 3], "p1": [2], "grp": [4, 4, 4]}.items():
        for size in sizes:
            q = words(10)
            rows += [_chat(q, words(30), category=cat) for _ in range(size)]
    rows.append(_chat(rows[0]["messages"][0]["content"], words(30), category="mid"))
    rng.shuffle(rows)
    data = tmp_path / "in.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    config = tmp_path / "c.yaml"
    config.write_text(
        "split:\n  test_size: 0.25\n  val_size: 0.1\n  seed: 3\n  stratify: [category]\n"
    )
    out, errs = _runs(data, config, tmp_path)
    assert "split on the workers: train" in errs["ray"], errs["ray"]
    assert compare_outputs(out["local"], out["ray"]) == []
    split = json.loads((out["local"] / "report.json").read_text())["split"]
    assert split["prompt_clusters"] == 11 and split["multi_record_groups"] == 11
    strata = {s["stratum"]: s for s in split["strata"]}
    assert (strata["grp"]["test"], strata["grp"]["val"], strata["grp"]["groups"]) == (4, 0, 3)
    assert strata["<other>"]["pooled"] == ["p1", "p2", "p3"]
