"""No chained removals: every removed record is directly similar (at or above the threshold)
to the kept record it names; a chain a~b~c whose ends are not similar keeps a and c.

qa10 saw "Are you trained by OpenAI?" removed as a semantic duplicate of "hi" at 0.8159
(threshold 0.90), and a near duplicate at Jaccard 0.5862 (threshold 0.75): whole connected
components were removed, one kept. The split's grouping and the audit's duplicate share keep
whole components (``find_duplicates(whole_components=True)``).
"""

from __future__ import annotations

import json
import random
from dataclasses import replace
from functools import partial
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from curate.cli import main
from curate.dedup import DedupConfig, dedup, find_duplicates
from curate.dedup.cluster import keep_walk
from tests.dedup.dedup_data import chat, long_text, records_of

NEAR = DedupConfig(methods=("near",), key="prompt")


def sliding_rows(n: int = 8, width: int = 40, seed: int = 3) -> list[dict]:
    """Prompts that are windows of one text, each one word further on: neighbours share
    ~90% of their 5-word shingles, windows 6 apart under 75% (the fastchat file's chains of
    near-identical prompts)."""
    words = long_text(seed, width + n).split()
    return [chat(" ".join(words[k : k + width]), "Sure.") for k in range(n)]


def test_a_chain_keeps_its_far_end_near() -> None:
    res = dedup(records_of(sliding_rows()), NEAR)
    assert [r.line for r in res.result.kept] == [1, 6]  # 8648697 kept [1] only
    names = {d.record.line: d.extra["duplicate_of"] for d in res.result.dropped}
    assert names == {2: "mem.jsonl:1", 3: "mem.jsonl:1", 4: "mem.jsonl:1", 5: "mem.jsonl:1"} | {
        7: "mem.jsonl:6",
        8: "mem.jsonl:6",
    }
    assert all(d.extra["similarity"] >= 0.75 for d in res.result.dropped)
    # A cluster is a kept record and the records removed as its duplicates.
    assert [(c.keep, c.members) for c in res.clusters] == [(0, (0, 1, 2, 3, 4)), (5, (5, 6, 7))]


def test_a_chain_keeps_its_far_end_semantic() -> None:
    """a~b and b~c at cosine 0.95, a~c at 0.805 (threshold 0.9): b goes, c stays."""
    t = np.arccos(0.95)
    vecs = np.array(
        [[1, 0, 0], [np.cos(t), np.sin(t), 0], [np.cos(2 * t), np.sin(2 * t), 0], [0, 0, 1]],
        dtype=np.float32,
    )
    rows = [chat(w, "Sure.") for w in ("alpha", "bravo", "charlie", "delta")]
    config = DedupConfig(
        methods=("semantic",), key="prompt", semantic_threshold=0.9, center=False, slot_guard=False
    )
    res = dedup(records_of(rows), config, embeddings=vecs)
    assert [r.line for r in res.result.kept] == [1, 3, 4]
    [gone] = res.result.dropped
    assert (gone.record.line, gone.extra["duplicate_of"], gone.extra["similarity"]) == (
        2,
        "mem.jsonl:1",
        0.95,
    )
    # keep=longest walks the longest first: "charlie" keeps, "bravo" goes as its duplicate.
    res = dedup(records_of(rows), replace(config, keep="longest"), embeddings=vecs)
    assert [r.line for r in res.result.kept] == [1, 3, 4]
    assert res.result.dropped[0].extra["duplicate_of"] == "mem.jsonl:3"


def test_split_and_audit_keep_whole_components() -> None:
    """What groups records (the split keeps them on one side) still follows the chain."""
    records = records_of(sliding_rows())
    whole = find_duplicates(records, NEAR, whole_components=True)
    assert [c.members for c in whole] == [tuple(range(8))]
    assert [c.members for c in find_duplicates(records, NEAR)] == [(0, 1, 2, 3, 4), (5, 6, 7)]

    from curate.audit.diversity import near_duplicate_share
    from curate.split.dupes import duplicate_clusters

    assert duplicate_clusters(records, NEAR, None) == [list(range(8))]
    rows = [
        dict(r, messages=r["messages"][:1] + [{"role": "assistant", "content": "Sure."}])
        for r in sliding_rows()
    ]
    assert near_duplicate_share(records_of(rows))["duplicates"] == 7


def walk_by_hand(edges: dict[tuple[int, int], float], lengths: dict[int, int], policy: str):
    """The rule as the brief words it, on Python dicts: walk in keep order; a record with an
    edge to a kept one goes, as a duplicate of the most similar (ties: earliest)."""
    nodes = sorted({x for e in edges for x in e})
    order = sorted(nodes, key=lambda m: _rank(m, lengths, policy))
    kept: list[int] = []
    out = {}
    for m in order:
        near = [(edges.get((m, k), edges.get((k, m))), k) for k in kept]
        near = [(s, k) for s, k in near if s is not None]
        if near:
            best = max(s for s, _ in near)
            k = next(k for s, k in near if s == best)  # kept in walk order: earliest first
            out[m] = (k, best)
        else:
            kept.append(m)
    return out


def _lengths(by_id: dict[int, int], ids: np.ndarray) -> np.ndarray:
    return np.array([by_id[v] for v in ids.tolist()], dtype=np.int64)


def _rank(m: int, lengths: dict[int, int], policy: str) -> tuple[int, int]:
    if policy == "first":
        return (0, m)
    return ((-1 if policy == "longest" else 1) * lengths[m], m)


