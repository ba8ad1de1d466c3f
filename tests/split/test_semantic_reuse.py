"""The split's semantic leakage check after dedup reuses dedup's search (``SemanticCheck``).

Vectors are given, so every cosine is exact and known: pairs of "twins" (cosine ~0.99) whose
members sit at cosine ~0.93 from the other pair's. With one neighbour per record, dedup's
search sees each record's twin only, joins the twins and keeps one of each pair: two kept
records that are semantic duplicates (0.93 >= 0.90) which dedup never compared. The split
must still catch them when they land on different sides, on the path that reuses dedup's
search (the way `curate run` calls it) as on a fresh search.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import curate.dedup.engine as engine
from curate.dedup import DedupConfig, dedup
from curate.dedup.engine import DedupStage
from curate.records import Record
from curate.split import SplitConfig, SplitStage, split_records
from curate.stage import Batch, run_stages
from tests.dedup.dedup_data import chat, long_text

DIM = 64
QUADS = 12
FILLERS = 150
CONFIG = DedupConfig(
    methods=("exact", "near", "semantic"),
    semantic_threshold=0.9,
    center=False,
    neighbours=1,
    slot_guard=False,
    cache_dir=False,
)


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def _count_queries(monkeypatch) -> list[int]:
    """The number of query rows of each exact re-check (``best_matches``) from now on."""
    queries: list[int] = []
    real = engine.best_matches

    def counted(q, base, min_score, mean=None):
        queries.append(len(q))
        return real(q, base, min_score, mean)

    monkeypatch.setattr(engine, "best_matches", counted)
    return queries


def _data() -> tuple[list[Record], np.ndarray, list[tuple[int, int]]]:
    """Records, their vectors, and the (t, v) rows that dedup keeps but are duplicates."""
    rng = np.random.default_rng(7)
    vecs, planted = [], []
    for _ in range(QUADS):
        t = _unit(rng.normal(size=DIM))
        other = _unit(rng.normal(size=DIM))
        other = _unit(other - (other @ t) * t)
        v = _unit(0.93 * t + np.sqrt(1 - 0.93**2) * other)  # cos(t, v) = 0.93
        pair = []
        for base in (t, v):
            pair.append(len(vecs))
            vecs.append(base)
            twin = _unit(base + 0.02 * _unit(rng.normal(size=DIM)))  # cos ~0.9998
            vecs.append(twin)
        planted.append((pair[0], pair[1]))
    vecs.extend(_unit(rng.normal(size=DIM)) for _ in range(FILLERS))  # cos ~0 +- 0.13
    rows = [chat(f"q{i} " + long_text(i, 30), long_text(10_000 + i, 30)) for i in range(len(vecs))]
    records = [Record("s.jsonl", i, row, i) for i, row in enumerate(rows, 1)]
    return records, np.asarray(vecs, dtype=np.float32), planted


@pytest.fixture(scope="module")
def kept() -> tuple[list[Record], np.ndarray, object, list[tuple[int, int]]]:
    records, vecs, planted = _data()
    res = dedup(records, CONFIG, embeddings=vecs)
    rows = res.kept_rows
    pos = {int(r): k for k, r in enumerate(rows.tolist())}
    # Dedup kept both members of every planted pair: it never compared them.
    assert all(t in pos and v in pos for t, v in planted)
    return (
        res.result.kept,
        vecs[rows],
        res.semantic.subset(rows),
        [(pos[t], pos[v]) for t, v in planted],
    )


def _sides(result) -> dict[int, str]:
    return {r.line: side for side, recs in result.splits.items() for r in recs}


def test_dedup_marks_only_cut_off_neighbour_lists_for_a_recheck(kept) -> None:
    records, _vecs, check, planted = kept
    flagged = set(np.flatnonzero(check.recheck).tolist())
    # The planted records' single neighbour (their twin, 0.9998) scored over the floor: their
    # lists were cut off. The fillers' best neighbour is far below it: settled.
    assert {i for pair in planted for i in pair} <= flagged
    assert len(flagged) == 2 * QUADS


def test_reused_check_catches_a_cross_side_near_copy_dedup_never_compared(
    kept, monkeypatch
) -> None:
    records, vecs, check, planted = kept
    queries = _count_queries(monkeypatch)
    cfg = SplitConfig(test_size=0.3, seed=1, keep_duplicates_together=False)
    reused = split_records(records, cfg, embeddings=vecs, dedup_config=CONFIG, semantic=check)
    # Leaks were found (the planted pairs drawn apart) and repaired by redrawing.
    assert reused.leakage["repair_rounds"] > 0
    assert reused.leakage["total"] == 0
    sides = _sides(reused)
    for t, v in planted:
        assert sides[records[t].line] == sides[records[v].line]
    # Only the flagged test records were searched, never the settled fillers.
    assert queries and max(queries) <= 2 * QUADS

    fresh = split_records(records, cfg, embeddings=vecs, dedup_config=CONFIG)
    assert fresh.report() == reused.report()
    assert _sides(fresh) == sides


@pytest.mark.parametrize("center", [False, True])
def test_run_stages_hand_dedup_search_to_the_split(monkeypatch, center) -> None:
    # `curate run`'s way: the Batch carries dedup's SemanticCheck to the split (centred:
    # the re-check centres on dedup's mean, as the static model's default does).
    config = dataclasses.replace(CONFIG, center=center)
    # The run's dedup explains (every candidate kept for the histograms): its lists still
    # count as cut off only above the floor, or every record would be searched again.
    explained = dataclasses.replace(config, explain=True)
    records, vecs, planted = _data()
    queries = _count_queries(monkeypatch)
    cfg = SplitConfig(test_size=0.3, seed=1, keep_duplicates_together=False)
    batch, done = run_stages(
        [DedupStage(explained), SplitStage(cfg, config)], Batch.of(records, vecs), lambda d: None
    )
    assert batch.semantic is not None and len(batch.semantic) == len(batch)
    result = done["split"].output
    assert result.leakage["repair_rounds"] > 0 and result.leakage["total"] == 0
    sides = _sides(result)
    for t, v in planted:
        assert sides[records[t].line] == sides[records[v].line]
    assert queries and max(queries) <= 2 * QUADS


def test_a_check_from_other_settings_is_not_reused(kept, monkeypatch) -> None:
    records, vecs, check, _planted = kept
    other = dataclasses.replace(CONFIG, semantic_threshold=0.8)
    assert not check.fits(other, len(records))
    called: list[int] = []
    monkeypatch.setattr(engine, "best_matches", lambda *a: called.append(1))
    cfg = SplitConfig(test_size=0.3, seed=1, keep_duplicates_together=False)
    split_records(records, cfg, embeddings=vecs, dedup_config=other, semantic=check)
    assert not called  # a fresh search of every record, not the reused path


def test_a_flagged_record_on_the_other_side_is_searched_too() -> None:
    # A pair is settled only when neither record's list was cut off: here the test-side
    # record is marked settled and only its train-side duplicate is flagged (an index can
    # propose a pair from one side only); the check must still find the pair.
    from curate.dedup import find_leaks
    from curate.dedup.semantic import SemanticCheck, check_settings

    records, vecs, planted = _data()
    t, v = planted[0]
    fillers = list(range(4 * QUADS, len(records)))
    test_rows, train_rows = [t, *fillers[:20]], [v, *fillers[20:]]
    flags = np.zeros(len(records), dtype=bool)
    flags[v] = True
    flag = dataclasses.replace(CONFIG, leak_action="flag")

    def leaks_with(flags: np.ndarray) -> list[tuple[int, str, int]]:
        check = SemanticCheck(check_settings(CONFIG), flags, None)
        leaks = find_leaks(
            [records[i] for i in test_rows],
            flag,
            [records[i] for i in train_rows],
            embeddings=vecs[test_rows],
            against_embeddings=vecs[train_rows],
            semantic=check.subset(test_rows),
            against_semantic=check.subset(train_rows),
        )
        return [(lk.index, lk.method, lk.match_index) for lk in leaks]

    assert leaks_with(flags) == [(0, "semantic", 0)]
    # Nothing flagged on either side: settled, nothing searched, nothing found.
    assert leaks_with(np.zeros(len(records), dtype=bool)) == []
