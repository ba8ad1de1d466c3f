"""Seeded spherical k-means in numpy: deterministic, dependency-free, fast enough for 100k x 384
(the fit uses a seeded sample of at most ``FIT_ROWS`` vectors; every vector is then assigned).

In pieces (``fit_sample``, ``fit_centers``, ``assign``) so that the Ray audit fits on the
sampled rows' vectors alone and assigns the rest where they are, on its workers.
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


def fit_sample(n: int, seed: int) -> tuple[np.ndarray, np.random.Generator]:
    """The fit's rows among ``n`` (sorted positions: a seeded ``FIT_ROWS`` of them, or all),
    and the generator, past that draw, that seeds the centres.

    Drawing the sample makes a transient index array of up to ``n`` (numpy's ``choice``
    without replacement may permute all positions); the Ray audit draws it the same way, so
    both fit on the same rows.
    """
    rng = np.random.default_rng(seed)
    if n > FIT_ROWS:
        return np.sort(rng.choice(n, FIT_ROWS, replace=False)), rng
    return np.arange(n), rng


def fit_centers(x: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Spherical k-means on the fit sample ``x`` (float32, L2-normalised): the ``k`` centres.

    ``rng``: as ``fit_sample`` returns it (k-means++ seeding draws from it).
    """
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
    return centers


def assign(x: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """Each row's nearest centre (cosine), the same whichever rows share the call.

    A float32 matrix product may round a row's scores differently with the matrix's shape
    (BLAS picks kernels and blockings by size), so a batch of a Ray worker and the whole
    array could differ where two centres nearly tie. Scores computed in any summation order
    are each within ``gamma = dim * eps * |x| * max|c|`` of the exact ones: where the best
    beats the runner-up by more than ``4 * gamma``, every order picks the same (exact)
    best; the other rows are scored again one at a time in float64, the same call for a
    row wherever it sits.
    """
    x = np.asarray(x, dtype=np.float32)
    labels = np.zeros(len(x), dtype=np.int64)
    if not len(x):
        return labels
    c = np.asarray(centers, dtype=np.float32)
    scores = x @ c.T
    labels = np.argmax(scores, axis=1)
    if c.shape[0] < 2:
        return labels
    top2 = -np.partition(-scores, 1, axis=1)[:, :2]
    gap = top2[:, 0] - top2[:, 1]
    # (eps is twice float32's unit roundoff: the bound with room for the norms' own rounding)
    eps = float(np.finfo(np.float32).eps)
    c_norm = float(np.sqrt(np.einsum("ij,ij->i", c, c)).max())
    gamma = x.shape[1] * eps * c_norm * np.sqrt(np.einsum("ij,ij->i", x, x))
    close = np.flatnonzero(~(gap > 4 * gamma))  # (a NaN gap is rescored too)
    if close.size:
        c64 = c.astype(np.float64)
        for i in close.tolist():
            labels[i] = int(np.argmax(c64 @ x[i].astype(np.float64)))
    return labels


def spherical_kmeans(vecs: np.ndarray, k: int, seed: int = 0) -> np.ndarray:
    """Cluster L2-normalised vectors by cosine similarity; returns a label per vector."""
    x_all = np.asarray(vecs, dtype=np.float32)
    rows, rng = fit_sample(len(x_all), seed)
    return assign(x_all, fit_centers(x_all[rows], k, rng))
