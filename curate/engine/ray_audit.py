"""``curate audit --engine ray``: the audit as mergeable aggregates computed on the workers.

The local audit (``curate.audit.audit``) holds every record; here the workers make one pass
over their blocks and send back small, additive states that the driver merges in row order:

* **shape**: exact value histograms (message counts, user turns, tokens per role and per
  conversation) instead of per-row lists; percentiles are read off the merged histogram with
  numpy's own interpolation, so p50/p90/p99/mean equal ``np.percentile`` / ``mean`` over the
  full series. System prompts: a counter of texts (sized by distinct prompts).
* **row-local findings** (``missing_user``, ``template_placeholder``, ``repetition``,
  ``short_answer``, ``refusal``): each worker runs the detectors on its block and returns
  the row ids they flag; the driver runs the same detectors again over just those rows.
  A detector that decides each row alone gives the same findings on the flagged subset.
* **conflicting_answers**: a shuffle on the hash of each row's normalised context; the rows
  whose context occurs twice or more are shuffled to their partition, where the detector
  runs; only its findings come back, straight into a file (``curate.engine.spill``).
* **style_outlier**: feature counts and the answer-length histogram merge exactly, so the
  driver decides the rare features and the robust z-score's median/MAD as local does; a
  second pass flags the outlier rows on the workers.
* **samples** (languages, embeddings, distinct-n): the driver draws the same seeded sample
  indices as local (they depend only on the number of conversations) and fetches those rows.
* **near-duplicate share**: the Ray exact + near dedup (``curate.engine.ray_stages``) with the
  audit's settings (whole conversation, seed 0).

What the driver holds: histograms (sized by distinct values), the flagged and sampled rows
(bounded by findings and by ``--max-embed`` / ``--language-sample``), ~17 bytes a finding
(the findings themselves are in a temporary file, read back one at a time by the report,
page and card writers), and, for distinct-n, a
permutation of the conversation indices (8 bytes a row, freed right after: the one thing that
still grows with the row count). The report equals the local one (``to_dict``) except for
``timings``. The HTML page's plots get their series rebuilt from the histograms (same values,
value order); ``curate audit --html`` lists no records under each finding (local keeps every
record for that; ``curate run``'s page does list them, the run holds its kept records).
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import math
import os
import pickle
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from curate.engine.ray_rows import (
    _atomic_bytes,
    _collect,
    _fetched,
    _log,
    _only,
    _records,
    block_count,
    check_count,
    ids_of,
    row_ids,
    worker_errors,
)
from curate.engine.spill import SpillWriter, back_to_back
from curate.errors import ConfigError, CurateError, InputError
from curate.heap import release_free_heap
from curate.records import BadLine, Record

MAIN_ROLES = ("system", "user", "assistant")


def _audit_dedup() -> Any:
    from curate.dedup import DedupConfig

    # The settings of local ``near_duplicate_share`` (curate.audit.diversity).
    return DedupConfig(methods=("exact", "near"), key="conversation", seed=0)


AUDIT_DEDUP = _audit_dedup()
STYLE_LENGTH = "length"


# -- exact statistics from value histograms ----------------------------------------------------


def _sorted_hist(hist: Counter[Any]) -> tuple[np.ndarray, np.ndarray]:
    keys = sorted(hist)
    return np.asarray(keys, dtype=float), np.asarray([hist[k] for k in keys], dtype=np.int64)


def _kth(values: np.ndarray, cum: np.ndarray, k: int) -> float:
    """The k-th (0-based) element of the sorted series the histogram stands for."""
    return float(values[int(np.searchsorted(cum, k, side="right"))])


def summarize_hist(hist: Counter[Any]) -> dict[str, float]:
    """``curate.audit.shape.summarize`` over the series whose value counts are ``hist``."""
    from numpy.lib._function_base_impl import _lerp

    n = int(sum(hist.values()))
    if not n:
        return {"count": 0, "mean": 0.0, "min": 0, "p50": 0, "p90": 0, "p99": 0, "max": 0}
    values, counts = _sorted_hist(hist)
    cum = np.cumsum(counts)
    # numpy's 'linear' method: virtual index (n - 1) * q, gamma its fractional part.
    virtual = (n - 1) * np.true_divide(np.asarray([50, 90, 99]), 100)
    lo = np.floor(virtual).astype(np.intp)
    hi = np.minimum(lo + 1, n - 1)
    gamma = virtual - lo
    a = np.asarray([_kth(values, cum, int(k)) for k in lo])
    b = np.asarray([_kth(values, cum, int(k)) for k in hi])
    p50, p90, p99 = _lerp(a, b, gamma)
    total = float((values * counts).sum())  # integer-valued: exact, as numpy's pairwise sum
    return {
        "count": n,
        "mean": round(total / n, 2),
        "min": round(float(values[0]), 2),
        "p50": round(float(p50), 2),
        "p90": round(float(p90), 2),
        "p99": round(float(p99), 2),
        "max": round(float(values[-1]), 2),
    }


def _weighted_median(values: np.ndarray, counts: np.ndarray) -> float:
    """``np.median`` of the series ``np.repeat(values, counts)`` (values sorted)."""
    n = int(counts.sum())
    cum = np.cumsum(counts)
    if n % 2:
        return _kth(values, cum, n // 2)
    return float(np.mean(np.asarray([_kth(values, cum, n // 2 - 1), _kth(values, cum, n // 2)])))


# -- worker side -------------------------------------------------------------------------------


@functools.lru_cache(maxsize=2)
def _counter(tokenizer: str | None) -> Any:
    from curate.tokens import TokenCounter

    return TokenCounter(tokenizer)


def _convs(batch: dict[str, np.ndarray]) -> tuple[list[Record], list[Any]]:
    from curate.audit.convs import to_conv

    records = _records(batch)
    ids = batch["idx"].tolist()
    return records, [to_conv(r, int(i)) for r, i in zip(records, ids, strict=True)]


def _block_state(batch: dict[str, np.ndarray], *, config: Any) -> dict[str, Any]:
    """One block's additive audit state (one row: the pickled state and its first row id)."""
    from curate.audit import consistency
    from curate.audit.convs import lookup
    from curate.audit.style import FEATURES, features_of
    from curate.tokens import estimate_tokens

    records, all_convs = _convs(batch)
    counter = _counter(config.tokenizer)
    not_chat = []
    convs = []
    for i, r, c in zip(batch["idx"].tolist(), records, all_convs, strict=True):
        if c is None:
            keys = sorted(r.data)[:8] if isinstance(r.data, dict) else []
            not_chat.append((int(i), r.line, keys))
        else:
            convs.append(c)
    role_messages: Counter[str] = Counter()
    per_conv: Counter[int] = Counter()
    user_turns: Counter[int] = Counter()
    multi = 0
    role_tokens: dict[str, Counter[int]] = {r: Counter() for r in MAIN_ROLES}
    conv_tokens: Counter[int] = Counter()
    systems: dict[str, list[int]] = {}  # text -> [count, first row, first line]
    for c in convs:
        roles = [str(m.get("role")) for m in c.messages]
        role_messages.update(roles)
        per_conv[len(roles)] += 1
        turns = roles.count("user")
        user_turns[turns] += 1
        multi += turns > 1
        by_role = counter.count_by_role(c.messages)
        for role in MAIN_ROLES:
            if role in by_role:
                role_tokens[role][by_role[role]] += 1
        conv_tokens[counter.count_messages(c.messages)] += 1
        if c.system is not None:
            s = systems.setdefault(c.system, [0, c.row, c.line])
            s[0] += 1
    # Style: answered conversations, feature counts, the length histogram.
    answered = [c for c in convs if c.assistant_turns and "".join(c.assistant_turns).strip()]
    feats: Counter[str] = Counter()
    lengths: Counter[int] = Counter()
    for c in answered:
        text = "\n\n".join(c.assistant_turns)
        f = features_of(text)
        feats.update(k for k in FEATURES if f[k])
        lengths[estimate_tokens(text)] += 1
    labels: Counter[str] = Counter()
    missing = 0
    if config.label:
        for c in convs:
            value = lookup(c.data, config.label)
            if value is None or isinstance(value, dict | list):
                missing += 1
            else:
                labels[str(value)] += 1
    flagged: set[int] = set()
    for found in (
        consistency.missing_user(convs),
        consistency.template_placeholders(convs),
        consistency.repetition(convs),
        consistency.short_answers(convs, config),
        consistency.refusals(convs),
    ):
        for f in found:
            flagged.update(f.rows)
    state = {
        "n": len(records),
        "not_chat": not_chat,
        "role_messages": role_messages,
        "per_conv": per_conv,
        "user_turns": user_turns,
        "multi": multi,
        "role_tokens": role_tokens,
        "conv_tokens": conv_tokens,
        "systems": systems,
        "answered": len(answered),
        "feats": feats,
        "lengths": lengths,
        "labels": labels,
        "missing": missing,
        "flagged": sorted(flagged),
    }
    first = int(batch["idx"].min()) if len(batch["idx"]) else -1
    return {
        "first": np.asarray([first], np.int64),
        "state": np.asarray([pickle.dumps(state)], dtype=object),  # S dtype strips NULs
    }


