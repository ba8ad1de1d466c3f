"""Seeded spherical k-means in numpy: deterministic, dependency-free, fast enough for 100k x 384
(the fit uses a seeded sample of at most ``FIT_ROWS`` vectors; every vector is then assigned).
"""

from __future__ import annotations

import math

import numpy as np

FIT_ROWS = 20_000
MAX_ITER = 30


def choose_k(n: int, cap: int = 50) -> int:
    """~sqrt(n/2) clusters (a common rule of thumb), at least 2 and at most ``cap``."""
    return int(max(2, min(cap, round(math.sqrt(n / 2)), n)))


def _plus_plus(x: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """k-means++ seeding on cosine distance."""
    centers = [int(rng.integers(len(x)))]
    dist = 1.0 - x @ x[centers[0]]
    for _ in range(1, k):
        d = np.maximum(dist, 0.0)
        total = d.sum()
        nxt = int(rng.choice(len(x), p=d / total)) if total > 0 else int(rng.integers(len(x)))
        centers.append(nxt)
        dist = np.minimum(dist, 1.0 - x @ x[nxt])
    return x[centers].copy()


def spherical_kmeans(vecs: np.ndarray, k: int, seed: int = 0) -> np.ndarray:
    """Cluster L2-normalised vectors by cosine similarity; returns a label per vector."""
    x_all = np.asarray(vecs, dtype=np.float32)
    rng = np.random.default_rng(seed)
    fit_idx = (
        np.sort(rng.choice(len(x_all), FIT_ROWS, replace=False))
        if len(x_all) > FIT_ROWS
        else np.arange(len(x_all))
    )
    x = x_all[fit_idx]
    centers = _plus_plus(x, k, rng)
    labels = np.full(len(x), -1)
    for _ in range(MAX_ITER):
        new = np.argmax(x @ centers.T, axis=1)
        if np.array_equal(new, labels):
            break
        labels = new
        for j in range(k):
            members = x[labels == j]
            if len(members):
                c = members.sum(axis=0)
                norm = np.linalg.norm(c)
                centers[j] = c / norm if norm > 0 else c
            else:
                # An empty cluster takes the point worst served by its centre.
                worst = int(np.argmin((x * centers[labels]).sum(axis=1)))
                centers[j] = x[worst]
    return np.argmax(x_all @ centers.T, axis=1)
