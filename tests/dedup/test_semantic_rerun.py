"""A semantic dedup rerun on the same records reuses the step's outcome: same result, and a
changed record or setting is never answered from the cache."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from curate.dedup import DedupConfig, dedup
from curate.dedup.semantic import NEIGHBOUR_CACHE_MIN
from tests.dedup.identity_data import identity_records

N = NEIGHBOUR_CACHE_MIN + 400  # smaller sets are not kept


def _outcome(res) -> tuple:  # noqa: ANN001 - a DedupResult
    return (
        [(c.method, c.members, c.keep, c.similarity) for c in res.clusters],
        [(d.record.line, d.reason, d.detail, d.extra) for d in res.result.dropped],
        res.semantic.recheck.tolist(),
        res.semantic.mean.tolist(),
        res.kept_apart,
    )


def test_rerun_reads_the_outcome_and_gives_the_same_result(tmp_path: Path) -> None:
    records = identity_records(N)
    cfg = DedupConfig(methods=("semantic",), model="fast", cache_dir=tmp_path)
    cold = dedup(records, cfg)
    assert cold.clusters  # the data holds semantic duplicates
    assert len(list((tmp_path).rglob("semantic/*.npz"))) == 1
    # The outcome is what a rerun reads: the search's own pairs are not keyed and kept too.
    assert not list(tmp_path.rglob("neighbours/*.npz"))
    warm = dedup(records, cfg)
    assert _outcome(warm) == _outcome(cold)
    # Only the vectors of records in pairs over the threshold were read again (the
    # clusters' members, and pairs the slot guard turned down); nothing was embedded.
    members = {m for c in cold.clusters for m in c.members}
    assert warm.stats["embedding_cache"]["misses"] == 0
    assert len(members) <= warm.stats["embedding_cache"]["hits"] < N * 2 // 3


def test_a_changed_record_or_setting_misses(tmp_path: Path) -> None:
    records = identity_records(N)
    cfg = DedupConfig(methods=("semantic",), model="fast", cache_dir=tmp_path)
    dedup(records, cfg)
    # One record's text changed: searched again (its vector embedded, every other read).
    data = records[5].data
    msgs = [dict(m, content=m["content"] + " And one more thing.") for m in data["messages"]]
    changed = [*records[:5], records[5].with_data({**data, "messages": msgs}), *records[6:]]
    got = dedup(changed, cfg)
    assert got.stats["embedding_cache"] == {"hits": N - 1, "misses": 1}
    assert _outcome(got) == _outcome(dedup(changed, replace(cfg, cache_dir=tmp_path / "a")))
    # Another threshold: searched again, with its own result.
    stricter = replace(cfg, semantic_threshold=0.97)
    got = dedup(records, stricter)
    assert got.stats["embedding_cache"]["hits"] == N
    assert _outcome(got) == _outcome(dedup(records, replace(stricter, cache_dir=tmp_path / "b")))
    assert _outcome(got) != _outcome(dedup(records, cfg))


def test_a_damaged_or_foreign_outcome_file_is_searched_again(tmp_path: Path) -> None:
    records = identity_records(N)
    cfg = DedupConfig(methods=("semantic",), model="fast", cache_dir=tmp_path)
    cold = dedup(records, cfg)
    (memo,) = tmp_path.rglob("semantic/*.npz")
    good = memo.read_bytes()
    memo.write_bytes(good[: len(good) // 2])  # truncated: np.load raised BadZipFile
    assert _outcome(dedup(records, cfg)) == _outcome(cold)
    # Arrays for another number of rows (a file of other code): not used.
    import numpy as np

    with np.load(memo) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["full"] = arrays["full"][:-1]
    np.savez(memo, **arrays)
    assert _outcome(dedup(records, cfg)) == _outcome(cold)
