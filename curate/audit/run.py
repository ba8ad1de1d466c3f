"""The audit itself: records in, ``AuditReport`` out; plus reading a file for the CLI."""

from __future__ import annotations

import functools
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from curate.audit import consistency, style
from curate.audit.convs import Conv, Lazy, context_key, to_conv
from curate.audit.diversity import compute_diversity, duplicate_config
from curate.audit.gates import check_gates, parse_rules
from curate.audit.languages import compute_languages
from curate.audit.model import (
    FINDING_CODES,
    MIN_USEFUL_RECORDS,
    AuditConfig,
    AuditReport,
    Finding,
)
from curate.audit.shape import ShapeParts, shape_chunk
from curate.chat import messages_of
from curate.dedup.features import (
    PARALLEL_MIN,
    StreamHasher,
    compute_features,
    map_chunks,
    runs_parallel,
    workers,
)
from curate.errors import ConfigError
from curate.gcpause import gc_paused
from curate.reader import read_chat
from curate.records import BadLine, Record, gzipped
from curate.stage import Batch, BatchResult, Dropped, run_stages
from curate.tokens import TokenCounter
from curate.workers import can_start, ordered_map, preload_in_fork_server, start_fork_server

EMBED_SIDES = ("conversation", "prompt", "response")
# Conversation views built at a time: their memory (texts joined per role, the context copy,
# lists per message) is freed chunk by chunk instead of held for every row at once.
VIEW_CHUNK = 4_096
# ``audit_path`` starts the reading pool early for a file expected to reach ``PARALLEL_MIN``
# records anyway (below it "forking costs more than it saves", and no pool starts): at least
# this size (``PARALLEL_MIN`` records of usual chat data, ~1.2 KB a line: the bench's 20,000
# rows take 23.5 MiB) ...
EARLY_POOL_BYTES = 24 * 2**20
# ... and with as many lines as that in its first bytes (a file of long records, ~12 KB and
# more, would not even fill a chunk of ``PARALLEL_CHUNK``; the pool would never be used).
EARLY_POOL_RECORDS = PARALLEL_MIN
HEAD_BYTES = 256 * 2**10


def _check_config(config: AuditConfig) -> None:
    if config.embed_side not in EMBED_SIDES:
        raise ConfigError(f"embed_side must be one of {', '.join(EMBED_SIDES)}")
    if not 0 < config.conflict_similarity <= 1:
        raise ConfigError("conflict_similarity must be in (0, 1]")
    if config.max_clusters < 2:
        raise ConfigError("max_clusters must be at least 2")
    parse_rules(config.fail_on)  # fail on a bad rule before any work


def audit(
    records: Sequence[Record],
    config: AuditConfig | None = None,
    embeddings: np.ndarray | None = None,
    bad_lines: Sequence[BadLine] = (),
    source: str = "",
    features: Any = None,
    ahead: StreamHasher | None = None,
) -> AuditReport:
    """Audit chat records (``{"messages": [...]}``): shape, languages, diversity, findings.

    Args:
        records: the records, in input order; non-chat records become ``not_chat`` findings.
        config: options (seed, tokenizer, embedder, label, gates...); defaults when None.
        embeddings: precomputed float32 L2-normalised vectors, e.g. shared with dedup, one
            row per record (rows of non-chat records are ignored) or per chat record; the
            embedder is then not called.
        bad_lines: lines the reader could not parse, reported as ``unreadable``.
        source: the input's name for the report (default: the first record's source).
        features: dedup fingerprints of ``records`` (``curate.dedup.Features``, one row per
            record), reused by the duplicate share when their settings match its own.
        ahead: the ``StreamHasher`` that ``records`` passed through while they were read
            (``audit_path``), its workers hashing the duplicate share's fingerprints and
            computing each chunk's facts (``stream_facts``); they are gathered in a thread
            while this one audits. When it fails, the audit computes both itself.

    Raises:
        ConfigError: invalid config or gate rule, or embeddings of the wrong shape.
    """
    config = config or AuditConfig()
    _check_config(config)
    counter = _token_counter(config.tokenizer)  # before any work: a bad path fails fast
    stop = threading.Event()  # set on the way out: a failed audit stops its facts' workers
    with gc_paused(), ThreadPoolExecutor(2) as waiter:
        try:
            return _audit(
                records,
                config,
                counter,
                embeddings,
                bad_lines,
                source,
                features,
                waiter,
                stop,
                ahead,
            )
        finally:
            stop.set()


