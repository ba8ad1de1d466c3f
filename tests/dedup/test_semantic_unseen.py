"""Texts the embedding model cannot see, and sets too small to centre (qa10 #1, #9).

The packaged static model maps most CJK characters to [UNK], which model2vec drops: two
Chinese exchanges that differ only in such characters got the same vector and were merged at
similarity 1.0 (llamafactory_identity.json lines 59/60: 谁制作了你？ / 谁训练了你？).
"""

from __future__ import annotations

import json

import numpy as np
from click.testing import CliRunner

from curate.cli import main
from curate.dedup import DedupConfig, dedup
from curate.dedup.explain import explain_method
from curate.embed import get_embedder
from curate.records import Record

ZH = [
    ("猫吃什么？", "猫吃鱼。"),
    ("羊吃什么？", "羊吃草。"),
    ("谁制作了你？", "{{author}} 制作了我，我的目的是回答用户问题并提供必要的支持。"),
    ("谁训练了你？", "{{author}} 训练了我，我的目的是回答用户问题并提供必要的支持。"),
]
EN = [
    ("What is the capital of France?", "Paris."),
    ("Who wrote Hamlet?", "William Shakespeare."),
    ("How do I sort a list in Python?", "Use sorted(xs) or xs.sort()."),
    ("Name a primary color.", "Red."),
    ("What is 7 times 8?", "56."),
    ("Translate 'cat' to German.", "Katze."),
]
REVERSE = "Use my_list.reverse() to reverse it in place, or my_list[::-1] to get a reversed copy."
PARA = [
    ("How do I reverse a list in Python?", REVERSE),
    ("What is the way to reverse a Python list?", REVERSE),
]


