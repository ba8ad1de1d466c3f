"""`curate run`: a raw file to a train-ready, audited, leakage-safe dataset folder."""

from __future__ import annotations

from typing import Any

import click
import orjson

from curate.cli.app import (
    SEED,
    allow_rejects_option,
    echo_err,
    exit_code,
    handle_errors,
    json_option,
    main,
)
from curate.cli.engine_opts import engine_options, shards_option
from curate.cli.options import config_option, field_option, section_flags
from curate.cli.split_cmd import share_lines, split_flags


@main.command("run")
@click.argument("path", type=click.Path(dir_okay=True, allow_dash=True))
@click.option(
    "-o",
    "--output",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False),
    help="Output folder (created atomically; see --overwrite).",
)
@config_option(
    "run", help="YAML run config: sections run/validate/convert/filter/dedup/audit/split."
)
@field_option("run", "seed", type=SEED, help="Seed for every stage (a section's own seed wins).")
@field_option(
    "run",
    "semantic",
    "--semantic/--no-semantic",
    help="Embeddings for semantic dedup, diversity and the semantic leakage check.",
)
@click.option("--overwrite", is_flag=True, help="Replace a non-empty output folder (atomically).")
@field_option("split", "test_size", help="Share of records for test.")
@field_option("split", "val_size", help="Share of records for validation.")
@field_option(
    "split",
    "stratify",
    metavar="KEY",
    multiple=True,
    help="Stratum key(s) for the split (see curate split --help).",
)
@field_option("split", "group", metavar="FIELD", help="Records sharing FIELD stay on one side.")
@field_option(
    "audit",
    "fail_on",
    "--fail-on",
    multiple=True,
    metavar="RULE",
    help="Audit gate, e.g. conflicting_answers>0 (exit 1 when broken).",
)
@click.option(
    "--field",
    "fields",
    multiple=True,
    metavar="KEY=PATH",
    help="Field mapping for other layouts (as curate convert --field; convert.fields in YAML).",
)
@field_option(
    "dedup",
    "against",
    multiple=True,
    metavar="PATH",
    help="Eval/benchmark file or folder: records whose prompt is in it are dropped (stage "
    "leakage). Repeatable; replaces dedup.against of the config.",
)
@field_option(
    "split",
    "min_stratum",
    type=click.IntRange(0),
    help="Strata with fewer records are pooled into '<other>' (see curate split --help).",
)
@field_option(
    "split", "strict", is_flag=True, help="Exit 1 when test misses its share (split.tolerance)."
)
@field_option("run", "parquet", is_flag=True, help="Also write <side>.parquet.")
@field_option("run", "hf_dataset", is_flag=True, help="Also save an HF DatasetDict to DIR/hf.")
@field_option(
    "run",
    "workers",
    type=click.IntRange(0),
    help="Processes for dedup's hashing (0: every available CPU, 1: this process only).",
)
@allow_rejects_option
@engine_options
@shards_option
@json_option
@click.pass_context
@handle_errors
def run_cmd(
    ctx: click.Context,
    path: str,
    out_dir: str,
    config_path: str | None,
    overwrite: bool,
    allow_rejects: bool,
    as_json: bool,
    fields: tuple[str, ...],
    **_: Any,
) -> None:
    """Validate, convert, filter, dedup, audit and split PATH into DIR, all or nothing.

    DIR gets train.jsonl, test.jsonl (val.jsonl), rejects.jsonl (every dropped record with
    its line, stage and reason), report.json, report.html, README.md (dataset card) and
    manifest.json (counts that add up, config, versions, sha256 of every file). Records whose
    prompt is in an --against (dedup.against) file are dropped, stage leakage. Every field and
    path the config names is checked before the heavy stages. stderr also summarises the audit
    findings and the achieved test share. Exit code 1 when records were rejected
    (--allow-rejects: 0), an audit gate (--fail-on / audit.fail_on) fails, the splits leak,
    leaks against --against files are flagged, the share is off target under --strict, or there
    are no records; the outputs are still written. DIR may not hold the input.

    Example:

        curate run sample_data/sample.jsonl -o out/ --config sample_data/curate.yaml
    """
    from curate.engine import run_pipeline
    from curate.fieldmap import field_flags
    from curate.pipeline import load_run_config
    from curate.records import check_output_paths

    # --overwrite replaces DIR whole: it may not hold the input or the config file.
    check_output_paths([path, config_path], [], [out_dir])

    flags: dict[str, dict[str, Any]] = {
        "run": section_flags(ctx, "run"),
        "split": split_flags(ctx),
        "audit": section_flags(ctx, "audit"),
        "convert": {"fields": field_flags(fields)} if fields else {},
        "dedup": section_flags(ctx, "dedup"),
    }
    config = load_run_config(config_path, flags)
    result = run_pipeline(path, out_dir, config, overwrite=overwrite)
    m = result.manifest
    outputs = ", ".join(f"{k} {v}" for k, v in m["outputs"].items())
    echo_err(
        f"run: {m['input']['records']} records in -> {outputs}; {m['rejected']} rejected "
        f"({', '.join(f'{k} {v}' for k, v in m['rejected_by_reason'].items()) or 'none'})"
    )
    for line in summary_lines(m):
        echo_err(f"run: {line}")
    echo_err(f"run: wrote {out_dir}/ (manifest.json, report.html, README.md, rejects.jsonl)")
    if m["rejected_by_reason"].get("unknown_format"):
        _hint_mapping(out_dir)
    for rule in result.gates_failed:
        echo_err(f"run: gate failed: {rule}")
    if result.leakage:
        echo_err(f"run: leakage across splits: {result.leakage}")
    if as_json:
        click.echo(orjson.dumps(m, option=orjson.OPT_INDENT_2).decode())
    flagged = [f"gate failed: {rule}" for rule in result.gates_failed]
    if result.leakage:
        flagged.append(f"leakage across splits: {result.leakage}")
    if result.flagged_leaks:
        flagged.append(f"{result.flagged_leaks} records leak from --against files (flagged)")
    if result.off_target:
        flagged.append("test share off target (--strict)")
    ctx.exit(exit_code("run", m["input"]["records"], m["rejected"], allow_rejects, flagged))


