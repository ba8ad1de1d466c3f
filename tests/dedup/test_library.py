"""Library tests: exact, near, clusters, keep policies, reasons, streaming, leakage."""

from __future__ import annotations

import numpy as np
import pytest

from curate.dedup import (
    DedupConfig,
    ExactDedup,
    Normalizer,
    dedup,
    exact_dedup_stream,
    find_duplicates,
    group_ids,
    key_text,
)
from curate.dedup.near import jaccard_of, shingle_hashes
from curate.errors import ConfigError, InputError
from curate.reader import chat_view
from curate.records import Record
from curate.stage import collect
from tests.dedup.dedup_data import chat, long_text, records_of


def test_normalizer_folds_and_options() -> None:
    n = Normalizer()
    assert n("  Hello,   WORLD!! ") == "hello world"
    assert n("ﬁne　Ｔｅｘｔ") == "fine text"  # NFKC: ligature, full-width letters and space
    assert n("Crème  brûlée!") == "crème brûlée"
    assert Normalizer(punctuation=False)("Hello,  World!") == "hello, world!"
    assert Normalizer(case=False, punctuation=False)("A  B") == "A B"
    assert Normalizer(punctuation=False, whitespace=False)("a  b") == "a  b"


def test_key_text_sides_and_tools() -> None:
    rec = Record(
        "f",
        1,
        {
            "messages": [
                {"role": "system", "content": "S"},
                {"role": "user", "content": "U"},
                {"role": "assistant", "content": "A"},
            ],
            "tools": [{"name": "t"}],
        },
    )
    assert key_text(rec, "response") == "<assistant> A"
    assert key_text(rec, "prompt").endswith("<system> S\n<user> U")
    assert key_text(rec, "prompt").startswith("<tools> ")
    # key_text no longer converts: records are converted when read (read_chat), and the Ray
    # engine, which gets records as read, compares chat_view(record).
    sharegpt = Record("f", 2, {"conversations": [{"from": "human", "value": "hi"}]})
    with pytest.raises(InputError, match="f:2: no chat messages"):
        key_text(sharegpt, "prompt")
    assert key_text(chat_view(sharegpt), "prompt") == "<user> hi"
    with pytest.raises(InputError, match="f:3: no chat messages"):
        key_text(Record("f", 3, {"text": "x"}), "prompt")


def test_exact_reasons_and_duplicate_of(dup_rows: list[dict]) -> None:
    recs = records_of(dup_rows)
    out = dedup(recs, DedupConfig(methods=("exact",)))
    res = out.result
    assert res.n_in == len(recs)
    assert [d.reason for d in res.dropped] == ["exact_duplicate"]
    drop = res.dropped[0]
    assert drop.record.line == 2
    assert drop.extra["duplicate_of"] == "mem.jsonl:1"
    assert drop.extra["similarity"] == 1.0
    assert out.stats["removed"]["exact"] == 1
    assert [r.line for r in res.kept] == [1, 3, 4, 5, 6, 7, 8]


def test_exact_respects_folding_options(dup_rows: list[dict]) -> None:
    recs = records_of(dup_rows[:2])
    strict = DedupConfig(methods=("exact",), normalizer=Normalizer(case=False))
    assert dedup(recs, strict).result.dropped == []


def test_streaming_exact_matches_whole_set(dup_rows: list[dict]) -> None:
    recs = records_of(dup_rows + [dup_rows[0]])
    dropped = []
    kept = list(exact_dedup_stream(iter(recs), on_drop=dropped.append))
    assert [r.line for r in kept] == [1, 3, 4, 5, 6, 7, 8]
    assert [(d.record.line, d.reason, d.extra["duplicate_of"]) for d in dropped] == [
        (2, "exact_duplicate", "mem.jsonl:1"),
        (9, "exact_duplicate", "mem.jsonl:1"),
    ]
    step = ExactDedup(key="response")
    res = collect(step, recs)
    assert len(res.kept) + len(res.dropped) == len(recs)
    assert len(step.seen) == len(res.kept)  # memory: one hash per distinct text


