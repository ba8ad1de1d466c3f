"""Leakage-safe splits: stratified, group-aware, seeded, with a leakage check on the result.

    result = split_records(records, SplitConfig(test_size=0.1, stratify=("category",)))
    write_splits(result, "out/")        # train.jsonl, test.jsonl (val.jsonl), split_report.json

Steps: stratum label per record (``strata``) -> groups that must stay together: ``--group``
field values, duplicate clusters from ``curate.dedup.find_duplicates`` (``groups``) and the
clusters on the leakage check's key (the prompt by default) -> whole groups allocated per
stratum to hit the exact share (``allocate``) -> leakage check of test/val against train with
dedup's leakage matcher on that key (``curate.dedup.find_leaks``, as ``curate dedup
--against``); any leak found is merged into the groups and the allocation redrawn (at most a
few rounds), so the reported leakage is the leakage of the files written.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from curate.errors import ConfigError
from curate.records import Record
from curate.split.allocate import (
    TEST,
    TRAIN,
    VAL,
    StratumReport,
    allocate,
    min_records,
    share_report,
)
from curate.split.dupes import (
    clusters_and_check,
    count_methods,
    cross_duplicates,
    default_dedup_config,
    leak_config,
)
from curate.split.dupes import duplicate_clusters as _duplicate_clusters
from curate.split.groups import UnionFind, union_field
from curate.split.output import write_splits
from curate.split.strata import COMPUTED, stratum_labels
from curate.stage import Batch, BatchResult

__all__ = [
    "COMPUTED",
    "SplitConfig",
    "SplitResult",
    "StratumReport",
    "split_records",
    "write_splits",
    "embed_records",
    "read_chat_records",
]

MAX_REPAIR_ROUNDS = 5


@dataclass(slots=True)
class SplitConfig:
    """Options of ``curate split`` (and the ``split:`` section of a run config).

    Attributes:
        test_size: share of records for test, 0 < test_size < 1.
        val_size: share for validation (0: no val split).
        stratify: stratum keys: record fields (dotted paths) or ``language``/``cluster``/``length``.
        group: a record field whose equal values must land on one side (conversation/user id).
        seed: seeds the shuffle, k-means and language detection.
        keep_duplicates_together: group exact/near/semantic duplicate clusters (find_duplicates).
        semantic: use embeddings (semantic clusters, semantic leakage check, ``cluster`` key).
        clusters: k for ``--stratify cluster``.
        length_buckets: quantile buckets for ``--stratify length``.
        tokenizer: local HF tokenizer for exact ``length`` counts (else an estimate).
        check_leakage: run the cross-split leakage check.
        min_stratum: strata with fewer records are pooled into ``<other>`` before the
            draw; ``None`` -> the smallest stratum that can give test (and val) one record,
            ``ceil(1 / share)`` (10 at 0.1); 0 turns pooling off.
        tolerance: the overall test (val) share is ``off_target`` when it misses its target
            by more than this share of the records (and by more than one record).
        strict: ``curate split`` / ``curate run`` exit 1 when a share is off target.
        leakage_key: ``None`` (default): records with the same prompt (exact, after dedup's
            normalisation) are kept on one side and counted as leaks (``exact_prompt``);
            the near/semantic check compares dedup's key. A key: the check compares that key
            only; ``prompt`` groups and checks exact/near/semantic on the prompt, as
            ``curate dedup --against`` (several times the CPU and memory: docs/split.md);
            dedup's own key (``conversation``) is the check before qa10 #6 (no prompt
            grouping).
    """

    test_size: float = 0.1
    val_size: float = 0.0
    stratify: tuple[str, ...] = ()
    group: str | None = None
    seed: int = 0
    keep_duplicates_together: bool = True
    semantic: bool = True
    clusters: int = 8
    length_buckets: int = 4
    tokenizer: str | None = None
    check_leakage: bool = True
    min_stratum: int | None = None
    tolerance: float = 0.02
    strict: bool = False
    leakage_key: str | None = None

    def __post_init__(self) -> None:
        self.stratify = tuple(self.stratify)
        if not 0 < self.test_size < 1:
            raise ConfigError(f"split: test_size must be between 0 and 1, got {self.test_size}")
        if not 0 <= self.val_size < 1:
            raise ConfigError(f"split: val_size must be in [0, 1), got {self.val_size}")
        if self.test_size + self.val_size >= 1:
            raise ConfigError(
                f"split: test_size + val_size must be below 1, got {self.test_size + self.val_size}"
            )
        if self.clusters < 1 or self.length_buckets < 1:
            raise ConfigError("split: clusters and length_buckets must be at least 1")
        if self.min_stratum is not None and self.min_stratum < 0:
            raise ConfigError(f"split: min_stratum must be >= 0, got {self.min_stratum}")
        if not 0 <= self.tolerance < 1:
            raise ConfigError(f"split: tolerance must be in [0, 1), got {self.tolerance}")
        from curate.dedup.config import KEYS

        if self.leakage_key is not None and self.leakage_key not in KEYS:
            raise ConfigError(
                f"split: unknown leakage_key {self.leakage_key!r}; choose from {', '.join(KEYS)}"
            )
        if "cluster" in self.stratify and not self.semantic:
            raise ConfigError("split: --stratify cluster needs embeddings; drop --no-semantic")

    def pool_below(self) -> int:
        """Strata with fewer records than this are pooled (``min_stratum`` or its default)."""
        if self.min_stratum is not None:
            return self.min_stratum
        return max(min_records(self.test_size), min_records(self.val_size))


@dataclass(slots=True)
class SplitResult:
    """The records of each side (input order), the per-stratum report and the leakage check."""

    splits: dict[str, list[Record]]
    strata: list[StratumReport]
    leakage: dict[str, Any]
    config: SplitConfig
    stats: dict[str, Any] = field(default_factory=dict)

    def report(self) -> dict[str, Any]:
        """JSON-ready split report (deterministic: no timings)."""
        cfg = asdict(self.config)
        cfg["stratify"] = list(self.config.stratify)
        return {
            "config": cfg,
            "counts": {k: len(v) for k, v in self.splits.items()},
            "shares": self.shares(),
            "rule": {
                "pooled": f"strata with fewer than {self.config.pool_below()} records are "
                "pooled into <other>",
                "too_small": f"a stratum with fewer than {min_records(self.config.test_size)} "
                "records goes wholly to train",
            },
            "strata": [s.to_dict() for s in self.strata],
            "too_small": [s.stratum for s in self.strata if s.status == "too_small"],
            "leakage": self.leakage,
            **self.stats,
        }

    def shares(self) -> dict[str, Any]:
        """Achieved test (val) share against the target, over the whole set."""
        sides = [name for name, recs in self.splits.items() for _ in recs]
        pooled = sum(len(s.pooled) for s in self.strata)
        c = self.config
        return share_report(sides, c.test_size, c.val_size, c.tolerance, pooled)

    @property
    def off_target(self) -> bool:
        return bool(self.shares()["off_target"])


def embed_records(
    records: Sequence[Record],
    model: str | None = None,
    side: str = "conversation",
    cache_dir: Any = None,
    progress: bool = False,
) -> np.ndarray:
    """Embeddings of each record's ``side`` text (dedup's key text): ``curate.embed``'s
    ``embed_records``, kept here under its old name for callers outside split."""
    from curate.dedup import key_text
    from curate.embed import embed_records as embed

    return embed(records, lambda r: key_text(r, side), model, cache_dir, progress)  # type: ignore[arg-type]


class SplitStage:
    """The split as a whole-set stage (``curate.stage.run_stages``): keeps every record; its
    ``output`` is the ``SplitResult``. The batch's vectors and fingerprints are reused."""

    name = "split"

    def __init__(self, config: SplitConfig, dedup_config: Any = None) -> None:
        self.config = config
        self.dedup_config = dedup_config

    def __call__(self, batch: Batch, done: Any) -> BatchResult:
        sres = split_records(
            batch.records,
            self.config,
            embeddings=batch.vectors,
            dedup_config=self.dedup_config,
            features=batch.features,
            semantic=batch.semantic,
        )
        return BatchResult.keep_all(batch, sres)


