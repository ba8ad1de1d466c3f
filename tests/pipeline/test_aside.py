"""The aside worker (``curate.pipeline.aside``): a job's result is the one this process would
compute, its errors are the same, and a dead worker costs nothing but the time."""

from __future__ import annotations

import os
import signal
import time

import pytest

from curate.pipeline.aside import Aside


def test_jobs_run_in_the_worker_and_fall_back_here_when_it_dies() -> None:
    aside = Aside()
    aside.start()
    try:
        assert aside.pool is not None
        aside.submit("pid", os.getpid)
        aside.submit("sum", sum, [1, 2, 3])
        aside.submit("bad", int, "not a number")
        worker = aside.get("pid")
        assert worker != os.getpid()  # really another process
        assert aside.get("sum") == 6
        with pytest.raises(ValueError, match="not a number"):  # as int() raises it here
            aside.get("bad")
        assert aside.get("never submitted") is None
        os.kill(worker, signal.SIGKILL)
        time.sleep(0.5)
        aside.submit("after", os.getpid)
        assert aside.get("after") == os.getpid()  # done in this process instead
    finally:
        aside.close()
    assert aside.pool is None


def test_not_started_runs_each_job_here_when_asked() -> None:
    aside = Aside()
    aside.submit("pid", os.getpid)
    assert aside.pool is None and aside.get("pid") == os.getpid()
    aside.close()