def test_near_caught_and_verified(dup_rows: list[dict]) -> None:
    recs = records_of(dup_rows)
    out = dedup(recs, DedupConfig(methods=("near",)))
    reasons = {d.record.line: d.reason for d in out.result.dropped}
    assert reasons == {2: "near_duplicate", 3: "near_duplicate"}
    near_drop = next(d for d in out.result.dropped if d.record.line == 3)
    # the reported similarity is the true Jaccard of the 5-word shingle sets
    norm = Normalizer()
    a, b = (norm.to_bytes(key_text(recs[i], "conversation")) for i in (0, 2))
    ha, _ = shingle_hashes([a], 5)
    hb, _ = shingle_hashes([b], 5)
    expected = jaccard_of(np.unique(ha), np.unique(hb))
    assert 0.75 <= expected < 1.0
    assert near_drop.extra["similarity"] == round(expected, 4)
    assert near_drop.extra["duplicate_of"] == "mem.jsonl:1"


def test_near_threshold_is_respected(dup_rows: list[dict]) -> None:
    recs = records_of(dup_rows)
    strict = dedup(recs, DedupConfig(methods=("near",), near_threshold=0.99))
    assert [d.record.line for d in strict.result.dropped] == [2]  # only the folded copy


def test_unrelated_texts_are_not_near_duplicates() -> None:
    recs = records_of([chat("q", long_text(s)) for s in range(10, 40)])
    assert find_duplicates(recs, DedupConfig(methods=("exact", "near"))) == []


def test_methods_cascade_and_clusters(dup_rows: list[dict]) -> None:
    recs = records_of(dup_rows)
    clusters = find_duplicates(recs, DedupConfig(methods="exact,near"))
    assert [(c.method, c.members, c.keep) for c in clusters] == [
        ("exact", (0, 1), 0),
        ("near", (0, 2), 0),
    ]
    groups = group_ids(clusters, len(recs))
    assert groups[0] == groups[1] == groups[2] == 0
    assert len(set(groups.tolist())) == len(recs) - 2


@pytest.mark.parametrize(("policy", "kept_line"), [("first", 1), ("longest", 3), ("shortest", 2)])
def test_keep_policies(policy: str, kept_line: int) -> None:
    text = long_text(7)
    rows = [chat("q", text + " tail"), chat("q", text), chat("q", text + " tail and more")]
    recs = records_of(rows + [chat("q", (text + " tail").upper())])  # exact copy of row 1
    cfg = DedupConfig(methods=("exact", "near"), keep=policy)  # type: ignore[arg-type]
    out = dedup(recs, cfg)
    assert [r.line for r in out.result.kept] == [kept_line]
    assert all(d.extra["duplicate_of"] == f"mem.jsonl:{kept_line}" for d in out.result.dropped)


def test_keep_ties_are_deterministic() -> None:
    recs = records_of([chat("q", "Same Text"), chat("q", "same text")])
    for policy in ("first", "longest", "shortest"):
        out = dedup(recs, DedupConfig(methods=("exact",), keep=policy))  # type: ignore[arg-type]
        assert [r.line for r in out.result.kept] == [1]


def test_id_field_used_in_duplicate_of() -> None:
    rows = [chat("q", "hello there", id="abc"), chat("q", "Hello there!")]
    out = dedup(records_of(rows), DedupConfig(methods=("exact",)))
    assert out.result.dropped[0].extra["duplicate_of"] == "abc"


def test_leakage_library(dup_rows: list[dict]) -> None:
    train = records_of(dup_rows, "train.jsonl")
    test = records_of([dup_rows[2], chat("unrelated", long_text(99))], "test.jsonl")
    conv = DedupConfig(methods=("exact", "near"), against_key="conversation")
    out = dedup(train, conv, against=[test])
    leaked = {d.record.line: d for d in out.result.dropped if d.reason == "leaked"}
    # row 3 is the test row itself (exact); rows 1 and 2 are near copies of it
    assert sorted(leaked) == [1, 2, 3]
    assert leaked[3].extra["method"] == "exact"
    assert leaked[3].extra["duplicate_of"] == "test.jsonl:1"
    assert leaked[1].extra["method"] == "near"
    assert out.stats["removed"]["leaked"] == 3
    flagged = dedup(
        train,
        DedupConfig(methods=("exact", "near"), leak_action="flag", against_key="conversation"),
        against=[test],
    )
    assert [lk.record.line for lk in flagged.leaks] == [1, 2, 3]
    assert all(d.reason != "leaked" for d in flagged.result.dropped)


