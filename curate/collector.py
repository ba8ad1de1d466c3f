"""The cycle collector paused while a stage holds every record of a run.

Each full collection walks every live container object: with 100k parsed records alive, the
many small objects a stage allocates (the audit's views, dedup's union-find lists and the
embedder's token lists) set off collections whose cost is the records, not the stage's
garbage. The stages free what they build by reference counting alone
(``tests/pipeline/test_gc_paused.py``), so they run with the collector off.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic garbage collection inside; the collector's state is restored after (a
    caller that had turned it off keeps it off)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