def _needs_embeddings(config: SplitConfig) -> bool:
    return config.semantic and (
        "cluster" in config.stratify or config.keep_duplicates_together or config.check_leakage
    )


def split_records(
    records: Sequence[Record],
    config: SplitConfig,
    embeddings: np.ndarray | None = None,
    dedup_config: Any = None,
    features: Any = None,
    semantic: Any = None,
) -> SplitResult:
    """Split canonical chat records into train / test (/ val).

    Args:
        records: chat records (``{"messages": [...], ...}``); extra fields travel along.
        config: split options.
        embeddings: one row per record (shared with dedup/audit in ``curate run``);
            computed here when semantic work needs them and none are given.
        dedup_config: the dedup stage's config, so "duplicate" means the same thing here as
            in dedup; default: ``DedupConfig()`` with ``semantic`` from ``config``.
        features: dedup fingerprints of ``records`` (``curate.dedup.Features``, e.g. rows of
            the dedup stage's in ``curate run``); computed once here when absent, so the
            clusters and every leakage round reuse them instead of hashing the texts again.
        semantic: rows of ``DedupResult.semantic`` when ``records`` are records that dedup
            run kept (``curate run``): the semantic leakage check then searches only the
            records dedup's search left unsettled, with dedup's centring, instead of
            searching every record again (see docs/dedup.md, "Leakage check after dedup").
            Ignored when it does not fit ``dedup_config`` (another model, threshold...).
    """
    records = list(records)
    n = len(records)
    if embeddings is not None and len(embeddings) != n:
        raise ValueError(f"embeddings has {len(embeddings)} rows for {n} records")
    if dedup_config is None and (config.keep_duplicates_together or config.check_leakage):
        dedup_config = default_dedup_config(config.semantic)
    if not config.semantic:
        embeddings = None
    elif embeddings is None and n and _needs_embeddings(config):
        model = getattr(dedup_config, "model", None)
        side = getattr(dedup_config, "key", "conversation")
        embeddings = embed_records(records, model, side, getattr(dedup_config, "cache_dir", None))

    if dedup_config is not None and n and config.keep_duplicates_together:
        features = _features(records, dedup_config, features)
    # The check's near/semantic part compares dedup's key; ``leakage_key`` (opt-in) moves all
    # of it to another key (the prompt), as ``curate dedup --against``.
    check = None
    if dedup_config is not None and config.check_leakage:
        check = leak_config(dedup_config, config.leakage_key)
    # By default records asking the exact same prompt (answered apart) stay on one side and
    # count as leaks across sides: one hash a record. The full prompt key checks it anyway.
    prompts = None
    if check is not None and n and config.leakage_key is None:
        prompts = _prompt_digests(records, dedup_config)
    leak_vectors = None
    leak_features = None
    if check is not None and n:
        leak_features = _features(records, check, features)
        if embeddings is not None and check.key == dedup_config.key:
            leak_vectors = embeddings
        elif embeddings is not None and "semantic" in check.methods:
            leak_vectors = embed_records(records, check.model, check.key, check.cache_dir)
        # float32 once: every leakage round reads each side's rows of this array in place.
        if leak_vectors is not None:
            leak_vectors = np.asarray(leak_vectors, dtype=np.float32)
    if leak_vectors is None or check is None or "semantic" not in check.methods:
        semantic = None
    elif semantic is not None and not semantic.fits(check, n):
        semantic = None  # another model, key or threshold than dedup's: a fresh search

    labels = stratum_labels(
        records,
        config.stratify,
        seed=config.seed,
        embeddings=embeddings,
        clusters=config.clusters,
        length_buckets=config.length_buckets,
        tokenizer=config.tokenizer,
    )
    uf = UnionFind(n)
    stats: dict[str, Any] = {"records": n}
    if config.group:
        stats["group_field_joins"] = union_field(uf, records, config.group)
    if config.keep_duplicates_together and n:
        clusters = _duplicate_clusters(records, dedup_config, embeddings, features)
        for members in clusters:
            uf.union_all(members)
        stats["duplicate_clusters"] = len(clusters)
        stats["records_in_duplicate_clusters"] = sum(len(c) for c in clusters)
    grouped = () if check is None else tuple(m for m in check.methods if m != "near")
    if check is not None and n and check.key != dedup_config.key and grouped:
        # Records the check would flag across sides (the same prompt, answered apart) go to
        # one side in the first draw. Not near pairs: on prompts that share a long system
        # prompt nearly every record is a candidate of every other (2.5x the CPU of the
        # grouping at 20k rows); the check meets only the pairs across sides, and joins them.
        grouping = replace(check, methods=grouped)
        clusters, searched = clusters_and_check(records, grouping, leak_vectors, leak_features)
        if semantic is None and leak_vectors is not None and "semantic" in check.methods:
            semantic = searched  # the rounds search only what this search left unsettled
        # Records without a prompt cannot leak (the check skips them): not one group.
        clusters = [c for c in (_with_text(records, c, check.key) for c in clusters) if len(c) > 1]
        for members in clusters:
            uf.union_all(members)
        stats["leak_key_clusters"] = len(clusters)
        stats["records_in_leak_key_clusters"] = sum(len(c) for c in clusters)
    if prompts is not None:
        from curate.dedup.features import exact_groups

        clusters = exact_groups(prompts.digests, prompts.rows)
        for members in clusters:
            uf.union_all(members)
        stats["prompt_clusters"] = len(clusters)
        stats["records_in_prompt_clusters"] = sum(len(c) for c in clusters)

    leakage: dict[str, Any] = {"checked": False}
    for round_no in range(MAX_REPAIR_ROUNDS):
        groups = uf.groups()
        sides, strata = allocate(
            labels,
            groups,
            config.test_size,
            config.val_size,
            config.seed,
            min_stratum=config.pool_below(),
        )
        stats["groups"] = len(groups)
        stats["multi_record_groups"] = sum(1 for g in groups.values() if len(g) > 1)
        # Not held through the check (a dict entry and a list per group, ~0.1 GiB at 1M
        # records): the next round rebuilds it, and ``_move_to_train`` builds its own.
        del groups
        if check is None or n == 0:
            break
        leaks = _leakage(records, sides, leak_vectors, check, leak_features, semantic, prompts)
        leakage = _leak_dict(records, leaks, sides, check, round_no, prompts)
        if not leaks:
            break
        # A leak the clusters missed (dedup matches pairs; clusters are cut per method):
        # join the pair and draw again.
        for i, _method, j in leaks:
            uf.union(i, j)
        if round_no == MAX_REPAIR_ROUNDS - 1:
            # Last resort: move every leaking group to train until nothing leaks. Train only
            # grows, so this ends; the strata moved are marked in the report.
            moved = _move_to_train(
                records, sides, uf, leak_vectors, check, strata, leak_features, semantic, prompts
            )
            leakage.update(
                _leak_report(
                    records,
                    sides,
                    leak_vectors,
                    check,
                    round_no + 1,
                    leak_features,
                    semantic,
                    prompts,
                )
            )
            leakage["moved_to_train"] = moved
            break
    names = [TRAIN, TEST] + ([VAL] if config.val_size > 0 else [])
    splits = {name: [r for r, s in zip(records, sides, strict=True) if s == name] for name in names}
    return SplitResult(splits, strata, leakage, config, stats)


