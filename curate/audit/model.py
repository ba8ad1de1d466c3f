"""The audit's data types: its configuration, a finding, the report (and its JSON form)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from curate import __version__
from curate.findings import SEVERITY, Finding

__all__ = ["FINDING_CODES", "FINDING_TITLES", "AuditConfig", "AuditReport", "Finding"]

# Stable finding codes (never renamed once released), in the order reports list them.
# Severity: "error" rows are wrong for training as they stand; "warning" rows deserve a look.
FINDING_CODES: dict[str, str] = {
    "unreadable": "error",
    "not_chat": "error",
    "missing_user": "error",
    "conflicting_answers": "error",
    "template_placeholder": "error",
    "repetition": "error",
    "short_answer": "warning",
    "refusal": "warning",
    "language_mismatch": "warning",
    "style_outlier": "warning",
}

FINDING_TITLES: dict[str, str] = {
    "unreadable": "Lines that could not be read",
    "not_chat": "Records that are not conversations",
    "missing_user": "Conversations without a user turn",
    "conflicting_answers": "Same prompt, materially different answers",
    "template_placeholder": "Unfilled template placeholders",
    "repetition": "Degenerate repetition in answers",
    "short_answer": "Empty or trivially short answers",
    "refusal": "Refusal boilerplate",
    "language_mismatch": "Assistant answers in another language than the user asked",
    "style_outlier": "Answers whose length or formatting departs from the rest",
}

SEVERITY.update(FINDING_CODES)

MIN_USEFUL_RECORDS = 100  # the guide's floor for a useful fine-tune


@dataclass(frozen=True)
class AuditConfig:
    """What the audit computes and how. Defaults suit a few hundred to 100k conversations.

    Attributes:
        seed: seeds every sample, k-means and langdetect (written to the report).
        tokenizer: local HF tokenizer path for exact token counts; None estimates.
        model: embedder name/path for ``curate.embed.get_embedder``; None is the default model.
        embeddings: compute embedding-based diversity (clusters, pairwise distance).
        embed_side: which text is embedded: ``conversation``, ``prompt`` or ``response``.
        max_embed: embed at most this many conversations (a seeded sample) when no embeddings
            are passed in; diversity statistics are estimates from the sample beyond it.
            None: 5,000 for transformer models (MiniLM embeds ~40 long texts/s on 2 CPU
            cores), 50,000 for static models such as ``fast``.
        max_clusters: upper bound on k (k ~ sqrt(n/2)).
        label: dotted path of a category field (``meta.category``) for label balance.
        language_sample: detect languages on at most this many conversations (seeded sample;
            0 = all). langdetect costs ~3 ms per text, so 100k rows x 2 roles would take
            ~10 minutes on one core.
        language_chars: characters of each role's text given to langdetect.
        min_answer_tokens: answers with fewer (estimated) tokens are ``short_answer``.
        conflict_similarity: answers to the same prompt conflict when their character 4-gram
            Jaccard similarity is below this.
        style_rare_share: a formatting feature used by fewer than this share of answers (or
            missing from fewer) marks the answers that depart from the rest.
        style_length_z: robust z-score of log answer length beyond which an answer is an outlier.
        fail_on: gate rules (``conflicting_answers>0``, ``min_records=100``), see ``gates``.
    """

    seed: int = 0
    tokenizer: str | None = None
    model: str | None = None
    embeddings: bool = True
    embed_side: str = "conversation"
    max_embed: int | None = None
    max_clusters: int = 50
    label: str | None = None
    language_sample: int = 10_000
    language_chars: int = 400
    min_answer_tokens: int = 3
    conflict_similarity: float = 0.7
    style_rare_share: float = 0.03
    style_length_z: float = 3.5
    fail_on: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["fail_on"] = list(self.fail_on)
        return out


def first_findings(
    findings: Iterable[Finding], limit: int = 5
) -> tuple[dict[str, list[Finding]], dict[str, int]]:
    """Per code, in the order codes first appear: its first ``limit`` findings, and how many
    findings it has. One pass that holds no more than that: the findings may be many, kept in
    a file (``curate.engine.spill``). The HTML page and the dataset card list these."""
    shown: dict[str, list[Finding]] = {}
    count: dict[str, int] = {}
    for f in findings:
        group = shown.setdefault(f.code, [])
        if len(group) < limit:
            group.append(f)
        count[f.code] = count.get(f.code, 0) + 1
    return shown, count


@dataclass
class AuditReport:
    """Everything the audit found. ``to_dict()`` is the ``--json`` output (deterministic: no
    timings or dates); ``timings`` and the plot ``series`` stay on the object."""

    source: str
    config: AuditConfig
    shape: dict[str, Any]
    languages: dict[str, Any]
    diversity: dict[str, Any]
    findings: list[Finding]
    metrics: dict[str, Any]
    warnings: list[str] = field(default_factory=list)
    gates: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    series: dict[str, Any] = field(default_factory=dict)  # raw values for plots, not in JSON

    @property
    def gates_failed(self) -> bool:
        return bool(self.gates.get("failures"))

    def flagged(self, code: str) -> int:
        """Records flagged with ``code`` (each counted once however many findings name it)."""
        counted = getattr(self.findings, "flagged", None)  # findings in a file: engine.spill
        if counted is not None:
            return counted(code)
        return len({ln for f in self.findings if f.code == code for ln in f.lines})

    def to_dict(self, lazy: bool = False) -> dict[str, Any]:
        """``lazy``: findings that are not a list (the Ray driver keeps them in a file) stay
        as they are, for a writer that streams them (``curate.pipeline.output.dump_json``)."""
        lazy = lazy and not isinstance(self.findings, list)
        return {
            "tool": "curate audit",
            "version": __version__,
            "source": self.source,
            "seed": self.config.seed,
            "config": self.config.to_dict(),
            "summary": {
                "records": self.metrics.get("records"),
                "conversations": self.metrics.get("conversations"),
                "flagged": {code: self.flagged(code) for code in FINDING_CODES},
                "warnings": self.warnings,
            },
            "metrics": self.metrics,
            "shape": self.shape,
            "languages": self.languages,
            "diversity": self.diversity,
            "findings": self.findings if lazy else [f.to_dict() for f in self.findings],
            "gates": self.gates,
        }
