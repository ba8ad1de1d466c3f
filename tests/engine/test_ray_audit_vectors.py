"""``audit_kept`` with the run's vectors left on the workers (``WorkerVectors``): the same
report as with every vector on the driver, from the sampled rows' vectors alone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest

from curate.audit import kmeans
from curate.audit.kmeans import FIT_ROWS, MAX_ITER, _plus_plus, assign, spherical_kmeans
from curate.audit.model import AuditConfig
from curate.records import BadLine, Record, RecordReader
from curate.report.topics import build_topics
from tests.engine.helpers import audit_set

pytestmark = pytest.mark.filterwarnings(
    "ignore::DeprecationWarning",
    "ignore::FutureWarning",
    "ignore::pytest.PytestUnraisableExceptionWarning",
    "ignore::ResourceWarning",
)


def _kmeans_before(vecs: np.ndarray, k: int, seed: int, fit_rows: int) -> np.ndarray:
    """``spherical_kmeans`` as it was before its split into fit and assign."""
    x_all = np.asarray(vecs, dtype=np.float32)
    rng = np.random.default_rng(seed)
    fit_idx = (
        np.sort(rng.choice(len(x_all), fit_rows, replace=False))
        if len(x_all) > fit_rows
        else np.arange(len(x_all))
    )
    x = x_all[fit_idx]
    centers = _plus_plus(x, k, rng)
    labels = np.full(len(x), -1)
    for _ in range(MAX_ITER):
        new = np.argmax(x @ centers.T, axis=1)
        if np.array_equal(new, labels):
            break
        labels = new
        for j in range(k):
            members = x[labels == j]
            if len(members):
                c = members.sum(axis=0)
                norm = np.linalg.norm(c)
                centers[j] = c / norm if norm > 0 else c
            else:
                worst = int(np.argmin((x * centers[labels]).sum(axis=1)))
                centers[j] = x[worst]
    return np.argmax(x_all @ centers.T, axis=1)


def _unit(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    x = rng.standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.mark.parametrize(
    ("n", "dim", "k", "fit_rows"), [(500, 16, 7, FIT_ROWS), (3000, 24, 12, 800)]
)
def test_fit_and_assign_give_the_labels_of_before(
    monkeypatch: pytest.MonkeyPatch, n: int, dim: int, k: int, fit_rows: int
) -> None:
    monkeypatch.setattr(kmeans, "FIT_ROWS", fit_rows)  # 800: the fit's sampling, on a small set
    for seed in (0, 3):
        x = _unit(np.random.default_rng(seed), n, dim)
        before = _kmeans_before(x, k, seed, fit_rows)
        assert np.array_equal(spherical_kmeans(x, k, seed), before)
        assert len(np.unique(before)) == k


def test_assign_is_the_same_whichever_rows_share_the_call() -> None:
    # A Ray worker assigns its batch, local the whole array: the same label for every row,
    # near-ties included (rows half-way between two centres, scored again in float64).
    rng = np.random.default_rng(4)
    centers = _unit(rng, 9, 384)
    x = _unit(rng, 5000, 384)
    mid = centers[:4] + centers[1:5]
    mid /= np.linalg.norm(mid, axis=1, keepdims=True)
    x[::50][: len(mid)] = mid
    x[1::50] = (x[1::50] + 1e-7).astype(np.float32)
    whole = assign(x, centers)
    cuts = np.sort(rng.choice(np.arange(1, len(x)), 40, replace=False))
    parts = np.concatenate([assign(p, centers) for p in np.split(x, cuts)])
    ones = np.asarray([assign(x[i : i + 1], centers)[0] for i in range(0, len(x), 37)])
    assert np.array_equal(whole, parts)
    assert np.array_equal(whole[::37], ones)
    # Where the best centre wins clearly, the label is the plain argmax.
    assert (whole == np.argmax(x @ centers.T, axis=1)).mean() > 0.99


def _rows(path: Path) -> list[Record]:
    return [r for r in RecordReader(path) if not isinstance(r, BadLine)]


def _alive(
    rows: list[Record], vecs: np.ndarray, blocks: int, sides: np.ndarray | None = None
) -> Any:
    """The run's kept rows as ``read_dedup`` has them at the audit (``idx``: pre-dedup
    positions, here with every other tenth row removed by dedup)."""
    import ray

    kept = np.arange(len(rows), dtype=np.int64)
    kept += kept // 9  # every tenth id was removed
    gone = np.setdiff1d(np.arange(kept[-1] + 1), kept)
    cols = {
        "idx": kept,
        "source": np.asarray([r.source for r in rows], dtype=object),
        "line": np.asarray([r.line for r in rows], np.int64),
        "text_line": np.asarray([r.text_line for r in rows], np.int64),
        "data": np.asarray([orjson.dumps(r.data) for r in rows], dtype=object),
        "vec": np.asarray(vecs, np.float32),
        "unseen": np.zeros(len(rows), bool),
        # The split's rows: their place after dedup and their side.
        **({} if sides is None else {"pos": np.arange(len(rows)), "side": sides}),
    }
    ds = ray.data.from_numpy(np.arange(len(rows))).repartition(blocks)

    def put(batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        at = batch["data"]
        return {k: v[at] for k, v in cols.items()}

    return ds.map_batches(put, batch_format="numpy").materialize(), gone


def _both(rows: list[Record], vecs: np.ndarray, config: AuditConfig) -> tuple[Any, Any]:
    import ray

    from curate.engine.ray_audit import WorkerVectors, audit_kept

    alive, gone = _alive(rows, vecs, blocks=7)
    driver = audit_kept(ray, alive, gone, len(rows), config, 2, vecs)
    workers = audit_kept(ray, alive, gone, len(rows), config, 2, WorkerVectors())
    return driver, workers


def _same(driver: Any, workers: Any, rows: list[Record], fewer: bool) -> None:
    a, b = driver.to_dict(), workers.to_dict()
    a.pop("timings", None), b.pop("timings", None)
    assert a["diversity"]["clusters"] == b["diversity"]["clusters"]
    assert a["diversity"]["mean_pairwise_distance"] == b["diversity"]["mean_pairwise_distance"]
    assert a == b
    ta, tb = driver.series["topics"], workers.series["topics"]
    # Only each cluster's first rows (all of them when no cluster has more).
    assert (len(tb["records"]) < len(ta["records"])) == fewer
    assert build_topics(rows, ta) == build_topics(rows, tb)


def _clustered_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seed: int
) -> tuple[list[Record], np.ndarray]:
    """The audit set's records (one not a chat) and clustered random unit vectors, with
    small samples (all read on the driver) so that a few hundred rows sample and the
    topics list 5 rows each."""
    from curate.audit import diversity
    from curate.report import topics

    monkeypatch.setattr(kmeans, "FIT_ROWS", 150)
    monkeypatch.setattr(diversity, "PAIRWISE_SAMPLE", 100)
    monkeypatch.setattr(topics, "MAX_PROMPTS_PER_CLUSTER", 5)
    path = tmp_path / "set.jsonl"
    audit_set(path, n=420)
    rows = _rows(path)
    rng = np.random.default_rng(seed)
    centres = _unit(rng, 6, 48)
    vecs = centres[rng.integers(0, 6, len(rows))] + 0.6 * _unit(rng, len(rows), 48)
    return rows, (vecs / np.linalg.norm(vecs, axis=1, keepdims=True)).astype(np.float32)


def test_vectors_on_the_workers_give_the_driver_arrays_report(
    ray_cluster: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows, vecs = _clustered_set(tmp_path, monkeypatch, seed=8)
    config = AuditConfig(seed=5, language_sample=60, label="meta.category")
    driver, workers = _both(rows, vecs, config)
    assert driver.metrics["conversations"] < len(rows)  # the not_chat row is left out
    assert driver.diversity["clusters"]["k"] >= 10
    _same(driver, workers, rows, fewer=True)


def test_vectors_on_the_workers_with_the_default_embedder(ray_cluster: Any) -> None:
    from curate.dedup.normalize import key_text
    from curate.embed import get_embedder

    rows = _rows(Path(__file__).parents[2] / "sample_data" / "sample.jsonl")
    config = AuditConfig(seed=1, language_sample=50)
    vecs = np.asarray(
        get_embedder(config.model).encode([key_text(r, "conversation") for r in rows]),
        np.float32,
    )
    driver, workers = _both(rows, vecs, config)
    _same(driver, workers, rows, fewer=False)


def test_topic_shares_per_split_count_every_row(
    ray_cluster: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the vectors on the workers the topics list only each cluster's first rows;
    their train / val / test shares still count every row, as local's page counts them from
    every row's side, and their names and sample prompts are read on the workers: the same
    topics as the page makes of the driver's records (``topics_on_workers``)."""
    from curate.engine.ray_audit import topics_on_workers
    from curate.engine.ray_rows import SIDES

    rows, vecs = _clustered_set(tmp_path, monkeypatch, seed=3)
    rng = np.random.default_rng(3)
    # Sides skewed by the vectors' first coordinate: topics differ in their test share.
    sides = np.where(vecs[:, 0] > 0.2, 2, rng.integers(0, 2, len(rows))).astype(np.int8)
    config = AuditConfig(seed=5, language_sample=60)
    driver, workers = _both(rows, vecs, config)
    ta, tb = driver.series["topics"], workers.series["topics"]
    assert len(tb["records"]) < len(ta["records"])
    sided, _ = _alive(rows, vecs, blocks=5, sides=sides)
    topics_on_workers(sided, tb, None)
    assert "centers" not in tb and "not_chat" not in tb
    assert sum(len(s) for s in tb["texts"][1]) >= len(tb["sizes"])  # samples for each

    def split_of(idx: Any) -> list[str]:
        return [SIDES[int(sides[i])] for i in idx]

    want = build_topics(rows, ta, split_of)
    assert {s for t in want[0] for s in t.by_split} == {"train", "val", "test"}
    assert build_topics([], tb) == want  # no record read on the driver
    # The driver's vectors: the series lists every row; the workers read each topic's first
    # rows only, as local does.
    tc = dict(ta)
    topics_on_workers(sided, tc, None)
    assert "by_side" not in tc
    assert build_topics([], tc) == build_topics(rows, ta)