_PAIRS = ((TEST, TRAIN), (VAL, TRAIN), (TEST, VAL))


@dataclass
class _Prompts:
    """Exact digests of the records' prompts (dedup's normalisation) and the rows that have
    one (a record without a system or user turn is never grouped or flagged by it)."""

    digests: np.ndarray
    rows: np.ndarray


EXACT_PROMPT = "exact_prompt"  # the leak method of two records with the same prompt


def _prompt_digests(records: list[Record], dedup_config: Any) -> _Prompts:
    from curate.dedup.features import compute_features

    config = replace(dedup_config, key="prompt", methods=("exact",), against=())
    got = compute_features(records, config, False, dedup_config.progress)
    return _Prompts(got.digests, np.flatnonzero(~got.blank))


def _prompt_leaks(prompts: _Prompts, ia: np.ndarray, ib: np.ndarray) -> list[tuple[int, str, int]]:
    """(row of ``ia``, ``exact_prompt``, row of ``ib``) for the same prompt on both sides."""
    from curate.dedup.features import exact_matches

    ia = np.intersect1d(ia, prompts.rows)
    ib = np.intersect1d(ib, prompts.rows)
    hit = exact_matches(prompts.digests[ia], prompts.digests[ib])
    at = np.flatnonzero(hit >= 0)
    return [(int(ia[k]), EXACT_PROMPT, int(ib[hit[k]])) for k in at.tolist()]


