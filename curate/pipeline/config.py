"""The curation commands' options: one dataclass per config section, and the run's loader.

    config = load_run_config("curate.yaml", flags={"run": {"seed": 1}})

``SECTIONS`` maps each section of a curate config file to its option dataclass; every
command reads its own section of the same file (``curate dedup --config curate.yaml`` reads
``dedup:``). The dataclasses are the single source of defaults: the CLI passes only the flags
a user typed (``curate.cli.options``), so a default changed here reaches every command.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from curate.audit.gates import parse_rules
from curate.audit.model import AuditConfig
from curate.config import build, check_flags, load_config
from curate.dedup.config import DedupConfig
from curate.errors import ConfigError
from curate.evaluate.options import EvalOptions
from curate.pipeline.filters import FilterConfig
from curate.split import SplitConfig
from curate.split.dupes import with_semantic
from train.options import DemoModelOptions, MergeOptions

__all__ = [
    "SECTIONS",
    "ConvertOptions",
    "RunConfig",
    "RunOptions",
    "ValidateOptions",
    "load_run_config",
    "load_section",
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
        workers: processes for the per-record hashing of dedup (key text, digest, MinHash);
            0: every CPU this process may use, 1: all in this process. The outputs are the
            same for any count.
    """

    seed: int = 0
    semantic: bool = True
    parquet: bool = False
    hf_dataset: bool = False
    engine: str = "local"
    ray_address: str | None = None
    shards: int = 0
    shard_format: str = "jsonl"
    workers: int = 0

    def __post_init__(self) -> None:
        from curate.extras import check_engine
        from curate.pipeline.output import check_shard_format

        check_engine(self.engine)
        if self.shards < 0:
            raise ConfigError(f"run.shards must be >= 0, got {self.shards}")
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
    dedup: DedupConfig = field(default_factory=DedupConfig)
    audit: AuditConfig = field(default_factory=AuditConfig)
    split: SplitConfig = field(default_factory=SplitConfig)

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
    file = load_config(path, SECTIONS)
    # Flags get the file's type and range checks (a bad --seed names the flag, exit 2).
    flags = {
        section: check_flags(section, SECTIONS[section], values)
        for section, values in (flags or {}).items()
    }

    def values(section: str) -> dict[str, Any]:
        return {**file.get(section, {}), **flags.get(section, {})}

    run = build(RunOptions, file.get("run", {}), flags.get("run"), section="run")
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
        values = {**base, **file.get(section, {}), **given, **flags.get(section, {})}
        return build(cls, values, section=section)

    # dedup's seed only picks MinHash permutations: what counts as a duplicate should not
    # change with the split's seed, so it keeps its own value unless dedup.seed is set.
    dedup = build(DedupConfig, values("dedup"), section="dedup")
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
        validate=build(ValidateOptions, values("validate"), section="validate"),
        convert=build(ConvertOptions, values("convert"), section="convert"),
        filter=build(FilterConfig, values("filter"), section="filter"),
        dedup=dedup,
        audit=audit,
        split=split,
    )


# section -> the dataclass whose fields are its keys (also what `--config` reads per command).
SECTIONS: dict[str, type] = {
    "run": RunOptions,
    "validate": ValidateOptions,
    "convert": ConvertOptions,
    "filter": FilterConfig,
    "dedup": DedupConfig,
    "audit": AuditConfig,
    "split": SplitConfig,
    "eval": EvalOptions,
    "merge": MergeOptions,
    "demo_model": DemoModelOptions,
}


def load_section(path: str | Path | None, section: str) -> dict[str, Any]:
    """One section of a curate config file (the whole file is checked: a typo in another
    section is an error too, so one file serves every command)."""
    return load_config(path, SECTIONS).get(section, {})
