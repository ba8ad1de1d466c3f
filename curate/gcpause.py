"""The cycle collector paused while a stage holds every record (the audit, dedup, ``curate run``).

They allocate millions of small objects while the records they read stay alive, and each full
collection walks all of them: ~40% of building the audit's conversation views at 100k rows,
~13% of ``curate run``'s reading phase, and in ``dedup()`` the embedder's token lists and the
union-find's lists set them off. Nothing they build relies on the cycle collector (reference
counting frees it; ``tests/pipeline/test_gc_paused.py``, ``tests/dedup/test_collector.py``),
and it resumes after.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic garbage collection inside the block; collection resumes after, if it was on."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
