"""`curate dedup`: exact, near and semantic duplicates; leakage against other files."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from typing import Any

import click

from curate.cli.app import (
    SEED,
    UserError,
    allow_rejects_option,
    echo_err,
    exit_code,
    handle_errors,
    json_option,
    main,
    rejects_option,
)
from curate.cli.engine_opts import engine_options
from curate.cli.options import F, config_option, field_default, field_option, section_options

METHOD_NAMES = ("exact", "near", "semantic")


def _methods(ctx: click.Context, param: click.Parameter, value: str) -> tuple[str, ...]:
    names = tuple(m.strip() for m in value.split(",") if m.strip())
    bad = [m for m in names if m not in METHOD_NAMES]
    if bad or not names:
        raise click.BadParameter(
            f"{', '.join(bad) or '(empty)'}: choose from {', '.join(METHOD_NAMES)} "
            "(comma-separated)"
        )
    return names


def _option(name: str, *decls: str, **kwargs: Any) -> Callable[[F], F]:
    return field_option("dedup", name, *decls, **kwargs)


@main.command("dedup")
@click.argument("path", type=click.Path(allow_dash=True))
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, allow_dash=True),
    help="JSONL of the kept records (atomically; - for stdout). Required unless --explain.",
)
@_option(
    "methods",
    "--method",
    "methods",
    derive=lambda cls: ",".join(field_default(cls, "methods")),
    type=str,
    multiple=False,
    callback=_methods,
    help="Comma-separated methods, run in the order exact, near, semantic.",
)
@_option("key", help="What is compared: all turns, system+user turns, or assistant turns.")
@_option("keep", help="Which member of a duplicate cluster survives (ties: the earliest).")
@_option(
    "against",
    type=click.Path(allow_dash=False),
    multiple=True,
    help="A file or folder (test split, benchmark) whose duplicates in PATH are leaks; its "
    "records must convert to chat (else exit 2). Repeatable.",
)
@_option(
    "against_key",
    derive=lambda cls: cls().leak_key(),
    help="What the leakage check compares: a benchmark's questions leak whatever answers "
    "they were given, so the prompt side by default.",
)
@_option(
    "leak_action",
    help="drop: remove leaked records (reason leaked); flag: keep them, report, exit 1.",
)
@rejects_option
@allow_rejects_option
@click.option(
    "--clusters",
    "clusters_path",
    type=click.Path(dir_okay=False),
    help="Write each duplicate cluster (ids, method, similarity) to this JSONL file.",
)
@_option(
    "explain",
    is_flag=True,
    help="Print the similarity histogram and pairs just above/below each threshold (stderr).",
)
@_option(
    "near_threshold",
    type=click.FloatRange(0, 1, min_open=True),
    help="Jaccard of word-shingle sets for near duplicates.",
)
@_option(
    "semantic_threshold",
    type=click.FloatRange(0, 1, min_open=True),
    help="Cosine for semantic duplicates [default: 0.95; 0.90 for static models].",
)
@_option("shingle_size", type=click.IntRange(1))
@_option("num_perm", type=click.IntRange(1))
@_option("bands", type=click.IntRange(1))
@_option(
    "neighbours",
    type=click.IntRange(1),
    help="Nearest neighbours looked up per record (semantic).",
)
@_option(
    "slot_guard",
    "--slot-guard/--no-slot-guard",
    help="Semantic: keep pairs that carry different numbers / proper names (filled templates).",
)
@_option(
    "model",
    help="Embedding model: fast (default; packaged static model), minilm (packaged "
    "all-MiniLM-L6-v2, ~50x slower on a CPU), or a sentence-transformers / model2vec path or name.",
)
@click.option(
    "--cache-dir",
    type=click.Path(file_okay=False),
    help="Embedding cache folder [default: $CURATE_CACHE_DIR or ~/.cache/curate].",
)
@click.option("--no-cache", is_flag=True, help="Do not read or write the embedding cache.")
@click.option("--no-nfkc", is_flag=True, help="Exact/near: do not apply Unicode NFKC.")
@click.option("--no-case-fold", is_flag=True, help="Exact/near: case matters.")
@click.option("--no-whitespace-fold", is_flag=True, help="Exact/near: whitespace matters.")
@click.option("--no-punct-fold", is_flag=True, help="Exact/near: punctuation matters.")
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Progress on stderr for steps that run over ~2 s: a bar on a terminal, plain lines "
    "otherwise [default: on].",
)
@engine_options
@_option("seed", type=SEED, help="Random seed (written to reports).")
@config_option("dedup")
@json_option
@click.pass_context
@handle_errors
def dedup_command(
    ctx: click.Context,
    path: str,
    output: str | None,
    rejects: str | None,
    allow_rejects: bool,
    clusters_path: str | None,
    cache_dir: str | None,
    no_cache: bool,
    progress: bool | None,
    config_path: str | None,
    as_json: bool,
    engine: str = "local",
    ray_address: str | None = None,
    **_: Any,
) -> None:
    """Remove exact, near and semantic duplicates from PATH; find leaks into other files.

    exact: same text after NFKC, case, whitespace and punctuation folding. near: MinHash +
    LSH over word shingles, each candidate verified by its true Jaccard. semantic: embedding
    cosine through a faiss index. Removed records go to --rejects with reason
    exact_duplicate, near_duplicate, semantic_duplicate or leaked, plus duplicate_of and
    similarity. Exit code: 0 nothing removed, 1 records removed or unreadable (--allow-rejects:
    0), leaks flagged (--leak-action flag) or no records, 2 usage or I/O error.

    Example:

    \b
        curate dedup train.jsonl -o train.dedup.jsonl --method exact,near,semantic \\
            --model fast --against test.jsonl --rejects dups.jsonl --clusters cl.jsonl
    """
    from curate.dedup import Normalizer, format_explain
    from curate.dedup.files import dedup_file
    from curate.pipeline.config import load_section

    if as_json and output == "-":
        raise UserError("--json and -o - both write to stdout; pick one")
    # Flags that set part of a field: the folds of `normalizer`, `cache_dir: false`.
    file = load_section(config_path, "dedup")
    extra: dict[str, Any] = {}
    folds = {"nfkc": "no_nfkc", "case": "no_case_fold", "whitespace": "no_whitespace_fold"}
    folds["punctuation"] = "no_punct_fold"
    unfolded = {k: False for k, flag in folds.items() if ctx.params[flag]}
    if unfolded:
        base = file.get("normalizer", Normalizer())
        extra["normalizer"] = dataclasses.replace(base, **unfolded)
    if no_cache or cache_dir is not None:
        extra["cache_dir"] = False if no_cache else cache_dir
    if progress is not None:
        extra["progress"] = progress
    elif "progress" not in file:
        extra["progress"] = True  # the command shows progress unless told not to
    config = section_options(ctx, "dedup", config_path, extra)
    if output is None and not config.explain:
        raise UserError("missing -o/--output (only --explain runs without one)")
    methods, against, explain = config.methods, config.against, config.explain
    against_key, leak_action = config.leak_key(), config.leak_action
    if engine == "ray":
        from curate.engine import check_engine
        from curate.engine.files import ray_dedup_file

        if against or explain:
            raise UserError("--against and --explain run on --engine local only")
        check_engine(engine)
        report = ray_dedup_file(path, output, config, rejects, clusters_path, ray_address)
    else:
        report = dedup_file(path, output, config, against, rejects, clusters_path)
    if explain and "explain" in report:
        echo_err(format_explain(report["explain"]))
    for warning in report.get("warnings", []):
        echo_err(f"dedup: warning: {warning}")
    if as_json:
        click.echo(json.dumps(report, ensure_ascii=False))
    removed = ", ".join(f"{k} {v:,}" for k, v in report["removed"].items() if v or k in methods)
    echo_err(
        f"curate dedup: {report['records']:,} records -> {report['kept']:,} kept"
        + (f" in {output}" if output else "")
        + f"; removed: {removed}"
        + (f"; {report['bad_lines']:,} unreadable lines" if report["bad_lines"] else "")
    )
    if against:
        echo_err(
            f"{len(report['leaks']):,} records duplicate one of the "
            f"{report['against_records']:,} records of "
            f"{', '.join(against)} on the {against_key} key "
            f"({'removed' if leak_action == 'drop' else 'flagged'})"
        )
    flagged = (
        [f"{len(report['leaks'])} records leak into --against (--leak-action flag)"]
        if report["leaks"] and leak_action == "flag"
        else []
    )
    rejected = report["rejected"] if output is not None else 0
    ctx.exit(exit_code("dedup", report["lines_in"], rejected, allow_rejects, flagged))
