"""Semantic dedup with the real packaged models (tens of texts), and the embedding cache."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from click.testing import CliRunner

from curate.cli import main
from curate.dedup import DedupConfig, dedup, find_duplicates
from curate.embed import get_embedder
from tests.dedup.dedup_data import chat, records_of, write_jsonl

ROWS = [
    chat("How do I reset my password?", "Open Settings, choose Security, then Reset password."),
    chat("Give me a recipe for banana bread.", "Mash three bananas, mix with flour and bake."),
    chat(
        "What is the way to reset my password?",
        "Go to Settings, pick Security, click Reset password.",
    ),
    chat("Explain how photosynthesis works.", "Plants turn light, water and CO2 into sugar."),
    chat("Which city is the capital of France?", "Paris is the capital of France."),
]


def test_minilm_paraphrase_caught_unrelated_not() -> None:
    recs = records_of(ROWS)
    out = dedup(recs, DedupConfig(methods=("semantic",), model="minilm"))
    assert [(d.record.line, d.reason) for d in out.result.dropped] == [(3, "semantic_duplicate")]
    drop = out.result.dropped[0]
    assert drop.extra["duplicate_of"] == "mem.jsonl:1"
    assert drop.extra["similarity"] >= 0.95
    assert out.stats["embedder"] == "all-MiniLM-L6-v2"
    # unrelated pairs stay far below the threshold
    vecs = get_embedder("minilm", cache_dir=False).encode(
        [r["messages"][0]["content"] for r in ROWS]
    )
    sims = vecs @ vecs.T
    assert sims[1, 3] < 0.5 and sims[0, 4] < 0.5


def test_cache_reused_and_identical(tmp_path: Path) -> None:
    texts = [r["messages"][1]["content"] for r in ROWS]
    first = get_embedder(cache_dir=tmp_path / "c")
    a = first.encode(texts)
    assert (first.hits, first.misses) == (0, len(texts))
    again = get_embedder(cache_dir=tmp_path / "c")
    b = again.encode(texts + texts[:1])
    assert (again.hits, again.misses) == (len(texts) + 1, 0)
    assert np.array_equal(a, b[: len(texts)])
    assert a.dtype == np.float32
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)


def test_fast_static_model_catches_near_copy_not_unrelated() -> None:
    rows = ROWS + [
        chat("How do I reset my password?", "Open Settings, choose Security, then Reset password!")
    ]
    recs = records_of(rows)
    clusters = find_duplicates(recs, DedupConfig(methods=("semantic",), model="fast"))
    assert [(c.method, c.members) for c in clusters] == [("semantic", (0, 5))]


def test_semantic_leakage_library() -> None:
    train = records_of(ROWS, "train.jsonl")
    test = records_of(
        [
            chat(
                "How can I reset my password?",
                "Open Settings, choose Security, then Reset password.",
            )
        ],
        "test.jsonl",
    )
    conv = DedupConfig(methods=("exact", "semantic"), against_key="conversation", model="minilm")
    out = dedup(train, conv, against=[test])
    leaked = [
        (d.record.line, d.extra["method"]) for d in out.result.dropped if d.reason == "leaked"
    ]
    assert leaked[0] == (1, "semantic")
    assert 3 in [line for line, _ in leaked]  # the paraphrase leaks too


def test_cli_semantic_clusters_and_cache(tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "in.jsonl", ROWS)
    args = [
        "dedup",
        str(src),
        "-o",
        str(tmp_path / "out.jsonl"),
        "--method",
        "exact,semantic",
        "--model",
        "minilm",
        "--clusters",
        str(tmp_path / "cl.jsonl"),
        "--cache-dir",
        str(tmp_path / "c"),
        "--json",
        "--allow-rejects",  # one semantic duplicate is removed: exit 1 without it
    ]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["removed"]["semantic"] == 1
    assert report["embedding_cache"] == {"hits": 0, "misses": 5}
    cl = [json.loads(x) for x in (tmp_path / "cl.jsonl").read_text().splitlines()]
    assert cl[0]["method"] == "semantic"
    assert [m["line"] for m in cl[0]["members"]] == [1, 3]
    rerun = CliRunner().invoke(main, args)
    assert json.loads(rerun.stdout)["embedding_cache"] == {"hits": 5, "misses": 0}
    assert (tmp_path / "out.jsonl").read_bytes().count(b"\n") == 4


TEMPLATE = (
    "Please extract the following fields from the customer support note below and return them "
    "as a JSON object with the keys person, company, city and amount, using null for any field "
    "that is missing. Note: {} of {} in {} asked for a refund of ${} after the order arrived "
    "damaged."
)
FILLED = [
    chat(TEMPLATE.format("Ingrid Berg", "Acme Tools", "Seville", "24,950"), '{"person": "IB"}'),
    chat(TEMPLATE.format("Tomasz Nowak", "Lumen Labs", "Lyon", "17,700"), '{"person": "TN"}'),
    chat(TEMPLATE.format("Ingrid Berg", "Acme Tools", "Seville", "24,950"), '{"person": "IB"}.'),
]


def test_slot_values_are_numbers_and_proper_names() -> None:
    from curate.dedup.slots import Slots, different_slots, slot_values

    text = "Refund of $24,950 approved for Ingrid Berg in Seville. The end"
    assert slot_values(text) == {"24950", "ingrid", "berg", "seville"}
    assert different_slots(Slots(text), Slots("Refund of $17,700 for Tomasz Nowak in Lyon."))
    assert not different_slots(Slots(text), Slots("Ingrid Berg got $24,950 back in Seville"))
    # Other capitalisation, or a cut sentence, is no substitution.
    assert not different_slots(Slots(text), Slots(text.upper().title()))
    assert not different_slots(Slots(text), Slots("Refund approved for Ingrid."))
    assert not different_slots(Slots(text), Slots("no values here"))


def test_slot_guard_keeps_filled_templates_apart() -> None:
    recs = records_of(FILLED)
    vecs = get_embedder("minilm", cache_dir=False).encode(
        [r["messages"][0]["content"] for r in FILLED]
    )
    assert float(vecs[0] @ vecs[1]) >= 0.95  # the embeddings alone call them duplicates
    cfg = DedupConfig(methods=("semantic",), key="prompt", model="minilm")
    guarded = dedup(recs, cfg)
    # Line 3 repeats line 1's values: a real duplicate. Line 2 has other values: kept.
    assert [(d.record.line, d.extra["duplicate_of"]) for d in guarded.result.dropped] == [
        (3, "mem.jsonl:1")
    ]
    assert guarded.stats["semantic_pairs_rejected_by_slot_guard"] >= 1
    cfg.explain = True
    shown = dedup(recs, cfg).explain["semantic"]["above"]
    apart = {(p["a"]["line"], p["b"]["line"]) for p in shown if "kept_apart" in p}
    assert (1, 2) in apart and (1, 3) not in apart
    cfg.explain = False
    cfg.slot_guard = False
    unguarded = dedup(recs, cfg)
    assert sorted(d.record.line for d in unguarded.result.dropped) == [2, 3]
