"""The Batch (records + batch index + vectors + fingerprints), the stage loop, and
``filter.drop_findings`` over records from several sources."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from curate.audit import AuditConfig, audit
from curate.cli import main
from curate.dedup import DedupConfig, dedup
from curate.pipeline.filters import drop_findings
from curate.records import Record
from curate.stage import Batch, BatchResult, Dropped, run_stages
from tests.pipeline.conftest import good_rows

REFUSAL = "I'm sorry, but I can't help with that request."


def _two_sources() -> list[Record]:
    """Two sources whose line numbers repeat (an HF dataset folder's train and test)."""
    rows = good_rows(40)
    rows[4]["messages"][1]["content"] = REFUSAL  # train line 5 only
    return [Record("ds/train", i + 1, r) for i, r in enumerate(rows[:20])] + [
        Record("ds/test", i + 1, r) for i, r in enumerate(rows[20:])
    ]


def test_select_slices_records_vectors_and_fingerprints_together() -> None:
    records = _two_sources()
    vecs = np.arange(len(records) * 2, dtype=np.float32).reshape(-1, 2)
    feats = dedup(records, DedupConfig(methods=("exact", "near"))).features
    batch = Batch.of(records, vecs, feats)
    sub = batch.select([3, 25, 7]).select([2, 1])
    assert [r.ref for r in sub.records] == [records[7].ref, records[25].ref]
    assert sub.index.tolist() == [7, 25]  # the position in the first batch survives
    assert sub.vectors.tolist() == vecs[[7, 25]].tolist()
    assert sub.features.digests.tolist() == feats.digests[[7, 25]].tolist()
    with pytest.raises(ValueError, match="3 rows of vectors for 40 records"):
        Batch.of(records, vecs[:3])


def test_drop_findings_tells_sources_apart() -> None:
    batch = Batch.of(_two_sources())
    report = audit(batch.records, AuditConfig(embeddings=False))
    res = drop_findings(batch, report.findings, ["refusal"])
    # Line 5 exists in both sources; only train's is a refusal.
    assert [(d.record.source, d.record.line, d.reason) for d in res.dropped] == [
        ("ds/train", 5, "refusal")
    ]
    assert len(res.kept) == 39 and 4 not in res.kept.tolist() and 24 in res.kept.tolist()


def test_run_stages_applies_drops_and_checks_the_count() -> None:
    class DropOdd:
        name = "odd"

        def __call__(self, batch: Batch, done: object) -> BatchResult:
            rows = np.arange(len(batch))
            return BatchResult(
                rows[rows % 2 == 0],
                [Dropped(batch.records[i], "odd", "odd_row") for i in rows[rows % 2 == 1]],
                {"dropped": int((rows % 2).sum())},
            )

    class Broken:
        name = "broken"

        def __call__(self, batch: Batch, done: object) -> BatchResult:
            return BatchResult(np.arange(len(batch) - 1))  # loses a record

    class Second(DropOdd):
        name = "second"

    records = _two_sources()
    gone: list[Dropped] = []
    batch = Batch.of(records, np.ones((40, 2), dtype=np.float32))
    out, done = run_stages([DropOdd(), Second()], batch, gone.append)
    assert out is batch  # narrowed in place: no caller keeps the removed rows alive
    assert out.index.tolist() == list(range(0, 40, 4)) and out.vectors.shape == (10, 2)
    assert [d.record for d in gone[:20]] == records[1::2]  # the first stage's, in order
    assert len(gone) == 30 and done["odd"].stats == {"dropped": 20}
    assert done["second"].stats == {"dropped": 10} and done["odd"].dropped == []
    with pytest.raises(RuntimeError, match="stage broken: 39 kept"):
        run_stages([Broken()], Batch.of(records), gone.append)


def test_run_drop_findings_on_an_hf_dataset_folder_with_splits(tmp_path: Path) -> None:
    """Findings name records by batch index: the old code refused several sources."""
    import datasets

    datasets.disable_progress_bars()
    records = _two_sources()
    datasets.DatasetDict(
        {
            "train": datasets.Dataset.from_list([r.data for r in records[:20]]),
            "test": datasets.Dataset.from_list([r.data for r in records[20:]]),
        }
    ).save_to_disk(str(tmp_path / "dd"))
    cfg = tmp_path / "c.yaml"
    cfg.write_text("filter:\n  drop_findings: [refusal]\n")
    out = tmp_path / "out"
    res = CliRunner().invoke(
        main,
        ["run", str(tmp_path / "dd"), "-o", str(out), "--no-semantic", "--config", str(cfg)],
    )
    assert res.exit_code == 1, res.output  # 1: a record was rejected
    rejects = [json.loads(x) for x in (out / "rejects.jsonl").read_text().splitlines()]
    assert [(r["stage"], r["reason"], r["line"]) for r in rejects] == [("audit", "refusal", 5)]
    assert rejects[0]["record"]["messages"][1]["content"] == REFUSAL
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["kept"] == 39 and manifest["balanced"]


def test_audit_duplicate_share_takes_dedups_fingerprints(monkeypatch: pytest.MonkeyPatch) -> None:
    """`curate run`'s audit must not repeat dedup's MinHash pass (it did: ~50 s at 1M rows)."""
    import curate.dedup.engine as engine
    from curate.audit.diversity import near_duplicate_share

    records = _two_sources()
    res = dedup(records, DedupConfig(methods=("exact", "near")))
    kept = res.result.kept
    fresh = near_duplicate_share(kept)

    def no_second_pass(*args: object, **kwargs: object) -> None:
        raise AssertionError("the fingerprints were computed again")

    monkeypatch.setattr(engine, "compute_features", no_second_pass)
    assert near_duplicate_share(kept, res.features.subset(res.kept_rows)) == fresh
    with pytest.raises(AssertionError, match="computed again"):
        near_duplicate_share(kept)  # without them the pass runs (the patch is live)


def test_keep_narrows_the_vectors_in_their_own_memory_when_only_the_batch_holds_them() -> None:
    """Batch.keep moves the kept rows to the front of the batch's own array and shrinks it
    (no second array beside the old one, ~1 GB at 1M rows); the rows are ``vectors[rows]``."""
    from curate import stage

    rng = np.random.default_rng(0)
    n = 3 * stage.NARROW_CHUNK + 17  # several chunks, the last one short
    vecs = rng.standard_normal((n, 4)).astype(np.float32)
    records = [Record("f", i + 1, {"i": i}) for i in range(n)]
    rows = np.sort(rng.choice(n, n - 5000, replace=False))
    rows[: stage.NARROW_CHUNK] = np.arange(stage.NARROW_CHUNK)  # a first chunk left in place
    expected = vecs[rows]  # a copy: it holds no reference to ``vecs``
    batch = Batch.of(records, vecs)
    del vecs
    before = id(batch.vectors)
    batch.keep(rows)
    assert id(batch.vectors) == before  # the same array object, narrowed in place
    assert batch.vectors.flags.owndata and batch.vectors.shape == expected.shape
    assert np.array_equal(batch.vectors, expected)
    assert batch.index.tolist() == rows.tolist()


def test_keep_copies_vectors_that_something_else_holds_or_rows_out_of_order() -> None:
    """The array is another holder's too (or the rows are not ascending): it is left as it
    was and the batch gets a copy, as ``select`` gives."""
    vecs = np.arange(40 * 3, dtype=np.float32).reshape(40, 3)
    original = vecs.copy()
    records = [Record("f", i + 1, {"i": i}) for i in range(40)]
    batch = Batch.of(records, vecs)
    batch.keep(np.arange(0, 40, 2))
    assert np.array_equal(vecs, original)  # the caller's array is untouched
    assert batch.vectors is not vecs and np.array_equal(batch.vectors, original[::2])
    own = Batch.of(records, original.copy())
    own.keep(np.array([5, 3, 9]))
    assert np.array_equal(own.vectors, original[[5, 3, 9]])


def test_dedup_leaves_no_cycle_holding_the_batch_vectors() -> None:
    """After the dedup stage nothing but the batch holds its vectors, without a garbage
    collection: the engine's vectors once held a bound method of the engine (a cycle), so
    the old array (~1 GB at 1M rows) outlived ``Batch.keep``'s copy until a collection."""
    import gc

    from curate.dedup.engine import DedupStage

    records = [Record("f", i + 1, r) for i, r in enumerate(good_rows(40))]
    records += [Record("f", 41 + i, r.data) for i, r in enumerate(records[:5])]  # copies
    vecs = np.random.default_rng(0).standard_normal((len(records), 8)).astype(np.float32)
    batch = Batch.of(records, vecs / np.linalg.norm(vecs, axis=1, keepdims=True))
    del vecs
    config = DedupConfig(methods=("exact", "semantic"), model="fast", cache_dir=False)
    gc.disable()
    try:
        res = DedupStage(config)(batch, {})
        before = id(batch.vectors)
        assert len(res.kept) == 40
        batch.keep(res.kept)
        assert id(batch.vectors) == before  # narrowed in place: the batch held it alone
    finally:
        gc.enable()
