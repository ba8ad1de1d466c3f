"""``curate run``: validate -> convert -> quality filters -> dedup -> audit -> split, in one go.

    config = load_run_config("curate.yaml", flags={"run": {"seed": 1}})
    result = run_pipeline("data.jsonl", "out/", config)

DIR receives train/test(/val).jsonl, rejects.jsonl, report.json, report.html, README.md (a
dataset card) and manifest.json, all at once (built in a hidden temp folder, then renamed into
place), so a killed run leaves DIR untouched or complete. The manifest proves
``input records == kept + rejected``. The options live in ``curate.pipeline.config``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

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
    path: str,
    out_dir: str | Path,
    config: RunConfig,
    *,
    overwrite: bool = False,
    cluster: Callable[..., Any] | None = None,
) -> RunResult:
    """Run every stage on ``path`` and publish DIR atomically. See module docstring.

    ``cluster``: an engine's read + filter + dedup (``curate.engine.ray_stages.read_dedup``),
    run in place of the local ones; ``curate.engine.run_pipeline`` passes it for
    ``run.engine: ray``. The pipeline never imports an engine: the engine plugs in here.
    """
    from curate.errors import ConfigError
    from curate.outdir import atomic_directory
    from curate.pipeline.run import run_into

    if config.run.engine != "local" and cluster is None:
        raise ConfigError(
            f"run.engine {config.run.engine!r} runs through curate.engine.run_pipeline "
            "(as `curate run` does)"
        )
    out = Path(out_dir)
    with atomic_directory(out, overwrite, inputs=[path]) as staging:
        result = run_into(path, staging, config, cluster)
    result.out_dir = out
    return result
