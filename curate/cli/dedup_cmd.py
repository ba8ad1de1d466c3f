"""`curate dedup`: exact, near and semantic duplicates; leakage against other files."""

from __future__ import annotations

import json

import click

from curate.cli.app import (
    UserError,
    allow_rejects_option,
    echo_err,
    exit_code,
    handle_errors,
    json_option,
    main,
    rejects_option,
    seed_option,
)
from curate.cli.engine_opts import engine_options

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


@main.command("dedup")
@click.argument("path", type=click.Path(allow_dash=True))
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, allow_dash=True),
    help="JSONL of the kept records (atomically; - for stdout). Required unless --explain.",
)
@click.option(
    "--method",
    "methods",
    default="exact,near",
    show_default=True,
    callback=_methods,
    help="Comma-separated methods, run in the order exact, near, semantic.",
)
@click.option(
    "--key",
    type=click.Choice(["conversation", "prompt", "response"]),
    default="conversation",
    show_default=True,
    help="What is compared: all turns, system+user turns, or assistant turns.",
)
@click.option(
    "--keep",
    type=click.Choice(["first", "longest", "shortest"]),
    default="first",
    show_default=True,
    help="Which member of a duplicate cluster survives (ties: the earliest).",
)
@click.option(
    "--against",
    multiple=True,
    type=click.Path(allow_dash=False),
    help="A file or folder (test split, benchmark) whose duplicates in PATH are leaks; its "
    "records must convert to chat (else exit 2). Repeatable.",
)
@click.option(
    "--against-key",
    type=click.Choice(["prompt", "conversation", "response"]),
    default="prompt",
    show_default=True,
    help="What the leakage check compares: a benchmark's questions leak whatever answers "
    "they were given, so the prompt side by default.",
)
@click.option(
    "--leak-action",
    type=click.Choice(["drop", "flag"]),
    default="drop",
    show_default=True,
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
@click.option(
    "--explain",
    is_flag=True,
    help="Print the similarity histogram and pairs just above/below each threshold (stderr).",
)
@click.option(
    "--near-threshold",
    type=click.FloatRange(0, 1, min_open=True),
    default=0.75,
    show_default=True,
    help="Jaccard of word-shingle sets for near duplicates.",
)
@click.option(
    "--semantic-threshold",
    type=click.FloatRange(0, 1, min_open=True),
    help="Cosine for semantic duplicates [default: 0.95; 0.90 for static models].",
)
@click.option("--shingle-size", type=click.IntRange(1), default=5, show_default=True)
@click.option("--num-perm", type=click.IntRange(1), default=64, show_default=True)
@click.option("--bands", type=click.IntRange(1), default=16, show_default=True)
@click.option(
    "--neighbours",
    type=click.IntRange(1),
    default=10,
    show_default=True,
    help="Nearest neighbours looked up per record (semantic).",
)
@click.option(
    "--slot-guard/--no-slot-guard",
    default=True,
    show_default=True,
    help="Semantic: keep pairs that carry different numbers / proper names (filled templates).",
)
@click.option(
    "--model",
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
@seed_option
@json_option
@handle_errors
def dedup_command(
    path: str,
    output: str | None,
    methods: tuple[str, ...],
    key: str,
    keep: str,
    against: tuple[str, ...],
    against_key: str,
    leak_action: str,
    rejects: str | None,
    allow_rejects: bool,
    clusters_path: str | None,
    explain: bool,
    near_threshold: float,
    semantic_threshold: float | None,
    shingle_size: int,
    num_perm: int,
    bands: int,
    neighbours: int,
    slot_guard: bool,
    model: str | None,
    cache_dir: str | None,
    no_cache: bool,
    no_nfkc: bool,
    no_case_fold: bool,
    no_whitespace_fold: bool,
    no_punct_fold: bool,
    progress: bool | None,
    seed: int,
    as_json: bool,
    engine: str = "local",
    ray_address: str | None = None,
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
    from curate.dedup import DedupConfig, Normalizer, format_explain
    from curate.dedup.files import dedup_file

    if output is None and not explain:
        raise UserError("missing -o/--output (only --explain runs without one)")
    if as_json and output == "-":
        raise UserError("--json and -o - both write to stdout; pick one")
    config = DedupConfig(
        methods=methods,
        key=key,  # type: ignore[arg-type]
        keep=keep,  # type: ignore[arg-type]
        normalizer=Normalizer(
            nfkc=not no_nfkc,
            case=not no_case_fold,
            whitespace=not no_whitespace_fold,
            punctuation=not no_punct_fold,
        ),
        near_threshold=near_threshold,
        shingle_size=shingle_size,
        num_perm=num_perm,
        bands=bands,
        semantic_threshold=semantic_threshold,
        neighbours=neighbours,
        slot_guard=slot_guard,
        model=model,
        cache_dir=False if no_cache else cache_dir,
        seed=seed,
        explain=explain,
        leak_action=leak_action,  # type: ignore[arg-type]
        against_key=against_key,  # type: ignore[arg-type]
        progress=True if progress is None else progress,
    )
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
    click.get_current_context().exit(
        exit_code("dedup", report["lines_in"], rejected, allow_rejects, flagged)
    )
