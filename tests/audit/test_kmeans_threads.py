"""spherical_kmeans runs its BLAS calls on $CURATE_THREADS threads (default 1): same labels as
with the library's default pool, which it used before (pure speed)."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from threadpoolctl import threadpool_info

from curate.audit.kmeans import spherical_kmeans

# Labels of the blobs below from the code before the thread limit (34aaea4).
GOLDEN = "7f24502e194a4cc2"


def _blobs() -> np.ndarray:
    rng = np.random.default_rng(3)
    centres = rng.normal(size=(12, 64))
    x = centres[rng.integers(0, 12, 30_000)] + rng.normal(scale=0.8, size=(30_000, 64))
    x = x.astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.mark.parametrize("threads", ["1", "2"])
def test_labels_do_not_depend_on_the_thread_count(monkeypatch, threads) -> None:
    monkeypatch.setenv("CURATE_THREADS", threads)
    labels = spherical_kmeans(_blobs(), 12, seed=0)
    assert hashlib.sha256(labels.astype(np.int64).tobytes()).hexdigest()[:16] == GOLDEN


def test_the_fit_runs_with_one_blas_thread_by_default(monkeypatch) -> None:
    import curate.audit.kmeans as km

    seen = []
    real = km._spherical_kmeans
    monkeypatch.setattr(
        km,
        "_spherical_kmeans",
        lambda *a: seen.append([i["num_threads"] for i in threadpool_info()]) or real(*a),
    )
    monkeypatch.delenv("CURATE_THREADS", raising=False)
    spherical_kmeans(_blobs()[:2000], 4, seed=0)
    assert seen and all(n == 1 for n in seen[0])