def test_config_errors() -> None:
    with pytest.raises(ConfigError, match="unknown dedup method fuzzy"):
        DedupConfig(methods=("exact", "fuzzy"))
    with pytest.raises(ConfigError, match="multiple of bands"):
        DedupConfig(num_perm=64, bands=10)
    with pytest.raises(ConfigError, match="near_threshold"):
        DedupConfig(near_threshold=1.5)


def test_precomputed_embeddings_shape_checked(dup_rows: list[dict]) -> None:
    recs = records_of(dup_rows)
    with pytest.raises(ConfigError, match="one row per record"):
        dedup(recs, DedupConfig(methods=("semantic",)), embeddings=np.zeros((3, 4), np.float32))


def test_semantic_uses_given_embeddings_without_a_model(dup_rows: list[dict]) -> None:
    recs = records_of(dup_rows)
    vecs = np.eye(len(recs), dtype=np.float32)
    vecs[5] = vecs[4]  # rows 5 and 6 "mean the same"
    out = dedup(recs, DedupConfig(methods=("semantic",)), embeddings=vecs)
    assert [(d.record.line, d.reason, d.extra["duplicate_of"]) for d in out.result.dropped] == [
        (6, "semantic_duplicate", "q3")
    ]
    assert "embedder" not in out.stats  # no model was loaded


def test_explain_histogram_and_pairs(dup_rows: list[dict]) -> None:
    recs = records_of(dup_rows)
    out = dedup(recs, DedupConfig(methods=("near",), explain=True))
    info = out.explain["near"]
    assert info["threshold"] == 0.75
    assert sum(h["records"] for h in info["histogram"]) + info["records_without_candidate"] == 8
    assert info["above"][0]["similarity"] >= 0.75
    assert {info["above"][0]["a"]["line"], info["above"][0]["b"]["line"]} <= {1, 2, 3}


def test_near_short_and_empty_texts() -> None:
    rows = [chat("hi", "ok"), chat("Hi!", "OK."), chat("", ""), {"messages": []}]
    out = dedup(records_of(rows), DedupConfig(methods=("near",)))
    # two-word conversations get one shingle of all their words; empty ones have none and
    # are never near duplicates (exact dedup handles them)
    assert [(d.record.line, d.reason) for d in out.result.dropped] == [(2, "near_duplicate")]


def test_signature_collisions_track_jaccard() -> None:
    from curate.dedup.near import signatures

    base = long_text(11, 400).split()
    docs = [" ".join(base).encode()]
    for k in (20, 80):  # replace k words: the Jaccard falls as k grows
        words = list(base)
        for p in range(0, 400, 400 // k):
            words[p] = "zz"
        docs.append(" ".join(words).encode())
    hashes, offsets = shingle_hashes(docs, 5)
    sig = signatures(hashes, offsets, 256, seed=3)
    sets = [np.unique(hashes[offsets[i] : offsets[i + 1]]) for i in range(3)]
    for i in (1, 2):
        true = jaccard_of(sets[0], sets[i])
        estimate = float((sig[0] == sig[i]).mean())
        assert abs(estimate - true) < 0.12, (true, estimate)


def test_jaccard_of_counts_the_shared_hashes_exactly() -> None:
    # Python sets as the reference: sizes on both sides of each other, values at the ends
    # of the range (the lookup's past-the-end position), empty sets.
    rng = np.random.default_rng(7)
    top = np.iinfo(np.uint64).max
    cases = [(np.zeros(0, np.uint64), np.zeros(0, np.uint64))]
    for n, m, shared in [(0, 5, 0), (5, 0, 0), (1, 1, 1), (3, 40, 2), (40, 3, 3), (300, 280, 150)]:
        common = rng.integers(0, 2**63, shared, dtype=np.uint64)
        a = np.unique(np.concatenate((common, rng.integers(0, 2**63, n - shared, np.uint64))))
        b = np.unique(np.concatenate((common, rng.integers(0, 2**63, m - shared, np.uint64))))
        cases.append((a, b))
    cases.append((np.array([1, top], np.uint64), np.array([0, 1], np.uint64)))
    for a, b in cases:
        sa, sb = set(a.tolist()), set(b.tolist())
        want = 1.0 if not sa and not sb else len(sa & sb) / len(sa | sb)
        assert jaccard_of(a, b) == want
        assert jaccard_of(b, a) == want
