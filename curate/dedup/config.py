"""Dedup configuration: one dataclass, validated once, before any work starts."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from curate.chat import Side
from curate.dedup.normalize import Normalizer
from curate.errors import ConfigError
from curate.workers import env_threads

Method = Literal["exact", "near", "semantic"]
KeepPolicy = Literal["first", "longest", "shortest"]
METHODS: tuple[str, ...] = ("exact", "near", "semantic")
KEYS: tuple[str, ...] = ("conversation", "prompt", "response")
KEEP_POLICIES: tuple[str, ...] = ("first", "longest", "shortest")
REASONS = {
    "exact": "exact_duplicate",
    "near": "near_duplicate",
    "semantic": "semantic_duplicate",
}
LEAKED = "leaked"
LEAK_STAGE = "leakage"
SEMANTIC_THRESHOLD = 0.95
STATIC_THRESHOLD = 0.90


@dataclass(slots=True)
class DedupConfig:
    """Everything a dedup run depends on (written into reports).

    Attributes:
        methods: which methods run, in this order: exact, near, semantic. A record removed by
            an earlier method is not compared again by a later one.
        key: what is compared: ``conversation`` (all turns), ``prompt`` (system + user
            turns) or ``response`` (assistant turns).
        keep: which member of a cluster survives: ``first`` (input order), ``longest`` or
            ``shortest`` (by key text length); ties go to the earliest record.
        normalizer: the folds applied before exact hashing and near shingling.
        near_threshold: Jaccard similarity of word-shingle sets at or above which two
            records are near duplicates (verified on the true sets, not the estimate).
        shingle_size: words per shingle.
        num_perm: MinHash permutations (LSH uses ``bands`` bands of ``num_perm/bands`` rows).
        bands: LSH bands; more bands find lower-similarity candidates (then verified).
        semantic_threshold: cosine similarity at or above which two records are semantic
            duplicates; ``None`` -> 0.90 for static (model2vec) models such as the default,
            whose cosines are taken after centering, 0.95 for sentence-transformers models.
        center: subtract the mean vector of the compared set before cosine; ``None`` -> on
            for static models (their raw cosines are all high: mean-pooled common words),
            off otherwise.
        neighbours: nearest neighbours looked up per record in the ANN index.
        slot_guard: confirm a semantic pair only when the two records do not carry clearly
            different numbers and proper names (a template filled with other values is not a
            duplicate, however close the embeddings; see ``curate.dedup.slots``).
        model: embedding model: ``None``/``"fast"`` (the packaged static model distilled from
            all-MiniLM-L6-v2, the default), ``"minilm"`` (the packaged all-MiniLM-L6-v2, ~50x
            slower on a CPU), or any sentence-transformers path/name or model2vec folder.
        cache_dir: embedding cache folder; ``None`` -> default (~/.cache/curate), ``False``
            disables the cache.
        seed: seeds MinHash permutations and the ANN index training.
        explain: also collect the similarity histogram and the pairs near each threshold.
        leak_action: ``drop`` removes leaked records (stage ``leakage``, reason ``leaked``);
            ``flag`` keeps them and lists them in ``DedupResult.leaks``.
        against_key: what the leakage check (``against`` sets) compares; ``None`` -> ``prompt``:
            an evaluation set's questions copied into training data leak whatever answers
            the two files give them (AlpacaEval's answers are not Self-Instruct's).
        against: files or folders whose records are the ``against`` sets in ``curate run``
            (``curate dedup`` takes them as ``--against``).
        progress: show progress bars on stderr.
    """

    methods: tuple[str, ...] = ("exact", "near")
    key: Side = "conversation"
    keep: KeepPolicy = "first"
    normalizer: Normalizer = field(default_factory=Normalizer)
    near_threshold: float = 0.75
    shingle_size: int = 5
    num_perm: int = 64
    bands: int = 16
    semantic_threshold: float | None = None
    center: bool | None = None
    neighbours: int = 10
    model: str | None = None
    cache_dir: str | Path | bool | None = None
    slot_guard: bool = True
    seed: int = 0
    explain: bool = False
    leak_action: Literal["drop", "flag"] = "drop"
    against_key: Side | None = None
    against: tuple[str, ...] = ()
    progress: bool = False

    def __post_init__(self) -> None:
        if isinstance(self.against, str):
            self.against = (self.against,)
        self.against = tuple(str(a) for a in self.against)
        if isinstance(self.methods, str):
            self.methods = tuple(m.strip() for m in self.methods.split(",") if m.strip())
        self.methods = tuple(m for m in METHODS if m in self.methods) + tuple(
            m for m in self.methods if m not in METHODS
        )
        self.validate()

    def validate(self) -> None:
        """Raise ``ConfigError`` on a bad or contradictory setting."""
        bad = [m for m in self.methods if m not in METHODS]
        if bad or not self.methods:
            raise ConfigError(
                f"unknown dedup method {', '.join(bad) or '(none)'}; choose from "
                f"{', '.join(METHODS)}"
            )
        if self.key not in KEYS:
            raise ConfigError(f"unknown key {self.key!r}; choose from {', '.join(KEYS)}")
        if self.against_key is not None and self.against_key not in KEYS:
            raise ConfigError(
                f"unknown against_key {self.against_key!r}; choose from {', '.join(KEYS)}"
            )
        if self.keep not in KEEP_POLICIES:
            raise ConfigError(
                f"unknown keep policy {self.keep!r}; choose from {', '.join(KEEP_POLICIES)}"
            )
        for name in ("near_threshold", "semantic_threshold"):
            value = getattr(self, name)
            if value is not None and not 0.0 < value <= 1.0:
                raise ConfigError(f"{name} must be in (0, 1], got {value}")
        if self.shingle_size < 1:
            raise ConfigError(f"shingle_size must be >= 1, got {self.shingle_size}")
        if self.bands < 1 or self.num_perm % self.bands:
            raise ConfigError(
                f"num_perm ({self.num_perm}) must be a positive multiple of bands ({self.bands})"
            )
        if self.neighbours < 1:
            raise ConfigError(f"neighbours must be >= 1, got {self.neighbours}")
        if self.leak_action not in ("drop", "flag"):
            raise ConfigError(f"leak_action must be drop or flag, got {self.leak_action!r}")
        if "semantic" in self.methods:
            # Read here so a bad value stops the command before any work, not mid-run.
            env_threads("CURATE_THREADS", 1)
            env_threads("CURATE_SCAN_THREADS", 2)

    def leak_key(self) -> str:
        """The key the leakage check compares (``against_key``, default ``prompt``)."""
        return self.against_key or "prompt"

    def semantic_settings(self) -> tuple[float, bool]:
        """``(threshold, center)`` with the per-model defaults filled in."""
        from curate.embed import is_static_model

        static = is_static_model(self.model)
        threshold = self.semantic_threshold
        if threshold is None:
            threshold = STATIC_THRESHOLD if static else SEMANTIC_THRESHOLD
        return threshold, static if self.center is None else self.center

    def as_dict(self) -> dict[str, object]:
        """JSON-ready settings for reports."""
        return {
            "methods": list(self.methods),
            "key": self.key,
            "keep": self.keep,
            "normalize": {
                "nfkc": self.normalizer.nfkc,
                "case": self.normalizer.case,
                "whitespace": self.normalizer.whitespace,
                "punctuation": self.normalizer.punctuation,
            },
            "near_threshold": self.near_threshold,
            "shingle_size": self.shingle_size,
            "num_perm": self.num_perm,
            "bands": self.bands,
            "semantic_threshold": self.semantic_settings()[0],
            "center": self.semantic_settings()[1],
            "neighbours": self.neighbours,
            "slot_guard": self.slot_guard,
            "model": self.model,
            "seed": self.seed,
            "leak_action": self.leak_action,
            "against_key": self.leak_key(),
            "against": list(self.against),
        }
