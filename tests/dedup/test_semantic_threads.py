"""A process's first semantic search runs on the same thread count as every later one.

faiss's neighbour lists depend on its OpenMP thread count where scores tie, and faiss was
loaded inside the thread limit: the first search of a process ran on every CPU, the later
ones on ``CURATE_THREADS``, so the same vectors gave other pairs (and a machine's CPU count
changed the result). A fresh interpreter is needed: this process has loaded faiss already.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SCRIPT = """
import numpy as np
import curate.dedup.semantic as S
rng = np.random.default_rng(0)
base = rng.standard_normal((300, 64)).astype(np.float32)
# Groups of 16 near-copies: more than the 11 neighbours a row keeps, so scores tie at the cut.
v = np.repeat(base, 16, axis=0)[:2400] + 0.001 * rng.standard_normal((2400, 64))
v = np.ascontiguousarray(v / np.linalg.norm(v, axis=1, keepdims=True), dtype=np.float32)
kw = dict(neighbours=10, seed=0, min_score=0.75, full_floor=0.75)
first, second = S.semantic_search(v, **kw), S.semantic_search(v, **kw)
assert np.array_equal(first.pairs, second.pairs), (len(first.pairs), len(second.pairs))
assert np.array_equal(first.full, second.full)
"""


def test_the_first_search_of_a_process_equals_the_next() -> None:
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root), "CURATE_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
