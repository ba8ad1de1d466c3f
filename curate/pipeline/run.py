"""The body of ``curate run``: every stage, writing into a staging folder."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import orjson

from curate import __version__
from curate.dedup.progress import Progress
from curate.pipeline import RunConfig, RunResult
from curate.pipeline.filters import drop_findings, make_filter
from curate.pipeline.manifest import MANIFEST_NAME, output_hashes, versions
from curate.pipeline.page import collect_dupes, run_page, run_section
from curate.pipeline.stages import RejectSink, front
from curate.records import Record, atomic_writer
from curate.stage import Batch, BatchResult, run_stages

REJECTS = "rejects.jsonl"
REPORT_JSON = "report.json"
REPORT_HTML = "report.html"
CARD = "README.md"


_T0 = time.monotonic()


def _log(message: str) -> None:
    # Library progress goes to stderr (stdout is reserved for data / --json); elapsed time
    # helps users see which stage is slow. Nothing time-dependent goes into the outputs.
    import psutil

    rss = psutil.Process().memory_info().rss / 2**30
    sys.stderr.write(f"run: [{time.monotonic() - _T0:7.1f}s {rss:5.2f} GiB] {message}\n")


def _dump(path: Path, obj: Any) -> None:
    with atomic_writer(path, "wb") as fh:
        fh.write(
            orjson.dumps(obj, option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE, default=str)
        )


@dataclass
class RunContext:
    """What the stages of one run share besides the batch: config, sink, stage outputs."""

    config: RunConfig
    sink: RejectSink
    against_sets: list[Any] = field(default_factory=list)
    dres: Any = None  # dedup's DedupResult
    dupes: dict[str, Any] = field(default_factory=dict)  # dedup's clusters for the page
    areport: Any = None  # the audit's AuditReport
    audited: list[Record] = field(default_factory=list)  # what the findings' rows refer to
    dropped_lines: list[int] = field(default_factory=list)
    sres: Any = None  # the split's SplitResult
    split_input: list[Record] = field(default_factory=list)


class Embed:
    """One embedding pass for dedup, audit and split (skipped when semantic work is off)."""

    name = "embed"

    def __call__(self, batch: Batch, ctx: RunContext) -> None:
        config = ctx.config
        if not config.run.semantic or not len(batch):
            return None
        from curate.dedup import key_text
        from curate.embed import embed_records

        key = config.dedup.key
        _log(f"embedding {len(batch)} records ({config.dedup.model or 'fast'})")
        batch.vectors = embed_records(
            batch.records,
            lambda r: key_text(r, key),
            config.dedup.model,
            config.dedup.cache_dir,
            progress=True,
        )
        return None


class Dedup:
    """Exact / near / semantic dedup (and the ``--against`` leakage check)."""

    name = "dedup"

    def __call__(self, batch: Batch, ctx: RunContext) -> BatchResult:
        from curate.dedup import dedup

        config = ctx.config
        # explain: the report draws each method's similarity histogram around its threshold.
        # Progress by elapsed time on stderr (never in the outputs: not part of as_dict).
        dres = dedup(
            batch.records,
            replace(config.dedup, explain=True, progress=True),
            against=ctx.against_sets,
            embeddings=batch.vectors,
        )
        ctx.dupes = collect_dupes(batch.records, dres, config.dedup.key)
        return _after_dedup(batch, ctx, dres, dres.kept_rows)


def _after_dedup(batch: Batch, ctx: RunContext, dres: Any, kept_rows: Any) -> BatchResult:
    """Dedup's decision as a BatchResult; its fingerprints ride on the batch (audit and split
    take rows of them instead of hashing the texts again)."""
    ctx.dres = dres
    if dres.features is not None:
        batch.features, dres.features = dres.features, None
    dropped = list(dres.result.dropped)
    # The removed records go to rejects.jsonl now; only the counts stay on the result.
    dres.result.dropped.clear()
    dres.result.kept = []
    _log(f"dedup removed {len(dropped)}; {len(kept_rows)} remain")
    return BatchResult(kept_rows, dropped, dres.stats)


class Audit:
    """The audit of the deduplicated set; gates are checked once, inside ``audit``."""

    name = "audit"

    def __call__(self, batch: Batch, ctx: RunContext) -> None:
        from curate.audit import audit

        config = ctx.config
        shared = (
            batch.vectors
            if config.audit.embed_side == config.dedup.key
            and config.audit.model == config.dedup.model
            else None
        )
        _log("auditing")
        with Progress("audit", None):
            ctx.areport = audit(
                batch.records, config.audit, embeddings=shared, features=batch.features
            )
        ctx.audited = batch.records
        return None


class DropFindings:
    """``filter.drop_findings``: records the audit flagged with the chosen codes."""

    name = "drop_findings"

    def __call__(self, batch: Batch, ctx: RunContext) -> BatchResult | None:
        codes = ctx.config.filter.drop_findings
        if not codes:
            return None
        res = drop_findings(batch, ctx.areport.findings, codes)
        ctx.dropped_lines = [d.record.line for d in res.dropped]
        _log(f"dropped {len(res.dropped)} records flagged by {', '.join(codes)}")
        return res


class Split:
    """Train / val / test, with the leakage check on what it writes."""

    name = "split"

    def __call__(self, batch: Batch, ctx: RunContext) -> None:
        from curate.split import split_records

        # dedup already left one member per duplicate cluster, so split's grouping step has
        # nothing to join; its leakage check still runs on the files it writes.
        split_cfg = replace(ctx.config.split, keep_duplicates_together=False)
        _log("splitting (with leakage check)")
        with Progress("split", None):
            ctx.sres = split_records(
                batch.records,
                split_cfg,
                embeddings=batch.vectors,
                dedup_config=ctx.config.dedup,
                features=batch.features,
            )
        ctx.split_input = batch.records
        return None


# The whole run after reading; a stage is one class above and one line here. ``--engine ray``
# runs the first two on the cluster (``curate.engine.ray_stages.read_dedup``).
RUN_STAGES = (Embed(), Dedup(), Audit(), DropFindings(), Split())
AFTER_DEDUP = RUN_STAGES[2:]


def run_into(path: str, staging: Path, config: RunConfig) -> RunResult:
    """Run all stages on ``path``, writing every output into ``staging``."""
    from curate.audit import write_card
    from curate.dedup.files import against_files, read_against
    from curate.pipeline.checks import check_fields, preflight
    from curate.split import write_splits
    from curate.validate import Validator

    # Everything the config names is checked before any heavy stage (docs/run.md).
    preflight(config)
    against_sets = read_against(config.dedup.against, config.convert.fmt)
    if against_sets:
        _log(
            f"leakage check against {sum(len(a) for a in against_sets)} records of "
            f"{len(against_sets)} file(s), key {config.dedup.leak_key()}"
        )
    v = config.validate
    validator = Validator(schema=v.schema, tokenizer=v.tokenizer, max_tokens=v.max_tokens)
    with open(staging / REJECTS, "wb") as rejects_fh:
        sink = RejectSink(rejects_fh)
        ctx = RunContext(config, sink, against_sets)
        stream, read_stats, converter = front(
            path,
            sink,
            fmt=config.convert.fmt,
            validator=validator,
            fields=config.convert.field_map(),
            filter_step=make_filter(config.filter),
        )
        if config.run.engine == "ray":
            # Read, filter and dedup on the cluster; the driver gets the surviving records.
            from curate.engine.ray_stages import read_dedup
            from curate.errors import ConfigError

            if against_sets:
                # Refuse rather than skip the check: a silent skip would ship leaked records.
                raise ConfigError("dedup.against is not supported with --engine ray yet")
            got = read_dedup(path, staging, sink, config, validator)
            read_stats, converter = got.read_stats, got.converter
            check_fields(got.kept, config)
            ctx.dres = got.dres
            for d in got.dres.result.dropped:  # dedup's drops, as the Dedup stage hands them on
                sink.drop(d)
            got.dres.result.dropped.clear()
            got.dres.result.kept = []
            # The cluster view needs every record dedup saw; the workers keep those, so the
            # page shows the per-method counts only.
            ctx.dupes = collect_dupes(got.kept, replace(got.dres, clusters=[]), config.dedup.key)
            batch, stages = Batch.of(got.kept, got.embeddings), AFTER_DEDUP
            if got.areport is not None:  # audited on the workers (curate.engine.ray_audit)
                ctx.areport, ctx.audited = got.areport, batch.records
                stages = AFTER_DEDUP[1:]
            del got
        else:
            batch = Batch.of(stream)  # dedup compares across the whole set
            _log(
                f"{read_stats.records + read_stats.bad_lines} input records, "
                f"{len(batch)} after validate/convert/filter"
            )
            check_fields(batch.records, config)
            stages = RUN_STAGES
        batch, _ = run_stages(stages, batch, ctx, sink.drop)
        del batch
        rejects_fh.flush()
    dres, areport, sres, kept = ctx.dres, ctx.areport, ctx.sres, ctx.split_input
    audited, dupes, dropped_lines = ctx.audited, ctx.dupes, ctx.dropped_lines
    gates_failed = [f"{g['rule']}: {g['message']}" for g in areport.gates.get("failures", [])]

    _log("writing outputs")
    write_splits(
        sres, staging, parquet=config.run.parquet, hf_dataset=config.run.hf_dataset, report=False
    )
    if config.run.shards:
        from curate.engine.output import write_shards

        write_shards(staging, list(sres.splits), config.run.shards, config.run.shard_format)
    leakage = int(sres.leakage.get("total", 0))
    report = {
        "curate_version": __version__,
        "input": path,
        "convert": converter.stats(),
        "validate": validator.stats(),
        "dedup": dres.stats,
        "audit": areport.to_dict(),
        "split": sres.report(),
        "gates": {"rules": list(config.audit.fail_on), "failed": gates_failed},
    }
    _dump(staging / REPORT_JSON, report)
    head = run_section(
        read_stats.records + read_stats.bad_lines,
        {name: len(recs) for name, recs in sres.splits.items()},
        sink.by_stage_reason(),
        report["split"],
        gates_failed,
    )
    page = run_page(
        areport,
        title=f"curate run: {path}",
        head=head,
        audited=audited,
        sres=sres,
        split_input=kept,
        dupes=dupes,
        rejects=staging / REJECTS,
        rejected_by_stage=sink.by_stage_reason(),
        tokenizer=config.validate.tokenizer or config.audit.tokenizer,
        max_tokens=config.filter.max_tokens or config.validate.max_tokens,
    )
    with atomic_writer(staging / REPORT_HTML, "w") as fh:
        fh.write(page)
    published = {
        "outputs": {name: len(recs) for name, recs in sres.splits.items()},
        "input_records": read_stats.records + read_stats.bad_lines,
        "rejected_by_stage": sink.by_stage_reason(),
        "dropped_lines": dropped_lines,
    }
    write_card(areport, staging / CARD, published=published)

    counts = {name: len(recs) for name, recs in sres.splits.items()}
    input_records = read_stats.records + read_stats.bad_lines
    kept_total = sum(counts.values())
    manifest = {
        "curate_version": __version__,
        "input": {
            "path": path,
            "container": read_stats.format,
            "lines": read_stats.physical_lines,
            "blank_lines": read_stats.blank_lines,
            "records": input_records,
            "unreadable_lines": read_stats.bad_lines,
        },
        "outputs": counts,
        "kept": kept_total,
        "rejected": sink.total,
        "rejected_by_reason": sink.by_reason(),
        "rejected_by_stage": sink.by_stage_reason(),
        "balanced": input_records == kept_total + sink.total,
        "seed": config.run.seed,
        "gates": {
            "rules": list(config.audit.fail_on),
            "passed": not gates_failed,
            "failed": gates_failed,
        },
        "leakage": leakage,
        "shares": report["split"]["shares"],
        "against": {
            "files": against_files(config.dedup.against) if config.dedup.against else [],
            "records": sum(len(a) for a in against_sets),
            "key": config.dedup.leak_key(),
            "leak_action": config.dedup.leak_action,
            "leaks": len(dres.leaks),
        },
        "findings": _findings_summary(areport, dropped_lines, config.filter.drop_findings),
        "versions": versions(),
        "config": config.to_dict(),
    }
    if not manifest["balanced"]:
        # A bug, never a data problem: refuse to publish output that lost records.
        raise RuntimeError(
            f"record accounting broken: {input_records} in, {kept_total} kept + "
            f"{sink.total} rejected"
        )
    manifest["sha256"] = output_hashes(staging)
    _dump(staging / MANIFEST_NAME, manifest)
    flagged = len(dres.leaks) if config.dedup.leak_action == "flag" else 0
    off = bool(config.split.strict and manifest["shares"]["off_target"])
    return RunResult(staging, manifest, gates_failed, leakage, flagged, off)


def _findings_summary(
    areport: Any, dropped_lines: list[int], drop_codes: Any = ()
) -> dict[str, dict[str, Any]]:
    """Per finding code: records the audit flagged, how many were dropped (for this code or
    another one of ``filter.drop_findings``), how many remain, and whether the code is one
    that ``filter.drop_findings`` drops."""
    gone = set(dropped_lines)
    lines: dict[str, set[int]] = {}
    for f in areport.findings:
        lines.setdefault(f.code, set()).update(f.lines)
    out: dict[str, dict[str, Any]] = {}
    for code, flagged in lines.items():
        dropped = len(flagged & gone)
        out[code] = {
            "records": len(flagged),
            "dropped": dropped,
            "kept": len(flagged) - dropped,
            "drop_finding": code in drop_codes,
        }
    return out
