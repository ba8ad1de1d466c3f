"""The code of another commit, for side-by-side benchmarks (``git archive`` into a temp dir).

The machine is shared, so only figures measured in one run, side by side, compare; every
bench that reports a speed-up runs the baseline commit's code next to the working tree's.
Nothing in the repository changes (no worktree or checkout): the baseline's files are
unpacked into a throwaway folder and put first on ``PYTHONPATH`` of the child processes.
"""

from __future__ import annotations

import atexit
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BASELINE = "34aaea4"  # main before this round of speed work (issue 15); --baseline picks another


def baseline_tree(rev: str = BASELINE) -> Path:
    """A temp folder holding ``rev``'s files (removed when the process exits)."""
    out = Path(tempfile.mkdtemp(prefix=f"curate-{rev}-"))
    atexit.register(shutil.rmtree, out, ignore_errors=True)
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", rev],
        check=True,
        capture_output=True,
    ).stdout
    tar_path = out / ".src.tar"
    tar_path.write_bytes(archive)
    with tarfile.open(tar_path) as tar:
        tar.extractall(out, filter="data")
    tar_path.unlink()
    return out
