"""Worker processes for the stages' per-record work: one way to start them, one ordered map.

The workers come from a fork server (``multiprocessing``'s "forkserver": a fresh process that
never ran our threads), never from a fork of this process: a fork of a process whose other
threads hold locks (Ray's, gRPC's, a BLAS pool's) can hang the child forever, which the test
suite hit after a Ray session. They run under ``concurrent.futures``, which notices a worker
that died (killed, out of memory) where ``multiprocessing.Pool`` would wait for its lost task
for ever, and they ignore SIGINT: Ctrl-C reaches the whole process group, and only this
process should decide what stops (a worker dying of it mid-task is what used to hang).
"""

from __future__ import annotations

import itertools
import multiprocessing
import multiprocessing.forkserver
import os
import signal
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from curate.errors import ConfigError

IN_FLIGHT = 4  # tasks per worker sent ahead: bounds what waits in the queues


def available_cpus() -> int:
    """The CPUs this process may run on (its affinity, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def env_threads(name: str, default: int) -> int:
    """The thread count in environment variable ``name`` (``default`` when unset).

    A value that is not a whole number of at least 1 is a ``ConfigError`` naming the
    variable: falling back to the default hid a typo and ran with other thread counts."""
    raw = os.environ.get(name)
    if raw is None:
        return default
    try:
        n = int(raw)
    except ValueError:
        n = 0
    if n < 1:
        raise ConfigError(f"{name}={raw!r}: expected a whole number of threads, at least 1")
    return n


def has_fork_server() -> bool:
    return "forkserver" in multiprocessing.get_all_start_methods()


def can_start(nproc: int) -> bool:
    """Whether ``nproc`` worker processes are worth starting here (more than one, and a
    fork server to start them from)."""
    return nproc > 1 and has_fork_server()


def preload_in_fork_server(modules: Sequence[str]) -> None:
    """Have the fork server import ``modules`` when it starts, so each worker forks with them
    imported instead of importing them itself. Only a server not started yet takes the list;
    one already running is kept. (Nothing where there is no fork server.)"""
    if has_fork_server():
        multiprocessing.get_context("forkserver").set_forkserver_preload(list(modules))


def start_fork_server() -> None:
    """Start the fork server now (with what ``preload_in_fork_server`` named) and return at
    once: it boots on another core while this process goes on reading, instead of when the
    first worker is wanted, this process waiting for it (~0.3 CPU s: a fresh interpreter
    importing the stages). Nothing where there is no fork server."""
    if has_fork_server():
        multiprocessing.forkserver.ensure_running()


def process_pool(
    nproc: int, initializer: Callable[..., None] | None = None, initargs: tuple = ()
) -> ProcessPoolExecutor:
    """``nproc`` workers from the fork server, each running ``initializer(*initargs)`` first."""
    return ProcessPoolExecutor(
        nproc,
        mp_context=multiprocessing.get_context("forkserver"),
        initializer=_start,
        initargs=(initializer, initargs),
    )


def _start(initializer: Callable[..., None] | None, initargs: tuple) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if initializer is not None:
        initializer(*initargs)


def ordered_map(
    fn: Callable[[Any], Any],
    tasks: Iterable[Any],
    nproc: int,
    initializer: Callable[..., None] | None = None,
    initargs: tuple = (),
    stop: threading.Event | None = None,
) -> Iterator[Any]:
    """``fn(task)`` for each task, in order, computed in ``nproc`` workers with at most
    ``IN_FLIGHT`` tasks per worker sent ahead (``tasks`` is read lazily).

    A worker that dies leaves its task and the rest to this process (``initializer`` run
    here first), so the results are the same, only later. An exception raised by ``fn``
    comes back as itself, at its task's place. Setting ``stop`` (from another thread) ends
    the map before its next task; leaving the loop early cancels what was sent ahead.
    """
    pending: deque[tuple[Any, Future]] = deque()
    todo: Iterator[Any] = iter(tasks)
    pool = process_pool(nproc, initializer, initargs)
    try:
        while True:
            if stop is not None and stop.is_set():
                return
            broken = False
            while len(pending) < IN_FLIGHT * nproc:
                task = next(todo, _END)
                if task is _END:
                    break
                try:
                    pending.append((task, pool.submit(fn, task)))
                except BrokenProcessPool:  # a worker died since the last task was sent
                    todo = itertools.chain([task], todo)
                    broken = True
                    break
            if broken:
                break
            if not pending:
                return
            try:
                result = pending[0][1].result()
            except BrokenProcessPool:
                break
            pending.popleft()
            yield result
        # The pool broke: this process computes the lost tasks and everything after them.
        if initializer is not None:
            initializer(*initargs)
        for rest in itertools.chain([t for t, _ in pending], todo):
            if stop is not None and stop.is_set():
                return
            yield fn(rest)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


_END = object()
