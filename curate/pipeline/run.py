"""The body of ``curate run``: every stage, writing into a staging folder."""

from __future__ import annotations

import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from curate import __version__
from curate.dedup.progress import Progress
from curate.pipeline.config import RunConfig
from curate.pipeline.filters import drop_flagged, make_filter
from curate.pipeline.manifest import MANIFEST_NAME, output_hashes, versions
from curate.pipeline.page import collect_dupes, run_page, run_section
from curate.pipeline.result import RunResult
from curate.pipeline.stages import RejectSink, front
from curate.records import Record, atomic_writer

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


def _embeddings(records: list[Record], config: RunConfig) -> np.ndarray | None:
    """One embedding pass for dedup, audit and split (None when semantic work is off)."""
    if not config.run.semantic or not records:
        return None
    from curate.split import embed_records

    _log(f"embedding {len(records)} records ({config.dedup.model or 'fast'})")
    return embed_records(
        records, config.dedup.model, config.dedup.key, config.dedup.cache_dir, progress=True
    )


def run_into(path: str, staging: Path, config: RunConfig) -> RunResult:
    """Run all stages on ``path``, writing every output into ``staging``."""
    from curate.audit import audit, check_gates, write_card
    from curate.dedup import dedup
    from curate.dedup.files import against_files, read_against
    from curate.pipeline.checks import check_fields, preflight
    from curate.split import split_records, write_splits
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
            records, embeddings, dres = got.kept, got.embeddings, got.dres
            read_stats, converter = got.read_stats, got.converter
            check_fields(records, config)
            # The cluster view needs every record dedup saw; the workers keep those, so the
            # page shows the per-method counts only.
            dupes = collect_dupes(records, replace(dres, clusters=[]), config.dedup.key)
        else:
            records = list(stream)  # dedup compares across the whole set
            _log(
                f"{read_stats.records + read_stats.bad_lines} input records, "
                f"{len(records)} after validate/convert/filter"
            )
            check_fields(records, config)
            embeddings = _embeddings(records, config)

            # explain: the report draws each method's similarity histogram around its threshold.
            # Progress by elapsed time on stderr (never in the outputs: not part of as_dict).
            dres = dedup(
                records,
                replace(config.dedup, explain=True, progress=True),
                against=against_sets,
                embeddings=embeddings,
            )
            dupes = collect_dupes(records, dres, config.dedup.key)
        for d in dres.result.dropped:
            sink.drop(d)
        kept = dres.result.kept
        # Rows of the dedup stage's vectors and fingerprints for the kept records: audit and
        # split reuse them instead of embedding or hashing the texts again.
        features, dres.features = dres.features, None  # only the kept rows stay alive
        if config.run.engine == "local" and (embeddings is not None or features is not None):
            index = {(r.source, r.line): i for i, r in enumerate(records)}
            rows = [index[(r.source, r.line)] for r in kept]
            del index
            if embeddings is not None:
                embeddings = embeddings[rows]
            if features is not None:
                features = features.subset(rows)
            del rows
        n_removed = len(dres.result.dropped)
        # The removed records are in rejects.jsonl now; free them (and the pre-dedup list)
        # before audit and split, which hold their own views of the kept set.
        dres.result.dropped.clear()
        del records
        _log(f"dedup removed {n_removed}; {len(kept)} remain")

        shared = (
            embeddings
            if config.audit.embed_side == config.dedup.key
            and config.audit.model == config.dedup.model
            else None
        )
        _log("auditing")
        with Progress("audit", None):
            areport = audit(kept, config.audit, embeddings=shared, features=features)
        audited = kept  # what the findings' lines and the topics' indices refer to
        gates = check_gates(areport, list(config.audit.fail_on)) if config.audit.fail_on else []
        gates_failed = [f"{g.rule}: {g.message}" for g in gates]
        dropped_lines: list[int] = []
        if config.filter.drop_findings:
            keep_idx, flagged = drop_flagged(kept, areport.findings, config.filter.drop_findings)
            dropped_lines = [d.record.line for d in flagged]
            for d in flagged:
                sink.drop(d)
            kept = [kept[i] for i in keep_idx]
            if embeddings is not None:
                embeddings = embeddings[keep_idx]
            if features is not None:
                features = features.subset(keep_idx)
            codes = ", ".join(config.filter.drop_findings)
            _log(f"dropped {len(flagged)} records flagged by {codes}")

        # dedup already left one member per duplicate cluster, so split's grouping step has
        # nothing to join; its leakage check still runs on the files it writes.
        split_cfg = replace(config.split, keep_duplicates_together=False)
        _log("splitting (with leakage check)")
        with Progress("split", None):
            sres = split_records(
                kept, split_cfg, embeddings=embeddings, dedup_config=config.dedup, features=features
            )
        rejects_fh.flush()

    _log("writing outputs")
    write_splits(
        sres, staging, parquet=config.run.parquet, hf_dataset=config.run.hf_dataset, report=False
    )
    if config.run.shards:
        from curate.engine.output import write_shards

        write_shards(staging, list(sres.splits), config.run.shards)
    leakage = int(sres.leakage.get("total", 0))
    report = {
        "curate_version": __version__,
        "input": path,
        "convert": converter.stats(),
        "validate": validator.stats(),
        "dedup": _stats(dres),
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


def _stats(dres: Any) -> Any:
    stats = getattr(dres, "stats", None)
    if hasattr(stats, "to_dict"):
        return stats.to_dict()
    return stats if stats is not None else dres.result.stats