def _records(pairs: list[tuple[str, str]]) -> list[Record]:
    return [
        Record(
            "t.jsonl",
            k,
            {"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]},
        )
        for k, (q, a) in enumerate(pairs, start=1)
    ]


def test_the_static_model_cannot_see_chinese_and_says_so(tmp_path) -> None:
    from curate.embed import UNSEEN_SHARE

    emb = get_embedder(None, cache_dir=tmp_path)
    texts = ["<user> 猫吃什么？\n<assistant> 猫吃鱼。", "<user> Who wrote Hamlet?"]
    vecs, unseen = emb.encode_marked(texts)
    assert unseen.tolist() == [True, False]
    assert emb.unknown_share(texts)[0] > UNSEEN_SHARE
    # the same answer from the cache, from a fresh embedder, and without a cache
    assert get_embedder(None, cache_dir=tmp_path).unseen(texts).tolist() == [True, False]
    assert get_embedder(None, cache_dir=False).unseen(texts).tolist() == [True, False]


def test_chinese_records_are_not_merged_by_meaning(tmp_path) -> None:
    recs = _records(ZH + EN)
    res = dedup(recs, DedupConfig(methods=("semantic",), cache_dir=str(tmp_path)))
    assert res.stats["removed"]["semantic"] == 0  # was 2 (both pairs at 1.0)
    assert res.stats["semantic_unseen"] == 4
    assert len(res.result.kept) == len(recs)


def test_exact_dedup_still_applies_to_unseen_texts(tmp_path) -> None:
    recs = _records([ZH[0], ZH[0], ZH[1], *EN])
    res = dedup(recs, DedupConfig(methods=("exact", "semantic"), cache_dir=str(tmp_path)))
    assert res.stats["removed"] == {"exact": 1, "semantic": 0, "leaked": 0}  # was semantic 1


def test_a_two_record_file_is_not_compared_and_the_explanation_agrees(tmp_path) -> None:
    recs = _records(PARA)
    res = dedup(recs, DedupConfig(methods=("semantic",), cache_dir=str(tmp_path)))
    assert res.stats["semantic_too_few_to_centre"] == 2
    # with a few more records the pair is centred and found
    res = dedup(_records(PARA + EN), DedupConfig(methods=("semantic",), cache_dir=str(tmp_path)))
    assert res.stats["removed"]["semantic"] == 1


def test_explain_counts_a_negative_best_match_as_a_candidate() -> None:
    pairs = np.array([[0, 1]])
    info = explain_method(pairs, np.array([-1.0]), 0.9, 2, int, lambda k: {"id": k, "text": str(k)})
    assert info["records_without_candidate"] == 0  # was 2 beside "1 candidate pairs"
    assert info["records_below_zero"] == 2


def test_cli_warns_and_names_the_switch(tmp_path) -> None:
    src = tmp_path / "zh.jsonl"
    src.write_text(
        "\n".join(json.dumps(r.data, ensure_ascii=False) for r in _records(ZH + EN)) + "\n"
    )
    out = CliRunner().invoke(
        main,
        ["dedup", str(src), "-o", str(tmp_path / "o.jsonl"), "--method", "semantic"],
    )
    assert out.exit_code == 0, out.output
    assert "left out 4 records" in out.stderr and "multilingual" in out.stderr


def test_a_cache_written_before_the_shares_is_measured_once(tmp_path) -> None:
    """Vectors cached by 8648697 have no shares: the run's embed stage measures them, so
    dedup given its vectors still leaves the unseen texts out, and a rerun reads them back."""
    from curate.dedup.normalize import key_text
    from curate.embed import embed_records

    recs = _records(ZH + EN)
    texts = [key_text(r, "conversation") for r in recs]
    emb = get_embedder(None, cache_dir=tmp_path)
    vecs = emb.encode(texts)
    for shard in emb.cache.dir.glob("shard-*.npz"):  # as the old code wrote them
        with np.load(shard) as z:
            keys, old = z["keys"], z["vecs"]
        with open(shard, "wb") as fh:
            np.savez(fh, keys=keys, vecs=old)
    from curate import embed

    embed._NOTED.clear()  # a new process
    given = embed_records(recs, lambda r: key_text(r, "conversation"), None, tmp_path)
    np.testing.assert_array_equal(given, vecs)
    cfg = DedupConfig(methods=("semantic",), cache_dir=str(tmp_path))
    res = dedup(recs, cfg, embeddings=given)
    assert res.stats["semantic_unseen"] == 4 and res.stats["removed"]["semantic"] == 0
    embed._NOTED.clear()
    assert (
        get_embedder(None, cache_dir=tmp_path).cache.marks([embed.text_key(texts[0])])[0]
        > embed.UNSEEN_SHARE
    )


def test_unseen_texts_are_no_semantic_leak(tmp_path) -> None:
    """The split's leakage check: a Chinese test record is no leak of a Chinese train record
    the model sees as the same frame (the identity file's run moved 7 such rows to train)."""
    from curate.dedup import find_leaks

    cfg = DedupConfig(methods=("semantic",), cache_dir=str(tmp_path))
    test = _records([ZH[1], *EN[:3]])
    train = _records([ZH[0], *EN[3:], *PARA])
    assert find_leaks(test, cfg, train) == []


# A short prompt the model cannot see, with a reply it can: over the whole text only a third of
# the tokens are unknown, so 8c82047 took these as seen and merged them at 1.0 (fixemb2 #1).
ZH_OK = [("猫吃什么？", "ok"), ("羊吃什么？", "ok"), ("谁训练了你？", "ok"), ("谁制作了你？", "ok")]


def test_a_turn_the_model_cannot_see_makes_the_text_unseen(tmp_path) -> None:
    texts = ["<user> 猫吃什么？\n<assistant> ok", "<user> How do I reset it?\n<assistant> ok"]
    for emb in (get_embedder(None, cache_dir=tmp_path), get_embedder(None, cache_dir=False)):
        assert emb.unseen(texts).tolist() == [True, False]
        assert emb.encode_marked(texts)[1].tolist() == [True, False]
    from curate.embed import text_parts

    text = "<tools> [1]\n<user> 猫吃什么？\n<assistant> ok"
    assert text_parts(text) == ["", "[1]", "猫吃什么？", "ok"]
    assert text_parts("no tags here") == ["no tags here"]


def test_chinese_prompts_with_an_english_reply_are_not_merged(tmp_path) -> None:
    recs = _records(ZH_OK + EN)
    res = dedup(recs, DedupConfig(methods=("semantic",), cache_dir=str(tmp_path)))
    assert res.stats["removed"]["semantic"] == 0  # was 1, at similarity 1.0
    assert res.stats["semantic_unseen"] == 4


def test_a_cache_of_whole_text_shares_is_measured_again(tmp_path) -> None:
    """Shards written by 8c82047 hold each text's share over the whole text under the old
    name: read as not recorded, so the per-part share is measured and stored."""
    from curate import embed

    texts = ["<user> 猫吃什么？\n<assistant> ok", "<user> Who wrote Hamlet?"]
    emb = get_embedder(None, cache_dir=tmp_path)
    emb.encode(texts)
    for shard in emb.cache.dir.glob("shard-*.npz"):
        with np.load(shard) as z:
            keys, vecs = z["keys"], z["vecs"]
        with open(shard, "wb") as fh:  # as 8c82047 wrote them: the whole text's share
            np.savez(fh, keys=keys, vecs=vecs, unknown_share=np.zeros(len(keys), np.float32))
    embed._NOTED.clear()
    assert get_embedder(None, cache_dir=tmp_path).unseen(texts).tolist() == [True, False]


def test_noted_shares_keep_each_text_once(tmp_path) -> None:
    """8c82047 appended a copy of the keys per call: 4 calls on 22 rows noted 102 keys."""
    from curate import embed

    embed._NOTED.clear()
    texts = [f"<user> question {k}" for k in range(22)]
    emb = get_embedder(None, cache_dir=False)
    for _ in range(4):
        emb.encode_marked(texts)
        emb.encode_marked(texts[:5])
    ((keys, shares),) = embed._NOTED.values()
    assert len(keys) == len(shares) == 22
    assert not embed.noted_unseen(None, texts).any()
    assert embed.noted_unseen(None, ["<user> 猫吃什么？"]).tolist() == [False]  # never noted


def test_each_text_is_embedded_once_for_its_vector_and_its_share(tmp_path, monkeypatch) -> None:
    # Asking which texts the model cannot see before their vectors exist used to run the
    # model over every text a second time (without a cache, and with a cold one).
    from curate import embed

    real = embed.StaticEmbedder.encode_shares
    seen: list[int] = []

    def counted(self, texts, progress=False):  # noqa: ANN001, ANN202 - the wrapped method's
        seen.append(len(texts))
        return real(self, texts, progress)

    monkeypatch.setattr(embed.StaticEmbedder, "encode_shares", counted)
    records = [
        Record("x", k + 1, {"messages": [
            {"role": "user", "content": f"How do I cook dish number {k} well?"},
            {"role": "assistant", "content": f"Cook it slowly, step {k}."},
        ]})
        for k in range(60)
    ]  # fmt: skip
    embedded = []
    for cache in (False, tmp_path / "cache", tmp_path / "cache"):  # none, cold, warm
        seen.clear()
        dedup(records, DedupConfig(methods=("semantic",), cache_dir=cache))
        embedded.append(sum(seen))
    assert embedded == [60, 60, 0]
