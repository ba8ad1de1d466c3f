"""Where the row-heavy stages run: ``local`` (this process) or ``ray`` (a Ray cluster).

``curate run/dedup/audit --engine ray`` run the same stages on Ray Data: read + convert +
validate + filter per shard on the workers, exact dedup by hash aggregation, near dedup by
MinHash band buckets (shuffle) with verification on the workers, semantic dedup with an
embedding actor pool and a partitioned exact search. The answers match ``local`` (see
docs/ray.md for where and by how much they can differ). Ray is the optional extra ``ray``.
"""

from __future__ import annotations

from typing import Any

from curate.engine.session import ray_session
from curate.extras import ENGINES, EXTRA_HINT, check_engine, require_ray

__all__ = ["ENGINES", "EXTRA_HINT", "check_engine", "ray_session", "require_ray", "run_pipeline"]


def run_pipeline(path: str, out_dir: Any, config: Any, *, overwrite: bool = False) -> Any:
    """``curate.pipeline.run_pipeline`` on the engine ``config.run.engine`` names.

    The pipeline's stage list is the seam: with ``ray``, reading, filtering and dedup run on
    the cluster (``curate.engine.ray_stages.read_dedup``) and the pipeline's loop runs the
    rest on the batch they leave. ``local`` is the pipeline's own path.
    """
    from curate.pipeline import run_pipeline as run_local

    if config.run.engine != "ray":
        return run_local(path, out_dir, config, overwrite=overwrite)
    from curate.engine.ray_rows import worker_errors
    from curate.engine.ray_stages import read_dedup

    # One Ray session for the whole run: when the split ran on the workers, the page and
    # the card read the kept records from the cluster after read_dedup returns, so a
    # worker's error there must reach the user as one line too.
    with worker_errors(), ray_session(config.run.ray_address):
        return run_local(path, out_dir, config, overwrite=overwrite, cluster=read_dedup)