def _audit(
    records: Sequence[Record],
    config: AuditConfig,
    counter: TokenCounter,
    embeddings: np.ndarray | None,
    bad_lines: Sequence[BadLine],
    source: str,
    features: Any,
    waiter: ThreadPoolExecutor,
    stop: threading.Event,
    ahead: StreamHasher | None = None,
) -> AuditReport:
    timings: dict[str, float] = {}
    t_start = time.perf_counter()

    not_chat: list[Record] = []
    chat_records: list[Record] = []
    chat_rows: list[int] = []
    not_chat_rows: list[int] = []
    for i, r in enumerate(records):
        if record_is_chat(r):  # what ``to_conv`` tests: a view, or None
            chat_records.append(r)
            chat_rows.append(i)
        else:
            not_chat.append(r)
            not_chat_rows.append(i)
    n_convs = len(chat_records)
    if embeddings is not None:
        embeddings = np.asarray(embeddings, dtype=np.float32)
        if embeddings.ndim == 2 and len(embeddings) == len(records) != n_convs:
            embeddings = embeddings[chat_rows]  # one row per record given: keep the chat ones
        if embeddings.ndim != 2 or len(embeddings) != n_convs:
            raise ConfigError(
                f"embeddings have shape {embeddings.shape}; expected one row per record "
                f"({len(records)}, dim) or per chat record ({n_convs}, dim)"
            )

    facts: Any = None
    if ahead is not None:
        # Hashed and viewed in the workers while the file was read: a thread gathers both
        # (the last chunks are still in the workers) while this one detects languages.
        features = waiter.submit(_ahead_features, ahead, records, chat_rows)
        facts = waiter.submit(
            _with_findings,
            # Bound now: ``features`` is replaced by its result below, maybe before this runs.
            functools.partial(_ahead_facts, ahead, features, n_convs, counter),
            (chat_records, chat_rows, config, stop),
        )
    elif features is not None and len(chat_rows) < len(records):
        features = features.subset(chat_rows) if len(features) == len(records) else None
    elif features is None and runs_parallel(len(chat_records)):
        # The duplicate share's fingerprints (MinHash of every conversation, the costliest
        # part of a standalone audit) are hashed in the worker processes while this one
        # audits; a thread only waits for them. The rows are those of a serial pass.
        features = waiter.submit(compute_features, chat_records, duplicate_config(), True)

    def view(p: int) -> Conv:
        return to_conv(chat_records[p], chat_rows[p])  # type: ignore[return-value]

    # One pass of views, a chunk at a time, each chunk's freed before the next is built: what
    # the rest of the audit needs of every row is kept as counts and arrays (the shape's
    # series, the style features, a hash of each prompt), plus the rows a per-record detector
    # flags; the few views needed later (flagged rows, shared prompts, samples) are rebuilt.
    # On large inputs the chunks go to the worker processes (``run.workers``) and a thread
    # collects them while this one detects languages and, when the fingerprints are at hand,
    # the diversity section (neither reads the facts).
    t0 = time.perf_counter()
    if ahead is not None:
        pass  # ``facts`` is being gathered
    elif runs_parallel(n_convs):
        parts = map_chunks(chunk_facts, chat_records, (config,), stop)
        # (The findings stay in this process: in ``curate run`` a worker's copy of the
        # records they read would add to the run's peak memory.)
        facts = waiter.submit(_with_findings, lambda: _collect_facts(parts, counter), None)
    else:
        facts = _collect_facts(_chunk_facts(chat_records, config, counter), counter)
    t_views = time.perf_counter() - t0
    lazy = Lazy(n_convs, view)

    t0 = time.perf_counter()
    languages, lang_findings = compute_languages(lazy, config)
    timings["languages"] = time.perf_counter() - t0

    # The diversity section (the duplicate share) while a worker finds the per-record
    # findings (``_with_findings``), except when the fingerprints are still being hashed in
    # the background without ``ahead`` (``audit`` of records in memory): the findings first.
    diversity: dict[str, Any] | None = None
    if not isinstance(features, Future) or ahead is not None:
        if isinstance(features, Future):
            features = features.result()  # None when ``ahead`` failed: hashed here
        diversity = compute_diversity(chat_records, lazy, config, embeddings, timings, features)

    t0 = time.perf_counter()
    found: list[Finding] | None = None  # the per-record findings, when a worker found them
    if isinstance(facts, Future):
        facts, found = facts.result()
    if facts is None:  # the workers of ``ahead`` failed: the views here, as without them
        facts = _collect_facts(_chunk_facts(chat_records, config, counter), counter)
    shape_parts, style_facts, flagged, asked, keys = facts
    shape, series = shape_parts.result()
    timings["shape"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    findings = _structural_findings(bad_lines, not_chat, not_chat_rows)
    if found is None:
        flagged_convs = [view(p) for p in flagged]
        shared_convs = [view(p) for p in _shared(asked, keys)]
        found = consistency.record_findings(flagged_convs, shared_convs, config)
    findings += found
    findings += lang_findings
    answered = style_facts.where
    style_findings, style_profile = style_facts.outliers(
        config, lambda k: style.answer_text(view(int(answered[k]))) or "", chat_rows
    )
    findings += style_findings
    order = list(FINDING_CODES)
    findings.sort(key=lambda f: order.index(f.code))  # stable: detector order within a code
    t_findings = time.perf_counter() - t0 + t_views

    if diversity is None:
        if isinstance(features, Future):
            features = features.result()
        diversity = compute_diversity(chat_records, lazy, config, embeddings, timings, features)
    topics = diversity.pop("_topics", None)
    timings["findings"] = t_findings
    diversity["style"] = style_profile

    n_records = len(records) + len(bad_lines)
    report = AuditReport(
        source=source or (records[0].source if records else ""),
        config=config,
        shape=shape,
        languages=languages,
        diversity=diversity,
        findings=findings,
        metrics={},
        timings=timings,
    )
    report.metrics = _metrics(report, n_records, n_convs)
    report.series = series
    if topics is not None:  # per embedded conversation: its record index and topic cluster
        report.series["topics"] = {
            "records": np.asarray(chat_rows, dtype=np.int64)[topics["rows"]],
            "labels": np.asarray(topics["labels"]),
        }
    finish_report(report, n_convs, languages, diversity, config)
    timings["total"] = time.perf_counter() - t_start
    return report


def is_chat(data: Any) -> bool:
    """``bool(messages_of(data))``, without building the list when the first message is a
    dict (the usual record: ``messages_of`` keeps it)."""
    if type(data) is dict:
        msgs = data.get("messages")
        if type(msgs) is list and msgs and type(msgs[0]) is dict:
            return True
    return bool(messages_of(data))


# How orjson writes a dict whose first key is "messages", a list whose first item is an
# object: the case ``is_chat`` accepts first.
_CHAT_START = b'{"messages":[{'


def record_is_chat(record: Record) -> bool:
    """``is_chat(record.data)``; a packed record (``records.pack``) that starts as a chat
    record is known to be one without parsing it."""
    packed = record.packed
    if packed is not None and packed.startswith(_CHAT_START):
        return True
    return is_chat(record.data)


def _ahead_features(ahead: StreamHasher, records: Sequence[Record], chat_rows: list[int]) -> Any:
    """The fingerprints ``ahead`` hashed, of the chat records only; None if it failed."""
    features = ahead.features(records)
    if features is not None and len(chat_rows) < len(records):
        features = features.subset(chat_rows)
    return features


def _ahead_facts(
    ahead: StreamHasher, features: Future, n_convs: int, counter: TokenCounter
) -> tuple | None:
    """The merged facts ``ahead``'s workers computed (``stream_facts`` of each chunk), at
    the chat records' positions; None if it failed."""
    if features.result() is None:
        return None
    # Taken from ``ahead``: each chunk's facts are let go once merged (not held twice).
    parts, ahead.also = ahead.also, []
    return _collect_facts(_shifted(parts, n_convs), counter)


def stream_facts(records: Sequence[Record], base: int, config: AuditConfig) -> tuple[int, tuple]:
    """``chunk_facts`` of the chat records among ``records`` (a chunk of everything read,
    non-chat records included), at positions from 0, and how many they are: a chunk does
    not know how many chat records come before it (``_shifted`` adds that)."""
    chat = [r for r in records if record_is_chat(r)]  # what ``audit`` keeps as chat
    return len(chat), chunk_facts(chat, 0, config)


def _shifted(parts: list[tuple[int, tuple]], n_convs: int) -> Iterator[tuple[int, tuple]]:
    """``stream_facts`` results, in order, as ``chunk_facts`` at their chat positions;
    ``parts`` is emptied on the way."""
    at = 0
    parts.reverse()  # popped from the end: each part is dropped as it is handed on
    while parts:
        _base, (n_chat, (shape_part, flags, style_part, asked, keys)) = parts.pop()
        yield at, (shape_part, [p + at for p in flags], style_part, asked + at, keys)
        at += n_chat
    assert at == n_convs, (at, n_convs)


def _collect_facts(parts: Iterator[tuple[int, tuple]], counter: TokenCounter) -> tuple:
    """The ``chunk_facts`` of every chunk, in order, merged: the shape's parts, the style
    facts, the flagged positions, and per chunk the asked positions and context keys."""
    shape_parts = ShapeParts(counter)
    style_facts = style.StyleFacts()
    flagged: list[int] = []  # positions (in the chat records)
    asked: list[np.ndarray] = []
    keys: list[np.ndarray] = []
    for base, (shape_part, flags, style_part, asked_part, keys_part) in parts:
        shape_parts.merge(shape_part)
        flagged += flags
        style_facts.merge(style_part, base)
        asked.append(asked_part)
        keys.append(keys_part)
    return shape_parts, style_facts, flagged, asked, keys


def _chunk_facts(
    chat_records: Sequence[Record], config: AuditConfig, counter: TokenCounter
) -> Iterator[tuple[int, tuple]]:
    """``(position, chunk_facts(...))`` for each chunk of ``chat_records`` in order, here,
    ``VIEW_CHUNK`` views at a time."""
    n = len(chat_records)
    for start in range(0, n, VIEW_CHUNK):
        chunk = chat_records[start : start + VIEW_CHUNK]
        yield start, chunk_facts(chunk, start, config, counter)


def chunk_facts(
    records: Sequence[Record],
    base: int,
    config: AuditConfig,
    counter: TokenCounter | None = None,
) -> tuple:
    """What the audit keeps of a chunk of chat records (``records[k]`` at position
    ``base + k``): its ``shape_chunk``, the positions a per-record detector flags, its
    ``style_chunk``, and the positions and context keys of the conversations with a user turn
    and an answer. A function of the chunk alone, so worker processes can compute it."""
    if counter is None:
        counter = _worker_counter(config.tokenizer)
    convs = [to_conv(r, p) for p, r in enumerate(records, base)]
    asked: list[int] = []
    keys: list[int] = []
    for c in convs:
        if c.answer is not None and c.has_user:  # type: ignore[union-attr]
            asked.append(c.row)  # type: ignore[union-attr]
            keys.append(context_key(c))  # type: ignore[arg-type]
    return (
        shape_chunk(convs, counter),  # type: ignore[arg-type]
        sorted(consistency.flagged_rows(convs, config)),  # type: ignore[arg-type]
        style.style_chunk(convs),  # type: ignore[arg-type]
        np.asarray(asked, dtype=np.int64),
        np.asarray(keys, dtype=np.int64),
    )


_COUNTERS: dict[str | None, TokenCounter] = {}


def _worker_counter(tokenizer: str | None) -> TokenCounter:
    """One ``TokenCounter`` per worker process and tokenizer (loading one takes a while)."""
    if tokenizer not in _COUNTERS:
        _COUNTERS[tokenizer] = _token_counter(tokenizer)
    return _COUNTERS[tokenizer]


def _shared(asked: list[np.ndarray], keys: list[np.ndarray]) -> list[int]:
    """The positions of the conversations whose context key another one shares, in order:
    the only ones ``conflicting_answers`` can group (it checks the keys again itself)."""
    if not asked:
        return []
    _, inverse, counts = np.unique(np.concatenate(keys), return_inverse=True, return_counts=True)
    return np.concatenate(asked)[counts[inverse] > 1].tolist()


def _with_findings(
    facts_of: Callable[[], tuple | None], job: tuple | None
) -> tuple[tuple | None, list[Finding] | None]:
    """``facts_of()`` (run in a thread), then the per-record findings those facts call for,
    found in a worker process while the audit's own thread computes the diversity section;
    ``(facts, None)`` when the worker was stopped (the audit then finds them itself)."""
    facts = facts_of()
    if facts is None or job is None:  # (no job: this process finds them)
        return facts, None
    chat_records, chat_rows, config, stop = job
    flagged, shared = facts[2], _shared(facts[3], facts[4])
    items = [
        (chat_records[p].line, chat_records[p].data, chat_rows[p]) for p in [*flagged, *shared]
    ]
    if not items:  # nothing flagged or shared: no findings, no worker
        return facts, []
    try:  # (orjson: ~9x cheaper than a pickle of the records; a pickle when not plain JSON,
        # dates included: as text they would not be what this process sees)
        payload: bytes | list = orjson.dumps(items, option=orjson.OPT_PASSTHROUGH_DATETIME)
    except (TypeError, orjson.JSONEncodeError):
        payload = items
    del items
    # One task: ``conflicting_answers`` compares the shared conversations with each other.
    for found in ordered_map(row_findings, [(payload, len(flagged), config)], 1, stop=stop):
        return facts, found
    return facts, None


def row_findings(task: tuple) -> list[Finding]:
    """``consistency.record_findings`` of the flagged conversations and of those whose
    context another one shares, from ``(line, data, row)`` items (a worker's task)."""
    payload, n_flagged, config = task
    items = orjson.loads(payload) if isinstance(payload, bytes) else payload
    convs = [to_conv(Record("", line, data, 0), row) for line, data, row in items]
    return consistency.record_findings(convs[:n_flagged], convs[n_flagged:], config)  # type: ignore[arg-type]


def finish_report(
    report: AuditReport,
    n_convs: int,
    languages: dict[str, Any],
    diversity: dict[str, Any],
    config: AuditConfig,
) -> None:
    """The report's closing part, the same for every engine: its warnings (few records,
    sampled languages or embeddings, an empty --label) and the gates, checked once here."""
    if n_convs < MIN_USEFUL_RECORDS:
        report.warnings.append(
            f"only {n_convs} conversations: fewer than {MIN_USEFUL_RECORDS}, the usual floor "
            "for a useful fine-tune"
        )
    if languages["sampled"]:
        report.warnings.append(
            f"languages detected on a seeded sample of {languages['checked']:,} conversations"
        )
    labels = diversity.get("labels")
    if labels and not labels["counts"]:
        report.warnings.append(f"no record has a value at --label {config.label}")
    emb = diversity.get("embeddings", {})
    if emb.get("sampled"):
        report.warnings.append(
            f"embedding diversity estimated on a seeded sample of {emb['rows']:,} conversations"
        )
    if config.fail_on:
        failures = check_gates(report, list(config.fail_on))
        report.gates = {
            "rules": [r.text for r in parse_rules(config.fail_on)],
            "failures": [f.to_dict() for f in failures],
            "passed": not failures,
        }


class AuditStage:
    """The audit as a whole-set stage (``curate.stage.run_stages``): keeps every record; its
    ``output`` is the ``AuditReport``, whose findings name records by batch row.

    Args:
        config: audit options (gates included: they are checked once, in ``audit``).
        use_vectors: take the batch's vectors as the audit's embeddings (only when they
            embed the side and model the audit would).
        embeddings, bad_lines, source: as for ``audit`` (given ``embeddings`` win over the
            batch's vectors; they may have one row per chat record only).
    """

    name = "audit"

    def __init__(
        self,
        config: AuditConfig | None = None,
        use_vectors: bool = True,
        bad_lines: Sequence[BadLine] = (),
        source: str = "",
        embeddings: np.ndarray | None = None,
        ahead: StreamHasher | None = None,
    ) -> None:
        self.config = config
        self.ahead = ahead
        self.use_vectors = use_vectors
        self.embeddings = embeddings
        self.bad_lines = bad_lines
        self.source = source

    def __call__(self, batch: Batch, done: Any) -> BatchResult:
        vectors = self.embeddings
        if vectors is None and self.use_vectors:
            vectors = batch.vectors
        report = audit(
            batch.records,
            self.config,
            embeddings=vectors,
            bad_lines=self.bad_lines,
            source=self.source,
            features=batch.features,
            ahead=self.ahead,
        )
        return BatchResult.keep_all(batch, report)


def _token_counter(path: str | None) -> TokenCounter:
    """A ``TokenCounter``, with a one-line error for a tokenizer that cannot be loaded."""
    if path is None:
        return TokenCounter(None)
    if not Path(path).exists():
        raise ConfigError(f"--tokenizer {path}: no such file or directory (a local folder)")
    try:
        return TokenCounter(path)
    except (OSError, ValueError) as exc:  # transformers' errors for a folder without one
        raise ConfigError(f"--tokenizer {path}: cannot load a tokenizer: {exc}") from exc


def _structural_findings(
    bad_lines: Sequence[BadLine], not_chat: Sequence[Record], not_chat_rows: Sequence[int]
) -> list:
    out = []
    by_reason: dict[str, list[BadLine]] = {}
    for b in bad_lines:
        by_reason.setdefault(b.reason, []).append(b)
    for reason, group in sorted(by_reason.items()):
        out.append(
            Finding(
                code="unreadable",
                message=f"{len(group)} lines could not be read ({reason})",
                lines=[b.line for b in group],
                example=f"line {group[0].line}: {group[0].message}",
                detail={"reason": reason},
            )
        )
    if not_chat:
        first = not_chat[0]
        keys = sorted(first.data)[:8] if isinstance(first.data, dict) else []
        out.append(
            Finding(
                code="not_chat",
                message=f"{len(not_chat)} records have no usable 'messages' list",
                lines=[r.line for r in not_chat],
                rows=list(not_chat_rows),
                example=f"line {first.line}: keys {keys}",
            )
        )
    return out


def _metrics(report: AuditReport, n_records: int, n_convs: int) -> dict[str, Any]:
    """The flat, gateable numbers (the names ``--fail-on`` accepts)."""
    d, sh = report.diversity, report.shape
    m: dict[str, Any] = {"records": n_records, "conversations": n_convs}
    flagged_any: set[int] = set()
    of_code = getattr(report.findings, "of_code", None)  # findings in a file: engine.spill
    for code in FINDING_CODES:
        found = of_code(code) if of_code else (f for f in report.findings if f.code == code)
        lines = {ln for f in found for ln in f.lines}
        flagged_any |= lines
        m[code] = len(lines)
        m[f"{code}_share"] = round(len(lines) / n_records, 4) if n_records else 0.0
    m["findings"] = len(flagged_any)
    m["near_duplicate_share"] = d["near_duplicates"]["share"]
    m["language_mismatch_share"] = report.languages["mismatch_share"]
    cl = d.get("clusters")
    m["cluster_entropy"] = cl["entropy"] if cl else None
    m["top_cluster_share"] = cl["top_share"] if cl else None
    m["cluster_coverage"] = cl["coverage"] if cl else None
    m["mean_pairwise_distance"] = d.get("mean_pairwise_distance")
    m["distinct_1"] = d["distinct"]["response"]["distinct_1"]
    m["distinct_2"] = d["distinct"]["response"]["distinct_2"]
    m["prompt_distinct_2"] = d["distinct"]["prompt"]["distinct_2"]
    lab = d.get("labels")
    m["label_entropy"] = lab["entropy"] if lab else None
    m["label_imbalance"] = lab["imbalance"] if lab else None
    m["system_prompt_variants"] = sh["system_prompts"]["variants"]
    m["multi_turn_share"] = sh["multi_turn_share"]
    toks = sh["tokens"]
    m["conversation_tokens_p90"] = toks["conversation"]["p90"]
    m["conversation_tokens_max"] = toks["conversation"]["max"]
    by_role = toks["by_role"]
    m["assistant_tokens_mean"] = by_role.get("assistant", {}).get("mean", 0.0)
    m["assistant_tokens_p90"] = by_role.get("assistant", {}).get("p90", 0.0)
    m["user_tokens_mean"] = by_role.get("user", {}).get("mean", 0.0)
    return m


def read_for_audit(
    path: str | os.PathLike[str], ahead: StreamHasher | None = None
) -> tuple[list[Record], list[BadLine], str]:
    """Read a file of chat, Alpaca or ShareGPT records, converting to chat when possible.

    Returns (records, bad lines, input format name). Nothing is dropped: bad lines come back
    to become findings, and records that cannot be converted are kept as they are and show up
    as ``not_chat`` findings. ``ahead``: a ``StreamHasher`` the records pass through as they
    are read.
    """
    chat = read_chat(path, on_bad="keep")
    bad: list[BadLine] = []

    def good() -> Iterator[Record]:
        for item in chat:
            if type(item) is BadLine:
                bad.append(item)
            else:
                yield item  # type: ignore[misc]

    records = list(good() if ahead is None else ahead.wrap(good()))
    return records, bad, chat.converter.source_format


def audit_path(
    path: str | os.PathLike[str],
    config: AuditConfig | None = None,
    embeddings: np.ndarray | None = None,
    processes: int = 0,
) -> AuditReport:
    """Read ``path`` (``-`` for stdin) and audit it.

    ``processes``: how many processes hash the duplicate share's fingerprints and build the
    conversation views (as ``run.workers``: 0 is every available CPU, 1 this process only);
    the report is the same. With more than one, each chunk of records goes to the workers
    as soon as it is read (``StreamHasher``, as ``curate run`` hashes for dedup): the reading,
    the hashing and the views overlap instead of following one another. A file expected to
    reach ``PARALLEL_MIN`` records (``_large_input``) starts the workers' fork server before
    reading and their pool at the first chunk (``StreamHasher(early=True)``), so no core
    idles while they start.
    """
    # The workers fork from a server that has imported this module (and dedup's hashing)
    # once, instead of each importing it (~0.5 s of CPU per worker). Only a server not
    # started yet takes the list; it changes nothing but what is imported beforehand.
    preload_in_fork_server(["__main__", __name__])
    with workers(processes):
        # A file this large will start the pool: its server boots on the other core while
        # the first records are read, and the pool starts at the first chunk without this
        # process waiting for it (it used to read 20,000 records with that core idle, then
        # wait ~0.3 s for the server to boot).
        facts = (stream_facts, (config or AuditConfig(),))
        ahead = StreamHasher(duplicate_config(), True, facts, early=_large_input(path))
        if ahead.early and can_start(ahead.nproc):
            start_fork_server()
        try:
            t0 = time.perf_counter()
            records, bad, fmt = read_for_audit(path, ahead)
            t_read = time.perf_counter() - t0
            stage = AuditStage(
                config,
                bad_lines=bad,
                source=str(path),
                embeddings=embeddings,
                ahead=ahead if ahead.started() else None,
            )
            _, done = run_stages([stage], Batch.of(records), _no_drops)
        finally:
            ahead.close()
    report = done[stage.name].output
    report.shape["input_format"] = fmt
    report.timings["read"] = t_read
    report.series["records"] = records  # the HTML page lists each finding's records
    return report


def _large_input(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a file expected to hold ``EARLY_POOL_RECORDS`` records or more
    (not stdin): at least ``EARLY_POOL_BYTES``, and its size times the line ends in its
    first ``HEAD_BYTES`` over their length at least that many (a compressed file: its size
    alone, which understates what it holds)."""
    if str(path) == "-":
        return False
    try:
        size = os.stat(path).st_size
        if size < EARLY_POOL_BYTES:
            return False
        if gzipped(Path(path)):
            return True
        with open(path, "rb") as fh:
            head = fh.read(HEAD_BYTES)
    except OSError:  # (a directory: a dataset) the reader reports what is wrong with it
        return False
    return size * head.count(b"\n") >= EARLY_POOL_RECORDS * len(head)


def _no_drops(dropped: Dropped) -> None:
    raise AssertionError(f"the audit drops nothing, got {dropped.reason}")
