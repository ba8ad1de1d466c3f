"""`curate run` pauses the cycle collector (issue 15, speed): what that relies on.

Each full collection walked every record the run holds (~13% of the reading phase's CPU at
100k rows), so the run turns it off. That is only safe while the run's stages free what they
build by reference counting alone: a cycle would now live until the process ends.
"""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import curate.pipeline.run as run_mod
from curate.dedup import DedupConfig
from curate.dedup.engine import Engine, dedup
from curate.errors import ConfigError
from curate.pipeline import load_run_config, run_pipeline
from tests.dedup.identity_data import identity_records

SAMPLE = Path(__file__).resolve().parents[2] / "sample_data" / "sample.jsonl"


@pytest.fixture
def no_cycle_collector() -> Iterator[None]:
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def test_a_dedup_engine_is_freed_without_the_cycle_collector(no_cycle_collector: None) -> None:
    # The engine used to hand its vectors a bound method of itself (engine -> vectors ->
    # engine): with the collector paused it, and the records dedup removed, stayed alive.
    records = identity_records()
    engine = Engine(records, DedupConfig(methods=("exact", "near")))
    engine.clusters(np.ones(len(records), dtype=bool))
    ref = weakref.ref(engine)
    del engine
    assert ref() is None
    res = dedup(records, DedupConfig(methods=("exact", "near")))
    assert res.result.dropped  # the data has duplicates: the engine really ran


def test_run_pauses_the_collector_and_turns_it_back_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[bool] = []
    log = run_mod._log
    monkeypatch.setattr(run_mod, "_log", lambda m: (seen.append(gc.isenabled()), log(m)))
    assert gc.isenabled()
    config = load_run_config(None, {"run": {"semantic": False}})
    run_pipeline(str(SAMPLE), tmp_path / "out", config)
    assert seen and not any(seen)  # paused at every stage
    assert gc.isenabled()
    # A failing run turns it back on too.
    bad = load_run_config(None, {"run": {"semantic": False}, "split": {"stratify": ["nope"]}})
    with pytest.raises(ConfigError):
        run_pipeline(str(SAMPLE), tmp_path / "out2", bad)
    assert gc.isenabled()
    assert not (tmp_path / "out2").exists()
