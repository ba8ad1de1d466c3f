"""SIGKILL `curate run` at several points: DIR is untouched or complete, never half-written."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from curate.pipeline.manifest import verify
from tests.pipeline.conftest import CURATE

pytestmark = pytest.mark.skipif(not CURATE.exists(), reason="needs .venv/bin/curate")


def start(src: Path, out: Path, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    with open(out.parent / "stderr.log", "ab") as err:  # the child keeps its own descriptor
        return subprocess.Popen(
            [str(CURATE), "run", str(src), "-o", str(out), "--no-semantic", *extra],
            stdout=subprocess.DEVNULL,
            stderr=err,
            env=env,
        )


def staging_dirs(out: Path) -> list[Path]:
    return [p for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.curate-tmp-")]


def kill_when(proc: subprocess.Popen, out: Path, point: str, timeout: float = 120) -> bool:
    """SIGKILL ``proc`` once ``point`` is reached; False if it finished first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        stages = staging_dirs(out)
        reached = {
            "start": True,
            "staging": bool(stages),
            "rejects": any((s / "rejects.jsonl").exists() for s in stages),
            "splits": any((s / "train.jsonl").exists() for s in stages),
            "report": any((s / "report.json").exists() for s in stages),
        }[point]
        if reached:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            return True
        time.sleep(0.002)
    raise AssertionError(f"{point} not reached")


def assert_complete(out: Path) -> dict:
    manifest = json.loads((out / "manifest.json").read_text())
    assert verify(out, manifest) == []
    assert manifest["balanced"]
    return manifest


def snapshot(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(out.iterdir())}


@pytest.mark.slow
def test_sigkill_leaves_dir_untouched_or_complete(big_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    killed = 0
    # fresh DIR: after a kill it is absent (or, if the run won the race, complete)
    for point in ("start", "rejects", "splits", "report"):
        proc = start(big_file, out)
        if kill_when(proc, out, point):
            killed += 1
            if out.exists():
                assert_complete(out)
        else:
            assert proc.returncode == 0
            assert_complete(out)
        assert not out.exists() or assert_complete(out)
        if out.exists():
            shutil.rmtree(out)
    assert killed >= 3  # most points were really hit, not won by a finished run
    # a complete run, then kills during --overwrite runs: DIR keeps the old complete output
    proc = start(big_file, out, "--seed", "1")
    assert proc.wait() == 0, (tmp_path / "stderr.log").read_text()[-2000:]
    old = snapshot(out)
    for point in ("splits", "report"):
        proc = start(big_file, out, "--overwrite", "--seed", "0")
        if kill_when(proc, out, point):
            assert snapshot(out) == old
        else:
            assert_complete(out)
            old = snapshot(out)
    # the next run cleans up the dead runs' staging folders and publishes
    proc = start(big_file, out, "--overwrite", "--seed", "2")
    assert proc.wait() == 0, (tmp_path / "stderr.log").read_text()[-2000:]
    assert assert_complete(out)["seed"] == 2
    assert staging_dirs(out) == []
