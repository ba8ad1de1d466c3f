"""The Ray near pass with and without its band keys carried on the rows, per object-store size.

    python bench/ray_near_cost.py --store-mb 150 /tmp/curate-bench/chat-100000-1.jsonl
    python bench/ray_near_cost.py --store-mb 1024 /tmp/curate-bench/chat-100000-1.jsonl

Starts a two-node ``ray.cluster_utils.Cluster`` (1 CPU each) with that object store per
node, runs the front and exact dedup once, then near dedup plus the removal filter four
times, alternating ``carry_bands`` off / on (``curate run``'s split on the workers carries
them): wall seconds and the cluster's CPU seconds (its worker processes) per variant.
docs/ray.md ("Scale") has the figures.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil


def cluster_cpu() -> float:
    """CPU seconds of this script's Ray workers (descendants), live and exited.

    A live ``ray::`` worker counts its own CPU time; a worker that has exited (Ray Data ends
    idle workers, a retried task's worker dies) is counted by the process that reaped it
    (its raylet), in that process's children times, so its CPU is not lost between the
    two readings.
    """
    total = 0.0
    for p in psutil.Process().children(recursive=True):
        try:
            t = p.cpu_times()
            total += t.children_user + t.children_system  # reaped descendants
            if (p.name() or "").startswith("ray::"):
                total += t.user + t.system
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    return total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("data", help="a JSONL file of chat rows")
    ap.add_argument("--store-mb", type=int, default=150, help="object store per node, MiB")
    a = ap.parse_args()
    os.environ.setdefault("RAY_DISABLE_USAGE_STATS", "1")
    import ray
    from ray.cluster_utils import Cluster

    node = {"num_cpus": 1, "object_store_memory": a.store_mb * 2**20}
    cluster = Cluster(initialize_head=True, head_node_args={**node, "include_dashboard": False})
    cluster.add_node(**node)
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, log_to_driver=False, logging_level="WARNING")
    from curate.dedup.config import DedupConfig
    from curate.engine.ray_dedup import RayDedup
    from curate.engine.ray_rows import _without
    from curate.pipeline.config import RunConfig, RunOptions

    scratch = Path(tempfile.mkdtemp(prefix="curate-near-cost-"))
    try:
        config = RunConfig(
            run=RunOptions(semantic=False), dedup=DedupConfig(methods=["exact", "near"])
        )
        eng = RayDedup(ray, config, scratch)
        base, _ = eng.front([a.data], "read")
        gone = np.array(sorted(eng.exact(base).keep), dtype=np.int64)
        alive = base.map_batches(
            _without, batch_format="numpy", fn_kwargs={"removed": gone}
        ).materialize()
        for carry in (False, True, False, True):
            eng.carry_bands = carry
            t0, c0 = time.monotonic(), cluster_cpu()
            res = eng.near(alive)
            rows = eng.banded if eng.banded is not None else alive
            removed = np.array(sorted(res.keep), dtype=np.int64)
            rows.map_batches(
                _without, batch_format="numpy", fn_kwargs={"removed": removed}
            ).materialize()
            print(
                f"store {a.store_mb} MiB, band keys carried: {carry!s:5}: near + filter "
                f"{time.monotonic() - t0:6.1f} s wall, {cluster_cpu() - c0:6.1f} cluster CPU s, "
                f"removed {len(res.keep)}",
                flush=True,
            )
            eng.banded = None
    finally:
        ray.shutdown()
        cluster.shutdown()
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