def _hint_mapping(out_dir: str) -> None:
    """Records of unknown layout: show the field mapping their keys suggest (report.json)."""
    from pathlib import Path

    from curate.fieldmap import describe

    report = orjson.loads((Path(out_dir) / "report.json").read_bytes())
    fit = report.get("convert", {}).get("suggested_fields")
    if fit:
        echo_err(f"run: records of unknown layout; a mapping that fits: {describe(fit)}")


def summary_lines(m: dict[str, Any]) -> list[str]:
    """What else the run found, beside the rejects: leaks, audit findings, split share."""
    out = []
    ag = m.get("against") or {}
    if ag.get("files"):
        verb = "dropped" if ag["leak_action"] == "drop" else "flagged (kept)"
        out.append(
            f"leakage: {ag['leaks']} records share the {ag['key']} of one of "
            f"{ag['records']} records in {len(ag['files'])} against file(s); {verb}"
        )
    findings = m.get("findings") or {}
    kept = [f"{k} {v['kept']}" for k, v in findings.items() if v["kept"]]
    gone = [f"{k} {v['dropped']}" for k, v in findings.items() if v["drop_finding"]]
    if kept:
        out.append(f"audit findings in the kept data: {', '.join(kept)} (see report.html)")
    if gone:
        out.append(f"dropped for audit findings (filter.drop_findings): {', '.join(gone)}")
    if not findings:
        out.append("audit findings: none")
    shares = m.get("shares") or {}
    out += share_lines(shares)
    if shares.get("pooled_strata"):
        out.append(f"{shares['pooled_strata']} small strata pooled into '<other>'")
    return out
