"""``curate run``: validate -> convert -> quality filters -> dedup -> audit -> split, in one go.

    config = load_run_config("curate.yaml", flags={"run": {"seed": 1}})
    result = run_pipeline("data.jsonl", "out/", config)

DIR receives train/test(/val).jsonl, rejects.jsonl, report.json, report.html, README.md (a
dataset card) and manifest.json, all at once (built in a hidden temp folder, then renamed into
place), so a killed run leaves DIR untouched or complete. The manifest proves
``input records == kept + rejected``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from curate.errors import ConfigError
from curate.pipeline.filters import FilterConfig

__all__ = [
    "ConvertOptions",
    "FilterConfig",
    "RunConfig",
    "RunOptions",
    "RunResult",
    "ValidateOptions",
    "load_run_config",
    "run_pipeline",
]


@dataclass(slots=True)
class RunOptions:
    """The ``run:`` section (and ``curate run``'s own flags).

    Attributes:
        seed: seeds audit and split (unless their sections set one); dedup keeps its own.
        semantic: embeddings on (semantic dedup, diversity, semantic leakage check) or off.
        parquet: also write ``<side>.parquet``.
        hf_dataset: also save an HF ``DatasetDict`` to ``DIR/hf``.
        engine: ``local`` (this process) or ``ray`` (read, filter and dedup on a Ray
            cluster, see docs/ray.md); the answers are the same.
        ray_address: the Ray cluster for ``engine: ray``; None -> ``auto`` when
            ``RAY_ADDRESS`` is set, else a local Ray started for the run.
        shards: also write each split as this many shards under ``DIR/shards/``.
        shard_format: the shards' format, ``jsonl`` or ``parquet``.
    """

    seed: int = 0
    semantic: bool = True
    parquet: bool = False
    hf_dataset: bool = False
    engine: str = "local"
    ray_address: str | None = None
    shards: int = 0
    shard_format: str = "jsonl"

    def __post_init__(self) -> None:
        from curate.engine import check_engine

        check_engine(self.engine)
        if self.shards < 0:
            raise ConfigError(f"run.shards must be >= 0, got {self.shards}")
        from curate.engine.output import check_shard_format

        check_shard_format(self.shard_format)


@dataclass(slots=True)
class ValidateOptions:
    """The ``validate:`` section (``curate validate``'s options).

    Attributes:
        schema: a user JSON Schema instead of the bundled chat schema.
        tokenizer: local HF tokenizer for exact token counts in the validation stats.
        max_tokens: records longer than this get an ``over_max_tokens`` warning (use
            ``filter.max_tokens`` to drop them).
    """

    schema: str | None = None
    tokenizer: str | None = None
    max_tokens: int | None = None


@dataclass(slots=True)
class ConvertOptions:
    """The ``convert:`` section. ``from`` (alias of ``fmt``): force the input format;
    ``fields``: a field mapping for other layouts (``curate.fieldmap``), checked at load."""

    fmt: str | None = None
    fields: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        self.field_map()

    def field_map(self) -> Any:
        """The parsed ``fields`` (a ``FieldMap``) or None. Raises ConfigError when malformed."""
        from curate.fieldmap import FieldMap

        if not self.fields:
            return None
        if self.fmt is not None:
            raise ConfigError("convert: give `from` or `fields`, not both")
        return FieldMap.parse(self.fields)


@dataclass(slots=True)
class RunConfig:
    """Every section, resolved (defaults < file < flags)."""

    run: RunOptions = field(default_factory=RunOptions)
    validate: ValidateOptions = field(default_factory=ValidateOptions)
    convert: ConvertOptions = field(default_factory=ConvertOptions)
    filter: FilterConfig = field(default_factory=FilterConfig)
    dedup: Any = None
    audit: Any = None
    split: Any = None

    def to_dict(self) -> dict[str, Any]:
        out = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            out[f.name] = _jsonable(value)
        return out


def _jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple | list):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


def load_run_config(
    path: str | Path | None, flags: dict[str, dict[str, Any]] | None = None
) -> RunConfig:
    """Read the YAML config (if any) and apply explicit command-line flags per section.

    The run-wide ``seed`` reaches audit and split, ``semantic`` every stage, unless a section
    sets its own value.
    """
    from curate.audit import AuditConfig, parse_rules
    from curate.config import build, check_flags, load_config
    from curate.dedup import DedupConfig
    from curate.split import SplitConfig
    from curate.split.dupes import with_semantic

    file = load_config(path)
    # Flags get the file's type and range checks (a bad --seed names the flag, exit 2).
    flags = {section: check_flags(section, values) for section, values in (flags or {}).items()}

    def values(section: str) -> dict[str, Any]:
        return {**file.get(section, {}), **flags.get(section, {})}

    run = build(RunOptions, file.get("run", {}), flags.get("run"))
    inherited = {"seed": run.seed}

    run_flags = flags.get("run", {})

    def stage(cls: type, section: str) -> Any:
        names = {f.name for f in dataclasses.fields(cls)}
        base = {k: v for k, v in inherited.items() if k in names}
        if "semantic" in names:
            base["semantic"] = run.semantic
        # Precedence: run-wide default < the section in the file < a run-wide flag (--seed,
        # --no-semantic) < the section's own flag.
        given = {k: v for k, v in run_flags.items() if k in base}
        return build(cls, {**base, **file.get(section, {}), **given, **flags.get(section, {})})

    # dedup's seed only picks MinHash permutations: what counts as a duplicate should not
    # change with the split's seed, so it keeps its own value unless dedup.seed is set.
    dedup = build(DedupConfig, values("dedup"))
    if not run.semantic:
        # --no-semantic on the command line beats `semantic` in the file's dedup.methods.
        asked = flags.get("dedup", {}) if "semantic" in run_flags else values("dedup")
        if "semantic" in asked.get("methods", ()):
            raise ConfigError("dedup.methods has semantic but run.semantic is off")
        dedup = with_semantic(dedup, False)
    elif "methods" not in values("dedup"):
        dedup = with_semantic(dedup, True)
    audit_values = values("audit")
    audit = stage(AuditConfig, "audit")
    parse_rules(audit.fail_on)  # a bad gate rule fails now, before any data is read
    if not run.semantic and "embeddings" not in audit_values:
        audit = dataclasses.replace(audit, embeddings=False)
    # One embedding pass: the audit reuses dedup's vectors when it embeds the same text with
    # the same model, so its model and side default to dedup's.
    shared = {"model": dedup.model, "embed_side": dedup.key}
    audit = dataclasses.replace(audit, **{k: v for k, v in shared.items() if k not in audit_values})
    split = stage(SplitConfig, "split")
    if split.semantic and not run.semantic:
        raise ConfigError("split.semantic is on but run.semantic is off")
    return RunConfig(
        run=run,
        validate=build(ValidateOptions, values("validate")),
        convert=build(ConvertOptions, values("convert")),
        filter=build(FilterConfig, values("filter")),
        dedup=dedup,
        audit=audit,
        split=split,
    )


@dataclass(slots=True)
class RunResult:
    """What ``run_pipeline`` did: the manifest written and whether gates held."""

    out_dir: Path
    manifest: dict[str, Any]
    gates_failed: list[str]
    leakage: int
    flagged_leaks: int = 0
    off_target: bool = False  # a split share off target under split.strict

    @property
    def exit_code(self) -> int:
        failed = self.gates_failed or self.leakage or self.flagged_leaks or self.off_target
        return 1 if failed else 0


def run_pipeline(
    path: str, out_dir: str | Path, config: RunConfig, *, overwrite: bool = False
) -> RunResult:
    """Run every stage on ``path`` and publish DIR atomically. See module docstring."""
    from curate.pipeline.outdir import atomic_directory
    from curate.pipeline.run import run_into

    out = Path(out_dir)
    with atomic_directory(out, overwrite, inputs=[path]) as staging:
        result = run_into(path, staging, config)
    result.out_dir = out
    return result