def _context_keys(batch: dict[str, np.ndarray], *, parts: int) -> dict[str, np.ndarray]:
    """Each answered conversation's context key (``convs.context_key``, the local detector's
    own: equal normalised contexts get equal keys, so each group meets in one partition)."""
    from curate.audit.convs import context_key

    _, convs = _convs(batch)
    ids, keys = [], []
    for c in convs:
        if c is not None and c.answer is not None and c.has_user:
            ids.append(c.row)
            keys.append(context_key(c))
    h = np.asarray(keys, dtype=np.int64)
    return {"idx": np.asarray(ids, np.int64), "h": h, "part": h % parts}


def _repeated(group: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Rows whose context hash occurs twice or more in this partition (all of its rows)."""
    h = group["h"]
    _, inv, counts = np.unique(h, return_inverse=True, return_counts=True)
    keep = counts[inv] > 1
    return {"idx": group["idx"][keep], "part": group["part"][keep]}


def _with_part(batch: dict[str, np.ndarray], *, repeated: list) -> dict[str, np.ndarray]:
    """The repeated-context rows (``repeated``: the blocks of their ids and partitions,
    sorted by id, fetched from the object store), with the partition of their context
    hash."""
    table = _fetched(repeated)
    ids, parts = table["idx"].to_numpy(), table["part"].to_numpy()
    if (ids[1:] < ids[:-1]).any():  # the driver sorts them once; in case Ray's blocks did not
        order = np.argsort(ids, kind="stable")
        ids, parts = ids[order], parts[order]
    idx = batch["idx"]
    pos = np.minimum(np.searchsorted(ids, idx), ids.size - 1)
    keep = ids[pos] == idx
    out = {k: batch[k][keep] for k in ("idx", "source", "line", "text_line", "data")}
    out["part"] = parts[pos[keep]]
    return out


def _conflicts(
    group: dict[str, np.ndarray], *, config: Any, folder: str | None = None
) -> dict[str, np.ndarray]:
    """``conflicting_answers`` over one partition's repeated-context rows: every row whose
    normalised context equals another's is in the same partition (it is hashed by that
    context), so the partition's groups are the whole input's. Sends back its findings,
    pickled; or, with ``folder``, writes them there back to back (one file, named by the
    partition's first row) and sends back only where each is: the file's number, start and
    size (the driver copies the file into its spill file, never reading the findings)."""
    from curate.audit.consistency import conflicting_answers

    order = np.argsort(group["idx"], kind="stable")  # row order, as the driver's list was
    group = {k: v[order] for k, v in group.items()}
    _, convs = _convs(group)
    found = conflicting_answers([c for c in convs if c is not None], config)
    blobs = [pickle.dumps(f) for f in found]
    out = {
        "first": np.asarray([f.rows[0] for f in found], np.int64),
        "line": np.asarray([f.lines[0] for f in found], np.int64),
    }
    if folder is None:
        return {**out, "finding": np.asarray(blobs, dtype=object)}
    sizes = np.fromiter((len(b) for b in blobs), dtype=np.int64, count=len(blobs))
    part = int(group["idx"][0]) if group["idx"].size else -1
    if blobs:  # a retried task writes the same bytes again: aside, then renamed
        _atomic_bytes(Path(folder) / _conflicts_file(part), b"".join(blobs))
    starts = back_to_back(sizes)
    return {**out, "file": np.full(sizes.size, part, np.int64), "start": starts, "size": sizes}


def _conflicts_file(part: int) -> str:
    return f"{part:012d}.pkl"


def _style_flags(
    batch: dict[str, np.ndarray], *, marks: dict[str, bool], med: float, mad: float, z: float
) -> dict[str, np.ndarray]:
    """Rows of the style findings the driver decided: ``marks`` feature -> True (uses it) /
    False (lacks it), and the length z-score cut (``mad`` 0: none)."""
    from curate.audit.style import features_of
    from curate.tokens import estimate_tokens

    _, convs = _convs(batch)
    kinds: list[str] = []
    ids: list[int] = []
    lines: list[int] = []
    rows, row_lines, toks = [], [], []
    for c in convs:
        if c is None or not (c.assistant_turns and "".join(c.assistant_turns).strip()):
            continue
        text = "\n\n".join(c.assistant_turns)
        if marks:
            f = features_of(text)
            for feat, uses in marks.items():
                if f[feat] == uses:
                    kinds.append(feat)
                    ids.append(c.row)
                    lines.append(c.line)
        rows.append(c.row)
        row_lines.append(c.line)
        toks.append(estimate_tokens(text))
    if mad > 0 and rows:
        score = (np.log1p(toks) - med) / mad
        for kind, mask in (("long", score > z), ("short", score < -z)):
            for i in np.flatnonzero(mask).tolist():
                kinds.append(f"{STYLE_LENGTH}_{kind}")
                ids.append(rows[i])
                lines.append(row_lines[i])
    return {
        "kind": np.asarray(kinds, dtype=object),
        "idx": np.asarray(ids, np.int64),
        "line": np.asarray(lines, np.int64),
    }


def _assigned(
    batch: dict[str, np.ndarray], *, centers: np.ndarray, not_chat: np.ndarray | str, listed: int
) -> dict[str, np.ndarray]:
    """Each conversation's cluster (``curate.audit.kmeans.assign``, as local assigns them),
    sent back as the block's cluster sizes and, per cluster, its first ``listed`` rows (row
    order) with their labels: what the page's named topics read (one pickled row)."""
    from curate.audit.kmeans import assign

    keep = ~np.isin(batch["idx"], ids_of(not_chat))
    rows = batch["idx"][keep].astype(np.int64)
    labels = assign(np.asarray(batch["vec"], np.float32)[keep], centers)
    state = {
        "sizes": np.bincount(labels, minlength=len(centers)),
        **_first_per_cluster(rows, labels, listed),
    }
    return {"state": np.asarray([pickle.dumps(state)], dtype=object)}


