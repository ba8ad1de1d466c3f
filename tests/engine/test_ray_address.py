"""A Ray address nothing answers at is a one-line error at once, not minutes of retries."""

from __future__ import annotations

import json
import socket
from pathlib import Path

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
