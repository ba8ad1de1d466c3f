"""`curate audit`: shape, languages, diversity and consistency findings, with gates."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from curate.cli.app import (
    SEED,
    allow_rejects_option,
    echo_err,
    exit_code,
    handle_errors,
    json_option,
    main,
)
from curate.cli.engine_opts import engine_options
from curate.cli.options import F, config_option, field_option, section_options

if TYPE_CHECKING:
    from curate.audit import AuditReport


def _option(name: str, *decls: str, **kwargs: Any) -> Callable[[F], F]:
    return field_option("audit", name, *decls, **kwargs)


@main.command("audit")
@click.argument("path", type=click.Path(dir_okay=True, allow_dash=True))
@json_option
@click.option("--html", "html_path", type=click.Path(dir_okay=False), help="Write the HTML report.")
@_option("label", help="Dotted path of a category field for label balance (meta.category).")
@_option(
    "fail_on",
    "--fail-on",
    metavar="RULE",
    multiple=True,
    help="Exit 1 when a rule holds: conflicting_answers>0, near_duplicate_share>0.05, "
    "min_records=100 (repeatable; any finding code or metric).",
)
@click.option("--card", "card_path", type=click.Path(dir_okay=False), help="Write a dataset card.")
@click.option("--card-license", help="License for the card's YAML header (e.g. apache-2.0).")
@_option("tokenizer", help="Local HF tokenizer for exact token counts (default: estimate).")
@_option(
    "model",
    help="Embedding model: fast (default; packaged static model), minilm (packaged MiniLM), "
    "or a path.",
)
@click.option("--no-embeddings", is_flag=True, help="Skip embedding-based diversity (faster).")
@_option(
    "max_embed",
    type=click.IntRange(1),
    help="Embed at most this many conversations, a seeded sample "
    "(default: 5,000; 50,000 with a static model such as --model fast).",
)
@_option(
    "language_sample",
    type=click.IntRange(0),
    help="Detect languages on at most this many conversations (0: all).",
)
@allow_rejects_option
@_option("seed", type=SEED, help="Random seed (written to reports).")
@config_option("audit")
@engine_options
@click.pass_context
@handle_errors
def audit_command(
    ctx: click.Context,
    path: str,
    as_json: bool,
    html_path: str | None,
    card_path: str | None,
    card_license: str | None,
    no_embeddings: bool,
    allow_rejects: bool,
    config_path: str | None,
    engine: str = "local",
    ray_address: str | None = None,
    **_: Any,
) -> None:
    """Audit a chat / Alpaca / ShareGPT file: shape, languages, diversity and findings.

    Findings carry stable codes and 1-based record numbers: conflicting_answers,
    template_placeholder, repetition, style_outlier, missing_user, short_answer, refusal,
    language_mismatch (plus unreadable, not_chat). Exit code 1 when a --fail-on rule holds,
    when lines are unreadable or not chat (--allow-rejects: 0 for those) or there are no
    records; 2 on a usage or input error.

    Quote rules in a shell: > is a redirection.

    Example:

    \b
        curate audit data.jsonl --html audit.html --fail-on 'conflicting_answers>0'
    """
    from curate.audit import audit_path, write_card
    from curate.records import atomic_writer, check_output_paths

    check_output_paths([path, config_path], [html_path, card_path])
    extra = {"embeddings": False} if no_embeddings else {}
    config = section_options(ctx, "audit", config_path, extra)
    if engine == "ray":  # the same report from aggregates merged over a Ray cluster
        from curate.engine import check_engine
        from curate.engine.ray_audit import audit_path_ray

        check_engine(engine)
        report = audit_path_ray(path, config, ray_address)
    else:
        report = audit_path(path, config)
    if html_path:
        from curate.report.audit_page import render_audit_page  # (~0.1 s of imports)

        with atomic_writer(html_path, "w") as fh:
            fh.write(render_audit_page(report))
    if card_path:
        write_card(report, card_path, license=card_license)
    _summary(report)
    if as_json:
        from curate.pipeline.output import write_json

        # Streamed: a Ray audit's findings stay in their file (same bytes as one dump).
        write_json(sys.stdout.buffer, report.to_dict(lazy=True), findings_at=())
        sys.stdout.flush()
    m = report.metrics
    flagged = [f"gate failed: {f['rule']}" for f in report.gates.get("failures", [])]
    rejected = m.get("unreadable", 0) + m.get("not_chat", 0)
    ctx.exit(exit_code("audit", m["records"], rejected, allow_rejects, flagged))


def _summary(report: AuditReport) -> None:
    """The human summary, on stderr."""
    from curate.audit.model import FINDING_CODES

    m = report.metrics
    echo_err(
        f"audit {report.source}: {m['records']:,} records, {m['conversations']:,} conversations"
    )
    for w in report.warnings:
        echo_err(f"warning: {w}")
    for code in FINDING_CODES:
        if m[code]:
            echo_err(f"  {code:<22} {m[code]:>7,} records")
    echo_err(f"  {report.languages['reading']}")
    for text in report.diversity["readings"].values():
        echo_err(f"  {text}")
    echo_err("  time: " + ", ".join(f"{k} {v:.1f}s" for k, v in report.timings.items()))
    for f in report.gates.get("failures", []):
        echo_err(f"gate failed: {f['message']}")
    if report.gates and not report.gates_failed:
        echo_err(f"gates passed: {', '.join(report.gates['rules'])}")
