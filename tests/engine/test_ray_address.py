"""A Ray address nothing answers at is a one-line error at once, not minutes of retries."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from curate.cli import main
from curate.engine.session import check_reachable
from curate.errors import ConfigError


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again when the block ends: nothing listens


def test_unreachable_address_is_a_one_line_error(tmp_path: Path) -> None:
    import ray

    ray.shutdown()  # a connected Ray would be used whatever the address
    data = tmp_path / "in.jsonl"
    row = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}
    data.write_text(json.dumps(row) + "\n")
    port = _closed_port()
    result = CliRunner().invoke(
        main,
        ["dedup", str(data), "-o", str(tmp_path / "out.jsonl"), "--engine", "ray"]
        + ["--ray-address", f"127.0.0.1:{port}"],
    )
    assert result.exit_code == 2, result.output
    assert f"--ray-address 127.0.0.1:{port}: cannot connect to Ray" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "out.jsonl").exists()


def test_reachable_check_reads_ray_address_for_auto(monkeypatch: pytest.MonkeyPatch) -> None:
    port = _closed_port()
    monkeypatch.setenv("RAY_ADDRESS", f"ray://127.0.0.1:{port}")
    with pytest.raises(ConfigError, match=f"RAY_ADDRESS=ray://127.0.0.1:{port}: cannot connect"):
        check_reachable("auto")
    check_reachable("local")  # nothing to check: Ray starts its own
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        check_reachable(f"127.0.0.1:{listening.getsockname()[1]}")  # answers: no error


def _cli(args: list[str], env: dict[str, str]) -> Any:
    """``curate ARGS`` in a fresh process (no Ray started by this one), with ``env``."""
    import os
    import subprocess
    import sys

    env = {
        **{k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "RAY_AUTH_MODE")},
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
        **env,
    }
    return subprocess.run(
        [sys.executable, "-c", "from curate.cli import main; main()", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _two_same(tmp_path: Path) -> Path:
    data = tmp_path / "in.jsonl"
    row = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}
    data.write_text(json.dumps(row) + "\n" + json.dumps(row) + "\n")
    return data


def test_a_ray_started_for_the_run_says_nothing_about_authentication(tmp_path: Path) -> None:
    """Without ``RAY_ADDRESS`` the run starts its own Ray, with token authentication on (Ray's
    default): the run's stderr has no WARNING line from Ray saying so."""
    out = tmp_path / "o.jsonl"
    args = ["dedup", str(_two_same(tmp_path)), "-o", str(out), "--engine", "ray"]
    done = _cli([*args, "--method", "exact"], {})
    assert done.returncode == 1, done.stderr  # one duplicate rejected
    assert len(out.read_text().splitlines()) == 1
    assert "authentication" not in done.stderr, done.stderr


def test_a_ray_that_cannot_start_is_a_one_line_error(tmp_path: Path) -> None:
    """Ray refusing to start (here: token authentication asked for, its token file missing)
    is one line naming why, exit 2, no output: not Ray's traceback."""
    out = tmp_path / "o.jsonl"
    args = ["dedup", str(_two_same(tmp_path)), "-o", str(out), "--engine", "ray"]
    missing = tmp_path / "no-token"
    done = _cli(args, {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(missing)})
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    lines = [ln for ln in done.stderr.splitlines() if ln.strip()]
    assert lines[-1].startswith("Error: cannot start a local Ray: ") and str(missing) in lines[-1]
    assert not out.exists()
