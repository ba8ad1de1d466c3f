"""The body of ``curate run``: every stage, writing into a staging folder."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import replace
from pathlib import Path
from typing import Any

from curate import __version__
from curate.dedup.engine import DedupStage
from curate.dedup.features import StreamHasher, runs_parallel, workers
from curate.gcpause import gc_paused
from curate.pipeline.aside import Aside
from curate.pipeline.config import RunConfig
from curate.pipeline.filters import DropFindings, make_filter
from curate.pipeline.manifest import MANIFEST_NAME, HashAhead, output_hashes, versions
from curate.pipeline.output import dump_json
from curate.pipeline.page import collect_dupes, run_page, run_section
from curate.pipeline.result import RunResult
from curate.pipeline.stages import RejectSink, front
from curate.progress import Progress
from curate.records import Record, atomic_writer, pack, read_as_json_text
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
    # This process's CPU seconds too: on a busy machine they, not the wall time, say which
    # stage costs what (the workers' CPU is not in it).
    sys.stderr.write(
        f"run: [{time.monotonic() - _T0:7.1f}s cpu {time.process_time():6.1f}s {rss:5.2f} GiB]"
        f" {message}\n"
    )


class _Logged:
    """A library stage as ``curate run`` runs it: a line on stderr before, and progress by
    elapsed time while it works (stderr only, never in the outputs)."""

    def __init__(
        self,
        stage: Any,
        before: Callable[[Batch], str],
        progress: str = "",
        then: Callable[[Batch, BatchResult], None] | None = None,
    ) -> None:
        self.stage, self.before, self.progress, self.then = stage, before, progress, then
        self.name = stage.name

    def __call__(self, batch: Batch, done: Mapping[str, BatchResult]) -> BatchResult:
        message = self.before(batch)
        if message:
            _log(message)
        if not self.progress:
            res = self.stage(batch, done)
        else:
            with Progress(self.progress, None):
                res = self.stage(batch, done)
        if self.then is not None:
            self.then(batch, res)
        return res


class _Given:
    """A stage whose result an engine already computed (the Ray audit's report): it keeps
    every record and hands that result on, so the rest of the list reads it as usual."""

    def __init__(self, name: str, output: Any) -> None:
        self.name, self.output = name, output

    def __call__(self, batch: Batch, done: Mapping[str, BatchResult]) -> BatchResult:
        return BatchResult.keep_all(batch, self.output)


class _RunDedup(DedupStage):
    """Dedup with the run's extras: the clusters the page shows are taken while the records
    dedup removed are still in the batch."""

    def __init__(self, config: RunConfig, against: Sequence[Any], aside: Aside) -> None:
        # explain: the report draws each method's similarity histogram around its threshold.
        # Progress by elapsed time on stderr (never in the outputs: not part of as_dict).
        super().__init__(replace(config.dedup, explain=True, progress=True), against)
        self.dupes: dict[str, Any] = {}
        self.aside = aside

    def __call__(self, batch: Batch, done: Mapping[str, BatchResult]) -> BatchResult:
        from curate.report.dupes import dupes_body

        res = super().__call__(batch, done)
        self.dupes = collect_dupes(batch.records, res.output, self.config.key)
        # The page's duplicates section needs nothing else: made beside the audit and split.
        self.aside.submit("dupes", dupes_body, self.dupes)
        _log(f"dedup removed {len(res.dropped)}; {len(res.kept)} remain")
        return res


class _RunDropFindings(DropFindings):
    """The findings filter; keeps the records the audit saw (the page's findings name them)
    and the lines it dropped (the card and the manifest list them)."""

    def __init__(self, codes: Sequence[str]) -> None:
        super().__init__(codes)
        self.audited: list[Record] | None = None
        self.lines: list[int] = []

    def __call__(self, batch: Batch, done: Mapping[str, BatchResult]) -> BatchResult:
        self.audited = batch.records
        res = super().__call__(batch, done)
        self.lines = [d.record.line for d in res.dropped]
        _log(f"dropped {len(res.dropped)} records flagged by {', '.join(self.codes)}")
        return res


def run_stages_for(
    config: RunConfig, against: Sequence[Any] = (), aside: Aside | None = None
) -> list[Any]:
    """``curate run``'s stages after reading, in order: a new stage is one line here.

    ``--engine ray`` runs the ones up to ``dedup`` on the cluster
    (``curate.engine.ray_stages.read_dedup``) and this loop the rest. ``aside`` takes the
    page's parts that a stage's result alone gives (``curate.pipeline.aside``).
    """
    from curate.audit.run import AuditStage
    from curate.dedup import key_text
    from curate.embed import EmbedStage
    from curate.report.audit_page import audit_charts, draw_charts, shows_topics
    from curate.split import SplitStage

    if aside is None:
        aside = Aside()

    def charts(batch: Batch, res: BatchResult) -> None:
        report = res.output
        topics = shows_topics(report, batch.records)
        aside.submit("charts", draw_charts, audit_charts(report, topics))

    c = config
    key, model = c.dedup.key, c.dedup.model
    # The audit takes the run's vectors when they embed what it would embed.
    shared = c.audit.embed_side == key and c.audit.model == model
    # dedup already left one member per duplicate cluster, so split's grouping step has
    # nothing to join; its leakage check (and the grouping of records sharing the check's
    # key, the prompt by default) still runs on the files it writes.
    split_cfg = replace(c.split, keep_duplicates_together=False)
    stages: list[Any] = []
    if c.run.semantic:
        embed = EmbedStage(lambda r: key_text(r, key), model, c.dedup.cache_dir, progress=True)
        say = f"({model or 'fast'})"
        stages.append(_Logged(embed, lambda b: f"embedding {len(b)} records {say}" if b else ""))
    stages += [
        _RunDedup(c, against, aside),
        _Logged(AuditStage(c.audit, use_vectors=shared), lambda b: "auditing", "audit", charts),
    ]
    if c.filter.drop_findings:
        stages.append(_RunDropFindings(c.filter.drop_findings))
    stages.append(
        _Logged(SplitStage(split_cfg, c.dedup), lambda b: "splitting (with leakage check)", "split")
    )
    return stages


def run_into(
    path: str, staging: Path, config: RunConfig, cluster: Callable[..., Any] | None = None
) -> RunResult:
    """Run all stages on ``path``, writing every output into ``staging``.

    ``cluster`` (an engine's read + filter + dedup) replaces the local ones when given.
    """
    from curate.pipeline.checks import preflight

    # Everything the config names is checked before any heavy stage (docs/run.md).
    preflight(config)
    # The per-record hashing runs in run.workers processes (same outputs for any count).
    # No cyclic garbage collection while the run holds every record (as in the audit): each
    # full collection walked all of them, ~13% of the reading phase's CPU at 100k rows, and
    # nothing the run builds relies on the cycle collector (reference counting frees it;
    # tests/pipeline/test_gc_paused.py). An engine's driver (Ray's) keeps it.
    aside = Aside()
    try:
        with gc_paused() if cluster is None else nullcontext(), workers(config.run.workers):
            return _run_into(path, staging, config, cluster, aside)
    finally:
        aside.close()


def _run_into(
    path: str,
    staging: Path,
    config: RunConfig,
    cluster: Callable[..., Any] | None,
    aside: Aside,
) -> RunResult:
    from curate.audit import write_card
    from curate.dedup.files import against_files, read_against
    from curate.pipeline.checks import check_fields
    from curate.split import write_splits
    from curate.validate import Validator

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
        stages = run_stages_for(config, against_sets, aside)
        after = next(i for i, st in enumerate(stages) if st.name == "dedup") + 1
        dedup_stage = stages[after - 1]
        stream, read_stats, converter = front(
            path,
            sink,
            fmt=config.convert.fmt,
            validator=validator,
            fields=config.convert.field_map(),
            filter_step=make_filter(config.filter) if config.filter.active else None,
        )
        if cluster is not None:
            # Read, filter and dedup on the cluster; the driver gets the surviving records.
            from curate.errors import ConfigError

            if against_sets:
                # Refuse rather than skip the check: a silent skip would ship leaked records.
                raise ConfigError("dedup.against is not supported with --engine ray yet")
            got = cluster(path, staging, sink, config, validator)
            read_stats, converter = got.read_stats, got.converter
            if got.sres is None:  # else the workers checked the fields (engine.ray_split)
                check_fields(got.kept, config)
            dres = got.dres
            for d in dres.result.dropped:  # dedup's drops, as the dedup stage hands them on
                sink.drop(d)
            dres.result.dropped.clear()
            dres.result.kept = []
            # The cluster view needs every record dedup saw; the workers keep those, so the
            # page shows the per-method counts only.
            dupes = collect_dupes(got.kept, replace(dres, clusters=[]), config.dedup.key)
            stages = stages[after:]
            given = {"audit": got.areport, "split": got.sres}
            if all(given.get(st.name) is not None for st in stages):
                # Audited, split and written on the workers (engine.ray_audit, ray_split): no
                # stage left for the loop, which would hold each row's position (8 bytes a
                # row, a stage) to keep them all. The records stay on the workers.
                outputs, kept, stages = given, got.kept, []
            else:
                batch = Batch.of(got.kept, got.embeddings)
                stages = [
                    st if given.get(st.name) is None else _Given(st.name, given[st.name])
                    for st in stages
                ]
            del got
        else:
            # Dedup's per-record hashing runs in the workers while the rest is still read.
            hasher = StreamHasher(config.dedup, "near" in config.dedup.methods)
            try:
                kept = hasher.wrap(stream)
                if config.run.semantic:
                    # Held packed from here on (``records.pack``): the run's vectors make the
                    # peak with semantic on, and the parsed records were most of the rest.
                    kept = _packed(kept)
                batch = Batch.of(kept)  # dedup compares across the whole set
                batch.features = hasher.features(batch.records)
            finally:
                hasher.close()
            if runs_parallel(len(batch)):
                # The hashing workers are gone; the page's worker takes the idle core.
                aside.start()
            _log(
                f"{read_stats.records + read_stats.bad_lines} input records, "
                f"{len(batch)} after validate/convert/filter"
            )
            check_fields(batch.records, config)
        if stages:
            batch, done = run_stages(stages, batch, sink.drop)  # narrows ``batch`` in place
            kept = batch.records  # the split's input
            # Their outputs taken, the stages' results go: each also holds the positions it
            # kept (8 bytes a row per stage), which would otherwise live through the writing,
            # the run's peak.
            outputs = {name: res.output for name, res in done.items()}
            del batch, done
        rejects_fh.flush()
    if "dedup" in outputs:
        dres, dupes = outputs["dedup"], dedup_stage.dupes
    areport, sres = outputs["audit"], outputs["split"]
    from curate.dedup.explain import semantic_warnings

    areport.warnings.extend(semantic_warnings(dres.stats))
    audited, dropped_lines = kept, []  # what the findings' rows refer to, and the drops
    if "drop_findings" in outputs:
        flt = next(st for st in stages if st.name == "drop_findings")
        audited, dropped_lines = flt.audited, flt.lines
    gates_failed = [g["message"] for g in areport.gates.get("failures", [])]  # "rule: why"

    _log("writing outputs")
    if not getattr(sres, "written", False):  # an engine may have written them already
        write_splits(
            sres,
            staging,
            parquet=config.run.parquet,
            hf_dataset=config.run.hf_dataset,
            report=False,
        )
    if config.run.shards:
        from curate.pipeline.output import write_shards

        write_shards(staging, list(sres.splits), config.run.shards, config.run.shard_format)
    # The data files and rejects are final: hashed in a thread while the rest is written.
    with HashAhead(staging) as ahead:
        leakage = int(sres.leakage.get("total", 0))
        report = {
            "curate_version": __version__,
            "input": path,
            "convert": converter.stats(),
            "validate": validator.stats(),
            "dedup": dres.stats,
            "audit": areport.to_dict(lazy=True),  # findings written one at a time
            "split": sres.report(),
            "gates": {"rules": list(config.audit.fail_on), "failed": gates_failed},
        }
        dump_json(staging / REPORT_JSON, report)
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
            dupes_body=aside.get("dupes"),
            charts=aside.get("charts"),
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
        known = ahead.result()  # the data files' hashes, taken while the rest was written

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
    manifest["sha256"] = output_hashes(staging, known)
    dump_json(staging / MANIFEST_NAME, manifest)
    flagged = len(dres.leaks) if config.dedup.leak_action == "flag" else 0
    off = bool(config.split.strict and manifest["shares"]["off_target"])
    return RunResult(staging, manifest, gates_failed, leakage, flagged, off)


def _packed(records: Iterator[Record]) -> Iterator[Record]:
    """``records``, each packed (``records.pack``) as it passes. The type walk is skipped
    only for a record whose own source (file or shard) is read as JSON text
    (``records.read_as_json_text``): a Parquet shard's dates or numpy values after a JSONL
    shard are walked, and such a record stays parsed."""
    from_text: dict[str, bool] = {}  # per source: a folder holds a few shards
    for record in records:
        source = record.source
        text = from_text.get(source)
        if text is None:
            text = from_text[source] = read_as_json_text(source)
        pack(record, text)
        yield record


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