@pytest.mark.parametrize("policy", ["first", "longest", "shortest"])
def test_keep_walk_is_the_rule_by_hand(policy: str) -> None:
    rng = random.Random(5)
    for trial in range(60):
        n = rng.choice([3, 10, 40, 200])
        edges: dict[tuple[int, int], float] = {}
        for _ in range(rng.randint(1, 3 * n)):
            a, b = sorted(rng.sample(range(n), 2))  # one edge a pair
            edges[(a, b)] = rng.choice([0.9, 0.95, 1.0, round(rng.uniform(0.9, 1.0), 6)])
        ids = 1000 * np.arange(n) + 7  # record ids far apart, not 0..n-1
        lengths = {m: rng.randint(1, 4) for m in range(n)}
        flip = np.array([rng.random() < 0.5 for _ in edges])  # either way round
        i = np.array([ids[a] for a, _ in edges], dtype=np.int64)
        j = np.array([ids[b] for _, b in edges], dtype=np.int64)
        i, j = np.where(flip, j, i), np.where(flip, i, j)
        by_id = {int(ids[m]): lengths[m] for m in range(n)}
        got = keep_walk(i, j, list(edges.values()), policy, partial(_lengths, by_id))
        want = walk_by_hand(edges, lengths, policy)
        assert [int(v) for v in got[0]] == [int(ids[m]) for m in sorted(want)], trial
        assert got[1].tolist() == [int(ids[want[m][0]]) for m in sorted(want)], trial
        assert got[2].tolist() == [want[m][1] for m in sorted(want)], trial
        # Every removed record's keeper is kept, and no two kept records are similar.
        removed = set(got[0].tolist())
        assert not removed & set(got[1].tolist())
        for a, b in edges:
            assert ids[a] in removed or ids[b] in removed
    empty = np.zeros(0, np.int64)
    assert [x.size for x in keep_walk(empty, empty, [], policy, lambda x: x)] == [0, 0, 0]


def test_identity_like_rejects_at_or_above_the_threshold(tmp_path: Path) -> None:
    """Greetings and identity questions with one templated answer (LLaMA-Factory's
    identity.json), and prompts that drift word by word (FastChat's dummy conversations):
    every rejects entry names a kept record at or above the threshold; runs are identical."""
    answer = "Hello! I am {{name}}, an AI assistant developed by {{author}}. How can I help?"
    prompts = [
        "hi",
        "hello",
        "Who are you?",
        "What is your name?",
        "Are you ChatGPT?",
        "Are you trained by OpenAI?",
        "Are you based on GPT-4?",
        "Are you based on GPT-2?",
        "Who created you?",
        "Who made you?",
        "What can you do?",
        "Introduce yourself.",
    ]
    rows = [{"instruction": p, "input": "", "output": answer} for p in prompts]
    rows += [
        {"instruction": r["messages"][0]["content"], "input": "", "output": "Sure."}
        for r in sliding_rows()
    ]
    src = tmp_path / "identity.json"
    src.write_text(json.dumps(rows), encoding="utf-8")
    outs = []
    for k in range(2):
        out = tmp_path / f"o{k}"
        out.mkdir()
        args = ["dedup", str(src), "-o", str(out / "kept.jsonl"), "--rejects", str(out / "r.jsonl")]
        result = CliRunner().invoke(main, [*args, "--method", "exact,near,semantic"])
        assert result.exit_code == 1, result.output  # records removed
        outs.append((out / "r.jsonl").read_bytes())
    assert outs[0] == outs[1]
    rejects = [json.loads(x) for x in outs[0].splitlines()]
    dup = [r for r in rejects if r["stage"] == "dedup"]
    assert dup, "the chain planted must remove something"
    threshold = {"near_duplicate": 0.75, "semantic_duplicate": 0.9, "exact_duplicate": 1.0}
    for r in dup:
        assert r["similarity"] >= threshold[r["reason"]], r


def test_kept_records_with_a_removed_neighbour_in_common_are_compared() -> None:
    """The search lists a few neighbours a record, not every pair: a, b, c all at cosine
    >= 0.96 but only a~b and b~c listed (one neighbour each) still keep a alone; the pair
    the walk asked about (a, c) is checked on the vectors, not assumed apart."""
    t = np.arccos(0.99)
    vecs = np.array([[np.cos(k * t), np.sin(k * t), 0] for k in range(3)], dtype=np.float32)
    rows = [chat(w, "Sure.") for w in ("alpha", "bravo", "charlie")]
    config = DedupConfig(
        methods=("semantic",),
        key="prompt",
        semantic_threshold=0.9,
        center=False,
        slot_guard=False,
        neighbours=1,
    )
    res = dedup(records_of(rows), config, embeddings=vecs)
    assert [r.line for r in res.result.kept] == [1]
    assert [d.extra["similarity"] for d in res.result.dropped] == [0.99, 0.9602]
    # keep_walk itself: asked about (7, 9) only, and not again once answered.
    asked = []

    def check(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        asked.append(list(zip(a.tolist(), b.tolist(), strict=True)))
        return np.full(a.size, 0.95)

    got = keep_walk(np.array([7, 8]), np.array([8, 9]), [0.99, 0.99], "first", None, check, 0.9)
    assert [x.tolist() for x in got] == [[8, 9], [7, 7], [0.99, 0.95]]
    assert asked == [[(7, 9)]]
    # Below the threshold (or turned down by the slot guard): c stays.
    got = keep_walk(np.array([7, 8]), np.array([8, 9]), [0.99, 0.99], "first", None,
                    lambda a, b: np.full(a.size, -1.0), 0.9)  # fmt: skip
    assert got[0].tolist() == [8]
