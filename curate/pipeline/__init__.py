"""``curate run``: validate -> convert -> quality filters -> dedup -> audit -> split, in one go.

    config = load_run_config("curate.yaml", flags={"run": {"seed": 1}})
    result = run_pipeline("data.jsonl", "out/", config)

DIR receives train/test(/val).jsonl, rejects.jsonl, report.json, report.html, README.md (a
dataset card) and manifest.json, all at once (built in a hidden temp folder, then renamed into
place), so a killed run leaves DIR untouched or complete. The manifest proves
``input records == kept + rejected``. The options live in ``curate.pipeline.config``.
"""

from __future__ import annotations

from pathlib import Path

from curate.pipeline.config import (
    ConvertOptions,
    RunConfig,
    RunOptions,
    ValidateOptions,
    load_run_config,
)
from curate.pipeline.filters import FilterConfig
from curate.pipeline.result import RunResult

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


def run_pipeline(
    path: str, out_dir: str | Path, config: RunConfig, *, overwrite: bool = False
) -> RunResult:
    """Run every stage on ``path`` and publish DIR atomically. See module docstring."""
    from curate.outdir import atomic_directory
    from curate.pipeline.run import run_into

    out = Path(out_dir)
    with atomic_directory(out, overwrite, inputs=[path]) as staging:
        result = run_into(path, staging, config)
    result.out_dir = out
    return result
