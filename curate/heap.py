"""Give the C heap's free pages back to the system between stages.

A run holds every record until it writes, and its stages make and free many short-lived
strings and buffers on the way (texts for hashing and embedding, the audit's word lists).
glibc keeps the pages of the chunks freed among the records' live ones: they stay in the
process's resident memory, and the next stage's peak comes on top of them (at 100k bench rows,
~0.08 GiB of the ~0.65 GiB held when the split starts; see docs/dedup.md, mem21).
``malloc_trim(0)`` returns every whole free page inside the heap, not only its top; memory a
stage still uses is untouched, so nothing it computes changes.
"""

from __future__ import annotations

import ctypes
import functools
from collections.abc import Callable


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, or None where there is none (musl, macOS, Windows).

    Looked up among the symbols this process has loaded (``dlopen(NULL)``, ~0.05 ms):
    ``ctypes.util.find_library`` runs ``ldconfig -p`` in a subprocess (~6 ms), or gcc."""
    try:
        fn = getattr(ctypes.CDLL(None), "malloc_trim", None)
    except (OSError, TypeError):  # (Windows: no handle for "this process")
        return None
    if fn is None:
        return None
    fn.argtypes = [ctypes.c_size_t]
    fn.restype = ctypes.c_int
    return fn


def release_free_heap() -> bool:
    """Return the heap's free pages to the system (glibc). True when some were returned;
    False when none were, or this C library has no ``malloc_trim``."""
    fn = _malloc_trim()
    return bool(fn(0)) if fn is not None else False
