"""The whole-set dedup engine: methods in order, clusters, keep policy, leakage, explanations."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from curate.dedup.cluster import (
    Cluster,
    UnionFind,
    build_clusters,
    components,
    keep_walk,
    keeper_clusters,
)
from curate.dedup.config import LEAK_STAGE, LEAKED, REASONS, DedupConfig
from curate.dedup.exact import STAGE
from curate.dedup.explain import explain_method
from curate.dedup.features import (
    Features,
    compute_features,
    exact_groups,
    exact_matches,
    text_shingles,
    verified_between,
)
from curate.dedup.near import near_pairs
from curate.dedup.normalize import key_text
from curate.dedup.semantic import (
    NEIGHBOUR_CACHE_MIN,
    Rows,
    SemanticCheck,
    best_matches,
    centered,
    centered_on,
    check_settings,
    cosine_of,
    outcome_file,
    read_outcome,
    semantic_search,
    write_outcome,
)
from curate.dedup.slots import Slots, different_slots, texts_differ
from curate.errors import ConfigError
from curate.gcpause import gc_paused
from curate.heap import release_free_heap
from curate.progress import Progress
from curate.records import Record
from curate.stage import Batch, BatchResult, Dropped, StageResult

# Index scores (PCA-projected above a few thousand rows) may differ a little from the true
# cosine; candidates this far below the threshold are still checked on the full vectors.
SCORE_MARGIN = 0.15
EMBED_CHUNK = 16_384
# Fewest records the semantic step centres (static models): measured on a paraphrase pair
# (centred cosine 0.975 in a large set) with k other rows, median of 20 draws from two real
# sets: 2 rows -1.000 (always: two centred vectors are opposite), 3 rows 0.83-0.87, 4 rows
# 0.91-0.93, 5 rows 0.94-0.95, 10 rows 0.96-0.97. Uncentred, 41% of random pairs of the
# benchmark are over the static model's 0.9 threshold, so a smaller set is not compared.
CENTRE_MIN_ROWS = 5
KEPT_APART_LISTED = 50
# What a semantic step's recorded outcome holds (``Engine._semantic_groups``).
OUTCOME_ARRAYS = frozenset({"keep", "full", "mean", "rejected", "apart", "sims"})
# A re-check of a few records (a ``SemanticCheck``'s ``recheck`` rows) searches exactly,
# without an index, while queries x rows stays below this (~1-2 CPU s of float32 products).
EXACT_CHECK_BUDGET = 2_000_000_000


@dataclass(frozen=True, slots=True)
class Leak:
    """A record of the input that duplicates a record of an ``--against`` file."""

    index: int
    record: Record
    match: Record
    method: str
    similarity: float
    # Position of ``match`` in the ``against`` list given (callers map it back to their
    # own rows instead of looking records up by source and line).
    match_index: int = -1

    def as_dict(self) -> dict[str, Any]:
        return {
            "line": self.record.line,
            "id": self.record.id,
            "duplicate_of": self.match.id,
            "against": self.match.source,
            "method": self.method,
            "similarity": round(self.similarity, 4),
        }


@dataclass(slots=True)
class DedupResult:
    """What ``dedup`` returns.

    Attributes:
        result: kept records (input order) and dropped ones with reason ``exact_duplicate``,
            ``near_duplicate``, ``semantic_duplicate`` or ``leaked``; ``extra`` holds
            ``duplicate_of`` (the surviving record's id), ``similarity`` and ``method``.
        clusters: every duplicate cluster, methods in order, then by first member.
        leaks: records matching an ``against`` set (dropped, or only flagged).
        explain: per method, the similarity histogram and pairs around the threshold
            (when ``config.explain``).
    """

    result: StageResult
    clusters: list[Cluster]
    leaks: list[Leak] = field(default_factory=list)
    explain: dict[str, Any] = field(default_factory=dict)
    # (index, index, cosine) of semantic pairs over the threshold that the slot guard kept
    # apart, the first KEPT_APART_LISTED of them (for the report).
    kept_apart: list[tuple[int, int, float]] = field(default_factory=list)
    # Fingerprints of the input records (exact digests, MinHash signatures): later stages
    # (audit, split) take rows of them instead of hashing the texts again. None when no
    # exact/near method ran.
    features: Features | None = None
    # Positions (ascending) of ``result.kept`` in the input: a Batch selects them, so the
    # vectors and fingerprints follow without a (source, line) look-up.
    kept_rows: np.ndarray | None = None
    # For a later semantic duplicate check of the kept records (the split's leakage check):
    # which records dedup's search left unsettled, and its centring. None without semantic.
    semantic: SemanticCheck | None = None

    @property
    def stats(self) -> dict[str, Any]:
        """Counts per method, settings, embedder and cache figures (``result.stats``)."""
        return self.result.stats


class _Texts:
    """Key texts of a record list, computed on demand (never all held at once).

    Exact and near dedup read fingerprints (``Features``) instead; texts are rebuilt only
    for the few records that need them again: near candidates to verify, semantic pairs for
    the slot guard, texts to embed.
    """

    def __init__(self, records: Sequence[Record], config: DedupConfig) -> None:
        self.records = records
        self.key = config.key
        self.normalizer = config.normalizer

    def raw(self, i: int) -> str:
        return key_text(self.records[i], self.key)

    def shingles(self, rows: Sequence[int], shingle_size: int) -> tuple[np.ndarray, np.ndarray]:
        """``shingle_hashes`` of the records ``rows``' ``words``, folded in bulk."""
        texts = [self.raw(i) for i in rows]
        return text_shingles(texts, self.normalizer, shingle_size)

    def words(self, i: int) -> bytes:
        """Normalised words separated by single spaces (what near dedup shingles)."""
        return self.normalizer.words(self.raw(i))


class _Vectors:
    """Embeddings of a record list: given by the caller, or computed (and cached) on demand."""

    def __init__(
        self, texts: _Texts, config: DedupConfig, given: np.ndarray | Rows | None, embedder: Any
    ) -> None:
        n = len(texts.records)
        # Given as ``Rows`` (rows of a larger array: the split's sides), read in place.
        self.given_rows: np.ndarray | None = None
        if isinstance(given, Rows):
            if given.mean is not None or len(given) != n:
                raise ValueError("embeddings: Rows without centring, one per record")
            self.given_rows = given.idx
            given = given.array
        if given is not None:
            given = np.asarray(given, dtype=np.float32)
            rows = given.shape[0] if self.given_rows is None else n
            if given.ndim != 2 or rows != n:
                raise ConfigError(
                    f"embeddings have shape {given.shape}, expected ({n}, dim): one row per record"
                )
        self.texts = texts
        self.config = config
        self.array = given
        self.given = given is not None
        self.have = np.full(n, given is not None)
        self.embedder = embedder

    def all(self) -> np.ndarray | Rows:
        """Every row: the given array itself when it is complete (no copy), else ``rows``."""
        if self.array is not None and self.have.all() and self.given_rows is None:
            return self.array
        return self.rows(np.arange(self.have.size))

    def rows(self, idx: np.ndarray) -> Rows:
        """Rows ``idx`` (embedded first where missing), read in place (``Rows``)."""
        self._embed(idx)
        if self.array is None:
            return Rows(np.zeros((self.have.size, 0), dtype=np.float32), idx)
        return Rows(self.array, self._at(idx))

    def take(self, idx: np.ndarray) -> np.ndarray:
        self._embed(idx)
        if self.array is None:
            return np.zeros((0, 0), dtype=np.float32)
        return self.array[self._at(idx)]

    def _at(self, idx: np.ndarray) -> np.ndarray:
        """Rows of ``self.array`` of records ``idx``."""
        return idx if self.given_rows is None else self.given_rows[idx]

    def _embed(self, idx: np.ndarray) -> None:
        missing = idx[~self.have[idx]]
        # In chunks, so only one chunk of texts is in memory at a time (and a long run leaves
        # its finished chunks in the cache if it is interrupted).
        with Progress("embed", int(missing.size), self.config.progress) as bar:
            for lo in range(0, missing.size, EMBED_CHUNK):
                part = missing[lo : lo + EMBED_CHUNK]
                vecs = self.embedder().encode([self.texts.raw(i) for i in part.tolist()])
                if self.array is None:
                    self.array = np.zeros((self.have.size, vecs.shape[1]), dtype=np.float32)
                self.array[part] = vecs
                self.have[part] = True
                bar.advance(part.size)


@dataclass(frozen=True, slots=True)
class _Walk:
    """``_components``' settings for ``keep_walk``: every record's length, the keep policy,
    the method's threshold, and the slot guard (semantic: which pairs of rows it lets be
    duplicates) for the pairs the walk asks about."""

    lengths: np.ndarray
    policy: str
    threshold: float
    guard: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None


def _components(
    idx: np.ndarray,
    keep: np.ndarray,
    local_sim: Callable[[int, int], float],
    walk: _Walk | None = None,
    sims: np.ndarray | None = None,
) -> tuple[list[list[int]], Callable[[int, int], float]]:
    """Groups of records (rows of ``idx``) that the pairs ``keep`` join, and the similarity
    of two of them by record index.

    ``walk``: each group is a kept record and the records removed as its duplicates
    (``keep_walk``: each directly similar to it); without, whole connected components (the
    split's groups, the audit's duplicate share). ``sims``: each pair's similarity when
    known (else asked of ``local_sim``)."""
    if walk is not None:
        if sims is None:
            sims = np.array([local_sim(a, b) for a, b in keep.tolist()], dtype=np.float64)

        def check(a: np.ndarray, b: np.ndarray) -> np.ndarray:
            got = np.array([local_sim(x, y) for x, y in zip(a.tolist(), b.tolist(), strict=True)])
            return got if walk.guard is None else np.where(walk.guard(a, b), got, -1.0)

        removed, keeper, got = keep_walk(
            keep[:, 0],
            keep[:, 1],
            sims,
            walk.policy,
            lambda ids: walk.lengths[idx[ids]],
            check,
            walk.threshold,
        )
        removed, keeper = idx[removed], idx[keeper]
        pairs = zip(removed.tolist(), keeper.tolist(), strict=True)
        edge = dict(zip(pairs, got.tolist(), strict=True))
        groups = [list(c.members) for c in keeper_clusters("", removed, keeper, got)]
        return groups, lambda a, b: edge[(a, b)]
    local = components(idx.size, keep)
    groups = [[int(idx[k]) for k in g] for g in local]
    # Only clustered records are asked about (a dict of every row cost ~0.1 s per 100k).
    pos = {int(idx[k]): k for g in local for k in g}
    return groups, lambda a, b: local_sim(pos[a], pos[b])


def _embedder(shared: dict[str, Any], config: DedupConfig) -> Any:
    """The run's embedding model, loaded on first use and kept in ``shared``."""
    if "embedder" not in shared:
        from curate.embed import get_embedder

        shared["embedder"] = get_embedder(config.model, cache_dir=config.cache_dir)
    return shared["embedder"]


class Engine:
    """One dedup run over ``records`` (and optionally ``against`` sets)."""

    def __init__(
        self,
        records: Sequence[Record],
        config: DedupConfig,
        embeddings: np.ndarray | Rows | None = None,
        shared: dict[str, Any] | None = None,
        features: Features | None = None,
        semantic: SemanticCheck | None = None,
        whole_components: bool = False,
    ) -> None:
        self.records = records
        self.config = config
        # Clusters as whole connected components of the duplicate pairs (a~b~c all in one,
        # c removed even when not similar to the keeper): what the split keeps together and
        # the audit counts; dedup removes by ``keep_walk`` instead.
        self.whole_components = whole_components
        # Given (a leakage check of records dedup kept): only its ``recheck`` rows are
        # searched, with dedup's centring. Made (a dedup run): ``semantic_check``.
        self.given_check = (
            semantic if semantic is not None and semantic.fits(config, len(records)) else None
        )
        self.semantic_check: SemanticCheck | None = None
        self.texts = _Texts(records, config)
        self._need_sig = "near" in config.methods
        if features is not None and not features.fits(config, len(records), self._need_sig):
            features = None  # computed with other settings: not reusable
        self._features = features
        # One embedding model per run, shared with the engine of the --against sets.
        self.shared: dict[str, Any] = {} if shared is None else shared
        # Not the bound ``self.embedder``: that would be a reference cycle (engine -> vectors
        # -> engine), which only the cycle collector frees, and ``curate run`` pauses it: the
        # engine's record list (the records dedup removed, ~10% of the input) and the run's old
        # vector array (after Batch.keep) would outlive the stage.
        self.vectors = _Vectors(
            self.texts, config, embeddings, partial(_embedder, self.shared, config)
        )
        self.explain: dict[str, Any] = {}
        # Semantic pairs over the threshold that the slot guard turned down (filled templates).
        self.slot_rejected = 0
        self.unseen = 0  # records the semantic step left out: the model cannot see them
        self.too_few_to_centre = 0  # records of a set too small to centre (CENTRE_MIN_ROWS)
        self.kept_apart: list[tuple[int, int, float]] = []

    def embedder(self) -> Any:
        return _embedder(self.shared, self.config)

    def features(self) -> Features:
        """Digests, lengths and signatures of every record, computed once on first use."""
        if self._features is None:
            self._features = compute_features(
                self.records, self.config, self._need_sig, self.config.progress
            )
        return self._features

    def _cache_root(self) -> Path | None:
        """The embedding cache's root (the ANN search results live beside the vectors)."""
        if self.config.cache_dir is False:
            return None
        if self.config.cache_dir in (None, True):
            from curate.embed import default_cache_dir

            return default_cache_dir()
        return Path(self.config.cache_dir)  # type: ignore[arg-type]

    def _walk(self, method: str, idx: np.ndarray) -> _Walk | None:
        """``_components``' ``walk`` for ``method`` on rows ``idx``: None for whole
        components."""
        if self.whole_components:
            return None
        cfg = self.config
        if method == "near":
            return _Walk(self.lengths(), cfg.keep, cfg.near_threshold)
        threshold, _ = cfg.semantic_settings()
        guard = None
        if cfg.slot_guard:

            def guard(a: np.ndarray, b: np.ndarray) -> np.ndarray:
                pairs = np.stack((a, b), axis=1)
                # Asked again about pairs the search did not list: not counted among the
                # pairs the guard turned down (the report's figure is the search's).
                counted = self.slot_rejected
                ok = self._same_slots(pairs, lambda k: int(idx[k]), lambda k: int(idx[k]), self)
                self.slot_rejected = counted
                confirmed = {tuple(p) for p in ok.tolist()}
                return np.array([tuple(p) in confirmed for p in pairs.tolist()], dtype=bool)

        return _Walk(self.lengths(), cfg.keep, threshold, guard)

    def lengths(self) -> np.ndarray:
        if self.config.keep == "first":
            return np.zeros(len(self.records), dtype=np.int64)
        return self.features().lengths

    # -- within one set -------------------------------------------------------------------

    def clusters(self, alive: np.ndarray) -> list[Cluster]:
        """Run each method on the records still alive; mark removed ones dead in ``alive``."""
        lengths = self.lengths()
        out: list[Cluster] = []
        for method in self.config.methods:
            # The last method's garbage (the near pass's words, shingles) is freed among the
            # records; its pages would stay resident under the semantic step's peak.
            release_free_heap()
            idx = np.flatnonzero(alive)
            groups, simfn = self._groups(method, idx)
            found = build_clusters(method, groups, lengths, self.config.keep, simfn)
            for c in found:
                alive[list(c.removed)] = False
            out.extend(found)
        return out

    def _groups(
        self, method: str, idx: np.ndarray
    ) -> tuple[list[list[int]], Callable[[int, int], float]]:
        cfg = self.config
        if method == "exact":
            return exact_groups(self.features().digests, idx), lambda a, b: 1.0
        if method == "near":
            feats = self.features()
            pairs, sims, local_sim = near_pairs(
                lambda local: [self.texts.words(int(idx[k])) for k in local.tolist()],
                idx.size,
                shingles_of=lambda local: self.texts.shingles(
                    idx[local].tolist(), cfg.shingle_size
                ),
                shingle_size=cfg.shingle_size,
                num_perm=cfg.num_perm,
                bands=cfg.bands,
                seed=cfg.seed,
                progress=cfg.progress,
                sig=feats.sig,  # rows idx, read in place (a copy was 256 B/record at peak)
                usable=feats.usable[idx],
                sig_rows=feats.signature_rows(idx),
                verified=verified_between([feats], [idx]),
            )
            feats.keep_verified(idx, pairs, sims)  # for later passes (the audit's, the split's)
            threshold = cfg.near_threshold
        else:
            return self._semantic_groups(idx)
        if cfg.explain:
            self.explain[method] = explain_method(
                pairs, sims, threshold, idx.size, lambda k: int(idx[k]), self._describe, None
            )
        over = sims >= threshold
        return _components(idx, pairs[over], local_sim, self._walk(method, idx), sims[over])

    def _semantic_groups(
        self, idx: np.ndarray
    ) -> tuple[list[list[int]], Callable[[int, int], float]]:
        """The semantic step: search, threshold, slot guard; or, on a rerun over the same
        records and settings, their recorded outcome (``_outcome_file``)."""
        cfg = self.config
        threshold, center = cfg.semantic_settings()
        idx = self._seen(idx)
        if center and idx.size < CENTRE_MIN_ROWS:
            # Centred on their own mean, 2 vectors are opposite (cosine -1) and 3-4 are pushed
            # apart; uncentred, the static model's vectors are too alike to compare (docs).
            self.too_few_to_centre = int(idx.size)
            idx = idx[:0]
        memo = self._outcome_file(idx)
        got = read_outcome(memo) if memo is not None else None
        if got is not None and not _outcome_fits(got, idx.size):
            got = None  # not a file this code wrote for these rows: searched again
        if got is not None:
            keep, full, apart, apart_sims = got["keep"], got["full"], got["apart"], got["sims"]
            mean = got["mean"] if center else None
            local_sim = self._similarity_of(idx, keep, mean)
            self.slot_rejected += int(got["rejected"])
        else:
            # The rows still alive, read from the run's array a chunk at a time, centred
            # row by row: no copy of them (nor a centred one) is made, ~1 GB each at 1M.
            rows = self.vectors.rows(idx)
            mean = rows.mean_of() if center else None
            rows.mean = mean
            found = semantic_search(
                rows,
                neighbours=cfg.neighbours,
                seed=cfg.seed,
                min_score=None if cfg.explain else threshold - SCORE_MARGIN,
                progress=cfg.progress,
                # With a recorded outcome (``memo``), a rerun reads that and never these
                # pairs: keying them would only hash every vector (~0.3 CPU s per 100k).
                cache_dir=None if memo is not None else self._cache_root(),
                # `explain` keeps every candidate; "cut off" still means above the floor.
                full_floor=threshold - SCORE_MARGIN,
            )
            pairs, sims, full = found.pairs, found.sims, found.full
            # The clusters and the slot guard's list ask for pairs over the threshold only:
            # their rows, centred once, instead of two rows made again per question.
            over = pairs[sims >= threshold]
            local_sim = found.similarity if cfg.explain else self._similarity_of(idx, over, mean)
            if cfg.explain:
                guard = self._kept_apart if cfg.slot_guard else None
                self.explain["semantic"] = explain_method(
                    pairs, sims, threshold, idx.size, lambda k: int(idx[k]), self._describe, guard
                )
            keep = over
            apart = np.zeros((0, 2), dtype=np.int64)
            rejected = 0
            if cfg.slot_guard:
                over = keep
                keep = self._same_slots(keep, lambda k: int(idx[k]), lambda k: int(idx[k]), self)
                rejected = len(over) - len(keep)
                if rejected:
                    confirmed = {tuple(p) for p in keep.tolist()}
                    out = [p for p in over.tolist() if tuple(p) not in confirmed]
                    apart = np.asarray(out[:KEPT_APART_LISTED], dtype=np.int64).reshape(-1, 2)
            apart_sims = np.asarray([local_sim(a, b) for a, b in apart.tolist()], np.float64)
            if memo is not None:
                kept_mean = np.zeros(0, np.float32) if mean is None else mean
                write_outcome(
                    memo,
                    keep=keep,
                    full=full,
                    mean=kept_mean,
                    rejected=np.int64(rejected),
                    apart=apart,
                    sims=apart_sims,
                )
        # Pairs over the threshold that the slot guard turned down, listed up to a limit.
        for (a, b), sim in zip(apart.tolist(), apart_sims.tolist(), strict=True):
            if len(self.kept_apart) >= KEPT_APART_LISTED:
                break
            self.kept_apart.append((int(idx[a]), int(idx[b]), float(sim)))
        recheck = np.ones(len(self.records), dtype=bool)
        recheck[idx[~full]] = False
        self.semantic_check = SemanticCheck(check_settings(cfg), recheck, mean)
        return _components(idx, keep, local_sim, self._walk("semantic", idx))

    def _seen(self, idx: np.ndarray) -> np.ndarray:
        """The rows of ``idx`` whose text the model can see (``curate.embed.UNSEEN_SHARE``):
        the others are neither removed nor the cause of a removal here (counted in
        ``self.unseen``). The shares were noted when the texts were embedded; vectors given
        by the caller are asked about without a model (``noted_unseen``: those the run's
        embed stage made are known, others are taken as seen)."""
        if not idx.size:
            return idx
        unseen = self._unseen_of(idx)
        self.unseen += int(unseen.sum())
        return idx[~unseen] if unseen.any() else idx

    def _unseen_of(self, idx: np.ndarray) -> np.ndarray:
        """Whether the model cannot see the texts of records ``idx`` (``_seen``)."""
        from curate.embed import noted_unseen

        model = self.config.model
        embedder = None if self.vectors.given else self.embedder()
        parts = [np.zeros(0, dtype=bool)]
        for lo in range(0, idx.size, EMBED_CHUNK):
            part = idx[lo : lo + EMBED_CHUNK]
            texts = [self.texts.raw(i) for i in part.tolist()]
            if embedder is None:
                parts.append(noted_unseen(model, texts))
                continue
            # A text whose share is known nowhere yet is embedded now (its vector is asked
            # for next anyway): embedding notes the share, so no text is tokenised twice.
            # Known ones (noted, or in the cache) are not: a warm rerun reads no vectors.
            unknown = ~embedder.has_shares(texts)
            if unknown.any():
                self.vectors.rows(part[unknown])
            parts.append(embedder.unseen(texts))
        return np.concatenate(parts)

    def _outcome_file(self, idx: np.ndarray) -> Path | None:
        """Where the semantic step's outcome on records ``idx`` is kept for a rerun, or None
        (no cache; vectors given by the caller, which the file's key does not cover;
        ``explain``, which needs every vector; a small set, searched in well under a second).
        """
        cfg = self.config
        if cfg.explain or self.vectors.given or idx.size < NEIGHBOUR_CACHE_MIN:
            return None
        if self._cache_root() is None:
            return None
        folder = getattr(getattr(self.embedder(), "cache", None), "dir", None)
        if folder is None:
            return None
        settings = ("dedup-semantic-2", check_settings(cfg), cfg.neighbours, cfg.seed, SCORE_MARGIN)
        return outcome_file(folder, settings, [self.records[i] for i in idx.tolist()])

    def _similarity_of(
        self, idx: np.ndarray, over: np.ndarray, mean: np.ndarray | None
    ) -> Callable[[int, int], float]:
        """The cosine of two rows of ``idx`` that pairs in ``over`` join (what the clusters
        and the slot guard's list ask for), from the cached vectors of those rows only,
        centred on ``mean`` row by row (the bits the whole set's centring gives them)."""
        rows = np.unique(over)
        vecs = self.vectors.take(idx[rows]) if rows.size else np.zeros((0, 0), np.float32)
        if mean is not None and rows.size:
            vecs = centered_on(vecs, mean, in_place=True)
        pos = {r: k for k, r in enumerate(rows.tolist())}
        cosine = cosine_of(vecs, vecs)
        return lambda a, b: cosine(pos[a], pos[b])

    def _reusable(self, other: Engine, center: bool) -> bool:
        """Whether both sides carry dedup's ``SemanticCheck`` (of one run: same centring)."""
        mine, theirs = self.given_check, other.given_check
        if mine is None or theirs is None:
            return False
        if not center:
            return True
        return (
            mine.mean is not None
            and theirs.mean is not None
            and np.array_equal(mine.mean, theirs.mean)
        )

    def _recheck(
        self, idx: np.ndarray, other: Engine, floor: float, mean: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray] | None:
        """Semantic candidate pairs ``(position in idx, row of other)`` among records one
        dedup run kept: only the records its search left unsettled (``recheck``) are
        searched, on both sides (a pair is settled only if neither list was cut off), each
        exactly against every record of the other side. None when that would cost more
        than ``EXACT_CHECK_BUDGET`` (the caller then searches every record)."""
        mine_flag = np.flatnonzero(self.given_check.recheck[idx])  # type: ignore[union-attr]
        theirs_flag = np.flatnonzero(other.given_check.recheck)  # type: ignore[union-attr]
        m = len(other.records)
        if mine_flag.size * m + theirs_flag.size * idx.size > EXACT_CHECK_BUDGET:
            return None
        found_p = [np.zeros((0, 2), dtype=np.int64)]
        found_s = [np.zeros(0)]
        if mine_flag.size:
            q = self.vectors.take(idx[mine_flag])
            if mean is not None:
                q = centered_on(q, mean, in_place=True)
            p, sim = best_matches(q, other.vectors.all(), floor, mean)
            found_p.append(np.stack((mine_flag[p[:, 0]], p[:, 1]), axis=1))
            found_s.append(sim)
        if theirs_flag.size and idx.size:
            q = other.vectors.take(theirs_flag)
            if mean is not None:
                q = centered_on(q, mean, in_place=True)
            p, sim = best_matches(q, self.vectors.rows(idx), floor, mean)
            found_p.append(np.stack((p[:, 1], theirs_flag[p[:, 0]]), axis=1))
            found_s.append(sim)
        return np.concatenate(found_p).astype(np.int64), np.concatenate(found_s)

    def _same_slots(
        self,
        pairs: np.ndarray,
        left: Callable[[int], int],
        right: Callable[[int], int],
        other: Engine,
    ) -> np.ndarray:
        """The pairs whose records do not carry clearly different slot values."""
        if not pairs.size:
            return pairs
        mine: dict[int, str] = {}
        theirs: dict[int, str] = {} if other is not self else mine
        # Slots per distinct text: copies of one text (most pairs of a semantic-only run)
        # are parsed once, and one text twice not at all (``texts_differ``).
        parsed: dict[str, Slots] = {}

        def text(cache: dict[int, str], engine: Engine, i: int) -> str:
            got = cache.get(i)
            if got is None:
                got = cache[i] = engine.texts.raw(i)
            return got

        def parse(t: str) -> Slots:
            got = parsed.get(t)
            if got is None:
                got = parsed[t] = Slots(t)
            return got

        ok = np.zeros(len(pairs), dtype=bool)
        listed = pairs.tolist()
        # Within one set, the pairs a group of connected records at a time: a record's
        # slots (every word of its text) are dropped once its group is done. Kept for every
        # record in a pair, they were ~2.3 KB per record of the set at the step's peak
        # (~233 MB at 100k rows). Each pair's answer does not depend on the order.
        for group in self._pair_groups(pairs) if other is self else [range(len(listed))]:
            for k in group:
                a, b = listed[k]
                ta, tb = text(mine, self, left(a)), text(theirs, other, right(b))
                ok[k] = not texts_differ(ta, tb, parse)
            if other is self:
                mine.clear()
                parsed.clear()
        self.slot_rejected += len(ok) - int(ok.sum())
        return pairs[ok]

    @staticmethod
    def _pair_groups(pairs: np.ndarray) -> list[np.ndarray]:
        """Positions of ``pairs`` grouped by connected component, in pair order within one
        (curate's union-find: scipy's csgraph costs ~0.4 s to import)."""
        uf = UnionFind(int(pairs.max()) + 1)
        listed = pairs.tolist()
        for a, b in listed:
            uf.union(a, b)
        comp = np.fromiter((uf.find(a) for a, _ in listed), np.int64, len(listed))
        order = np.argsort(comp, kind="stable")
        cuts = np.flatnonzero(np.diff(comp[order])) + 1
        return np.split(order, cuts)

    def _kept_apart(self, i: int, j: int) -> bool:
        return different_slots(Slots(self.texts.raw(i)), Slots(self.texts.raw(j)))

    def _describe(self, i: int) -> dict[str, Any]:
        text = self.texts.raw(i)
        return {"id": self.records[i].id, "line": self.records[i].line, "text": text[:2000]}

    # -- against other sets (leakage) -----------------------------------------------------

    def leaks(
        self,
        against: Sequence[Record],
        alive: np.ndarray,
        against_embeddings: np.ndarray | Rows | None = None,
        against_features: Features | None = None,
        against_semantic: SemanticCheck | None = None,
    ) -> list[Leak]:
        """Records of ``self.records`` (alive ones) duplicating a record of ``against``."""
        cfg = self.config
        # A record with nothing on the compared side (no user turn for the prompt key) has
        # nothing that can leak: empty texts would all match each other.
        af = against_features
        # An array, not a list: a list of the train side's rows held ~36 bytes a record
        # through the split's leakage check (issue 15).
        if af is not None and af.blank is not None and af.fits(cfg, len(against), False):
            keep = np.flatnonzero(~af.blank)  # no key text rebuilt
        else:
            keep = np.array(
                [j for j, r in enumerate(against) if key_text(r, cfg.key).strip()], np.int64
            )
        if keep.size < len(against):
            against = [against[j] for j in keep.tolist()]
            if isinstance(against_embeddings, Rows):
                against_embeddings = against_embeddings.subset(keep)
            elif against_embeddings is not None:
                against_embeddings = against_embeddings[keep]
            if against_features is not None:
                against_features = against_features.subset(keep)
            if against_semantic is not None:
                against_semantic = against_semantic.subset(keep)
        other = Engine(
            against,
            cfg,
            against_embeddings,
            shared=self.shared,
            features=against_features,
            semantic=against_semantic,
        )
        found: dict[int, Leak] = {}
        if self._features is not None and self._features.blank is not None:  # fits (__init__)
            live = np.flatnonzero(alive & ~self._features.blank).tolist()
        else:
            live = [i for i in np.flatnonzero(alive).tolist() if self.texts.raw(i).strip()]
        for method in cfg.methods:
            idx = np.array([i for i in live if i not in found], dtype=np.int64)
            if idx.size == 0 or not against:
                break
            for i, j, sim in self._matches(method, idx, other):
                found.setdefault(i, Leak(i, self.records[i], against[j], method, sim, int(keep[j])))
        return [found[i] for i in sorted(found)]

    def _matches(self, method: str, idx: np.ndarray, other: Engine) -> list[tuple[int, int, float]]:
        cfg = self.config
        m = len(other.records)
        if method == "exact":
            found = exact_matches(self.features().digests[idx], other.features().digests)
            hit = np.flatnonzero(found >= 0)
            pairs_ij = zip(idx[hit].tolist(), found[hit].tolist(), strict=True)
            return [(i, j, 1.0) for i, j in pairs_ij]
        if method == "near":
            mine_f, theirs_f = self.features(), other.features()
            na = idx.size

            def docs_of(local: np.ndarray) -> list[bytes]:
                return [
                    self.texts.words(int(idx[k])) if k < na else other.texts.words(k - na)
                    for k in local.tolist()
                ]

            def shingles_of(local: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
                texts = [
                    self.texts.raw(int(idx[k])) if k < na else other.texts.raw(k - na)
                    for k in local.tolist()
                ]
                return text_shingles(texts, self.texts.normalizer, cfg.shingle_size)

            pairs, sims, _ = near_pairs(
                docs_of,
                na + m,
                shingle_size=cfg.shingle_size,
                num_perm=cfg.num_perm,
                bands=cfg.bands,
                seed=cfg.seed,
                cross=na,
                progress=cfg.progress,
                **_joined_signatures(mine_f, idx, theirs_f),
                usable=np.concatenate((mine_f.usable[idx], theirs_f.usable)),
                shingles_of=shingles_of,  # ``other`` has this config: the same normaliser
                verified=verified_between([mine_f, theirs_f], [idx, np.arange(m)]),
            )
            threshold = cfg.near_threshold
            pairs = np.stack((pairs[:, 0], pairs[:, 1] - na), axis=1) if pairs.size else pairs
        else:
            threshold, center = cfg.semantic_settings()
            got = None
            if self._reusable(other, center):
                mean = self.given_check.mean if center else None  # type: ignore[union-attr]
                got = self._recheck(idx, other, threshold - SCORE_MARGIN, mean)
            if got is not None:
                pairs, sims = got
            else:
                mine = self.vectors.take(idx)
                theirs_v = other.vectors.take(np.arange(m))
                if center:
                    mine, theirs_v = centered(mine, theirs_v)
                found = semantic_search(
                    mine,
                    neighbours=1,
                    seed=cfg.seed,
                    against=theirs_v,
                    min_score=threshold - SCORE_MARGIN,
                    progress=cfg.progress,
                )
                pairs, sims = found.pairs, found.sims
            if pairs.size:  # texts the model cannot see are no leak by meaning either
                out = self._unseen_of(idx[pairs[:, 0]]) | other._unseen_of(pairs[:, 1])
                pairs, sims = pairs[~out], sims[~out]
        if method == "semantic" and cfg.slot_guard and pairs.size:
            confirmed = self._same_slots(pairs, lambda k: int(idx[k]), lambda k: k, other)
            mask = {tuple(p) for p in confirmed.tolist()}
            ok = np.array([tuple(p) in mask for p in pairs.tolist()], dtype=bool)
            pairs, sims = pairs[ok], sims[ok]
        best: dict[int, tuple[int, float]] = {}
        for (a, b), s in zip(pairs.tolist(), sims.tolist(), strict=True):
            if s >= threshold and (a not in best or s > best[a][1]):
                best[a] = (b, s)
        return [(int(idx[a]), b, s) for a, (b, s) in sorted(best.items())]


def _joined_signatures(mine: Features, idx: np.ndarray, theirs: Features) -> dict[str, Any]:
    """``near_pairs``' ``sig`` and ``sig_rows`` for rows ``idx`` of ``mine`` then every row
    of ``theirs``: read in place when both are rows of one array (the split's leakage
    check, whose sides are subsets of the run's fingerprints), else joined in a copy."""
    every = np.arange(len(theirs), dtype=np.int64)
    if mine.sig is theirs.sig:
        rows = np.concatenate((mine.signature_rows(idx), theirs.signature_rows(every)))
        return {"sig": mine.sig, "sig_rows": rows}
    return {"sig": np.concatenate((mine.signatures_of(idx), theirs.signatures_of(every)))}


def find_duplicates(
    records: Sequence[Record],
    config: DedupConfig,
    embeddings: np.ndarray | None = None,
    features: Features | None = None,
    whole_components: bool = False,
) -> list[Cluster]:
    """Duplicate clusters among ``records`` by each enabled method; nothing is removed.

    Methods run in order (exact, near, semantic); a later method only sees the records an
    earlier one kept, so each record is in at most one cluster as a removed member. Use
    ``curate.dedup.group_ids`` to merge the clusters of all methods into one group per record.

    A cluster is a kept record and the records ``dedup`` removes as its duplicates, each at
    or above the threshold against it; with ``whole_components`` it is every record that a
    chain of duplicate pairs joins (a~b, b~c: a, b and c, whatever a and c's similarity),
    one kept: for grouping (the split keeps them on one side), not for removing.

    Args:
        records: the records, in input order.
        config: methods, key, thresholds, keep policy...
        embeddings: optional ``(len(records), dim)`` L2-normalised vectors of the records'
            key texts, computed once per run by the caller; without them the semantic
            method embeds (and caches) what it needs.
        features: fingerprints of ``records`` from an earlier run with the same settings
            (``DedupResult.features``, ``Features.subset``); ignored when they do not fit.
    """
    engine = Engine(
        records, config, embeddings, features=features, whole_components=whole_components
    )
    return engine.clusters(np.ones(len(records), dtype=bool))


def find_leaks(
    records: Sequence[Record],
    config: DedupConfig,
    against: Sequence[Record],
    embeddings: np.ndarray | Rows | None = None,
    against_embeddings: np.ndarray | Rows | None = None,
    features: Features | None = None,
    against_features: Features | None = None,
    semantic: SemanticCheck | None = None,
    against_semantic: SemanticCheck | None = None,
) -> list[Leak]:
    """Records of ``records`` that duplicate one of ``against`` (nothing else is computed).

    The same matcher as ``dedup(..., against=...)``; the optional embeddings and features
    of either side (rows of an earlier run's) save embedding and hashing them again.
    ``semantic``, ``against_semantic``: rows of ``DedupResult.semantic`` for each side, when
    both are records one dedup run kept (the split of ``curate run``): the semantic method
    then searches only the records that dedup's search left unsettled (``SemanticCheck``).
    """
    engine = Engine(records, config, embeddings, features=features, semantic=semantic)
    alive = np.ones(len(records), dtype=bool)
    return engine.leaks(against, alive, against_embeddings, against_features, against_semantic)


def dedup(
    records: Sequence[Record],
    config: DedupConfig,
    against: Sequence[Sequence[Record]] | None = None,
    embeddings: np.ndarray | None = None,
    features: Features | None = None,
) -> DedupResult:
    """Remove duplicates (and records leaked into ``against`` sets) from ``records``.

    Leakage runs first: a record matching any ``against`` record by any enabled method is
    ``leaked`` (dropped, or only listed when ``config.leak_action == "flag"``). The rest are
    clustered by ``find_duplicates`` rules; each cluster keeps one member.
    """
    # Without the cycle collector (as in `curate run`): its full collections walked every
    # record held here, set off by the embedder's token lists and the union-finds' lists
    # (~0.3-0.5 of the ~8 CPU s of a cold semantic dedup of 100k rows, issue 15).
    with gc_paused():
        return _dedup(records, config, against, embeddings, features)


def _dedup(
    records: Sequence[Record],
    config: DedupConfig,
    against: Sequence[Sequence[Record]] | None,
    embeddings: np.ndarray | None,
    features: Features | None,
) -> DedupResult:
    engine = Engine(records, config, embeddings, features=features)
    n = len(records)
    alive = np.ones(n, dtype=bool)
    leaks: list[Leak] = []
    others = [r for group in (against or []) for r in group]
    if others:
        leak_key = config.leak_key()
        # Decontamination compares on its own key (the prompt by default: a benchmark's
        # question copied into training data leaks whatever answer it was given there).
        leak_engine = (
            engine
            if leak_key == config.key
            else Engine(records, replace(config, key=leak_key), shared=engine.shared)
        )
        leaks = leak_engine.leaks(others, alive)
        if config.leak_action == "drop":
            alive[[lk.index for lk in leaks]] = False
    clusters = engine.clusters(alive)
    drops: dict[int, Dropped] = {}
    if config.leak_action == "drop":
        for lk in leaks:
            detail = f"duplicate_of={lk.match.id} method={lk.method} similarity={lk.similarity:.4f}"
            drops[lk.index] = Dropped(
                lk.record,
                LEAK_STAGE,
                LEAKED,
                detail,
                {
                    "duplicate_of": lk.match.id,
                    "similarity": round(lk.similarity, 4),
                    "method": lk.method,
                    "against": lk.match.source,
                    "key": config.leak_key(),
                },
            )
    # A cluster's keeper can be removed by a later method (an exact copy of a record that is
    # then a near duplicate of a longer one): duplicate_of names the record that survives,
    # and ``via`` the record it was matched with when that one was removed too.
    keeper_of = {m: c.keep for c in clusters for m in c.removed}

    def survivor(i: int) -> int:
        while i in keeper_of:
            i = keeper_of[i]
        return i

    for c in clusters:
        for m in c.removed:
            sim = round(c.similarity_of(m), 4)
            final = records[survivor(c.keep)]
            extra: dict[str, Any] = {"duplicate_of": final.id, "similarity": sim}
            if survivor(c.keep) != c.keep:
                extra["via"] = records[c.keep].id
            extra["method"] = c.method
            drops[m] = Dropped(
                records[m],
                STAGE,
                REASONS[c.method],
                f"duplicate_of={final.id} similarity={sim}",
                extra,
            )
    kept_rows = np.asarray([i for i in range(n) if i not in drops], dtype=np.int64)
    kept_records = [records[i] for i in kept_rows.tolist()]
    dropped = [drops[i] for i in sorted(drops)]
    removed = {m: 0 for m in config.methods}
    for c in clusters:
        removed[c.method] += len(c.members) - 1
    stats: dict[str, Any] = {
        "n_in": n,
        "n_out": len(kept_records),
        "removed": {**removed, LEAKED: len(leaks) if config.leak_action == "drop" else 0},
        "clusters": {m: sum(1 for c in clusters if c.method == m) for m in config.methods},
        "leaks": len(leaks),
        "reasons": {
            r: sum(1 for d in dropped if d.reason == r)
            for r in [*(REASONS[m] for m in config.methods), LEAKED]
            if any(d.reason == r for d in dropped)
        },
        "config": config.as_dict(),
    }
    if "semantic" in config.methods:
        stats["semantic_pairs_rejected_by_slot_guard"] = engine.slot_rejected
        stats["semantic_unseen"] = engine.unseen
        stats["semantic_too_few_to_centre"] = engine.too_few_to_centre
    if "embedder" in engine.shared:
        emb = engine.shared["embedder"]
        stats["embedder"] = emb.name
        if hasattr(emb, "hits"):
            stats["embedding_cache"] = {"hits": emb.hits, "misses": emb.misses}
            stats["embedding_seconds"] = round(emb.encode_seconds, 3)
    result = StageResult(kept=kept_records, dropped=dropped, stats=stats)
    return DedupResult(
        result,
        clusters,
        leaks,
        engine.explain,
        engine.kept_apart,
        engine._features,
        kept_rows,
        engine.semantic_check,
    )


class DedupStage:
    """Dedup as a whole-set stage (``curate.stage.run_stages``): ``curate dedup`` and ``curate
    run`` list it. The batch's vectors are the embeddings, its fingerprints (``features``)
    are set from dedup's own for the stages after it; ``output`` is the ``DedupResult``
    (clusters, leaks, explain), without the record lists the loop already holds."""

    name = "dedup"

    def __init__(self, config: DedupConfig, against: Sequence[Sequence[Record]] = ()) -> None:
        self.config = config
        self.against = against

    def __call__(self, batch: Batch, done: Any) -> BatchResult:
        dres = dedup(
            batch.records,
            self.config,
            against=self.against,
            embeddings=batch.vectors,
            features=batch.features,  # hashed while reading (``StreamHasher``), or None
        )
        if dres.features is not None:
            batch.features, dres.features = dres.features, None
        batch.semantic, dres.semantic = dres.semantic, None
        dropped, dres.result.dropped, dres.result.kept = dres.result.dropped, [], []
        return BatchResult(dres.kept_rows, dropped, dres.stats, dres)


def _outcome_fits(got: dict[str, np.ndarray], n: int) -> bool:
    """Whether a recorded semantic outcome has every array, shaped for ``n`` rows."""
    if not OUTCOME_ARRAYS <= got.keys():
        return False
    keep, apart = got["keep"], got["apart"]
    return (
        got["full"].shape == (n,)
        and all(a.ndim == 2 and a.shape[1] == 2 for a in (keep, apart))
        and all(a.size == 0 or (a.min() >= 0 and a.max() < n) for a in (keep, apart))
        and got["sims"].shape == (len(apart),)
    )