def _topic_rows(
    batch: dict[str, np.ndarray],
    *,
    listed: np.ndarray | str,
    labels: np.ndarray | str,
    k: int,
    centers: np.ndarray | None,
    not_chat: np.ndarray | str,
) -> dict[str, np.ndarray]:
    """The block's part of the page's named topics (one pickled row): the prompts' terms and
    samples of its ``listed`` rows (``topics.topic_texts``, placed by row id), and with
    ``centers`` its conversations per (cluster, split side): ``_assigned``'s clusters, the
    side the workers' split gave each row (``ray_split.SIDES`` codes)."""
    from curate.report.topics import topic_texts

    # ``pos``: the row's place after dedup, the audit's ``idx`` (``_dense``).
    listed, labels = ids_of(listed), ids_of(labels)
    at = np.flatnonzero(np.isin(batch["pos"], listed))
    at = at[np.argsort(batch["pos"][at], kind="stable")]
    places = batch["pos"][at].astype(np.int64)
    data = dict(zip(places.tolist(), batch["data"][at], strict=True))
    state: dict[str, Any] = {
        "texts": topic_texts(
            places.tolist(),
            labels[np.searchsorted(listed, places)].tolist(),
            k,
            lambda p: orjson.loads(data[p]),
        )
    }
    if centers is not None:
        from curate.audit.kmeans import assign

        keep = ~np.isin(batch["pos"], ids_of(not_chat))
        assigned = assign(np.asarray(batch["vec"], np.float32)[keep], centers)
        code = assigned.astype(np.int64) * 4 + batch["side"][keep].astype(np.int64)
        state["n"] = np.bincount(code, minlength=4 * k)
    return {"state": np.asarray([pickle.dumps(state)], dtype=object)}


def topics_on_workers(sided: Any, topics: dict[str, Any], work: Path | None) -> None:
    """What the page's named topics read of the split's rows, on the workers (``sided``: its
    ``data``, and ``vec`` and ``side`` columns): the prompts' terms and samples of the rows
    ``records`` lists into ``topics["texts"]``, so no record comes to the driver for them;
    with the vectors on the workers (``centers``) also every conversation's count per
    (topic, split side) into ``topics["by_side"]`` (side name -> count per cluster): each
    topic's train/test share over all its rows, as local's, while ``records`` lists only
    each topic's first rows."""
    from curate.engine.ray_rows import SIDES
    from curate.report.topics import MAX_PROMPTS_PER_CLUSTER, merge_topic_texts

    centers, not_chat = topics.pop("centers", None), topics.pop("not_chat", None)
    labels = np.asarray(topics["labels"], np.int64)
    k = len(topics["sizes"]) if "sizes" in topics else int(np.max(labels, initial=-1)) + 1
    # The rows each cluster's prompts are read from, as local reads them: its first ones
    # (all that ``records`` lists when the vectors were on the workers).
    listed = _first_per_cluster(
        np.asarray(topics["records"], np.int64), labels, MAX_PROMPTS_PER_CLUSTER
    )
    cols = ["pos", "data"] + (["vec", "side"] if centers is not None else [])
    states = sided.select_columns(cols).map_batches(
        _topic_rows,
        batch_format="numpy",
        fn_kwargs={
            "listed": row_ids(listed["rows"], work),
            "labels": row_ids(listed["labels"], work),
            "k": k,
            "centers": centers,
            "not_chat": row_ids(np.zeros(0, np.int64) if not_chat is None else not_chat, work),
        },
    )
    parts, n = [], np.zeros(4 * k, np.int64)
    for batch in states.iter_batches(batch_format="numpy", batch_size=None):
        for blob in batch["state"]:
            st = pickle.loads(blob)
            parts.append(st["texts"])
            if "n" in st:
                n += st["n"]
    topics["texts"] = merge_topic_texts(parts, k)
    if centers is not None:
        n = n.reshape(k, 4)
        topics["by_side"] = {name: n[:, code] for code, name in enumerate(SIDES)}


def _first_per_cluster(rows: np.ndarray, labels: np.ndarray, listed: int) -> dict[str, np.ndarray]:
    """The first ``listed`` rows (by row id) of each cluster, sorted by row id."""
    order = np.lexsort((rows, labels))
    lab = labels[order]
    rank = np.arange(lab.size) - np.searchsorted(lab, lab, side="left")
    pick = order[rank < listed]
    pick = pick[np.argsort(rows[pick], kind="stable")]
    return {"rows": rows[pick], "labels": labels[pick]}


