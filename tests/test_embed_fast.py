"""The static model's fast tokenizer path gives exactly the ids (and so the vectors) of the
real HF tokenizer: it is pure speed (curate.embed.AsciiWordPiece)."""

from __future__ import annotations

import random
import string

import numpy as np
import pytest
from model2vec import StaticModel

from curate.dedup import key_text
from curate.embed import AsciiWordPiece, _static_model, fast_model_path, get_embedder
from tests.dedup.identity_data import identity_records

EDGE = [
    "",
    "   ",
    "Hello, World!! How ARE you?",
    "snake_case and kebab-case, e-mail: a.b@c.d; 3.14159 (pi) [x] {y} <z> ~`^|\\/\"'",
    "tabs\tand\nnew\r\nlines  and   runs of spaces",
    "a" * 99 + " " + "b" * 100 + " " + "c" * 101 + " unbelievablyunpronounceable",
    "literal special tokens [UNK] and [PAD] and [unk] and [CLS]",
    "##prefix ## #hash ###",
    "zzqxjv qwxz xylophonist antidisestablishmentarianism 123456789012345678901234567890",
    "control \x0b vertical tab \x0c form feed \x1f unit sep \x7f del \x00 nul",
    "café naïve résumé Ünïcödé",
    "中文字符 mixed with English",
    "emoji 😀 and ½ and \u00a0nbsp and \u2028 line sep",
    " ".join(["word"] * 700),  # longer than 512 tokens: truncation
    "x. " * 400,
]


def _random_texts(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    alphabet = string.printable + "éü中\x0b"
    return ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 300))) for _ in range(n)]


@pytest.fixture(scope="module")
def reference() -> StaticModel:
    return StaticModel.from_pretrained(fast_model_path())  # its own, unpatched tokenizer


def test_the_packaged_model_uses_the_fast_path() -> None:
    model = _static_model(fast_model_path())
    # wrapped to note each text's share of unknown tokens (qa10 #1) from the same ids
    assert isinstance(model.tokenize.fast, AsciiWordPiece)


@pytest.mark.parametrize("max_length", [512, 8, None])
def test_ids_equal_the_real_tokenizer(reference, max_length) -> None:
    texts = EDGE + _random_texts(300) + [key_text(r, "conversation") for r in identity_records()]
    fast = AsciiWordPiece.for_tokenizer(reference.tokenizer, reference.unk_token_id)
    assert fast is not None
    reference._set_max_length_in_tokenizer(max_length)
    try:
        want = StaticModel.tokenize(reference, texts)
        got = fast.tokenize(texts)
    finally:
        reference._set_max_length_in_tokenizer(reference.max_length)
    assert got == want
    assert any(len(ids) == 8 for ids in want) if max_length == 8 else True


def test_vectors_are_byte_identical(reference) -> None:
    texts = EDGE + _random_texts(200, seed=1)
    want = reference.encode(texts)
    got = get_embedder("fast", cache_dir=False)._load().encode(texts)
    assert got.tobytes() == want.tobytes()


def test_a_tokenizer_it_does_not_know_gets_no_fast_path(reference) -> None:
    from tokenizers import Tokenizer

    spec = reference.tokenizer.to_str().replace('"lowercase":true', '"lowercase":false')
    assert AsciiWordPiece.for_tokenizer(Tokenizer.from_str(spec), None) is None


def test_vectors_are_byte_identical_without_truncation(reference) -> None:
    # 140k tokens: sums past float32's exact integers, the float64 table
    texts = EDGE + [" ".join(["zebra"] * 140_000) + " tail", "short one"]
    want = reference.encode(texts, max_length=None)
    got = get_embedder("fast", cache_dir=False)._load().encode(texts, max_length=None)
    assert got.tobytes() == want.tobytes()


def test_cold_cache_with_repeated_texts_spreads_the_fresh_rows_in_place(
    tmp_path, monkeypatch
) -> None:
    """A cold cache and repeated texts: the distinct texts' vectors grow into the answer in
    their own array (no second array), row for row what an uncached encode gives; the
    cache, which then keeps nothing in memory, answers the next call from disk."""
    import numpy as np

    import curate.embed as embed

    spreads = []
    real_spread = embed._spread
    monkeypatch.setattr(embed, "_spread", lambda f, r: spreads.append(len(r)) or real_spread(f, r))
    texts = [f"text number {i % 37} about tea" for i in range(5_000)] + ["one of a kind"]
    cached = embed.get_embedder("fast", cache_dir=tmp_path)
    got = cached.encode(texts)
    want = embed.get_embedder("fast", cache_dir=False).encode(texts)
    assert np.array_equal(got, want) and got.flags.owndata
    assert spreads == [len(texts)]  # grown in place, not the fallback copy into a new array
    assert cached.misses == 38 and cached.hits == 0
    again = cached.encode(texts[:100] + ["not seen"])
    assert np.array_equal(again[:100], want[:100])
    assert cached.hits == 100 and cached.misses == 39