def _with_text(records: list[Record], members: list[int], key: str) -> list[int]:
    """The members whose ``key`` text is not blank."""
    from curate.dedup import key_text

    return [m for m in members if key_text(records[m], key).strip()]


def _features(records: list[Record], dedup_config: Any, given: Any) -> Any:
    """The records' dedup fingerprints: ``given`` when they fit ``dedup_config``, else new."""
    from curate.dedup.features import compute_features

    need_sig = "near" in dedup_config.methods
    if given is not None and given.fits(dedup_config, len(records), need_sig):
        return given
    if not ({"exact", "near"} & set(dedup_config.methods)):
        return None
    return compute_features(records, dedup_config, need_sig, dedup_config.progress)


def _leakage(
    records: list[Record],
    sides: list[str],
    embeddings: np.ndarray | None,
    dedup_config: Any,
    features: Any = None,
    semantic: Any = None,
    prompts: _Prompts | None = None,
) -> list[tuple[int, str, int]]:
    """(row, method, row of its match) for each record of one side that duplicates a record
    of another side (dedup's own matcher; and the same prompt, given ``prompts``), rows
    being positions in ``records``."""
    found = []
    # Each side's rows as an array: lists of Python ints held ~36 bytes a record through
    # the check, the peak of a 1M-row run (issue 15).
    names = sorted(set(sides))
    code = np.fromiter(map({s: k for k, s in enumerate(names)}.__getitem__, sides), np.int8)
    for a, b in _PAIRS:
        ia = np.flatnonzero(code == names.index(a)) if a in names else np.zeros(0, np.int64)
        ib = np.flatnonzero(code == names.index(b)) if b in names else np.zeros(0, np.int64)
        if not ia.size or not ib.size:
            continue
        hits = cross_duplicates(
            [records[i] for i in ia.tolist()],
            _rows(embeddings, ia),
            [records[i] for i in ib.tolist()],
            dedup_config,
            _rows(embeddings, ib),
            None if features is None else features.subset(ia),
            None if features is None else features.subset(ib),
            None if semantic is None else semantic.subset(ia),
            None if semantic is None else semantic.subset(ib),
        )
        found.extend((int(ia[a]), method, int(ib[b])) for a, method, b in hits)
        if prompts is not None:
            seen = {(i, j) for i, _m, j in found}
            found.extend(p for p in _prompt_leaks(prompts, ia, ib) if (p[0], p[2]) not in seen)
    return found