def _rank_is_idx(batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {**batch, "rank": batch["idx"].astype(np.int64)}


def _dup_keys(batch: dict[str, np.ndarray], *, config: Any) -> dict[str, np.ndarray]:
    """The exact-dedup columns (digest, keep rank) for the audit's duplicate share."""
    from curate.dedup.exact import digest
    from curate.dedup.normalize import key_text

    texts = [key_text(r, config.key) for r in _records(batch)]
    return {
        **batch,
        "digest": np.asarray(
            [digest(config.normalizer.to_bytes(t)).hex() for t in texts], dtype=object
        ),
        "rank": batch["idx"].astype(np.int64),
        "klen": np.asarray([len(t) for t in texts], np.int64),
    }


def _read_shard(
    batch: dict[str, np.ndarray], *, fmt: dict[str, str | None], cwd: str
) -> Any:  # one task per shard; ``fmt``: each shard's format (``_detect_format``)
    import pyarrow as pa

    from curate.formats import Converter
    from curate.records import RecordReader
    from curate.stage import Dropped

    os.chdir(cwd)
    shard, path = int(batch["shard"][0]), str(batch["path"][0])
    cols: dict[str, list[Any]] = {
        k: [] for k in ("shard", "pos", "source", "line", "text_line", "data", "bad")
    }
    conv = Converter(fmt[path])
    pos = 0
    try:
        for item in RecordReader(path):
            if isinstance(item, BadLine):
                row = (shard, -1, item.source, item.line, item.line)
                data = orjson.dumps([item.reason, item.message])
                bad = True
            else:
                step = conv(item)
                r = item if isinstance(step, Dropped) else step
                row = (shard, pos, r.source, r.line, r.text_line)
                data, bad = orjson.dumps(r.data), False
                pos += 1
            for k, v in zip(("shard", "pos", "source", "line", "text_line"), row, strict=True):
                cols[k].append(v)
            cols["data"].append(data)
            cols["bad"].append(bad)
    except CurateError as exc:
        cols = {k: [] for k in cols}
        cols.update(
            shard=[shard], pos=[-2], source=[type(exc).__name__], line=[0], text_line=[0],
            data=[str(exc).encode()], bad=[True],
        )  # fmt: skip
    types = {"source": pa.string(), "data": pa.binary(), "bad": pa.bool_()}
    return pa.table({k: pa.array(v, type=types.get(k, pa.int64())) for k, v in cols.items()})


def _with_idx(batch: dict[str, np.ndarray], *, offsets: np.ndarray) -> dict[str, np.ndarray]:
    keep = ~batch["bad"]
    out = {k: v[keep] for k, v in batch.items() if k not in ("bad", "shard", "pos")}
    out["idx"] = (offsets[batch["shard"][keep]] + batch["pos"][keep]).astype(np.int64)
    return out


def _bad_rows(batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {k: v[batch["bad"]] for k, v in batch.items()}


def _shard_counts(batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    good = batch["shard"][~batch["bad"]]
    return {"shard": good}


# -- driver side -------------------------------------------------------------------------------


class _Sparse(Sequence):
    """A sequence of ``n`` items of which only some were fetched; the audit's samplers only
    read the positions they drew."""

    def __init__(self, n: int, items: dict[int, Any]) -> None:
        self.n, self.items = n, items

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: Any) -> Any:
        return self.items[int(i)]

    def __iter__(self) -> Iterator[Any]:
        raise TypeError("a sparse audit sequence is read by position only")


class WorkerVectors:
    """``audit_kept``'s ``vectors`` when the run's vectors stay on the workers: the audited
    rows' ``vec`` column (float32, one per row, the rows the driver array would hold). The
    driver fetches only the sampled rows' vectors; the workers assign every row a cluster."""

    column = "vec"


class RayAudit:
    """The audit of a Ray dataset with columns idx (0..n-1, the local row order), source,
    line, text_line and data."""

    def __init__(
        self, ray: Any, ds: Any, n: int, config: Any, parts: int, vectors: Any = None
    ) -> None:
        self.ray, self.ds, self.n, self.config, self.parts = ray, ds, n, config, parts
        self.not_chat = np.zeros(0, np.int64)
        # ``curate run`` with dedup's embedder: every row's vector, as local shares them.
        self.vectors = vectors
        # ``curate run``: dedup's digests are columns of ``ds`` / its band rows (audit_kept).
        self.reuse: tuple[bool, Any] = (False, None)
        # A folder on the filesystem the workers share (``curate run``'s work folder; for
        # ``curate audit``, a temporary one when every node is this machine): the workers
        # write the conflicts' findings there for the driver to copy (``_conflicts``) and
        # read the removed rows' ids from it (``row_ids``).
        self.work: Path | None = None

    def fetch(self, ids: Any) -> dict[int, Record]:
        """Records by row id (the sampled and flagged rows: bounded, never the whole set)."""
        ids = np.unique(np.asarray(ids, dtype=np.int64))
        if not ids.size:
            return {}
        got = self.ds.map_batches(_only, batch_format="numpy", fn_kwargs={"ids": ids})
        out: dict[int, Record] = {}
        for batch in got.iter_batches(batch_format="numpy", batch_size=None):
            for i, r in zip(batch["idx"].tolist(), _records(batch), strict=True):
                out[int(i)] = r
        return out

    def convs(self, ids: Any) -> list[Any]:
        from curate.audit.convs import to_conv

        recs = self.fetch(ids)
        return [c for i in sorted(recs) if (c := to_conv(recs[i], i)) is not None]

    def conv_rows(self, positions: np.ndarray) -> np.ndarray:
        """Row ids of the conversations at ``positions`` (chat rows only, in row order)."""
        nc = self.not_chat
        shift = np.searchsorted(nc - np.arange(nc.size), positions, side="right")
        return np.asarray(positions, dtype=np.int64) + shift

    def sampled(self, positions: np.ndarray) -> _Sparse:
        rows = self.conv_rows(positions)
        convs = {c.row: c for c in self.convs(rows)}
        n_convs = self.n - self.not_chat.size
        return _Sparse(
            n_convs, {int(p): convs[int(r)] for p, r in zip(positions, rows, strict=True)}
        )

    def run(self, bad_lines: Sequence[BadLine], source: str, fmt: str | None) -> Any:
        from curate.audit import consistency
        from curate.audit.languages import compute_languages, sample_indices
        from curate.audit.model import FINDING_CODES, AuditReport
        from curate.audit.run import _check_config, _metrics, _structural_findings, finish_report

        config = self.config
        _check_config(config)
        timings: dict[str, float] = {}
        t_start = time.perf_counter()
        t0 = t_start
        got = _collect(
            self.ds.map_batches(_block_state, batch_format="numpy", fn_kwargs={"config": config}),
            ["first", "state"],
        )
        blocks = np.argsort(got["first"], kind="stable")
        states = [pickle.loads(got["state"][k]) for k in blocks.tolist()]
        st = _merge(states)
        self.not_chat = np.asarray([t[0] for t in st["not_chat"]], dtype=np.int64)
        n_convs = self.n - self.not_chat.size
        _log(f"audit: {self.n} records, {n_convs} conversations merged from {len(states)} blocks")
        shape = _shape(st, n_convs, _counter(config.tokenizer))
        timings["shape"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        lang_idx = sample_indices(n_convs, config.language_sample, config.seed)
        languages, lang_findings = compute_languages(self.sampled(lang_idx), config)
        # The sample's records (~35 MiB for 10,000) are freed; give their pages back, or
        # every later step's peak comes on top of them.
        release_free_heap()
        timings["languages"] = time.perf_counter() - t0
        _log(f"audit: languages over {len(lang_idx)} sampled rows")

        diversity = self._diversity(st, n_convs, timings)
        topics = diversity.pop("_topics", None)
        _log("audit: diversity (distinct-n, duplicate share, embeddings)")

        t0 = time.perf_counter()
        not_chat_recs = [
            Record(source, line, dict.fromkeys(keys)) for _, line, keys in st["not_chat"]
        ]
        small = _structural_findings(bad_lines, not_chat_recs, self.not_chat.tolist())
        flagged = self.convs(st["flagged"])
        _log(f"audit: {len(flagged)} flagged rows fetched")
        # record_findings' order is by code; the sort below puts the conflicts in place.
        small += consistency.record_findings(flagged, [], config)
        # The conflicts (the findings that grow with the rows) go to a file as they arrive.
        spill = SpillWriter()
        conflicts = self._conflicts(spill)
        release_free_heap()
        small += lang_findings
        style_findings, style_profile = self._style(st)
        small += style_findings
        order = list(FINDING_CODES)
        small.sort(key=lambda f: order.index(f.code))
        at = order.index("conflicting_answers")
        before = [f for f in small if order.index(f.code) <= at]
        after = [f for f in small if order.index(f.code) > at]
        findings = spill.finish(np.concatenate((spill.add(before), conflicts, spill.add(after))))
        del small, before, after, conflicts
        timings["findings"] = time.perf_counter() - t0
        diversity["style"] = style_profile

        n_records = self.n + len(bad_lines)
        report = AuditReport(
            source=source,
            config=config,
            shape=shape,
            languages=languages,
            diversity=diversity,
            findings=findings,
            metrics={},
            timings=timings,
        )
        report.metrics = _metrics(report, n_records, n_convs)
        if fmt is not None:  # ``audit_path`` names the input's format; ``audit`` does not
            report.shape["input_format"] = fmt
        report.series.update(_series(st))
        if topics is not None and "records" in topics:  # rows listed by the workers
            report.series["topics"] = topics
        elif topics is not None:
            report.series["topics"] = {
                "records": self.conv_rows(np.asarray(topics["rows"])),
                "labels": np.asarray(topics["labels"]),
            }
        finish_report(report, n_convs, languages, diversity, config)
        timings["total"] = time.perf_counter() - t_start
        _log(f"audit: {len(findings)} findings")
        return report

    # pieces ------------------------------------------------------------------------------

    def _conflicts(self, spill: SpillWriter) -> np.ndarray:
        """``conflicting_answers``' findings, found on the workers: a shuffle of the context
        hashes names the rows whose context repeats (8 bytes a row here, with their
        partition), a second shuffle sends just those rows to their partition, where the
        detector runs. Only the findings reach ``spill``: with a work folder (``self.work``) the
        workers write them to files there, which are copied in (``SpillWriter.add_file``);
        without one they come back a batch at a time as they arrive. Returns
        their ids in ``spill`` in local's order (by first line, ties by first row as the
        local group order)."""
        keyed = self.ds.map_batches(
            _context_keys, batch_format="numpy", fn_kwargs={"parts": self.parts}
        )
        rep = keyed.groupby("part", num_partitions=self.parts).map_groups(
            _repeated, batch_format="numpy"
        )
        # The repeated-context rows stay in the object store, sorted by row id once here:
        # each task of the second shuffle fetches them there and looks its rows up without
        # sorting them again; the driver holds their blocks' refs only.
        rep = rep.sort("idx").materialize()
        n_repeated = rep.count()
        if not n_repeated:
            return np.zeros(0, dtype=np.int64)
        rows = self.ds.map_batches(
            _with_part, batch_format="numpy", fn_kwargs={"repeated": rep.to_arrow_refs()}
        )
        folder = None
        if self.work is not None:
            folder = self.work / "conflicts"
            folder.mkdir(parents=True, exist_ok=True)
        found = rows.groupby("part", num_partitions=self.parts).map_groups(
            _conflicts,
            batch_format="numpy",
            fn_kwargs={"config": self.config, "folder": None if folder is None else str(folder)},
        )
        if folder is not None:
            first, line, at = self._conflicts_from_files(found, folder, spill)
        else:
            first, line, at = self._conflicts_fetched(found, spill)
        del rows, rep
        how = " (their findings written by the workers)" if folder is not None else ""
        _log(f"audit: {n_repeated} repeated-context rows, {line.size} conflicts{how}")
        return at[np.lexsort((first, line))]

    @staticmethod
    def _conflicts_fetched(found: Any, spill: SpillWriter) -> tuple[np.ndarray, ...]:
        """The findings themselves come to the driver (``curate audit`` on a cluster of
        several machines: no work folder the workers share), a block at a time, into
        ``spill``."""
        firsts, lines, at = [], [], []  # 24 bytes a finding; the findings go to the file
        for batch in found.iter_batches(batch_format="numpy", batch_size=None):
            firsts.append(np.asarray(batch["first"], dtype=np.int64))
            lines.append(np.asarray(batch["line"], dtype=np.int64))
            at.append(spill.add_pickled(list(batch["finding"]), "conflicting_answers"))
            del batch
        return tuple(np.concatenate(x) if x else np.zeros(0, np.int64) for x in (firsts, lines, at))

    @staticmethod
    def _conflicts_from_files(
        found: Any, folder: Path, spill: SpillWriter
    ) -> tuple[np.ndarray, ...]:
        """The workers wrote the findings into ``folder``; only where each is comes back
        (40 bytes a finding, freed on return): each file is copied into ``spill``. The
        findings' bytes never pass through the object store into the driver, whose
        resident memory would keep the store's pages it read (and the heap they were
        unpickled into) after the step."""
        got = _collect(found, ["first", "line", "file", "start", "size"])
        at = np.zeros(got["file"].size, np.int64)
        for part in np.unique(got["file"]).tolist():
            mine = np.flatnonzero(got["file"] == part)
            path = folder / _conflicts_file(part)
            at[mine] = spill.add_file(
                path, got["start"][mine], got["size"][mine], "conflicting_answers"
            )
            path.unlink()
        return got["first"], got["line"], at

    def _diversity(self, st: dict[str, Any], n_convs: int, timings: dict[str, float]) -> dict:
        from curate.audit.diversity import (
            MIN_ROWS_FOR_CLUSTERS,
            cluster_stats,
            distinct_n,
            embed_limit,
            embed_texts,
            mean_pairwise_distance,
            readings,
        )
        from curate.audit.languages import sample_indices

        config = self.config
        out: dict[str, Any] = {}
        prompts, answers = self._distinct_texts(n_convs)
        out["distinct"] = {
            "prompt": distinct_n(prompts, config.seed),
            "response": distinct_n(answers, config.seed),
        }
        t0 = time.perf_counter()
        out["near_duplicates"] = self._near_duplicates()
        timings["near_duplicates"] = time.perf_counter() - t0
        if config.label:
            out["labels"] = _labels(st, config.label)
        if isinstance(self.vectors, WorkerVectors):
            out["embeddings"] = {"source": "precomputed", "rows": n_convs, "of": n_convs}
            if n_convs >= MIN_ROWS_FOR_CLUSTERS:
                t0 = time.perf_counter()
                out.update(self._clusters_on_workers(n_convs))
                timings["clusters"] = time.perf_counter() - t0
        elif self.vectors is not None:
            vecs = np.asarray(self.vectors, dtype=np.float32)
            if self.not_chat.size:
                vecs = np.delete(vecs, self.not_chat, axis=0)
            out["embeddings"] = {"source": "precomputed", "rows": len(vecs), "of": n_convs}
            if len(vecs) >= MIN_ROWS_FOR_CLUSTERS:
                t0 = time.perf_counter()
                out["clusters"] = cluster_stats(vecs, config)
                rows = np.arange(n_convs)
                out["_topics"] = {"rows": rows, "labels": out["clusters"].pop("assignment")}
                out["mean_pairwise_distance"] = mean_pairwise_distance(vecs, config.seed)
                timings["clusters"] = time.perf_counter() - t0
        elif config.embeddings and n_convs >= MIN_ROWS_FOR_CLUSTERS:
            from curate.embed import get_embedder

            t0 = time.perf_counter()
            idx = sample_indices(n_convs, embed_limit(config), config.seed)
            sample = self.sampled(idx)
            texts = embed_texts([sample[int(i)] for i in idx], config.embed_side)
            vecs = np.asarray(get_embedder(config.model).encode(texts), dtype=np.float32)
            timings["embeddings"] = time.perf_counter() - t0
            out["embeddings"] = {
                "source": config.model or "fast",
                "side": config.embed_side,
                "rows": len(idx),
                "of": n_convs,
                "sampled": len(idx) < n_convs,
            }
            if len(vecs) >= MIN_ROWS_FOR_CLUSTERS:
                t0 = time.perf_counter()
                out["clusters"] = cluster_stats(vecs, config)
                out["_topics"] = {"rows": idx, "labels": out["clusters"].pop("assignment")}
                out["mean_pairwise_distance"] = mean_pairwise_distance(vecs, config.seed)
                timings["clusters"] = time.perf_counter() - t0
        out["readings"] = readings(out)
        return out

    def _clusters_on_workers(self, n_convs: int) -> dict[str, Any]:
        """``cluster_stats`` and ``mean_pairwise_distance`` over the ``vec`` column: the
        driver fetches the vectors of the fit's and the pairwise distance's seeded samples
        (the positions local draws over its array, chat rows only), fits the centres with
        local's code, and the workers assign every row (``_assigned``); their sizes merge
        here. ``_topics`` lists each cluster's first rows (all the page reads) and the sizes.
        """
        from curate.audit.diversity import PAIRWISE_SAMPLE, cluster_summary, pairwise_mean
        from curate.audit.kmeans import choose_k, fit_centers, fit_sample
        from curate.audit.languages import sample_indices
        from curate.report.topics import MAX_PROMPTS_PER_CLUSTER

        config = self.config
        k = choose_k(n_convs, config.max_clusters)
        # Transient position arrays, drawn as local draws them (``fit_sample``,
        # ``sample_indices``): numpy's draw itself may permute all positions.
        fit_pos, rng = fit_sample(n_convs, config.seed)
        pair_pos = sample_indices(n_convs, PAIRWISE_SAMPLE, config.seed)
        fit_rows, pair_rows = self.conv_rows(fit_pos), self.conv_rows(pair_pos)
        del fit_pos, pair_pos
        want = np.union1d(fit_rows, pair_rows)
        got = _collect(
            self.ds.select_columns(["idx", "vec"]).map_batches(
                _only, batch_format="numpy", fn_kwargs={"ids": row_ids(want, self.work)}
            ),
            ["idx", "vec"],
        )
        order = np.argsort(got["idx"], kind="stable")
        ids, vecs = got["idx"][order], np.asarray(got["vec"], np.float32)[order]
        del got, order
        check_count("audit: sampled vectors", ids.size, want.size)  # (of the rows asked)
        centers = fit_centers(vecs[np.searchsorted(ids, fit_rows)], k, rng)
        mpd = pairwise_mean(vecs[np.searchsorted(ids, pair_rows)])
        del vecs, ids, want
        _log(f"audit: k-means fitted on {fit_rows.size} sampled vectors; assigning on the workers")
        states = self.ds.select_columns(["idx", "vec"]).map_batches(
            _assigned,
            batch_format="numpy",
            fn_kwargs={
                "centers": centers,
                "not_chat": row_ids(np.sort(self.not_chat), self.work),
                "listed": MAX_PROMPTS_PER_CLUSTER,
            },
        )
        sizes = np.zeros(k, np.int64)
        rows = labels = np.zeros(0, np.int64)
        # A block at a time: what stays is each cluster's first rows, never one per row.
        for batch in states.iter_batches(batch_format="numpy", batch_size=None):
            for blob in batch["state"]:
                st = pickle.loads(blob)
                sizes += st["sizes"]
                both = _first_per_cluster(
                    np.concatenate((rows, st["rows"])),
                    np.concatenate((labels, st["labels"])),
                    MAX_PROMPTS_PER_CLUSTER,
                )
                rows, labels = both["rows"], both["labels"]
        check_count("audit: assigned conversations", int(sizes.sum()), n_convs)
        return {
            "clusters": cluster_summary(sizes, k),
            "_topics": {
                "records": rows,
                "labels": labels,
                "sizes": sizes,
                # For the topics' shares per split (``topics_on_workers``), popped there.
                "centers": centers,
                "not_chat": np.sort(self.not_chat),
            },
            "mean_pairwise_distance": mpd,
        }

    def _distinct_texts(self, n_convs: int) -> tuple[_Sparse, _Sparse]:
        """Prompts and answers at the head of distinct-n's seeded permutation: enough rows for
        its token budget, fetched in growing chunks."""
        from curate.audit.diversity import DISTINCT_TOKEN_BUDGET, tokens_of

        # The one O(rows) array on the driver: 8 bytes a conversation, dropped on return.
        order = np.random.default_rng(self.config.seed).permutation(n_convs)
        prompts: dict[int, str] = {}
        answers: dict[int, str] = {}
        start, chunk = 0, 4096
        need = {"p": DISTINCT_TOKEN_BUDGET, "a": DISTINCT_TOKEN_BUDGET}
        while start < n_convs and (need["p"] > 0 or need["a"] > 0):
            pos = order[start : start + chunk]
            part = self.sampled(np.sort(pos))
            for p in pos.tolist():
                c = part[p]
                prompts[p] = c.role_text.get("user", "")
                answers[p] = c.answer or ""
                if need["p"] > 0:
                    need["p"] -= len(tokens_of(prompts[p]))
                if need["a"] > 0:
                    need["a"] -= len(tokens_of(answers[p]))
            start += chunk
            chunk *= 2
        return _Sparse(n_convs, prompts), _Sparse(n_convs, answers)

    def _near_duplicates(self) -> dict[str, Any]:
        from types import SimpleNamespace

        from curate.engine.ray_dedup import RayDedup
        from curate.engine.ray_rows import _without

        dc = AUDIT_DEDUP
        eng = RayDedup(self.ray, SimpleNamespace(dedup=dc), self.work)
        eng.whole_components = True  # as local ``near_duplicate_share``
        # Over the conversations only, as local (``compute_diversity`` gets the chat records).
        alive = self.ds
        if isinstance(self.vectors, WorkerVectors):  # not carried through dedup's shuffles
            alive = alive.drop_columns([WorkerVectors.column])
        out = np.sort(self.not_chat)
        if out.size:
            alive = alive.map_batches(
                _without, batch_format="numpy", fn_kwargs={"removed": row_ids(out, self.work)}
            )
        digests, bands = self.reuse
        if digests:  # the run's own digests (same settings): rank = row id, keep first
            alive = alive.map_batches(_rank_is_idx, batch_format="numpy")
        else:
            alive = alive.map_batches(_dup_keys, batch_format="numpy", fn_kwargs={"config": dc})
        alive = alive.materialize()
        by_method: dict[str, int] = {}
        clusters = 0
        for method in dc.methods:
            if method == "exact":
                r = eng.exact(alive)
            else:
                b = None
                if bands is not None:  # the run's band keys of the rows still in play
                    b = bands.map_batches(
                        _without,
                        batch_format="numpy",
                        fn_kwargs={"removed": row_ids(out, self.work)},
                    )
                r = eng.near(alive, b)
            by_method[method] = len(r)
            clusters += r.clusters()
            if len(r):
                out = np.union1d(out, r.ids)
                alive = alive.map_batches(
                    _without, batch_format="numpy", fn_kwargs={"removed": row_ids(r.ids, self.work)}
                ).materialize()
        dups = sum(by_method.values())
        n = self.n - self.not_chat.size
        return {
            "method": "curate.dedup exact+near (conversation)",
            "near_threshold": dc.near_threshold,
            "duplicates": dups,
            "by_method": by_method,
            "clusters": clusters,
            "share": round(dups / n, 4) if n else 0.0,
        }

    def _style(self, st: dict[str, Any]) -> tuple[list[Any], dict]:
        from curate.audit.model import Finding
        from curate.audit.style import FEATURES, MIN_ANSWERS, _finding

        config = self.config
        n = st["answered"]
        profile: dict[str, Any] = {
            "answers": n,
            "feature_share": {f: round(st["feats"][f] / n, 4) if n else 0.0 for f in FEATURES},
        }
        if n < MIN_ANSWERS:
            profile["note"] = f"fewer than {MIN_ANSWERS} answers: no style baseline"
            return [], profile
        rare = config.style_rare_share
        marks: dict[str, bool] = {}
        for f in FEATURES:
            share = profile["feature_share"][f]
            if 0 < share < rare:
                marks[f] = True
            elif 1 - rare < share < 1:
                marks[f] = False
        values, counts = _sorted_hist(st["lengths"])
        logs = np.log1p(values)
        med = _weighted_median(logs, counts)
        dev = np.abs(logs - med)
        order = np.argsort(dev, kind="stable")
        mad = _weighted_median(dev[order], counts[order]) * 1.4826
        profile["length_tokens_median"] = round(math.expm1(med), 1)
        got = _collect(
            self.ds.map_batches(
                _style_flags,
                batch_format="numpy",
                fn_kwargs={"marks": marks, "med": med, "mad": mad, "z": config.style_length_z},
            ),
            ["kind", "idx", "line"],
        )
        rows: dict[str, list[int]] = {}
        line_of: dict[int, int] = {}
        for kind, i, ln in zip(*(got[k].tolist() for k in ("kind", "idx", "line")), strict=True):
            rows.setdefault(str(kind), []).append(int(i))
            line_of[int(i)] = int(ln)
        firsts = {k: min(v) for k, v in rows.items()}
        convs = {c.row: c for c in self.convs(list(firsts.values()))}
        findings: list[Finding] = []

        def add(kind: str, msg: str, detail: dict) -> None:
            ids = sorted(rows[kind])
            # _finding reads the odd rows' line and row, and the first one's text.
            stubs = [convs[ids[0]]] + [_Stub(i, line_of[i]) for i in ids[1:]]
            texts = ["\n\n".join(convs[ids[0]].assistant_turns)]
            findings.append(_finding(stubs, texts, list(range(len(ids))), msg, detail))

        for f, label in FEATURES.items():
            if f not in marks or f not in rows:
                continue
            share = profile["feature_share"][f]
            k = len(rows[f])
            if marks[f]:
                msg = f"{k} answers use {label}, which only {share:.1%} of answers do"
                add(f, msg, {"kind": f"uses_{f}", "feature": f})
            else:
                msg = f"{k} answers lack {label}, which {share:.1%} of answers use"
                add(f, msg, {"kind": f"lacks_{f}", "feature": f})
        if mad > 0:
            for kind in ("long", "short"):
                key = f"{STYLE_LENGTH}_{kind}"
                if key in rows:
                    msg = (
                        f"{len(rows[key])} answers are far "
                        f"{'longer' if kind == 'long' else 'shorter'} "
                        f"than the rest (median {math.expm1(med):.0f} tokens)"
                    )
                    add(key, msg, {"kind": f"length_{kind}"})
        return findings, profile


class _Stub:
    """A flagged row's line and row id (all a finding lists besides its first example)."""

    __slots__ = ("line", "row")

    def __init__(self, row: int, line: int) -> None:
        self.row, self.line = row, line


def _merge(states: list[dict[str, Any]]) -> dict[str, Any]:
    """The blocks' states added up, in row order."""
    out: dict[str, Any] = {
        "n": 0,
        "not_chat": [],
        "role_messages": Counter(),
        "per_conv": Counter(),
        "user_turns": Counter(),
        "multi": 0,
        "role_tokens": {r: Counter() for r in MAIN_ROLES},
        "conv_tokens": Counter(),
        "systems": {},
        "answered": 0,
        "feats": Counter(),
        "lengths": Counter(),
        "labels": Counter(),
        "missing": 0,
        "flagged": [],
    }
    for s in states:
        for k in ("n", "multi", "answered", "missing"):
            out[k] += s[k]
        for k in ("role_messages", "per_conv", "user_turns", "conv_tokens", "feats", "lengths"):
            out[k].update(s[k])
        out["labels"].update(s["labels"])
        for r in MAIN_ROLES:
            out["role_tokens"][r].update(s["role_tokens"][r])
        for text, (count, row, line) in s["systems"].items():
            have = out["systems"].get(text)
            if have is None:
                out["systems"][text] = [count, row, line]
            else:
                have[0] += count
                if row < have[1]:
                    have[1], have[2] = row, line
        out["not_chat"].extend(s["not_chat"])
        out["flagged"].extend(s["flagged"])
    out["not_chat"].sort()
    return out


def _shape(st: dict[str, Any], n: int, counter: Any) -> dict[str, Any]:
    """``curate.audit.shape.compute_shape``'s section from the merged histograms."""
    from curate.audit.shape import TOP_SYSTEM_PROMPTS, system_prompts_section

    systems = st["systems"]
    with_system = sum(v[0] for v in systems.values())
    top = sorted(systems.items(), key=lambda kv: (-kv[1][0], kv[1][2]))[:TOP_SYSTEM_PROMPTS]
    return {
        "conversations": n,
        "messages": int(sum(k * v for k, v in st["per_conv"].items())),
        "messages_by_role": dict(sorted(st["role_messages"].items())),
        "messages_per_conversation": summarize_hist(st["per_conv"]),
        "user_turns_per_conversation": summarize_hist(st["user_turns"]),
        "multi_turn_share": round(st["multi"] / n, 4) if n else 0.0,
        "tokens": {
            "method": counter.method,
            "exact": counter.exact,
            "conversation": summarize_hist(st["conv_tokens"]),
            "by_role": {r: summarize_hist(v) for r, v in st["role_tokens"].items() if v},
        },
        "system_prompts": system_prompts_section(
            n, with_system, len(systems), [(t, c, line) for t, (c, _row, line) in top]
        ),
    }


class HistSeries(Sequence):
    """A plot series held as its value histogram (distinct values, counts): reads as the
    series of those values in value order (what the page's histograms draw), without
    holding it. The page draws it from ``weighted()``; ``np.asarray`` expands it."""

    def __init__(self, hist: Counter[int]) -> None:
        values, counts = _sorted_hist(hist)
        self.values = values.astype(np.int64)
        self.counts = counts
        self.ends = np.cumsum(counts)

    def __len__(self) -> int:
        return int(self.ends[-1]) if self.ends.size else 0

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return [self[k] for k in range(*i.indices(len(self)))]
        k = int(i) + len(self) if int(i) < 0 else int(i)
        if not 0 <= k < len(self):
            raise IndexError(i)
        return int(self.values[int(np.searchsorted(self.ends, k, side="right"))])

    def __iter__(self) -> Iterator[int]:
        for v, c in zip(self.values.tolist(), self.counts.tolist(), strict=True):
            yield from itertools.repeat(v, c)

    def weighted(self) -> tuple[np.ndarray, np.ndarray]:
        """Distinct values and their counts: what ``curate.report.plots.histogram`` draws
        from (as weights), so the page's plots never expand the series to one per row."""
        m = self.counts > 0
        return self.values[m], self.counts[m]

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        out = np.repeat(self.values, self.counts)
        return out if dtype is None else out.astype(dtype)


def _series(st: dict[str, Any]) -> dict[str, Any]:
    """The page's plot series as their histograms (``HistSeries``): the same values, and so
    the same plots, in value order rather than row order; nothing held per row."""
    return {
        "turns": HistSeries(st["user_turns"]),
        "messages": HistSeries(st["per_conv"]),
        "tokens": {r: HistSeries(h) for r, h in st["role_tokens"].items()},
    }


def _labels(st: dict[str, Any], path: str) -> dict[str, Any]:
    """``curate.audit.diversity.label_balance`` from the merged counter."""
    from curate.audit.diversity import label_stats

    return label_stats(path, st["labels"], st["missing"])


# -- entry point -------------------------------------------------------------------------------


def _detect_format(paths: list[str]) -> tuple[dict[str, str | None], str]:
    """Each shard's format as local ``read_for_audit`` decides it (a vote over the first
    records of each file), and the input's format name (``mixed`` when they differ)."""
    import itertools

    from curate.formats import SAMPLE, Converter
    from curate.records import RecordReader

    fmts: dict[str, str | None] = {}
    for p in paths:
        conv = Converter()
        list(conv.prime(itertools.islice(RecordReader(p), SAMPLE)))
        fmts[p] = conv.fmt
    known = {f for f in fmts.values() if f is not None}
    return fmts, "mixed" if len(known) > 1 else next(iter(known), "unknown")


def audit_path_ray(path: str, config: Any, address: str | None = None) -> Any:
    """``curate audit PATH --engine ray``: the same ``AuditReport`` as ``audit_path``."""
    from curate.engine.session import ray_session
    from curate.shards import expand

    paths = expand(str(path))
    if "-" in paths:
        raise ConfigError("--engine ray reads files (its workers cannot see stdin); give a path")
    t0 = time.perf_counter()
    fmt, fmt_name = _detect_format(paths)
    with worker_errors(), ray_session(address) as ray, _work_folder(ray) as work:
        report = _audit(ray, paths, fmt, config, str(path), work)
    report.shape["input_format"] = fmt_name
    report.timings["read"] = report.timings.get("read", 0.0)
    report.timings["total"] = time.perf_counter() - t0
    return report


@contextlib.contextmanager
def _work_folder(ray: Any) -> Iterator[Path | None]:
    """A temporary folder the workers and the driver share, when every node of the Ray
    cluster is this machine (a private Ray, or nodes started here): the workers then write
    the conflicts' findings and read the removed rows' ids there instead of passing them
    through the object store. None on a cluster of several machines (``curate audit`` has
    no output folder on the filesystem they share)."""
    import tempfile

    here = ray.util.get_node_ip_address()
    nodes = [n for n in ray.nodes() if n.get("Alive")]
    if any(n.get("NodeManagerAddress") != here for n in nodes):
        yield None
        return
    with tempfile.TemporaryDirectory(prefix="curate-audit-ray-") as folder:
        yield Path(folder)


def _audit(
    ray: Any,
    paths: list[str],
    fmt: dict[str, str | None],
    config: Any,
    source: str,
    work: Path | None,
) -> Any:
    import ray.data

    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    ctx.print_on_execution_start = False
    ctx.shuffle_strategy = ray.data.context.ShuffleStrategy.SORT_SHUFFLE_PULL_BASED
    cpus = int(ray.cluster_resources().get("CPU", 1))
    parts = max(2, 2 * cpus)
    items = [{"shard": i, "path": p} for i, p in enumerate(paths)]
    raw = (
        ray.data.from_items(items, override_num_blocks=len(items))
        .map_batches(_read_shard, batch_size=1, fn_kwargs={"fmt": fmt, "cwd": os.getcwd()})
        .materialize()
    )
    bad = _collect(
        raw.map_batches(_bad_rows, batch_format="numpy"), ["shard", "pos", "source", "line", "data"]
    )
    errors = [k for k in range(len(bad["pos"])) if bad["pos"][k] == -2]
    if errors:
        k = min(errors, key=lambda k: bad["shard"][k])
        kind = ConfigError if bad["source"][k] == "ConfigError" else InputError
        raise kind(bytes(bad["data"][k]).decode())
    order = np.lexsort((bad["line"], bad["shard"]))
    bad_lines = []
    for k in order.tolist():
        reason, message = orjson.loads(bad["data"][k])
        bad_lines.append(BadLine(str(bad["source"][k]), int(bad["line"][k]), reason, message))
    good = _collect(raw.map_batches(_shard_counts, batch_format="numpy"), ["shard"])["shard"]
    counts = np.bincount(good.astype(np.int64), minlength=len(paths))
    offsets = np.concatenate(([0], np.cumsum(counts)[:-1])).astype(np.int64)
    n = int(counts.sum())
    ds = raw.map_batches(_with_idx, batch_format="numpy", fn_kwargs={"offsets": offsets})
    blocks = block_count(raw.num_blocks(), raw.size_bytes(), parts)
    if blocks != raw.num_blocks() and n:
        ds = ds.repartition(blocks)
    ds = ds.materialize()
    aud = RayAudit(ray, ds, n, config, parts)
    aud.work = work
    return aud.run(bad_lines, source, "unknown")  # the caller names the input's format


def _dense(
    batch: dict[str, np.ndarray], *, gone: np.ndarray | str, extra: tuple = ()
) -> dict[str, np.ndarray]:
    """Row ids after dedup: each kept row's position in the list the local audit gets."""
    idx = batch["idx"] - np.searchsorted(ids_of(gone), batch["idx"])
    cols = ("source", "line", "text_line", "data", *extra)
    return {"idx": idx.astype(np.int64), **{k: batch[k] for k in cols}}


def _dense_bands(batch: dict[str, np.ndarray], *, gone: np.ndarray | str) -> dict[str, np.ndarray]:
    """The run's band rows of the kept rows, renumbered as ``_dense`` numbers the rows."""
    gone = ids_of(gone)
    keep = ~np.isin(batch["idx"], gone)
    out = {k: v[keep] for k, v in batch.items()}
    out["idx"] = (out["idx"] - np.searchsorted(gone, out["idx"])).astype(np.int64)
    return out


def audit_kept(
    ray: Any,
    alive: Any,
    gone: np.ndarray,
    n: int,
    config: Any,
    parts: int,
    vectors: Any,
    reuse: tuple[bool, Any] = (False, None),
    work: Path | None = None,
) -> Any:
    """``curate run --engine ray``'s audit of the rows dedup kept (``alive``, whose ``idx``
    are the pre-dedup positions; ``gone`` the removed ones, sorted).

    ``reuse``: (the run's digests fit ``AUDIT_DEDUP``, the run's band rows or None): the
    duplicate share then hashes nothing again, as local reuses dedup's ``Features``.
    ``work``: a folder the workers share, for the conflicts' findings (``RayAudit.work``).
    ``vectors``: every kept row's vector on the driver (as the local audit shares them),
    ``WorkerVectors()`` when they are ``alive``'s ``vec`` column, or None (the audit embeds
    its own sample).
    """
    digests, bands = reuse
    extra = ("digest", "klen") if digests else ()
    if isinstance(vectors, WorkerVectors):  # the vectors stay with their rows
        extra += (WorkerVectors.column,)
    # The removed rows' ids reach the workers as a file in the run's work folder, not
    # through the object store (``row_ids``): written once, read by both maps.
    gone_arg = row_ids(gone, work)
    ds = alive.map_batches(
        _dense, batch_format="numpy", fn_kwargs={"gone": gone_arg, "extra": extra}
    ).materialize()
    if bands is not None:
        bands = bands.map_batches(_dense_bands, batch_format="numpy", fn_kwargs={"gone": gone_arg})
    source = ""
    if n:  # local names the audit after its first record's source
        got = _collect(ds.map_batches(_first_row, batch_format="numpy"), ["idx", "source"])
        source = str(got["source"][int(np.argmin(got["idx"]))])
    aud = RayAudit(ray, ds, n, config, parts, vectors)
    aud.reuse = (digests, bands)
    aud.work = work
    return aud.run([], source, None)


def _first_row(batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    if not len(batch["idx"]):
        return {"idx": batch["idx"], "source": batch["source"]}
    k = int(np.argmin(batch["idx"]))
    return {"idx": batch["idx"][k : k + 1], "source": batch["source"][k : k + 1]}
