"""The worker processes (``curate.workers``): results in order, a worker that dies or a
stop request never hangs the caller, and the results stay those of one process."""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time

import pytest

from curate import workers
from curate.workers import can_start, ordered_map

pytestmark = pytest.mark.skipif(not can_start(2), reason="needs a fork server")


def square(task: int) -> int:
    return task * task


def die_on_three(task: int) -> int:
    # Only a worker dies; the run's own process (the fallback) computes it.
    if task == 3 and multiprocessing.parent_process() is not None:
        os.kill(os.getpid(), signal.SIGKILL)
    return task * task


def die_after_two(task: int) -> int:
    # The worker answers task 2, then dies while this process is busy elsewhere.
    if task == 2 and multiprocessing.parent_process() is not None:
        threading.Timer(0.1, os.kill, (os.getpid(), signal.SIGKILL)).start()
    return task * task


def ignores_sigint(_task: int) -> bool:
    return signal.getsignal(signal.SIGINT) is signal.SIG_IGN


def fail_on_two(task: int) -> int:
    if task == 2:
        raise ValueError(f"task {task}")
    return task


def test_results_come_in_order_with_few_tasks_ahead() -> None:
    assert list(ordered_map(square, range(50), 2)) == [t * t for t in range(50)]


def test_a_killed_worker_leaves_the_rest_to_this_process() -> None:
    # multiprocessing.Pool waited for the killed worker's task for ever here.
    assert list(ordered_map(die_on_three, range(20), 2)) == [t * t for t in range(20)]


def test_an_error_comes_back_at_its_place() -> None:
    got = ordered_map(fail_on_two, range(10), 2)
    assert [next(got), next(got)] == [0, 1]
    with pytest.raises(ValueError, match="task 2"):
        next(got)


def test_workers_leave_ctrl_c_to_the_run() -> None:
    assert all(ordered_map(ignores_sigint, range(4), 2))


def test_stop_ends_the_map() -> None:
    stop = threading.Event()
    got = []
    for value in ordered_map(square, range(1000), 2, stop=stop):
        got.append(value)
        if len(got) == 5:
            stop.set()
    assert got == [0, 1, 4, 9, 16]


def test_a_worker_dead_before_the_next_task_is_sent(monkeypatch: pytest.MonkeyPatch) -> None:
    # The pool is found broken when the next task is submitted, not when a result is awaited.
    monkeypatch.setattr(workers, "IN_FLIGHT", 1)
    got = []
    for value in ordered_map(die_after_two, range(8), 1):
        got.append(value)
        if value == 4:
            time.sleep(1.0)
    assert got == [t * t for t in range(8)]
