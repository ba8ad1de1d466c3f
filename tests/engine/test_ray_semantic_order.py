"""The Ray engine's semantic centre and k-means partitions do not depend on the order in
which its tasks finish: the partial results are put in row order on the driver."""

from __future__ import annotations

import numpy as np
import pytest

from curate.engine.ray_dedup import RayDedup
from curate.pipeline.config import RunConfig

pytestmark = pytest.mark.filterwarnings(
    "ignore::DeprecationWarning",
    "ignore::FutureWarning",
    "ignore::pytest.PytestUnraisableExceptionWarning",
    "ignore::ResourceWarning",
)


def _blocks(ray, vecs: np.ndarray, reverse: bool):
    """The rows as 40 blocks, listed forwards or backwards: what the driver collects
    first differs, as when tasks finish in another order."""
    import pyarrow as pa
    from ray.data.extensions import ArrowTensorArray

    tables = [
        pa.table({"idx": ids.astype(np.int64), "vec": ArrowTensorArray.from_numpy(vecs[ids])})
        for ids in np.array_split(np.arange(len(vecs)), 40)
    ]
    return ray.data.from_arrow(tables[::-1] if reverse else tables)


def test_centre_and_partitions_do_not_depend_on_block_order(ray_cluster) -> None:
    import ray

    rng = np.random.default_rng(3)
    vecs = rng.standard_normal((6000, 32)).astype(np.float32) * np.float32(1e3)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    eng = RayDedup(ray, RunConfig(), None)
    got = []
    for reverse in (False, True):
        ds = _blocks(ray, vecs, reverse)
        mean = eng._centre(ds)
        centroids = eng._kmeans(ds, 4, len(vecs), mean)
        got.append((mean.tobytes(), centroids.tobytes()))
    assert got[0][0] == got[1][0]
    assert got[0][1] == got[1][1]
