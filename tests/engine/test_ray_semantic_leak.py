"""The split's semantic leakage check on the Ray workers (``curate.engine.ray_leaks``): a
run with ``run.semantic`` on keeps its split on the workers, and the leaks it finds are
local's."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from tests.conftest import SAMPLE_DATA
from tests.engine.helpers import compare_outputs, run_allowing_rejects

pytestmark = pytest.mark.filterwarnings(
    # Ray's own modules warn about their deprecated APIs at import/connect time.
    "ignore::DeprecationWarning",
    "ignore::FutureWarning",
    "ignore::pytest.PytestUnraisableExceptionWarning",
    "ignore::ResourceWarning",
)

# The sample set's run, without what sends the split to the driver on its own
# (drop_findings; rows sharing a prompt: the check's key is the conversation).
CONFIG = """\
run:
  seed: 0
filter:
  min_tokens: 12
dedup:
  methods: [{methods}]
  keep: first
  model: fast
  cache_dir: false
  {extra}
split:
  test_size: {test}
  val_size: 0.1
  stratify: [category]
  leakage_key: conversation
"""


_run = run_allowing_rejects


def _both(tmp_path: Path, data: Path, config: str) -> tuple[dict[str, Path], dict[str, str]]:
    cfg = tmp_path / "curate.yaml"
    cfg.write_text(config)
    out, errs = {}, {}
    for engine in ("local", "ray"):
        out[engine] = tmp_path / engine
        code, errs[engine] = _run(
            [str(data), "-o", str(out[engine]), "--config", str(cfg), "--engine", engine]
        )
        assert code in (0, 1), errs[engine]
    return out, errs


def test_semantic_run_splits_on_the_workers_as_local(ray_cluster, tmp_path: Path) -> None:
    config = CONFIG.format(
        methods="exact, near, semantic", extra="semantic_threshold: 0.9", test=0.2
    )
    out, errs = _both(tmp_path, SAMPLE_DATA / "sample.jsonl", config)
    assert "split on the workers: train" in errs["ray"], errs["ray"]
    assert "semantic leak check test~train: 0 at or above" in errs["ray"]
    assert compare_outputs(out["local"], out["ray"]) == []
    leakage = json.loads((out["ray"] / "report.json").read_text())["split"]["leakage"]
    assert leakage["by_method"] == {"exact": 0, "near": 0, "semantic": 0}


def _planted(path: Path) -> None:
    """The sample set and two pairs of paraphrases: each pair's two rows are each other's
    nearest, and the first rows of the two pairs are close too (over the threshold)."""
    rows = (SAMPLE_DATA / "sample.jsonl").read_text().splitlines()

    def chat(q: str) -> str:
        a = "Open Settings, choose Security, then Reset password and follow the emailed link."
        return json.dumps(
            {
                "messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}],
                "category": "support",
            }
        )

    rows += [
        chat("How do I reset the password of my account on the website?"),
        chat("How can I reset the password of my account on the website?"),
        chat("How do I change the password of my profile in the mobile app?"),
        chat("How can I change the password of my profile in the mobile app?"),
    ]
    path.write_text("\n".join(rows) + "\n")


def test_semantic_leak_found_as_local_and_repaired_on_the_workers(
    ray_cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import curate.engine.ray_leaks as ray_leaks
    import curate.split as split_mod

    data = tmp_path / "in" / "planted.jsonl"
    data.parent.mkdir()
    _planted(data)
    ray_found: dict[tuple[str, str], list[tuple[int, int]]] = {}
    local_found: list[list[tuple[int, str, int, str, str]]] = []
    orig_finder, orig_leakage = ray_leaks.semantic_leaks, split_mod._leakage

    def finder(eng, sided, a, b):  # type: ignore[no-untyped-def]
        got = orig_finder(eng, sided, a, b)
        ray_found.setdefault((a, b), got.pairs())  # the first draw's
        return got

    def leakage(records, sides, *args, **kwargs):  # type: ignore[no-untyped-def]
        got = orig_leakage(records, sides, *args, **kwargs)
        local_found.append([(i, m, j, sides[i], sides[j]) for i, m, j in got])
        return got

    monkeypatch.setattr(ray_leaks, "semantic_leaks", finder)
    monkeypatch.setattr(split_mod, "_leakage", leakage)
    # One neighbour a row: each paraphrase pair is joined and its first row kept, and the
    # two kept rows (over the threshold, neither list complete) are a pair dedup never met.
    # No near pass: it would remove the paraphrases first, leaving the two rows each
    # other's nearest.
    extra = "semantic_threshold: 0.9\n  neighbours: 1"
    config = CONFIG.format(methods="exact, semantic", extra=extra, test=0.5)
    out, errs = _both(tmp_path, data, config)
    assert "leak(s) joined, drawn again (round 1)" in errs["ray"], errs["ray"]
    assert "split on the workers: train" in errs["ray"], errs["ray"]
    assert compare_outputs(out["local"], out["ray"]) == []
    first = local_found[0]  # local's first draw: the draw the workers made
    assert any(m == "semantic" for _, m, _, _, _ in first)
    assert ray_found
    for (a, b), pairs in ray_found.items():
        want = [(i, j) for i, m, j, sa, sb in first if m == "semantic" and (sa, sb) == (a, b)]
        assert pairs == want, (a, b)
    assert any(ray_found.values())


def test_cross_leaks_brute_force() -> None:
    """One partition, no slot guard: each side-a row with a side-b row at or over the
    threshold leaks to its most similar one (all pairs in numpy), and local ``find_leaks``
    (dedup's reused search, every row to re-check) says the same."""
    from curate.dedup import DedupConfig
    from curate.dedup.semantic import SemanticCheck, centered_on, check_settings
    from curate.engine.ray_leaks import _cross_leaks, best_per_row
    from curate.records import Record
    from curate.split.dupes import cross_duplicates

    rng = np.random.default_rng(5)
    n, d = 80, 16
    vecs = rng.normal(size=(n, d)).astype(np.float32)
    side = rng.integers(0, 2, n).astype(np.int8)  # 0: side b, 1: side a
    for k in range(0, 30, 3):  # close copies, often across the sides
        vecs[k + 1] = vecs[k] + 0.15 * rng.normal(size=d).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    mean = vecs.mean(axis=0).astype(np.float32)
    cfg = DedupConfig(methods=("semantic",), semantic_threshold=0.9, center=True, slot_guard=False)
    data = [json.dumps({"messages": [{"role": "user", "content": f"row {k}"}]}) for k in range(n)]
    group = {
        "pos": np.arange(n, dtype=np.int64),
        "side": side,
        "vec": vecs,
        "unseen": np.zeros(n, dtype=bool),
        "source": np.array(["x"] * n, dtype=object),
        "line": np.arange(1, n + 1),
        "text_line": np.arange(1, n + 1),
        "data": np.array([x.encode() for x in data], dtype=object),
    }
    got = best_per_row(_cross_leaks(group, config=cfg, mean=mean, a=1, b=0))

    ia, ib = np.flatnonzero(side == 1), np.flatnonzero(side == 0)
    c = centered_on(vecs.copy(), mean)
    cos = np.minimum((c[ia] @ c[ib].T).astype(np.float64), 1.0)
    hit = cos.max(axis=1) >= 0.9
    want = list(zip(ia[hit].tolist(), ib[cos.argmax(axis=1)[hit]].tolist(), strict=True))
    assert want and got.pairs() == want
    assert np.allclose(got.cos, cos.max(axis=1)[hit], atol=1e-6)

    recs = [Record("x", k + 1, json.loads(data[k])) for k in range(n)]
    check = SemanticCheck(check_settings(cfg), np.ones(n, dtype=bool), mean)
    local = cross_duplicates(
        [recs[i] for i in ia.tolist()],
        vecs[ia],
        [recs[i] for i in ib.tolist()],
        cfg,
        vecs[ib],
        semantic=check.subset(ia),
        against_semantic=check.subset(ib),
    )
    assert [(int(ia[i]), int(ib[j])) for i, _, j in local] == want


def test_semantic_leaks_on_ray_one_partition(ray_cluster) -> None:
    """``semantic_leaks`` over a Ray dataset of the sides (one partition): the pairs of the
    numpy all-pairs search; rows of other sides and rows without text take no part."""
    import ray

    from curate.dedup import DedupConfig
    from curate.dedup.semantic import centered_on
    from curate.engine.ray_leaks import semantic_leaks

    rng = np.random.default_rng(8)
    n, d = 60, 12
    vecs = rng.normal(size=(n, d)).astype(np.float32)
    for k in range(0, 24, 2):
        vecs[k + 1] = vecs[k] + 0.1 * rng.normal(size=d).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    mean = vecs.mean(axis=0).astype(np.float32)
    side = rng.integers(0, 3, n).astype(np.int8)  # train 0, val 1, test 2
    nonempty = np.ones(n, dtype=bool)
    nonempty[5] = False
    cfg = DedupConfig(methods=("semantic",), semantic_threshold=0.9, center=True, slot_guard=False)
    rows = [
        {
            "pos": k,
            "side": int(side[k]),
            "nonempty": bool(nonempty[k]),
            "vec": vecs[k],
            "unseen": False,
            "source": "x",
            "line": k + 1,
            "text_line": k + 1,
            "data": json.dumps({"messages": [{"role": "user", "content": f"r{k}"}]}).encode(),
        }
        for k in range(n)
    ]
    sided = ray.data.from_items(rows).repartition(3).materialize()
    eng = SimpleNamespace(
        config=SimpleNamespace(dedup=cfg),
        partitioning=(mean, np.zeros((1, 1), np.float32)),
        parts=2,
    )
    got = semantic_leaks(eng, sided, "test", "train")
    ia = np.flatnonzero((side == 2) & nonempty)
    ib = np.flatnonzero((side == 0) & nonempty)
    c = centered_on(vecs.copy(), mean)
    cos = np.minimum((c[ia] @ c[ib].T).astype(np.float64), 1.0)
    hit = cos.max(axis=1) >= 0.9
    want = list(zip(ia[hit].tolist(), ib[cos.argmax(axis=1)[hit]].tolist(), strict=True))
    assert got.pairs() == want
