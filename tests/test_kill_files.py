"""SIGKILL `curate convert -o` and `curate dedup -o` at random moments (issue 16 #6).

After every kill the output is absent or a complete earlier output, never partial, and the
output and its rejects file come from the same run. The next run completes cleanly and leaves
no temp files behind.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from curate.records import JOURNAL_MARK, atomic_files, recover

CURATE = Path(__file__).resolve().parents[1] / ".venv" / "bin" / "curate"
pytestmark = pytest.mark.skipif(not CURATE.exists(), reason="needs .venv/bin/curate")
N = 20_000


def make_input(path: Path, variant: int) -> Path:
    lines = []
    for i in range(N):
        if i % 997 == variant:
            lines.append("{broken json")  # a different reject set per variant
            continue
        k = i if i % 50 else i - 1  # every 50th record repeats the one before: a duplicate
        lines.append(
            json.dumps(
                {
                    "instruction": f"Explain item {k} of the list in variant {variant}.",
                    "output": f"Item {k} is explained in {k % 7 + 2} short steps here. " * 3,
                }
            )
        )
    path.write_text("\n".join(lines) + "\n")
    return path


def argv(command: str, src: Path, out: Path, rej: Path) -> list[str]:
    extra = ["--method", "exact"] if command == "dedup" else []
    return [str(CURATE), command, str(src), "-o", str(out), "--rejects", str(rej), *extra]


def debris(folder: Path) -> list[str]:
    """Hidden files: temp files and journals, whatever their naming."""
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


@pytest.mark.parametrize("command", ["convert", "dedup"])
def test_sigkill_never_leaves_a_partial_or_torn_pair(tmp_path: Path, command: str) -> None:
    inputs = [make_input(tmp_path / f"in{v}.jsonl", v) for v in (0, 1)]
    work = tmp_path / "work"
    work.mkdir()
    out, rej = work / "out.jsonl", work / "rejects.jsonl"
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    # Reference outputs of each input, from clean runs, and how long a run lives once its
    # temp files exist (its write window: a fast machine converts 20k rows in ~0.1 s).
    refs, windows = [], []
    for src in inputs:
        proc = subprocess.Popen(
            argv(command, src, out, rej),
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        began = None
        while proc.poll() is None:
            if began is None and debris(work):
                began = time.monotonic()
            time.sleep(0.002)
        windows.append(time.monotonic() - began if began is not None else 0.0)
        refs.append((out.read_bytes(), rej.read_bytes()))
        out.unlink()
        rej.unlink()
    assert refs[0] != refs[1] and refs[0][1] != refs[1][1]

    rng = random.Random(16)
    kills = 0
    for attempt in range(8):
        src = inputs[attempt % 2]
        proc = subprocess.Popen(
            argv(command, src, out, rej),
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        # Kill at a random moment once writing has begun (temp files exist), or at once.
        deadline = time.monotonic() + 120
        # dedup writes its pair in well under a second once hashing is done: short delays
        # keep most kills inside the write; convert's stay inside its measured window.
        longest = min(0.3, 0.8 * min(windows)) if command == "convert" else 0.04
        delay = rng.uniform(0, longest)
        while proc.poll() is None and time.monotonic() < deadline:
            if attempt == 0 or debris(work):
                time.sleep(delay)
                break
            time.sleep(0.002)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait()
        journal = any(JOURNAL_MARK in p.name for p in work.iterdir())
        pair = (
            out.read_bytes() if out.exists() else None,
            rej.read_bytes() if rej.exists() else None,
        )
        # Never a partial file: each is absent or a whole output of one of the inputs.
        assert pair[0] in (None, refs[0][0], refs[1][0])
        assert pair[1] in (None, refs[0][1], refs[1][1])
        if not journal:  # a publish in flight is finished by the next run (tested below)
            assert pair in ((None, None), refs[0], refs[1])
    assert kills >= 5
    # The next run completes and removes what the killed ones left.
    done = subprocess.run(argv(command, inputs[0], out, rej), env=env, capture_output=True)
    assert done.returncode == 1, done.stderr  # records were rejected: exit 1
    assert (out.read_bytes(), rej.read_bytes()) == refs[0]
    assert debris(work) == []


def test_an_interrupted_publish_is_rolled_forward(tmp_path: Path) -> None:
    """A kill between the renames of a publish: the next write finishes the set."""
    out, rej = tmp_path / "out.jsonl", tmp_path / "rej.jsonl"
    out.write_text("old out\n")
    rej.write_text("old rejects\n")
    # A child writes the new pair and dies (SIGKILL) right after the first rename.
    script = f"""
import os, signal
import curate.records as r
real = os.replace
calls = []
def replace(a, b):
    real(a, b)
    calls.append(b)
    if str(b) == {str(out)!r}:
        os.kill(os.getpid(), signal.SIGKILL)
r.os.replace = replace
with r.atomic_files([{str(out)!r}, {str(rej)!r}]) as (o, j):
    o.write(b"new out\\n")
    j.write(b"new rejects\\n")
"""
    proc = subprocess.run([sys.executable, "-c", script], env=os.environ.copy(), check=False)
    assert proc.returncode == -signal.SIGKILL
    assert out.read_text() == "new out\n" and rej.read_text() == "old rejects\n"  # torn...
    assert any(JOURNAL_MARK in p.name for p in tmp_path.iterdir())  # ...but journalled
    recover(rej)  # what the next write to either file does first
    assert out.read_text() == "new out\n" and rej.read_text() == "new rejects\n"
    assert debris(tmp_path) == []
    # And a normal publish leaves nothing behind either.
    with atomic_files([out, rej, None]) as (o, j, nothing):
        assert nothing is None
        o.write(b"3\n")
        j.write(b"4\n")
    assert out.read_text() == "3\n" and rej.read_text() == "4\n" and debris(tmp_path) == []


def test_ctrl_c_between_the_renames_is_rolled_forward(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C (KeyboardInterrupt) right after the first rename: the temps stay for the
    journal, so the next write finishes the set instead of leaving a torn pair."""
    import curate.records as records

    out, rej = tmp_path / "out.jsonl", tmp_path / "rej.jsonl"
    out.write_text("old out\n")
    rej.write_text("old rejects\n")
    real = os.replace

    def replace(a: str, b: Path) -> None:
        real(a, b)
        if str(b) == str(out):
            raise KeyboardInterrupt

    monkeypatch.setattr(records.os, "replace", replace)
    with pytest.raises(KeyboardInterrupt), atomic_files([out, rej]) as (o, j):
        o.write(b"new out\n")
        j.write(b"new rejects\n")
    monkeypatch.setattr(records.os, "replace", real)
    assert out.read_text() == "new out\n" and rej.read_text() == "old rejects\n"
    monkeypatch.setattr(records, "_pid_alive", lambda pid: False)  # the next run's view
    recover(rej)
    assert out.read_text() == "new out\n" and rej.read_text() == "new rejects\n"
    assert debris(tmp_path) == []
