"""Ctrl-C: every command exits 130 with one line, and leaves no output (qa10 #8)."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest
from click.testing import CliRunner

from curate.cli import main
from curate.formats import Converter


@pytest.mark.parametrize("command", ["convert", "run"])
def test_ctrl_c_exits_130_with_one_line_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    rows = [{"instruction": f"Say {i}", "output": f"{i}"} for i in range(5)]
    src = tmp_path / "in" / "alpaca.jsonl"
    src.parent.mkdir()
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    convert = Converter.__call__

    def interrupted_at_line_3(self: Converter, record):  # a real SIGINT, mid-read
        if record.line == 3:
            os.kill(os.getpid(), signal.SIGINT)
        return convert(self, record)

    monkeypatch.setattr(Converter, "__call__", interrupted_at_line_3)
    out = tmp_path / "out" / ("o.jsonl" if command == "convert" else "run")
    out.parent.mkdir()
    extra = ["--no-semantic"] if command == "run" else []
    res = CliRunner().invoke(main, [command, str(src), "-o", str(out), *extra])
    assert res.exit_code == 130, res.output
    assert res.stderr == f"{command}: interrupted\n"
    assert list(out.parent.iterdir()) == []  # nothing half-written, no temp file left