def _rows(embeddings: np.ndarray | None, rows: np.ndarray) -> Any:
    """The vectors of one side: read in place from the run's float32 array (``Rows``), not
    copied (the train side's copy was ~0.8 GB at 1M rows)."""
    from curate.dedup.semantic import Rows

    if embeddings is None:
        return None
    return Rows(embeddings, np.asarray(rows, dtype=np.int64))


def _leak_dict(
    records: list[Record],
    leaks: list[tuple[int, str, int]],
    sides: list[str],
    dedup_config: Any,
    rounds: int,
    prompts: _Prompts | None = None,
) -> dict[str, Any]:
    present = set(sides)
    methods = list(dedup_config.methods) + ([EXACT_PROMPT] if prompts is not None else [])
    return {
        "checked": True,
        "key": dedup_config.key,
        "methods": methods,
        "pairs_checked": [f"{a}~{b}" for a, b in _PAIRS if a in present and b in present],
        "by_method": count_methods(leaks, methods),
        "total": len(leaks),
        "repair_rounds": rounds,
        "examples": [
            {"record": records[i].ref, "method": method, "duplicate_of": records[j].ref}
            for i, method, j in leaks[:10]
        ],
    }


def _leak_report(
    records: list[Record],
    sides: list[str],
    embeddings: Any,
    dedup_config: Any,
    rounds: int,
    features: Any = None,
    semantic: Any = None,
    prompts: _Prompts | None = None,
) -> dict[str, Any]:
    leaks = _leakage(records, sides, embeddings, dedup_config, features, semantic, prompts)
    return _leak_dict(records, leaks, sides, dedup_config, rounds, prompts)


def _move_to_train(
    records: list[Record],
    sides: list[str],
    uf: UnionFind,
    embeddings: Any,
    dedup_config: Any,
    strata: list[StratumReport],
    features: Any = None,
    semantic: Any = None,
    prompts: _Prompts | None = None,
) -> int:
    """Move whole leaking groups to train until the leakage check finds nothing."""
    groups = uf.groups()
    moved = 0
    while leaks := _leakage(records, sides, embeddings, dedup_config, features, semantic, prompts):
        for row, _method, of in leaks:
            for i in (row, of):
                for m in groups[uf.find(i)]:
                    if sides[m] != TRAIN:
                        sides[m] = TRAIN
                        moved += 1
    if moved:
        for s in strata:
            counts = Counter(sides[i] for i in s.members)
            if counts != Counter(s.counts):
                s.counts = dict(counts)
                s.status = "moved_for_leakage"
    return moved


def read_chat_records(path: str) -> list[Record]:
    """Read ``path`` and convert every record to chat format, strictly.

    ``curate split`` takes clean data: the first unreadable or unconvertible record is an
    ``InputError`` naming its line (``curate run`` instead rejects such rows and goes on).
    """
    from curate.reader import read_chat

    hint = " (try curate run)"
    return list(read_chat(path, detect="record", on_bad="raise", hint=hint))
