"""Stratum keys: which bucket each record belongs to before the split is drawn.

A key is a record field (dotted path, ``meta.source``) or one of three computed keys:
``language`` (seeded langdetect on the message text), ``cluster`` (seeded k-means over the
shared embeddings) and ``length`` (token-length quantile buckets). Several keys combine into
one stratum label joined by ``|`` (``coding|en``). A record field literally called
``language``, ``cluster`` or ``length`` is reached as ``field:language``.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from typing import Any

import numpy as np
import orjson

from curate.chat import message_text, messages_of
from curate.errors import ConfigError
from curate.records import Record, last_string_member

COMPUTED = ("language", "cluster", "length")
MISSING = "<missing>"
FIELD_PREFIX = "field:"


def record_field(record: Record, path: str) -> str:
    """``field_value(record.data, path)``; a top-level string field that ends a packed
    record is read without parsing it (``records.last_string_member``), any other field
    with one parse."""
    if record.packed is not None and "." not in path:
        value = last_string_member(record, path)
        if value is not None:
            return value
    return field_value(record.data, path)


def field_value(data: Any, path: str) -> str:
    """The value at a dotted path as a stratum label; ``<missing>`` when absent."""
    if type(data) is dict and "." not in path:
        # The common case, a top-level field holding a string: one lookup (this runs once
        # per record and named field, on the run's serial path).
        value = data.get(path)
        if type(value) is str:
            return value
    value = data
    for part in path.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return MISSING
    if value is None:
        return MISSING
    if isinstance(value, str):
        return value
    # Numbers, booleans, lists, objects: a canonical JSON rendering is stable and distinct.
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def require_field(records: Sequence[Record], path: str, values: list[str], option: str) -> None:
    """A field no record has is a typo, not a stratum: fail, naming the fields there are."""
    if records and all(v == MISSING for v in values):
        raise no_field_error(records, path, option)


def no_field_error(records: Sequence[Record], path: str, option: str) -> ConfigError:
    """The error for a field no record has, naming the top-level fields there are."""
    seen = sorted({k for r in records[:1000] if isinstance(r.data, dict) for k in r.data})
    hint = difflib.get_close_matches(path, seen, n=1)
    near = f" (did you mean {hint[0]!r}?)" if hint else ""
    return ConfigError(
        f"{option}: no record has the field {path!r}{near}; top-level fields: "
        f"{', '.join(seen) or 'none'}"
    )


def plain_text(data: Any) -> str:
    """Message contents only (no role markers, which would skew language detection)."""
    return "\n".join(message_text(m) for m in messages_of(data))


def language_labels(records: Sequence[Record], seed: int) -> list[str]:
    from curate.language import detect_language

    return [detect_language(plain_text(r.data), seed=seed) for r in records]


def length_labels(
    records: Sequence[Record], buckets: int, tokenizer: str | None = None
) -> list[str]:
    """Quantile buckets of conversation token counts, labelled by their token range."""
    from curate.tokens import TokenCounter

    counter = TokenCounter(tokenizer)
    counts = np.array([counter.count_messages(messages_of(r.data)) for r in records])
    if len(counts) == 0:
        return []
    edges = np.unique(np.quantile(counts, np.linspace(0, 1, buckets + 1)[1:-1], method="lower"))
    idx = np.searchsorted(edges, counts, side="left")
    bounds = [int(counts.min()), *(int(e) for e in edges), int(counts.max())]
    labels = []
    for i in idx:
        lo = bounds[i] + (1 if i > 0 else 0)
        hi = bounds[i + 1]
        labels.append(f"tokens {lo}-{hi}")
    return labels


def kmeans(vectors: np.ndarray, k: int, seed: int, iterations: int = 25) -> np.ndarray:
    """Seeded k-means (k-means++ init, cosine on L2-normalised vectors); returns labels.

    Our own few lines rather than faiss: faiss' threaded float sums can reorder between
    runs, and split output must be byte-identical for a seed.
    """
    n = len(vectors)
    k = max(1, min(k, n))
    rng = np.random.default_rng(seed)
    x = vectors.astype(np.float64)
    centers = [x[rng.integers(n)]]
    dist = np.full(n, np.inf)
    for _ in range(1, k):
        dist = np.minimum(dist, ((x - centers[-1]) ** 2).sum(1))
        total = dist.sum()
        if total <= 0:
            break
        centers.append(x[rng.choice(n, p=dist / total)])
    c = np.stack(centers)
    labels = np.zeros(n, dtype=np.int64)
    for _ in range(iterations):
        new = np.argmax(x @ c.T, axis=1)
        if _ > 0 and np.array_equal(new, labels):
            break
        labels = new
        for j in range(len(c)):
            members = x[labels == j]
            if len(members):
                m = members.mean(0)
                c[j] = m / (np.linalg.norm(m) or 1.0)
    # Renumber clusters by first appearance so labels do not depend on init order.
    order: dict[int, int] = {}
    for lab in labels:
        order.setdefault(int(lab), len(order))
    return np.array([order[int(lab)] for lab in labels], dtype=np.int64)


def cluster_labels(embeddings: np.ndarray, k: int, seed: int) -> list[str]:
    return [f"cluster {c}" for c in kmeans(embeddings, k, seed)]


def stratum_labels(
    records: Sequence[Record],
    keys: Sequence[str],
    *,
    seed: int = 0,
    embeddings: np.ndarray | None = None,
    clusters: int = 8,
    length_buckets: int = 4,
    tokenizer: str | None = None,
) -> list[str]:
    """One label per record: the stratum keys' values joined by ``|`` (``""`` for no keys)."""
    if not keys:
        return [""] * len(records)
    columns: list[list[str]] = []
    for key in keys:
        if not key or key.strip() != key:
            raise ConfigError(f"stratify: invalid key {key!r}")
        if key == "language":
            columns.append(language_labels(records, seed))
        elif key == "cluster":
            if embeddings is None:
                raise ConfigError("stratify: 'cluster' needs embeddings (semantic is switched off)")
            columns.append(cluster_labels(embeddings, clusters, seed))
        elif key == "length":
            columns.append(length_labels(records, length_buckets, tokenizer))
        else:
            path = key.removeprefix(FIELD_PREFIX)
            values = [record_field(r, path) for r in records]
            require_field(records, path, values, "stratify")
            columns.append(values)
    return ["|".join(parts) for parts in zip(*columns, strict=True)]
