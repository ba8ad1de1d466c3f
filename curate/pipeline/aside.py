"""Page work done beside the run: the second CPU draws report.html's charts and duplicate
diffs while the run process audits, splits and writes the data files.

After dedup's hashing workers stop, ``curate run`` is mostly one process: a second core sits
idle through dedup's rest, the split and the writing (the audit's per-row facts use the
workers again). The parts of report.html
that need only a stage's result (the duplicates section: dedup's clusters, diffs and
histograms; the audit page's charts: the audit report's series) go to one worker process as
soon as that result exists, and the page picks them up at the end. They are pure functions
of plain data (PNG charts from matplotlib's Agg backend are the same bytes in any process),
so the page is byte-identical to one made in a single process
(``tests/pipeline/test_workers.py`` compares them). The worker is ``curate.workers``' (from
the fork server, never a fork of the run itself) and loads matplotlib while the run is
still deduplicating.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from curate.workers import has_fork_server, process_pool


def _warm() -> None:
    # Imported ahead, while the run does something else: the first chart waits for less.
    import matplotlib.backends.backend_agg  # noqa: F401
    import matplotlib.figure  # noqa: F401
    import matplotlib.ticker  # noqa: F401

    import curate.report.audit_page  # noqa: F401
    import curate.report.dupes  # noqa: F401


class Aside:
    """Named jobs run in one worker process once ``start``ed, else in this process when
    their result is asked for (the same result either way)."""

    def __init__(self) -> None:
        self.pool: ProcessPoolExecutor | None = None
        self.jobs: dict[str, tuple[Future | None, Callable[..., Any], tuple]] = {}

    def start(self) -> None:
        """Start the worker (it imports matplotlib at once, in its own process)."""
        if self.pool is None and has_fork_server():
            pool = process_pool(1, _warm)
            try:
                pool.submit(int)  # the executor starts its process on the first job
            except (OSError, BrokenProcessPool):  # no process to be had: all in this one
                pool.shutdown(wait=False, cancel_futures=True)
                return
            self.pool = pool

    def submit(self, name: str, fn: Callable[..., Any], *args: Any) -> None:
        """Run ``fn(*args)`` (a module-level function of picklable data) as job ``name``."""
        future = None
        if self.pool is not None:
            try:
                future = self.pool.submit(fn, *args)
            except BrokenProcessPool:  # the worker died: ``get`` does it here
                pass
        self.jobs[name] = (future, fn, args)

    def get(self, name: str) -> Any:
        """Job ``name``'s result (None when no such job was submitted)."""
        if name not in self.jobs:
            return None
        future, fn, args = self.jobs.pop(name)
        if future is not None:
            try:
                return future.result()
            except BrokenProcessPool:  # the worker died (killed, out of memory): do it here
                pass
        return fn(*args)

    def close(self) -> None:
        self.jobs.clear()
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
            self.pool = None