def test_spread_fills_rows_from_the_back(monkeypatch) -> None:
    import numpy as np

    import curate.embed as embed
    from curate.embed import _spread

    # Many chunks of 2 * 64 rows: a front-to-back loop overwrites rows a later chunk reads.
    monkeypatch.setattr(embed, "ENCODE_CHUNK", 2)
    rng = np.random.default_rng(0)
    keys = rng.integers(0, 40, 300)
    _, first, rows = np.unique(keys, return_index=True, return_inverse=True)
    order = np.argsort(first)  # distinct keys in order of first occurrence
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    rows = rank[rows]
    distinct = rng.standard_normal((order.size, 4)).astype(np.float32)
    buf = distinct.copy()
    buf.resize((300, 4), refcheck=False)
    _spread(buf, rows)
    assert np.array_equal(buf, distinct[rows])


def _counting_loads(monkeypatch) -> list[int]:
    import numpy as np

    calls = [0]
    real = np.load

    def load(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        calls[0] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(np, "load", load)
    return calls


def test_many_calls_read_each_shard_once_and_keep_shards_merged(tmp_path, monkeypatch) -> None:
    """One cached embedder called batch after batch (the Ray embed actor, the engine's
    chunks): each new shard is read back once, not every shard on every call, and the
    shards on disk are still merged past MAX_SHARDS."""
    import numpy as np

    import curate.embed as embed

    cached = embed.get_embedder("fast", cache_dir=tmp_path)
    plain = embed.get_embedder("fast", cache_dir=False)
    loads = _counting_loads(monkeypatch)
    calls = 30
    for c in range(calls):
        texts = [f"batch {c} text {i % 250}" for i in range(500)]  # repeats: keep=False
        got = cached.encode(texts)
        assert np.array_equal(got, plain.encode(texts))
        shards = list(cached.cache.dir.glob("shard-*.npz"))
        assert len(shards) <= embed.MAX_SHARDS
    assert loads[0] <= 2 * calls  # the old code: 435 (every shard again on every call)
    hits = cached.hits
    again = cached.encode([f"batch {c} text 7" for c in range(calls)])
    assert cached.hits - hits == calls and loads[0] <= 2 * calls + 1
    assert np.array_equal(again, plain.encode([f"batch {c} text 7" for c in range(calls)]))


def test_writing_into_an_all_new_answer_leaves_the_cache_alone(tmp_path) -> None:
    import numpy as np

    import curate.embed as embed

    texts = ["first text", "second text", "third text", "fourth text"]
    cached = embed.get_embedder("fast", cache_dir=tmp_path)
    v = cached.encode(texts)
    want = v.copy()
    v[:] = 0  # the caller's array: its own to write into
    got = cached.encode(texts[:3])
    assert cached.hits == 3
    assert np.array_equal(got, want[:3]) and np.abs(got).sum() > 0


def test_embed_records_makes_the_texts_a_chunk_at_a_time(tmp_path) -> None:
    """``embed_records`` never holds every record's text at once (~1.2 GB at 1M records):
    the texts are made for their keys and again per chunk of the encoder, one chunk alive
    at a time; the vectors are those of the texts given as a list, repeats and cache hits
    included."""
    from curate.embed import ENCODE_CHUNK, embed_records

    class Text(str):
        live = peak = 0

        def __new__(cls, value: str) -> Text:
            Text.live += 1
            Text.peak = max(Text.peak, Text.live)
            return super().__new__(cls, value)

        def __del__(self) -> None:
            Text.live -= 1

    rng = random.Random(7)
    words = ["alpha", "beta", "gamma", "delta", "tool", "answer", "prompt", "x1"]
    texts = [" ".join(rng.choices(words, k=12)) + f" n{i % 9000}" for i in range(10_000)]
    records = list(range(len(texts)))  # a record is its row; the text is made from it
    want = get_embedder(cache_dir=False).encode(texts)
    cache = tmp_path / "cache"
    get_embedder(cache_dir=cache).encode(texts[:3000])  # some texts cached already
    got = embed_records(records, lambda r: Text(texts[r]), cache_dir=cache)
    assert np.array_equal(got, want)
    assert 0 < Text.peak <= ENCODE_CHUNK * 4 < len(texts) and Text.live == 0
