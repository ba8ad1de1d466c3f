"""Sharded input (folder / glob) and sharded output on the local engine (no Ray needed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from curate.cli import main
from curate.errors import InputError
from curate.shards import expand
from tests.engine.helpers import planted_shards


def test_folder_and_glob_name_the_same_shards_in_order(tmp_path: Path) -> None:
    planted_shards(tmp_path / "d")
    (tmp_path / "d" / ".hidden.jsonl").write_text("{}\n")
    names = [Path(p).name for p in expand(str(tmp_path / "d"))]
    assert names == ["part-000.jsonl", "part-001.jsonl.gz", "part-002.parquet"]
    assert [Path(p).name for p in expand(str(tmp_path / "d" / "part-00[01]*"))] == names[:2]
    with pytest.raises(InputError, match="matches no data files"):
        expand(str(tmp_path / "d" / "*.csv"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="holds no data files"):
        expand(str(tmp_path / "empty"))


def test_run_on_a_glob_of_shards_with_sharded_output(tmp_path: Path) -> None:
    planted_shards(tmp_path / "d")
    out = tmp_path / "out"
    result = CliRunner().invoke(
        main,
        [
            "run",
            str(tmp_path / "d" / "part-*"),
            "-o",
            str(out),
            "--no-semantic",
            "--shards",
            "3",
            "--allow-rejects",
        ],
    )
    assert result.exit_code == 0, result.stderr
    m = json.loads((out / "manifest.json").read_text())
    # 203 records + 2 unreadable lines over three shards (one blank line is not a record).
    assert m["input"]["records"] == 205 and m["balanced"]
    assert m["input"]["container"] == "mixed"
    rejects = [json.loads(x) for x in (out / "rejects.jsonl").read_text().splitlines()]
    assert {
        (Path(r["source"]).name, r["line"]) for r in rejects if r["reason"] == "json_decode"
    } == {
        ("part-000.jsonl", 6),
        ("part-000.jsonl", 31),
    }
    # Duplicates across shards are found: survivors are named by shard and line.
    assert any(
        r["reason"] == "exact_duplicate" and r["duplicate_of"].split(":")[0] != r["source"]
        for r in rejects
    )
    for split in ("train", "test"):
        parts = sorted((out / "shards").glob(f"{split}-*-of-00003.jsonl"))
        assert len(parts) == 3
        assert b"".join(p.read_bytes() for p in parts) == (out / f"{split}.jsonl").read_bytes()
        assert f"shards/{parts[0].name}" in m["sha256"]


def test_unknown_engine_in_config_is_a_usage_error(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("run:\n  engine: spark\n")
    result = CliRunner().invoke(
        main, ["run", "x.jsonl", "-o", str(tmp_path / "o"), "--config", str(cfg)]
    )
    assert result.exit_code == 2
    assert "unknown engine 'spark'; choose from local, ray" in result.stderr


def test_parquet_shards_hold_the_split_and_add_up_to_the_manifest(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    planted_shards(tmp_path / "d")
    out = tmp_path / "out"
    args = ["run", str(tmp_path / "d"), "-o", str(out), "--no-semantic", "--allow-rejects"]
    args += ["--shards", "4", "--shard-format", "parquet", "--parquet"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.stderr
    m = json.loads((out / "manifest.json").read_text())
    assert m["balanced"] and m["config"]["run"]["shard_format"] == "parquet"
    total = 0
    for split, count in m["outputs"].items():
        parts = sorted((out / "shards").glob(f"{split}-*-of-00004.parquet"))
        assert len(parts) == 4
        tables = [pq.read_table(p) for p in parts]
        # One schema for all shards; their rows, in name order, are the split's.
        assert len({t.schema for t in tables}) == 1
        assert sum(t.num_rows for t in tables) == count
        assert pa.concat_tables(tables).equals(pq.read_table(out / f"{split}.parquet"))
        assert all(f"shards/{p.name}" in m["sha256"] for p in parts)
        total += count
    assert total + m["rejected"] == m["input"]["records"]
    assert not list((out / "shards").glob("*.jsonl"))


def test_unknown_shard_format_is_a_usage_error(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("run:\n  shards: 2\n  shard_format: csv\n")
    result = CliRunner().invoke(
        main, ["run", "x.jsonl", "-o", str(tmp_path / "o"), "--config", str(cfg)]
    )
    assert result.exit_code == 2
    assert "run.shard_format: unknown shard format 'csv'; choose from jsonl, parquet" in (
        result.stderr
    )
